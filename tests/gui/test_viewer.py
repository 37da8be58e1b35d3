"""The viewer end to end: real widgets, real worker thread, real Predictor on the tiny checkpoint."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, QPointF, Qt
from PyQt6.QtWidgets import QMessageBox

from dfviewer.display.layers import colorize
from dfviewer.display.maps import MAPS
from dfviewer.imaging.voi_windows import format_number
from dfviewer.io import apply_colormap, read_radiograph


def shown(window, panel: str) -> np.ndarray:
    window.flush()
    return window.panels[panel].displayed_rgba()


def test_open_runs_preview_then_mc_and_panels_show_cached_arrays(opened, case_dir, qtbot):
    s = opened.state
    assert [r.stage for r in s.results] == [1, 2, 3]
    assert all(r.samples == 3 for r in s.results)
    assert not s.progress.preview and s.progress.done == 3
    assert s.truth is not None  # case_darkfield.tiff was found beside case.tiff
    assert not opened.panels["truth"].isHidden()
    pixels = read_radiograph(case_dir / "case.tiff").pixels
    np.testing.assert_array_equal(opened.layers["attenuation"].array, pixels)
    assert s.stage == 3  # after inference the viewer shows the final stage (the cascade's result)
    mean = s.results[-1].mean
    assert opened.layers["darkfield"].array is mean
    np.testing.assert_array_equal(shown(opened, "darkfield")[..., :3],
                                  apply_colormap(mean, "gray", s.window("mean")))
    qtbot.waitUntil(lambda: opened.summary.rowCount() == 3 and opened.summary.item(0, 5).text() not in ("", "…"),
                    timeout=10_000)  # the final summary (lung mask, SSIM) comes from a helper thread
    from dfviewer.display.analysis import stage_summary

    rows = stage_summary(s.results, s.truth, None, with_ssim=False)
    assert opened.summary.item(1, 3).text() == format_number(rows[1]["mse"])
    assert opened.panels["darkfield"].title.text() == "Generated dark-field · stage 3"


def test_stage_keys_and_map_keys_switch_panels_to_cached_results(opened, qtbot):
    s = opened.state
    qtbot.keyClick(opened, Qt.Key.Key_2)
    assert s.stage == 2
    opened.flush()
    assert opened.stage_buttons[2].isChecked() and not opened.stage_buttons[3].isChecked()
    shown(opened, "darkfield")
    assert opened.layers["darkfield"].array is s.results[1].mean
    for key, qt_key in (("epistemic", Qt.Key.Key_E), ("alpha", Qt.Key.Key_A), ("beta", Qt.Key.Key_B),
                        ("total", Qt.Key.Key_T), ("aleatoric", Qt.Key.Key_L)):
        qtbot.keyClick(opened, qt_key)
        assert s.overlay_map == key
        rgba = shown(opened, "overlay")
        layer = opened.layers["overlay"]
        assert layer.array is getattr(s.results[1], key)
        np.testing.assert_array_equal(rgba, colorize(layer.array, MAPS[key].colormap, s.window(key)))
    qtbot.keyClick(opened, Qt.Key.Key_3)
    shown(opened, "overlay")
    assert opened.layers["overlay"].array is s.results[2].aleatoric
    # the error map exists because a real dark-field is loaded
    opened.map_buttons["error"].click()
    shown(opened, "overlay")
    np.testing.assert_allclose(opened.layers["overlay"].array, np.abs(s.results[2].mean - s.truth))


def test_overlay_blend_uses_opacity(opened, qtbot):
    s = opened.state
    s.set_overlay_mode("darkfield")
    s.set_opacity(0.5)
    rgba = shown(opened, "overlay").astype(int)
    base = colorize(s.stage_result().mean, "gray", s.window("mean")).astype(int)
    top = colorize(s.stage_result().aleatoric, "magma", s.window("aleatoric")).astype(int)
    np.testing.assert_allclose(rgba[..., :3], (base[..., :3] + top[..., :3]) / 2, atol=1)
    qtbot.keyClick(opened, Qt.Key.Key_BracketRight)
    assert s.opacity == pytest.approx(0.6)


def _view_point(panel, row: float, col: float) -> QPoint:
    scene = panel.view.mapViewToScene(QPointF(col + 0.5, row + 0.5))
    return panel.graphics.mapFromScene(scene)


def test_crosshair_readout_matches_arrays(opened, qtbot):
    s = opened.state
    s.set_stage(2)
    panel = opened.panels["darkfield"]
    row, col = 60, 40
    # the new stage's colorbar labels may change their width and move the view by a few pixels:
    # let the layout settle before mapping the pixel to the screen
    for _attempt in range(3):  # a relayout during the move re-maps the pointer: map and move again
        opened.flush()
        qtbot.wait(100)
        point = _view_point(panel, row, col)
        with qtbot.waitSignal(panel.hovered, timeout=2000) as blocker:
            qtbot.mouseMove(panel.graphics.viewport(), point)
        if tuple(blocker.args) == (row, col) and _view_point(panel, row, col) == point:
            break
    assert tuple(blocker.args) == (row, col)
    text = opened.readout.text()
    result = s.results[1]
    assert f"x {col}  y {row}" in text
    for key in ("mean", "alpha", "beta", "aleatoric", "epistemic", "total"):
        value = float(getattr(result, key)[row, col])
        assert f"{MAPS[key].symbol} {format_number(value)}" in text
    assert f"Att {format_number(float(s.radiograph.pixels[row, col]))} a.u." in text
    assert f"DF true {format_number(float(s.truth[row, col]))}" in text
    for p in opened.panels.values():
        assert p.vline.isVisible() and p.vline.value() == pytest.approx(col + 0.5)


def test_right_drag_and_histogram_change_the_window(opened, qtbot):
    s = opened.state
    panel = opened.panels["attenuation"]
    before = s.window("attenuation")
    pixels_before = shown(opened, "attenuation").copy()
    viewport = panel.graphics.viewport()
    start = _view_point(panel, 60, 40)
    qtbot.mousePress(viewport, Qt.MouseButton.RightButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(viewport, start + QPoint(12 * step, 6 * step))
    qtbot.mouseRelease(viewport, Qt.MouseButton.RightButton, pos=start + QPoint(60, 30))
    after = s.window("attenuation")
    assert after != before
    assert after[1] > before[1]  # dragging right widens the window
    rgba = shown(opened, "attenuation")
    assert not np.array_equal(rgba, pixels_before)
    np.testing.assert_array_equal(rgba, colorize(s.radiograph.pixels, "gray", after))
    # histogram: dragging the region sets the window of the active panel
    opened.windowing.region.setRegion((500.0, 1500.0))
    assert s.window("attenuation") == pytest.approx((1000.0, 1000.0))
    opened.flush()
    assert opened.windowing.limits.value() == pytest.approx((500.0, 1500.0))  # the labelled slider follows
    # the labelled range slider beside the histogram sets the window too
    opened.windowing.limits.setValue((600.0, 1400.0))
    assert s.window("attenuation") == pytest.approx((1000.0, 800.0), rel=1e-3)
    # presets: Lung, Bone, Full range, Auto are offered; choosing one applies it
    names = [opened.windowing.presets.itemText(i) for i in range(opened.windowing.presets.count())]
    assert {"Lung", "Bone", "Full range", "Auto"} <= set(names)
    assert opened.windowing.presets.isEditable()  # searchable: type part of a preset name
    opened.windowing.presets.activated.emit(names.index("Full range"))
    low, high = float(s.radiograph.pixels.min()), float(s.radiograph.pixels.max())
    assert s.window("attenuation") == pytest.approx(((low + high) / 2, high - low), rel=1e-4)
    opened.windowing.reset.click()
    assert s.window("attenuation") == pytest.approx(tuple(s.radiograph.window))


def test_crop_shows_the_lung_box_and_roi_edits_it(opened, qtbot, tmp_path):
    s = opened.state
    box = s.crop_box
    assert box is not None
    qtbot.keyClick(opened, Qt.Key.Key_C)
    assert s.crop_enabled and opened.crop_roi.isVisible()
    r0, r1, c0, c1 = opened.panels["attenuation"].view_region()
    b0, b1, b2, b3 = box
    # the view fits the box (aspect is locked, so one side may show a little more)
    assert r0 <= b0 + 0.5 and r1 >= b1 - 0.5 and c0 <= b2 + 0.5 and c1 >= b3 - 0.5
    assert (r1 - r0) <= (b1 - b0) * 1.02 or (c1 - c0) <= (b3 - b2) * 1.02
    # every panel shows the same region (linked)
    region = opened.panels["darkfield"].view_region()
    np.testing.assert_allclose(region, opened.panels["attenuation"].view_region(), atol=1.0)
    # editing the rectangle changes the crop, which carries into export
    opened.crop_roi.setPos((10, 20))
    opened.crop_roi.setSize((50, 40))  # emits sigRegionChangeFinished
    assert s.crop_box == (20, 60, 10, 60)
    from PIL import Image

    path = opened.export_panel("darkfield", tmp_path / "crop.png")
    png = np.asarray(Image.open(path).convert("RGB"))
    expected = apply_colormap(s.stage_result().mean[20:60, 10:60], "gray", s.window("mean"))
    assert _find_block(png, expected)
    qtbot.keyClick(opened, Qt.Key.Key_C)
    assert not s.crop_enabled and not opened.crop_roi.isVisible()


def _find_block(png: np.ndarray, expected: np.ndarray) -> tuple[int, int] | None:
    """(row, col) where ``expected`` sits in ``png`` (searching the left edge), or None."""
    h, w = expected.shape[:2]
    for y in range(0, png.shape[0] - h + 1):
        if np.array_equal(png[y:y + h, :w], expected):
            return y, 0
    return None


def test_export_png_image_area_equals_colormapped_array_with_colorbar(opened, tmp_path):
    from PIL import Image

    s = opened.state
    s.set_overlay_map("epistemic")
    path = opened.export_panel("overlay", tmp_path / "epi.png")
    png = np.asarray(Image.open(path).convert("RGB"))
    array = s.stage_result().epistemic
    expected = apply_colormap(array, "inferno", s.window("epistemic"))
    where = _find_block(png, expected)
    assert where is not None
    h, w = array.shape
    assert png.shape[1] > w + 10  # a colorbar margin on the right
    margin = png[where[0]:where[0] + h, w:]
    lut_top = apply_colormap(np.array([[1.0]], np.float32), "inferno", (0.5, 1.0))[0, 0]
    assert (margin == lut_top).all(axis=-1).any()  # the bar's brightest colour is there
    # a blended overlay exports the panel's composed pixels
    s.set_overlay_mode("attenuation")
    opened.flush()
    path2 = opened.export_panel("overlay", tmp_path / "blend.png")
    png2 = np.asarray(Image.open(path2).convert("RGB"))
    assert _find_block(png2, opened.layers["overlay"].rgba[..., :3]) is not None
    # never overwrite without asking (the fixture's confirm answers no)
    mtime = path.stat().st_mtime_ns
    assert opened.export_panel("overlay", path) is None
    assert path.stat().st_mtime_ns == mtime


def test_export_all_maps_writes_every_stage(opened, tmp_path):
    from dfviewer.display.export_plan import ExportOptions

    written = opened.export_all(tmp_path, ExportOptions(tiff=True))
    names = {p.name for p in written}
    assert "case_stage3_darkfield.png" in names and "case_stage1_epistemic.tiff" in names
    assert "case_stage2_error.png" in names and "case_attenuation.png" in names
    assert all(p.exists() for p in written)
    import tifffile

    np.testing.assert_array_equal(tifffile.imread(tmp_path / "case_stage1_epistemic.tiff"),
                                  opened.state.results[0].epistemic)
    asked = []
    opened.confirm_overwrite = lambda paths: asked.append(paths) or False
    assert opened.export_all(tmp_path) == []
    assert asked and len(asked[0]) > 10


def test_corrupt_file_shows_io_message_and_changes_nothing(opened, tmp_path, qtbot):
    from dfviewer.errors import UserError

    bad = tmp_path / "broken.dcm"
    bad.write_bytes(b"DICM" + b"\x00garbage" * 20)
    with pytest.raises(UserError) as info:
        read_radiograph(bad)
    before = (opened.state.path, opened.state.results, opened.state.radiograph)
    with qtbot.waitSignal(opened.errorShown, timeout=2000) as blocker:
        assert opened.open_file(bad) is False
    message = blocker.args[0]
    assert str(info.value).rstrip(".")[1:] in message
    assert isinstance(opened.last_error, QMessageBox)
    assert opened.last_error.text() == message and opened.last_error.isVisible()
    assert (opened.state.path, opened.state.results, opened.state.radiograph) == before
    assert not opened.controller.running


#: bounds only a real regression breaks (400 samples run for minutes when cancelling is ignored);
#: the requirements (cancel under 1 s, close under 2 s) are measured by tests/benchmarks/viewer_latency.py
CANCEL_BOUND_S, CLOSE_BOUND_S = 10.0, 20.0


def test_cancel_stops_soon_and_app_stays_usable(window, case_dir, qtbot):
    window.state.preferences.mc_samples = 400
    with qtbot.waitSignal(window.controller.worker.progress, timeout=180_000):
        window.open_file(case_dir / "zz_big.tiff")
    assert window.controller.running
    assert window.cancel_button.isVisible()
    start = time.monotonic()
    with qtbot.waitSignal(window.inferenceCancelled, timeout=int(CANCEL_BOUND_S * 1000)):
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert time.monotonic() - start < CANCEL_BOUND_S
    qtbot.waitUntil(lambda: window.controller.worker_thread.isRunning(), timeout=1000)
    assert not window.state.progress.running and not window.cancel_button.isVisible()
    assert window.state.results  # the last estimate stays
    # still usable: run again to completion
    window.state.preferences.mc_samples = 2
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(case_dir / "plain.npy")
    assert window.state.results[0].samples == 2


class _ExplodingPredictor:
    """A predictor whose GPU runs out of memory after the preview (torch's own exception type)."""

    def __init__(self, real):
        self.real = real
        self.config = real.config
        self.device = real.device
        self.metadata = {}

    def input_warning(self, image):
        return self.real.input_warning(image)

    def predict_stream(self, image, **kwargs):
        import torch

        stream = self.real.predict_stream(image, **kwargs)
        yield next(stream)
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")


def test_worker_error_reaches_the_error_dialog(window, case_dir, qtbot, tiny_checkpoint):
    from dfviewer.core.inference import Predictor

    window.controller.use_predictor(_ExplodingPredictor(Predictor.from_checkpoint(tiny_checkpoint, "cpu")))
    with qtbot.waitSignal(window.inferenceFailed, timeout=180_000) as blocker:
        window.open_file(case_dir / "case.tiff")
    assert "GPU ran out of memory" in blocker.args[0]
    dialog = window.last_error
    assert dialog.isVisible() and "GPU ran out of memory" in dialog.text()
    assert "OutOfMemoryError" in dialog.detailedText()
    assert not window.controller.running and window.controller.worker_thread.isRunning()
    assert window.state.results is not None  # the preview arrived before the failure


def test_unreadable_model_reports_a_sentence(window, case_dir, qtbot, tmp_path):
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    window.apply_preferences(model=str(broken), mc=2, working_size=0, device="cpu")
    with qtbot.waitSignal(window.inferenceFailed, timeout=30_000) as blocker:
        window.open_file(case_dir / "plain.npy")
    message = blocker.args[0]
    assert message.startswith("The model could not be loaded: ") and "broken.safetensors" in message
    assert "\n" not in message
    assert window.last_error.text() == message


def test_the_inference_controller_lives_in_the_gui_thread_and_drives_its_own(window):
    from PyQt6.QtCore import QThread

    controller = window.controller
    # QObject.thread() was once hidden by an attribute holding the worker's thread
    assert controller.thread() == QThread.currentThread()
    assert controller.worker.thread() == controller.worker_thread
    assert controller.worker_thread != QThread.currentThread() and controller.worker_thread.isRunning()


def test_closing_during_inference_stops_the_thread(qtbot, settings, tiny_checkpoint, case_dir):
    from dfviewer.gui.main_window import MainWindow

    win = MainWindow(settings=settings, model_path=str(tiny_checkpoint), device="cpu", mc_samples=400)
    win.show()
    with qtbot.waitSignal(win.controller.worker.progress, timeout=180_000):
        win.open_file(case_dir / "zz_big.tiff")
    start = time.monotonic()
    win.close()
    assert time.monotonic() - start < CLOSE_BOUND_S
    assert win.controller.worker_thread.isFinished()
    assert settings.value("geometry") is not None
    win.deleteLater()


def test_open_folder_lists_images_and_steps(window, case_dir, qtbot):
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_folder(case_dir)
    names = [window.files.item(i).text() for i in range(window.files.count())]
    assert names == ["case.tiff", "plain.npy", "zz_big.tiff"]  # the _darkfield companion is not listed
    assert window.state.path.name == "case.tiff"
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        qtbot.keyClick(window, Qt.Key.Key_PageDown)
    assert window.state.path.name == "plain.npy"
    assert window.state.truth is None and window.panels["truth"].isHidden()
    recent = window.settings.value("recent")
    assert recent[0].endswith("plain.npy") and recent[1].endswith("case.tiff")


def test_docks_tags_model_log_and_help(opened, qtbot):
    # a TIFF has no DICOM tags: the panel says what the file is
    assert opened.tags.visible_names()[:4] == ["File", "Format", "Image size", "File size"]
    assert "Bit depth" in opened.tags.visible_names() and opened.dock_tags.windowTitle() == "File Info"
    assert "Preset" in opened.model_panel.label.text()
    assert "opened" in opened.log_panel.toPlainText()
    from PyQt6.QtWidgets import QTableWidget

    from dfviewer.gui.dialogs import ShortcutsDialog
    from dfviewer.gui.shortcuts import SHORTCUTS

    opened.show_shortcuts()
    dialog = next(d for d in opened.findChildren(ShortcutsDialog) if d.isVisible())
    table = dialog.findChild(QTableWidget)
    shown = [(table.item(row, 0).text(), table.item(row, 1).text()) for row in range(table.rowCount())]
    assert dialog.windowTitle() == "Keyboard shortcuts" and shown == SHORTCUTS
    dialog.close()
    for key in ("alpha", "beta", "aleatoric", "epistemic", "total"):
        assert opened.map_buttons[key].toolTip()
    assert "tools" in opened.tools_menu.title().lower()


def test_drop_opens_files_and_companions_are_not_listed(window, case_dir, qtbot, tmp_path):
    from PyQt6.QtCore import QMimeData, QUrl
    from PyQt6.QtGui import QDropEvent

    from dfviewer.io.file_filters import list_radiographs

    (tmp_path / "a.npy").write_bytes((case_dir / "plain.npy").read_bytes())
    (tmp_path / "a_lung.png").write_bytes(b"mask")
    (tmp_path / "a_darkfield.tiff").write_bytes(b"truth")
    assert [p.name for p in list_radiographs(tmp_path)] == ["a.npy"]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(case_dir / "plain.npy"))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.NoButton,
                       Qt.KeyboardModifier.NoModifier)
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.dropEvent(event)
    assert window.state.path.name == "plain.npy"
    assert window.act_train.isEnabled() and window.act_train in window.tools_menu.actions()


