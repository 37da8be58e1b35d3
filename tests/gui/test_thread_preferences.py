"""The CPU threads preference: the dialog, QSettings, and the inference thread that applies it."""

from __future__ import annotations

import os


def test_threads_preference_round_trips_through_the_settings(window, settings, tiny_checkpoint, qtbot):
    from dfviewer.gui.main_window import MainWindow

    assert window.state.preferences.threads == 0  # automatic by default
    window.apply_preferences(model=str(tiny_checkpoint), mc=3, working_size=0, device="cpu", threads=1)
    assert window.state.preferences.threads == 1
    window.use_model(tiny_checkpoint)  # a change of model keeps the threads
    assert window.state.preferences.threads == 1
    settings.sync()
    again = MainWindow(settings=settings, model_path=str(tiny_checkpoint), device="cpu", mc_samples=3)
    qtbot.addWidget(again)
    assert again.state.preferences.threads == 1
    again.shutdown()


def test_a_damaged_threads_setting_means_automatic(settings, tiny_checkpoint, qtbot):
    from dfviewer.gui.main_window import MainWindow

    settings.setValue("threads", "many")
    win = MainWindow(settings=settings, model_path=str(tiny_checkpoint), device="cpu", mc_samples=3)
    qtbot.addWidget(win)
    assert win.state.preferences.threads == 0
    win.shutdown()


def test_preferences_dialog_shows_and_returns_the_threads(window, qtbot):
    from dfviewer.gui.dialogs import PreferencesDialog

    dialog = PreferencesDialog(window, "m.safetensors", 20, 0, "cpu", ["auto", "cpu"], threads=3)
    qtbot.addWidget(dialog)
    assert dialog.threads.value() == 3 and dialog.values()["threads"] == 3
    dialog.threads.setValue(0)
    assert dialog.threads.text() == "automatic" and dialog.values()["threads"] == 0


def test_preferences_open_without_torch_offering_the_runtimes_devices(window, qtbot, monkeypatch):
    """A viewer-only install has no torch: the dialog offers what ONNX Runtime runs on, up to the shared limit."""
    import sys

    from dfviewer.core.runtime_session import runtime_devices
    from dfviewer.threads import MAX_THREADS

    monkeypatch.setitem(sys.modules, "torch", None)  # what Python does for a package that is not installed
    dialog = window.make_preferences_dialog()
    qtbot.addWidget(dialog)
    offered = [dialog.device.itemText(i) for i in range(dialog.device.count())]
    assert offered[:2] == ["auto", "cpu"] and offered == runtime_devices()
    assert dialog.threads.maximum() == MAX_THREADS
    assert runtime_devices(["CUDAExecutionProvider", "CPUExecutionProvider"]) == ["auto", "cpu", "cuda"]


def test_the_inference_thread_runs_with_the_preferred_threads(window, case_dir, qtbot):
    """The preference reaches the worker, which sets torch's threads on its own thread at each start."""
    logs: list[str] = []
    window.controller.worker.log.connect(logs.append)
    window.apply_preferences(model=window.state.preferences.model_path, mc=1, working_size=0, device="cpu", threads=1)
    with qtbot.waitSignal(window.inferenceFinished, timeout=120_000):
        window.open_file(case_dir / "case.tiff")
    assert window.controller.worker.threads == 1
    assert any("1 thread (as asked)" in line for line in logs)

    window.apply_preferences(model=window.state.preferences.model_path, mc=1, working_size=0, device="cpu", threads=0)
    with qtbot.waitSignal(window.inferenceFinished, timeout=120_000):
        pass  # the changed preference starts the open image's maps again
    assert 1 <= window.controller.worker.threads <= len(os.sched_getaffinity(0))
    assert any("(automatic)" in line for line in logs)
