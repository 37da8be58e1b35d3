"""The viewer's inference thread runs the model's graph on ONNX Runtime (dfviewer.core.predictors.open_predictor)."""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")


def test_the_viewer_runs_the_graph_with_the_preferred_threads(window, case_dir, qtbot):
    from dfviewer.core.runtime_predictor import RuntimePredictor

    worker = window.controller.worker
    window.apply_preferences(model=window.state.preferences.model_path, mc=1, working_size=0, device="cpu", threads=1)
    with qtbot.waitSignal(window.inferenceFinished, timeout=120_000):
        window.open_file(case_dir / "case.tiff")
    first = worker._predictor
    assert isinstance(first, RuntimePredictor) and first.threads == 1 and worker.threads == 1

    # a new threads setting makes a new session: ONNX Runtime takes its threads when a session is made
    window.apply_preferences(model=window.state.preferences.model_path, mc=1, working_size=0, device="cpu", threads=2)
    with qtbot.waitSignal(window.inferenceFinished, timeout=120_000):
        pass  # the changed preference starts the open image's maps again
    assert worker._predictor is not first and worker._predictor.threads == 2 and worker.threads == 2