def test_image_in_other_units_than_a_fixed_model_gets_a_lasting_warning(window, case_dir, qtbot,
                                                                      fixed_units_checkpoint):
    window.apply_preferences(model=str(fixed_units_checkpoint), mc=2, working_size=0, device="cpu")
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(case_dir / "case.tiff")  # values 200-2000: not -ln T
    assert window.statusBar().currentMessage().startswith("Inference finished in ")
    assert "have no meaning for it." in window.banner.text()  # the caveat stays over the panels
    assert window.state.results is not None  # the maps are still shown, with the caveat


def test_image_without_a_real_darkfield_stays_fitted_once_painted(window, case_dir, qtbot):
    # The hidden real-dark-field panel keeps a default 1-pixel range; once painted it used to
    # drive the linked views, so every panel showed one pixel of the image, magnified.
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(case_dir / "plain.npy")
    window.flush()
    panel = window.panels["attenuation"]
    for key in ("attenuation", "darkfield", "overlay"):
        window.panels[key].graphics.grab()  # paints, as the screen would
    qtbot.wait(50)
    r0, r1, c0, c1 = panel.view_region()
    h, w = window.state.shape
    assert r0 <= 0.5 and r1 >= h - 0.5 and c0 <= 0.5 and c1 >= w - 0.5
    shot = panel.graphics.grab().toImage()
    values = {shot.pixelColor(x, y).value() for x in range(0, shot.width(), 7) for y in range(0, shot.height(), 7)}
    assert len(values) > 20  # the radiograph, not one magnified pixel
    np.testing.assert_allclose(window.panels["darkfield"].view_region(), panel.view_region(), atol=1.0)


