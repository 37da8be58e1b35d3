"""``dfviewer predict`` end to end, as a real subprocess on a tiny random checkpoint."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

#: the file names of the predicted maps (the display layer's table: the mean is the "darkfield")
MAPS = ("darkfield", "alpha", "beta", "aleatoric", "epistemic", "total")


def dfviewer(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "dfviewer", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    good = tmp_path / "chest.png"
    Image.fromarray((rng.random((45, 61)) * 65535).astype(np.uint16)).save(good)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not really a PNG")
    return good, bad


def test_predict_writes_tiffs_and_reports_a_bad_input(tmp_path, inputs, tiny_checkpoint):
    import tifffile

    good, bad = inputs
    out = tmp_path / "maps"
    result = dfviewer("predict", bad, good, "--model", tiny_checkpoint, "--out", out, "--mc", "2", cwd=tmp_path)
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if "broken.png" in line]
    assert len(errors) == 1 and errors[0].startswith("dfviewer predict: ") and "Traceback" not in result.stderr
    assert "chest.png" in result.stdout and str(out) in result.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([*(f"chest_stage{k}_{m}.tiff" for k in (1, 2, 3) for m in MAPS), "predictions.csv"])
    with open(out / "predictions.csv", newline="") as handle:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(handle)}
    assert rows["broken.png"]["status"] == "failed" and "broken.png" in rows["broken.png"]["reason"]
    assert rows["chest.png"]["status"] == "done" and rows["chest.png"]["outputs"] == "18"
    total = tifffile.imread(out / "chest_stage3_total.tiff")
    epistemic = tifffile.imread(out / "chest_stage3_epistemic.tiff")
    assert total.dtype == np.float32 and total.shape == (45, 61)
    assert epistemic.max() > 0 and np.all(total >= epistemic - 1e-6)


def test_predict_folder_to_npz_with_selected_stages(tmp_path, inputs, tiny_checkpoint):
    from dfviewer.cli.main import main

    good, bad = inputs
    bad.unlink()
    np.save(tmp_path / "other.npy", np.random.default_rng(1).random((30, 20)).astype(np.float32))
    out = tmp_path / "npz"
    code = main(["predict", str(tmp_path), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "0",
                 "--stages", "2,3", "--format", "npz", "--seed", "1", "--working-size", "32"])
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["chest.npz", "other.npz", "predictions.csv"]
    data = np.load(out / "other.npz")
    assert sorted(k for k in data.files if k.startswith("stage")) == sorted(
        f"stage{k}_{m}" for k in (2, 3) for m in MAPS
    )
    assert data["stage3_darkfield"].shape == (30, 20) and not data["stage3_epistemic"].any()


def test_predict_defaults_to_the_bundled_demo_model(tmp_path, inputs, capsys):
    from dfviewer.cli.main import main

    out = tmp_path / "demo"
    assert main(["predict", str(inputs[0]), "--out", str(out), "--mc", "0", "--stages", "1"]) == 0
    written = sorted(p.name for p in out.glob("*.tiff"))
    assert written == sorted(f"chest_stage1_{m}.tiff" for m in MAPS)
    assert "model demo.safetensors on cpu" in capsys.readouterr().err  # says which model it used


def test_png_previews_in_process(tmp_path, inputs, tiny_checkpoint, capsys):
    from dfviewer.cli.main import main

    out = tmp_path / "png"
    code = main(["predict", str(inputs[0]), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--mc", "1", "--stages", "1", "--format", "png"])
    assert code == 0
    pngs = sorted(out.glob("*.png"))
    assert [p.name for p in pngs] == sorted(f"chest_stage1_{m}.png" for m in MAPS)
    assert Image.open(pngs[0]).size[0] > 61  # image plus colorbar margin


def test_one_predict_runs_pngs_of_a_case_all_have_one_size(tmp_path, inputs, tiny_checkpoint, capsys):
    import tifffile

    from dfviewer.cli.main import main
    from dfviewer.display.maps import MAPS as MAP_TABLE
    from dfviewer.io.png_export import TITLE_KEY, png_size

    common = ["--model", str(tiny_checkpoint), "--mc", "2", "--seed", "3"]
    assert main(["predict", str(inputs[0]), "--out", str(tmp_path / "png"), "--format", "png", *common]) == 0
    assert main(["predict", str(inputs[0]), "--out", str(tmp_path / "tiff"), *common]) == 0
    pngs = sorted((tmp_path / "png").glob("*.png"))
    assert len(pngs) == 18
    sizes = {p.name: Image.open(p).size for p in pngs}
    # each map on its own would be a few pixels wider or narrower (its colorbar labels, its data range)
    colormaps = {info.file_name: info for info in MAP_TABLE.values()}
    own = {p.name: png_size(tifffile.imread(tmp_path / "tiff" / p.with_suffix(".tiff").name),
                            colormaps[p.stem.split("_")[-1]].colormap, title=Image.open(p).text[TITLE_KEY],
                            units=colormaps[p.stem.split("_")[-1]].units) for p in pngs}
    assert len(set(own.values())) > 1, own
    assert set(sizes.values()) == {(max(w for w, _ in own.values()), max(h for _, h in own.values()))}, sizes


def test_folder_expansion_skips_companions_and_earlier_outputs(tmp_path):
    from dfviewer.cli.predict import expand_inputs, output_stems

    for name in ("case.png", "case_lung.png", "case_darkfield.tiff", "case_stage1_mean.tiff",
                 "case_stage1_darkfield.tiff", "case_stage2_epistemic.png", "notes.txt", ".hidden.png", "other.npy"):
        (tmp_path / name).write_bytes(b"x")
    files, problems = expand_inputs([str(tmp_path)])
    assert [f.name for f in files] == ["case.png", "other.npy"] and not problems
    empty = tmp_path / "empty"
    empty.mkdir()
    assert expand_inputs([str(empty)])[1]
    assert output_stems([tmp_path / "a.png", tmp_path / "a.tiff", tmp_path / "b.npy"]) == ["a_png", "a_tiff", "b"]


def test_predict_warns_when_the_image_is_not_in_a_fixed_models_units(tmp_path, inputs, fixed_units_checkpoint):
    model_path = fixed_units_checkpoint
    good, _ = inputs  # uint16 values up to 65535, far from -ln T in [0, 6]
    result = dfviewer("predict", good, "--model", model_path, "--out", tmp_path / "maps", "--mc", "0", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "chest.png" in warnings[0] and "have no meaning" in warnings[0]
    np.save(tmp_path / "log_t.npy", np.random.default_rng(1).uniform(0, 5, (40, 40)).astype(np.float32))
    result = dfviewer("predict", tmp_path / "log_t.npy", "--model", model_path, "--out", tmp_path / "maps2",
                      "--mc", "0", cwd=tmp_path)
    assert result.returncode == 0 and "warning" not in result.stderr


class _DecoderPanic(BaseException):
    """Stands in for pyo3_runtime.PanicException: a BaseException, not an Exception."""


def _read_csv(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as handle:
        return {Path(r["input"]).name: r for r in csv.DictReader(handle)}


def test_an_unexpected_reader_error_fails_only_that_input(tmp_path, inputs, tiny_checkpoint, monkeypatch, capsys):
    import dfviewer.io
    from dfviewer.cli.main import main

    good, _ = inputs
    crash = tmp_path / "crash.png"
    panic = tmp_path / "panic.png"
    for path in (crash, panic):
        path.write_bytes(good.read_bytes())
    real = dfviewer.io.read_radiograph

    def reader(path, *args, **kwargs):
        if Path(path).name == "crash.png":
            raise RuntimeError("decoder state went bad\nsecond line of library detail")
        if Path(path).name == "panic.png":
            raise _DecoderPanic("called `Result::unwrap()` on an `Err` value")
        return real(path, *args, **kwargs)

    monkeypatch.setattr(dfviewer.io, "read_radiograph", reader)
    out = tmp_path / "maps"
    code = main(["predict", str(crash), str(panic), str(good), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--mc", "1", "--stages", "1"])
    assert code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "crash.png" in line or "panic.png" in line]
    assert lines == [
        f"dfviewer predict: {crash}: it could not be read or processed (RuntimeError: decoder state went bad).",
        f"dfviewer predict: {panic}: it could not be read or processed "
        "(_DecoderPanic: called `Result::unwrap()` on an `Err` value).",
    ]
    assert sorted(p.name for p in out.glob("*.tiff")) == sorted(f"chest_stage1_{m}.tiff" for m in MAPS)
    rows = _read_csv(out / "predictions.csv")
    assert rows["chest.png"]["status"] == "done"
    for name in ("crash.png", "panic.png"):
        assert rows[name]["status"] == "failed" and "could not be read or processed" in rows[name]["reason"]
    assert "1 of 3 input(s) processed" in err


def test_ctrl_c_while_reading_still_stops_the_batch(tmp_path, inputs, tiny_checkpoint, monkeypatch, capsys):
    import dfviewer.io
    from dfviewer.cli.main import main

    good, _ = inputs

    def reader(path, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(dfviewer.io, "read_radiograph", reader)
    out = tmp_path / "maps"
    code = main(["predict", str(good), str(good), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "0"])
    assert code == 130 and "cancelled" in capsys.readouterr().err
    assert not list(out.glob("*.tiff")) and not (out / "predictions.csv").exists()


def test_maps_with_nan_or_infinite_values_are_not_written(tmp_path, inputs, tiny_model_config, capsys):
    import torch

    from dfviewer.cli.main import main
    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.network import Cascade

    torch.manual_seed(0)
    model = Cascade(tiny_model_config)
    with torch.no_grad():  # finite weights, but large enough to overflow float32 within a few layers
        for param in model.parameters():
            if param.dim() == 4:
                param.mul_(1e12)
    checkpoint = save_checkpoint(tmp_path / "overflowing.safetensors", model)
    good, _ = inputs
    out = tmp_path / "maps"
    out.mkdir()  # an existing folder gets the manifest even when no map was written
    code = main(["predict", str(good), "--model", str(checkpoint), "--out", str(out), "--mc", "1", "--stages", "1"])
    assert code == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if "chest.png" in line]
    assert len(errors) == 1 and "NaN or infinite" in errors[0] and errors[0].endswith(".")
    assert not list(out.glob("*.tiff"))
    rows = _read_csv(out / "predictions.csv")
    assert rows["chest.png"]["status"] == "failed" and "NaN or infinite" in rows["chest.png"]["reason"]


def test_every_fuzz_reproducer_before_a_good_file_still_gives_the_good_maps(tmp_path, inputs, tiny_checkpoint):
    """The issue's target: ``predict BAD... good`` always writes good's maps and exits non-zero."""
    good, _ = inputs
    fuzz = Path(__file__).parent / "data" / "fuzz"
    bad = sorted(p for p in fuzz.glob("*") if p.is_file() and p.suffix != ".safetensors" and ".force" not in p.name)
    assert bad
    out = tmp_path / "maps"
    result = dfviewer("predict", *bad, good, "--model", tiny_checkpoint, "--out", out, "--mc", "1",
                      "--stages", "3", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    with open(out / "predictions.csv", newline="") as handle:
        rows = {Path(r["input"]).name: r for r in csv.DictReader(handle)}
    assert rows[good.name]["status"] == "done" and list(out.glob("chest_stage3_*"))
    # every reproducer is refused in one sentence, except the one whose crash was in reading its windows:
    # its image itself is sound and is now read
    readable = {p.name for p in bad if "-file_windows-" in p.name}
    assert {p.name: rows[p.name]["status"] for p in bad} == {
        p.name: "done" if p.name in readable else "failed" for p in bad}
    for path in bad:
        if path.name not in readable:
            reason = rows[path.name]["reason"]
            assert reason.endswith(".") and "\n" not in reason


def test_inputs_and_out_are_checked_before_the_model_is_loaded(tmp_path, capsys):
    from dfviewer.cli.main import main

    out = tmp_path / "maps"
    # the model path does not exist either: the inputs' sentence comes first, the model is never opened
    code = main(["predict", str(tmp_path / "gone.dcm"), "--model", str(tmp_path / "no-model.safetensors"),
                 "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "gone.dcm: there is no such file or folder." in err
    assert "None of the inputs is a radiograph file." in err and "no-model" not in err and "model " not in err
    assert not out.exists()
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    png = tmp_path / "chest.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(png)
    code = main(["predict", str(png), "--model", str(tmp_path / "no-model.safetensors"), "--out", str(blocker)])
    err = capsys.readouterr().err
    assert code == 2 and "exists and is not a folder" in err and "no-model" not in err


def test_a_run_that_writes_nothing_makes_no_out_folder(tmp_path, inputs, tiny_checkpoint, capsys):
    from dfviewer.cli.main import main

    _, bad = inputs
    out = tmp_path / "maps"
    code = main(["predict", str(bad), "--model", str(tiny_checkpoint), "--out", str(out), "--mc", "0"])
    err = capsys.readouterr().err
    assert code == 1 and "broken.png" in err and "0 of 1 input(s) processed" in err
    assert not out.exists()


def test_a_flagged_inputs_pngs_carry_the_warning_and_the_summary_counts_it(tmp_path, inputs, fixed_units_checkpoint):
    import tifffile

    from dfviewer.io.png_export import TITLE_KEY, WARNING_KEY

    good, _ = inputs  # uint16 values: outside the fixed-unit model's -ln T in [0, 6], flagged
    in_units = tmp_path / "log_t.npy"
    np.save(in_units, np.random.default_rng(1).uniform(0, 5, (45, 61)).astype(np.float32))
    out = tmp_path / "maps"
    result = dfviewer("predict", good, in_units, "--model", fixed_units_checkpoint, "--out", out, "--mc", "0",
                      "--format", "png", "--stages", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "done: 2 of 2 input(s) processed, 1 flagged, 12 file(s)" in result.stderr
    flagged, plain = Image.open(out / "chest_stage3_aleatoric.png"), Image.open(out / "log_t_stage3_aleatoric.png")
    assert "have no meaning for it." in flagged.text[WARNING_KEY] and flagged.text[WARNING_KEY][0].isupper()
    assert WARNING_KEY not in plain.text and plain.text[TITLE_KEY].startswith("log_t, stage 3, ")
    assert flagged.height > plain.height  # the warning's lines in the title strip
    result = dfviewer("predict", good, "--model", fixed_units_checkpoint, "--out", tmp_path / "tiffs", "--mc", "0",
                      "--stages", "3", cwd=tmp_path)
    description = tifffile.TiffFile(tmp_path / "tiffs" / "chest_stage3_darkfield.tiff").pages[0].description
    assert "warning: " in description and "have no meaning" in description


def test_predict_is_seeded_by_default(tmp_path, inputs, tiny_checkpoint):
    import tifffile

    good, _ = inputs
    for run in ("a", "b"):
        assert dfviewer("predict", good, "--model", tiny_checkpoint, "--out", tmp_path / run, "--mc", "3",
                        "--stages", "2", cwd=tmp_path).returncode == 0
    first, second = (tifffile.imread(tmp_path / run / "chest_stage2_epistemic.tiff") for run in ("a", "b"))
    assert first.max() > 0
    np.testing.assert_array_equal(first, second)


def test_predict_names_the_formats_it_reads_for_a_text_file(tmp_path, inputs, tiny_checkpoint):
    good, _ = inputs
    notes = tmp_path / "notes.txt"
    notes.write_text("not an image\n")
    result = dfviewer("predict", notes, good, "--model", tiny_checkpoint, "--out", tmp_path / "maps", "--mc", "0",
                      "--stages", "1", cwd=tmp_path)
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "notes.txt" in line]
    assert errors == ["dfviewer predict: Cannot read notes.txt: it is not an image dfviewer reads "
                      "(DICOM, PNG, JPEG, TIFF or NPY)."], result.stderr
    assert "chest.png" in result.stdout
