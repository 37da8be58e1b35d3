"""DICOM specifics (tags dock, file windows, derived DICOM export) and the ``dfviewer`` entry point."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest


def test_dicom_tags_are_searchable_and_file_window_is_used(window, dicom_case, qtbot, tmp_path):
    from dfviewer.display.export_plan import ExportOptions

    with qtbot.waitSignal(window.inferenceFinished, timeout=180_000):
        assert window.open_file(dicom_case)
    assert window.state.window("attenuation") == pytest.approx((1000.0, 1800.0))
    assert "0.5 mm/px" in window.readout.text()
    window.tags.search.setText("patient id")
    assert window.tags.visible_names() == ["Patient ID"]
    window.tags.search.setText("GUI-TEST-7")  # values are searched too
    assert "Patient ID" in window.tags.visible_names()
    window.tags.search.setText("")
    assert len(window.tags.visible_names()) > 20
    names = [window.windowing.presets.itemText(i) for i in range(window.windowing.presets.count())]
    assert any(n.startswith("File: ") for n in names)
    written = window.export_all(tmp_path, ExportOptions(dicom=True))
    dcm = tmp_path / "chest_stage2_darkfield.dcm"
    assert dcm in written
    ds = pydicom.dcmread(dcm)
    assert ds.PatientID == "GUI-TEST-7" and "DERIVED" in ds.ImageType
    from dfviewer.io import read_radiograph

    back = read_radiograph(dcm).pixels
    np.testing.assert_allclose(back, window.state.results[1].mean, atol=float(np.ptp(back)) / 1000 + 1e-6)


def test_app_screenshot_runs_inference_and_saves(tmp_path, tiny_checkpoint, case_dir, qapp):
    from PIL import Image

    from dfviewer.gui.app import main

    out = tmp_path / "shot.png"
    rc = main(["view", str(case_dir / "plain.npy"), "--model", str(tiny_checkpoint), "--device", "cpu",
               "--mc", "2", "--screenshot", str(out), "--size", "900x600", "--overlay", "epistemic", "--stage", "2"])
    assert rc == 0
    image = Image.open(out)
    assert image.size == (900, 600)
    assert len(set(np.asarray(image.convert("L")).ravel().tolist())) > 20  # images were drawn


def test_app_screenshot_leaves_no_timer_behind(tmp_path, tiny_checkpoint, case_dir, qtbot, capsys):
    """Its timeout must not fire in a later event loop (where the window is long gone)."""
    from dfviewer.gui.app import main

    assert main(["view", str(case_dir / "plain.npy"), "--model", str(tiny_checkpoint), "--device", "cpu",
                 "--mc", "1", "--screenshot", str(tmp_path / "shot.png"), "--timeout", "60"]) == 0
    capsys.readouterr()
    main(["view", str(case_dir / "plain.npy"), "--model", str(tiny_checkpoint), "--device", "cpu", "--mc", "400",
          "--screenshot", str(tmp_path / "late.png"), "--timeout", "0.5"])  # times out while sampling
    qtbot.wait(1500)  # a later event loop: nothing of the screenshots may run in it
    assert capsys.readouterr().err.count("timed out") == 1


def test_app_demo_without_bundled_model_says_so(capsys, monkeypatch, tmp_path):
    from dfviewer.gui import app

    monkeypatch.setattr(app, "DEMO_MODEL", ("models", "surely-missing.safetensors"))
    assert app.main(["--demo", "--screenshot", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "demo" in err and "missing" in err or "no bundled sample" in err


def test_app_missing_file_is_one_line(capsys, tmp_path):
    from dfviewer.gui.app import main

    assert main([str(tmp_path / "nope.dcm")]) == 2
    assert "nope.dcm does not exist" in capsys.readouterr().err