def test_an_image_unlike_a_chest_radiograph_is_flagged_in_banner_and_stages(window, case_dir, qtbot, tmp_path,
                                                                               domain_checked_checkpoint, open_inverted_case):
    open_inverted_case(window, qtbot, case_dir, tmp_path, domain_checked_checkpoint)
    window.flush()
    assert "does not look like a frontal chest radiograph" in window.banner.text()  # the banner over the panels
    assert window.summary.flag_text().startswith("⚠ Flagged")
    assert "frontal chest radiograph" in window.summary.item(window.summary.rowCount() - 1, 0).toolTip()
    assert "Domain check" in window.model_panel.label.text()
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(case_dir / "plain.npy")
    window.flush()
    assert window.summary.flag_text() == "" and window.summary.rowCount() == 3
    assert window.banner.isHidden() and window.banner.text() == ""


def test_three_panels_fill_the_grid_without_a_real_darkfield(window, case_dir, qtbot):
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(case_dir / "plain.npy")
    assert window.panels["truth"].isHidden()
    # three panels in a row or a column, or a 2 x 2 grid whose fourth cell is the companion map
    shown_panels = [p for p in window.panels.values() if not p.isHidden()]
    assert len(shown_panels) == window.grid.columns * window.grid.rows
    assert len(shown_panels) == 3 or (len(shown_panels) == 4 and not window.panels["companion"].isHidden())


