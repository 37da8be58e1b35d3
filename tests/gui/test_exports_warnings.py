"""Exports of the viewer: the input's warning travels with every file, titles name case, stage and
window, the PNGs of one "export all" tile, each stage has its own window unless linked, and the
viewer's seeded MC sampling gives ``dfviewer predict``'s epistemic maps."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from dfviewer.display.maps import MAPS
from dfviewer.imaging.colormaps import apply_colormap
from dfviewer.io.png_export import TITLE_KEY, WARNING_INK, WARNING_KEY, render_rgba

pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


def _open(window, qtbot, path: Path) -> None:
    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_file(path)
    window.flush()


def _warning_ink_pixels(path: Path) -> int:
    """Pixels of the warning's colour in the top fifth of the file (the title strip)."""
    rgb = np.asarray(Image.open(path).convert("RGB")).astype(int)
    top = rgb[: max(1, rgb.shape[0] // 5)]
    return int((np.abs(top - np.array(WARNING_INK[:3])).sum(axis=2) < 40).sum())


@pytest.fixture
def log_units_case(case_dir, tmp_path) -> Path:
    """``case.tiff`` rescaled to -ln T in [0, 6], the fixed-unit model's input range: not flagged."""
    import tifffile

    image = tifffile.imread(case_dir / "case.tiff")
    path = tmp_path / "in_units.npy"
    np.save(path, (image / image.max() * 5.0).astype(np.float32))
    return path


def test_a_flagged_inputs_exports_carry_its_warning_in_title_strip_and_text(window, case_dir, qtbot, tmp_path,
                                                                            fixed_units_checkpoint, log_units_case):
    window.apply_preferences(model=str(fixed_units_checkpoint), mc=2, working_size=0, device="cpu")
    _open(window, qtbot, case_dir / "case.tiff")  # raw detector values: outside the model's units
    sentence = window.inference.input_warning
    assert "have no meaning" in sentence
    flagged = window.export_panel("overlay", tmp_path / "flagged.png")
    written = window.export_all(tmp_path / "all")
    _open(window, qtbot, log_units_case)
    assert window.inference.input_warning == ""
    plain = window.export_panel("overlay", tmp_path / "plain.png")
    assert flagged and plain
    assert Image.open(flagged).text[WARNING_KEY] == sentence
    assert WARNING_KEY not in Image.open(plain).text
    # the warning is printed in the title strip: its colour there, taller than the plain file's strip
    assert _warning_ink_pixels(flagged) > 50 and _warning_ink_pixels(plain) == 0
    assert Image.open(flagged).height > Image.open(plain).height
    pngs = [p for p in written if p.suffix == ".png"]
    assert len(pngs) > 10
    assert all(Image.open(p).text[WARNING_KEY] == sentence and _warning_ink_pixels(p) > 50 for p in pngs)


def test_export_all_pngs_have_one_size_and_each_stage_its_own_window_unless_linked(opened, tmp_path):
    s = opened.state
    written = opened.export_all(tmp_path / "per_stage")
    pngs = [p for p in written if p.suffix == ".png"]
    sizes = {Image.open(p).size for p in pngs}
    assert len(pngs) == 2 + 3 * 7 and len(sizes) == 1, sizes  # input, truth; 7 maps of 3 stages
    key, name, label = "mean", MAPS["mean"].file_name, MAPS["mean"].label
    assert s.window(key, 1) != s.window(key, 3)

    def image_area(path: Path, stage: int) -> tuple[np.ndarray, str]:
        file = Image.open(path)
        _, layout = render_rgba(s.array(key, stage), "gray", s.window(key, stage), title=file.text[TITLE_KEY])
        x0, y0, x1, y1 = layout.image_box
        return np.asarray(file.convert("RGB"))[y0:y1, x0:x1], file.text[TITLE_KEY]

    def shown(stage: int, window_stage: int) -> np.ndarray:
        return np.asarray(Image.fromarray(apply_colormap(s.array(key, stage), "gray", s.window(key, window_stage)))
                          .convert("RGB"))

    for stage in (1, 3):
        pixels, title = image_area(tmp_path / "per_stage" / f"case_stage{stage}_{name}.png", stage)
        assert title == f"case, stage {stage}, {label} (window: stage {stage} auto)"
        np.testing.assert_array_equal(pixels, shown(stage, stage))
    stage1, _ = image_area(tmp_path / "per_stage" / f"case_stage1_{name}.png", 1)
    assert not np.array_equal(stage1, shown(1, 3))  # not exported with stage 3's window

    opened.ui_actions.act_link_windows.setChecked(True)  # View > Link Windows Across Stages
    assert s.link_windows and s.window(key, 1) == s.window(key, 3)
    opened.export_all(tmp_path / "linked")
    pixels, title = image_area(tmp_path / "linked" / f"case_stage1_{name}.png", 1)
    assert title == f"case, stage 1, {label} (window: linked auto)"
    np.testing.assert_array_equal(pixels, shown(1, 3))
    s.set_window(key, 0.2, 0.3)
    opened.export_all(tmp_path / "by_hand")
    assert Image.open(tmp_path / "by_hand" / f"case_stage2_{name}.png").text[TITLE_KEY].endswith("(window: set by hand)")


def test_exported_panel_title_names_case_stage_and_window(opened, tmp_path):
    s = opened.state
    path = opened.export_panel("overlay", tmp_path / "stage3.png")
    assert Image.open(path).text[TITLE_KEY] == f"case, stage 3, {MAPS['aleatoric'].label} (window: stage 3 auto)"
    s.set_stage(1)
    opened.flush()
    path = opened.export_panel("darkfield", tmp_path / "stage1.png")
    assert Image.open(path).text[TITLE_KEY] == f"case, stage 1, {MAPS['mean'].label} (window: stage 1 auto)"
    path = opened.export_panel("attenuation", tmp_path / "input.png")
    assert Image.open(path).text[TITLE_KEY] == f"case, {MAPS['attenuation'].label}"


def test_viewer_epistemic_maps_equal_predicts_for_the_same_file(opened, case_dir, tiny_checkpoint, tmp_path):
    import tifffile

    from dfviewer.cli.main import main

    s = opened.state
    out = tmp_path / "predicted"
    assert main(["predict", str(case_dir / "case.tiff"), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--mc", str(s.preferences.mc_samples), "--device", "cpu"]) == 0
    for stage in (1, 2, 3):
        predicted = tifffile.imread(out / f"case_stage{stage}_epistemic.tiff")
        assert predicted.max() > 0
        np.testing.assert_array_equal(s.array("epistemic", stage), predicted)


def test_a_flagged_inputs_derived_dicom_carries_its_warning(window, qtbot, tmp_path, make_chest,
                                                             fixed_units_checkpoint):
    from dfviewer.display.export_plan import ExportOptions
    from dfviewer.io import write_dx_dicom

    attenuation, _ = make_chest(seed=3)
    raw = write_dx_dicom(tmp_path / "raw.dcm", attenuation, patient_id="FLAG-1")  # detector values: flagged
    in_units = write_dx_dicom(tmp_path / "units.dcm", attenuation / attenuation.max() * 5.0, patient_id="PLAIN-1")
    window.apply_preferences(model=str(fixed_units_checkpoint), mc=2, working_size=0, device="cpu")
    _open(window, qtbot, raw)
    sentence = window.inference.input_warning
    assert "have no meaning" in sentence
    flagged = window.export_all(tmp_path / "flagged", ExportOptions(png=False, dicom=True))
    _open(window, qtbot, in_units)
    assert window.inference.input_warning == ""
    plain = window.export_all(tmp_path / "plain", ExportOptions(png=False, dicom=True))
    assert [p.name for p in flagged] == [f"raw_stage{k}_darkfield.dcm" for k in (1, 2, 3)]
    assert len(plain) == 3
    for path in flagged:
        ds = pydicom.dcmread(path)
        assert ds.ImageComments.startswith(f"Warning: {sentence} ") and ds.PatientID == "FLAG-1"
        assert ds.SeriesDescription.endswith("[flagged input]")
    for path in plain:
        ds = pydicom.dcmread(path)
        assert "arning" not in ds.ImageComments and "flagged" not in ds.SeriesDescription