@pytest.mark.parametrize(("width", "height", "panels", "fillers", "grid"), [
    (1280, 800, 3, 0, (3, 0)),   # a wide window: three in a row
    (1280, 800, 3, 1, (3, 0)),   # ... the row still beats a 2 x 2 grid, so the filler stays hidden
    (700, 1000, 3, 0, (1, 0)),   # a tall one: a column (a 2 x 2 grid would leave a cell empty)
    (700, 1000, 3, 1, (2, 1)),   # ... unless the filler takes the fourth cell
    (1280, 800, 4, 0, (2, 0)),   # four panels: 2 x 2
    (1600, 500, 4, 0, (4, 0)),   # a very wide, low window: four in a row
])
def test_the_grid_shows_a_128x112_image_largest(width, height, panels, fillers, grid):
    from dfviewer.gui.panel_grid import best_grid

    assert best_grid(panels, fillers, width, height, (128, 112)) == grid


def test_lungs_are_segmented_once_after_inference(window, case_dir, qtbot, monkeypatch):
    from dfviewer.imaging import lungs

    calls: list[bool] = []
    real = lungs.lung_mask

    def counting(attenuation, darkfield=None):
        calls.append(darkfield is not None)
        return real(attenuation, darkfield)

    monkeypatch.setattr(lungs, "lung_mask", counting)
    with qtbot.waitSignals([window.inferenceFinished, window.summaryUpdated], timeout=180_000):
        window.open_file(case_dir / "case.tiff")
    # the input's crop box on opening, then one segmentation of the first preview's dark-field that
    # gives both the summary's lung mask (for every row from then on) and the crop box
    assert calls == [False, True]
    assert window.state.crop_box is not None


def test_open_folder_does_not_list_the_viewers_exports(window, case_dir, qtbot, tmp_path):
    import shutil

    shutil.copy(case_dir / "plain.npy", tmp_path / "plain.npy")
    for name in ("plain_stage1_epistemic.png", "plain_stage3_darkfield.tiff", "plain_attenuation.png",
                 "plain_stage2_total_over_darkfield.png"):
        (tmp_path / name).write_bytes(b"x")
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_folder(tmp_path)
    assert [window.files.item(i).text() for i in range(window.files.count())] == ["plain.npy"]


def test_a_five_stage_model_shows_every_stage(qtbot, settings, case_dir, tmp_path, tiny_model_config):
    import dataclasses

    import torch

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.network import Cascade
    from dfviewer.gui.main_window import MainWindow

    torch.manual_seed(0)
    path = save_checkpoint(tmp_path / "five.safetensors", Cascade(dataclasses.replace(tiny_model_config, n_stages=5)),
                           {})
    win = MainWindow(settings=settings, model_path=str(path), device="cpu", mc_samples=2)
    qtbot.addWidget(win)
    win.show()
    try:
        with qtbot.waitSignal(win.inferenceFinished, timeout=180_000):
            win.open_file(case_dir / "plain.npy")
        s = win.state
        assert s.stages == [1, 2, 3, 4, 5] and s.stage == 5
        assert win.stage_buttons[5].isVisible() and not win.stage_buttons[6].isVisible()
        qtbot.keyClick(win, Qt.Key.Key_4)
        assert s.stage == 4
        win.flush()
        assert win.layers["darkfield"].array is s.results[3].mean
        assert win.panels["darkfield"].title.text() == "Generated dark-field · stage 4"
        assert win.stage_buttons[4].isChecked()
    finally:
        win.shutdown()


def test_docks_show_their_content_whole(opened, qtbot):
    qtbot.waitUntil(lambda: opened.summary.item(0, 5) is not None and opened.summary.item(0, 5).text() != "…",
                    timeout=10_000)
    table = opened.summary
    columns = sum(table.columnWidth(j) for j in range(table.columnCount()) if not table.isColumnHidden(j))
    assert not table.isColumnHidden(5) and columns <= table.viewport().width()  # SSIM is not behind a scrollbar


def test_dicom_tag_numbers_are_not_cut(window, dicom_case, qtbot):
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        window.open_file(dicom_case)
    tree = window.tags.tree
    metrics = tree.fontMetrics()
    item = tree.topLevelItem(0)
    assert item.text(0).startswith("(") and tree.columnWidth(0) >= metrics.horizontalAdvance(item.text(0))
    header = tree.headerItem()
    assert tree.columnWidth(3) >= metrics.horizontalAdvance(header.text(3))


def test_every_shortcut_is_unambiguous_and_listed(window):
    from dfviewer.gui.shortcuts import SHORTCUTS

    keys = [a.shortcut().toString() for a in window.actions() if not a.shortcut().isEmpty()]
    assert len(keys) == len(set(keys)), sorted(k for k in keys if keys.count(k) > 1)
    listed = {k for k, _ in SHORTCUTS}
    assert {"A", "B", "L", "E", "T", "X", "R", "C", "W", "O"} <= listed  # Help > Shortcuts names them
