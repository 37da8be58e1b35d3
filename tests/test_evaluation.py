import json

import numpy as np
import pytest
import torch
from _dfv_pairs import make_pairs
from scipy import stats
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from dfviewer.core import metrics as M


def _sk_ssim(a, b):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.0)


@pytest.mark.parametrize("shape", [(64, 64), (37, 53), (11, 30)])
def test_psnr_and_ssim_equal_scikit_image(shape):
    rng = np.random.default_rng(sum(shape))
    truth = rng.random(shape)
    pred = np.clip(truth + 0.1 * rng.standard_normal(shape), 0, 1)
    assert M.psnr(pred, truth, 1.0) == pytest.approx(peak_signal_noise_ratio(truth, pred, data_range=1.0), rel=1e-9)
    assert M.ssim(pred, truth, 1.0) == pytest.approx(_sk_ssim(pred, truth), rel=1e-7, abs=1e-9)
    batch = M.batch_image_metrics(torch.from_numpy(pred)[None, None].float(), torch.from_numpy(truth)[None, None].float())
    assert batch["ssim"][0] == pytest.approx(_sk_ssim(pred, truth), abs=1e-5)
    assert batch["psnr"][0] == pytest.approx(peak_signal_noise_ratio(truth, pred, data_range=1.0), abs=1e-4)


def test_ause_of_the_oracle_is_zero_and_of_noise_is_not():
    rng = np.random.default_rng(0)
    err = rng.standard_normal(20000) * rng.gamma(2.0, 1.0, 20000)
    area, curve, oracle = M.ause(np.abs(err), err)
    assert abs(area) < 1e-12 and curve[0] == pytest.approx(1.0)
    assert np.all(np.diff(oracle) <= 1e-12)  # removing the largest errors first only helps
    random_area, _, _ = M.ause(rng.random(err.size), err)
    assert random_area > 0.2


@pytest.mark.parametrize("alpha,beta", [(0.5, 0.7), (1.0, 1.0), (0.3, 2.0), (2.0, 5.0)])
def test_coverage_of_ggd_samples_is_nominal(alpha, beta):
    samples = stats.gennorm.rvs(beta, scale=alpha, size=200_000, random_state=1)
    a = np.full(samples.shape, alpha)
    b = np.full(samples.shape, beta)
    for p in (0.5, 0.9):
        assert M.coverage(samples, M.ggd_halfwidth(a, b, p)) == pytest.approx(p, abs=0.005)
    if beta == 2.0:
        sigma = alpha / np.sqrt(2)
        assert M.coverage(samples, M.gaussian_halfwidth(np.full(samples.shape, sigma), 0.9)) == pytest.approx(0.9, abs=0.005)


def test_uce_ence_and_spearman():
    rng = np.random.default_rng(2)
    sigma = rng.uniform(0.1, 2.0, 200_000)
    err = sigma * rng.standard_normal(sigma.size)
    assert M.ence(sigma, err) < 0.03 and M.uce(sigma, err) < 0.03
    assert M.ence(sigma * 3, err) > 0.6  # over-confident by a factor three the other way
    assert M.spearman(sigma, np.abs(err)) > 0.3
    assert M.spearman(rng.random(sigma.size), np.abs(err)) == pytest.approx(0.0, abs=0.02)


def test_spearman_equals_scipys_with_ties_and_gives_nan_where_it_does():
    """M.spearman is numpy only (the bundle has no scipy.stats); it must stay scipy's spearmanr."""
    from scipy.stats import spearmanr

    rng = np.random.default_rng(5)
    cases = [
        (rng.random(1000), rng.random(1000)),
        (rng.integers(0, 6, 500).astype(np.float32), rng.integers(0, 3, 500)),  # many ties on both sides
        (np.arange(50.0), np.arange(50.0) ** 3),  # monotone: exactly 1
        (np.r_[1.0, 1.0, 2.0, np.inf], np.r_[4.0, 3.0, 2.0, 1.0]),  # infinity ranks last, as in scipy
    ]
    for a, b in cases:
        assert M.spearman(a, b) == pytest.approx(spearmanr(a, b).statistic, abs=1e-12)
    assert np.isnan(M.spearman(np.r_[1.0, np.nan, 3.0, 4.0], np.arange(4.0)))
    assert np.isnan(M.spearman(np.ones(10), np.arange(10.0)))


def test_evaluate_end_to_end(tiny_checkpoint, tmp_path):
    from dfviewer.core.evaluation import evaluate
    from dfviewer.core.evaluation_report import write_plots
    from dfviewer.core.inference import Predictor
    from dfviewer.core.normalize import normalize_target

    data = make_pairs(tmp_path / "data", n=4, size=48, val=0, test=2)
    report = evaluate(tiny_checkpoint, data, split="test", mc_samples=2, device="cpu", seed=7)
    assert report.n_images == 2 and set(report.stages) == {1, 2, 3}
    stage = report.stages[3]
    for key in ("mse", "psnr", "ssim", "spearman", "ause"):
        assert stage[key]["n"] == 2
    assert 0 <= stage["coverage_ggd"]["0.5"] <= stage["coverage_ggd"]["0.9"] <= 1
    assert stage["epistemic"]["ood"] is not None and stage["epistemic"]["clean"] is not None
    # the report's PSNR and SSIM are scikit-image's on the same arrays
    predictor = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    norm = predictor.config.normalization
    first = report.per_image[0]
    x = np.load(data / "attenuation" / f"{first['case']}.npy")
    import tifffile

    y = tifffile.imread(data / "darkfield" / f"{first['case']}.tif")
    res = predictor.predict(x, mc_samples=2, seed=7)[first["stage"] - 1]
    p = np.clip(normalize_target(res.mean, norm), 0, 1).astype(np.float64)
    t = np.clip(normalize_target(y, norm), 0, 1).astype(np.float64)
    assert first["psnr"] == pytest.approx(peak_signal_noise_ratio(t, p, data_range=1.0), rel=1e-6)
    assert first["ssim"] == pytest.approx(_sk_ssim(p, t), rel=1e-6)

    saved = json.loads(report.save_json(tmp_path / "report.json").read_text())
    assert saved["stages"]["1"]["mse"]["mean"] == pytest.approx(report.stages[1]["mse"]["mean"])
    table = report.to_markdown()
    assert table.count("\n| 1 |") == 2 and "use_sample_covariance=False" in table
    # the paired stage comparison counts images on which a stage beats the one before it
    rows = {(r["case"], r["stage"]): r for r in report.per_image}
    cases = {r["case"] for r in report.per_image}
    diffs = [rows[(c, 3)]["mse"] - rows[(c, 2)]["mse"] for c in cases]
    assert report.paired[3]["mse"] == {"better": sum(d < 0 for d in diffs), "n": 2,
                                       "mean_change": pytest.approx(np.mean(diffs))}
    assert "| 2 → 3 |" in table
    # the split holds one clean and one devices case: image quality is also given for each group apart
    groups = report.by_group
    assert set(groups) == {"clean", "ood"} and groups["clean"]["n"] == groups["ood"]["n"] == 1
    for name, flag in (("clean", False), ("ood", True)):
        case = next(r["case"] for r in report.per_image if r["ood"] == flag)
        assert groups[name]["stages"][2]["ssim"]["mean"] == pytest.approx(rows[(case, 2)]["ssim"])
        assert groups[name]["paired"][3]["mse"]["better"] == int(rows[(case, 3)]["mse"] < rows[(case, 2)]["mse"])
    assert "| ood (1) | 3 |" in table and saved["by_group"]["clean"]["n"] == 1
    plots = write_plots(report, tmp_path / "plots")
    assert {p.name for p in plots} >= {"sparsification.png", "calibration.png", "metric_ssim.png"}
    from PIL import Image

    with Image.open(tmp_path / "plots" / "calibration.png") as img:
        assert img.size == (640, 440)


def test_evaluate_scores_the_noise_free_reference_and_device_pixels(tiny_checkpoint, tmp_path):
    import tifffile

    from dfviewer.core.evaluation import evaluate
    from dfviewer.core.inference import Predictor
    from dfviewer.core.normalize import normalize_target

    data = make_pairs(tmp_path / "data", n=4, size=48, val=0, test=2, extras=True)
    report = evaluate(tiny_checkpoint, data, split="test", mc_samples=3, device="cpu", seed=1)
    norm = Predictor.from_checkpoint(tiny_checkpoint, device="cpu").config.normalization
    psnrs = []
    for case in ("case02", "case03"):
        y = np.clip(normalize_target(tifffile.imread(data / "darkfield" / f"{case}.tif"), norm), 0, 1)
        c = np.clip(normalize_target(tifffile.imread(data / "darkfield_clean" / f"{case}.tif"), norm), 0, 1)
        psnrs.append(peak_signal_noise_ratio(y.astype(np.float64), c.astype(np.float64), data_range=1.0))
    assert report.reference["n"] == 2
    assert report.reference["psnr"]["mean"] == pytest.approx(np.mean(psnrs), rel=1e-6)
    devices = report.stages[3]["epistemic_devices"]
    assert devices["n_images"] == 1 and devices["inside"] > 0 and devices["beside"] > 0
    assert devices["ratio"] == pytest.approx(devices["inside"] / devices["beside"])
    # the image-quality MSE on the same two regions of the one devices case (case03, second in the split)
    from PIL import Image

    pred = Predictor.from_checkpoint(tiny_checkpoint, device="cpu").predict(
        np.load(data / "attenuation" / "case03.npy"), mc_samples=3, seed=1 + 1)[2]
    y = np.clip(normalize_target(tifffile.imread(data / "darkfield" / "case03.tif"), norm), 0, 1)
    sq = (np.clip(normalize_target(pred.mean, norm), 0, 1) - y) ** 2
    mask = np.asarray(Image.open(data / "masks" / "case03_device.png")) > 0
    mse = report.stages[3]["mse_devices"]
    assert mse["inside"] == pytest.approx(sq[mask].mean(), rel=1e-5)
    assert mse["beside"] == pytest.approx(sq[~mask].mean(), rel=1e-5)
    table = report.to_markdown()
    assert "noise-free" in table and "device pixels" in table
    assert json.loads(report.save_json(tmp_path / "r.json").read_text())["reference_noise_free"]["n"] == 2


def test_evaluate_notes_images_outside_a_fixed_models_input_range(tmp_path, tiny_model_config):
    import dataclasses

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.config import Normalization
    from dfviewer.core.evaluation import evaluate
    from dfviewer.core.network import Cascade

    data = make_pairs(tmp_path / "data", n=4, size=48, val=0, test=2)
    x = np.load(next((data / "attenuation").glob("*.npy")))
    inside = Normalization(input_mode="fixed", input_low=float(x.min()), input_high=float(x.max()))
    outside = Normalization(input_mode="fixed", input_low=float(x.max()) + 1000, input_high=float(x.max()) + 1001)
    notes = {}
    for name, norm in (("inside", inside), ("outside", outside)):
        cfg = dataclasses.replace(tiny_model_config, normalization=norm)
        path = save_checkpoint(tmp_path / f"{name}.safetensors", Cascade(cfg), {})
        notes[name] = evaluate(path, data, split="test", mc_samples=0, device="cpu").notes
    assert not any("value range" in n for n in notes["inside"])
    assert any(n.startswith("2 of 2 attenuation images lie outside the value range") for n in notes["outside"])


def test_one_damaged_pair_is_left_out_with_its_reason_and_the_cli_exits_nonzero(tiny_checkpoint, tmp_path, capsys):
    from dfviewer.cli.main import main
    from dfviewer.core.dataset_check import DatasetError
    from dfviewer.core.evaluation import evaluate

    data = make_pairs(tmp_path / "data", n=4, size=48, val=0, test=2)
    report = evaluate(tiny_checkpoint, data, split="test", mc_samples=1, device="cpu")
    damaged = report.per_image[0]["case"]
    kept = next(r["case"] for r in report.per_image if r["case"] != damaged)
    (data / "darkfield" / f"{damaged}.tif").write_bytes(b"II*\x00" + b"\xff" * 40)

    report = evaluate(tiny_checkpoint, data, split="test", mc_samples=1, device="cpu")
    assert report.n_images == 1 and {r["case"] for r in report.per_image} == {kept}
    assert [f["case"] for f in report.failed] == [damaged]
    reason = report.failed[0]["reason"]
    assert reason.endswith(".") and "\n" not in reason
    assert any("1 of 2 pairs could not be evaluated" in note for note in report.notes)
    assert main(["evaluate", "--model", str(tiny_checkpoint), "--data", str(data), "--mc", "1", "--device", "cpu"]) == 1
    assert f"dfviewer evaluate: {damaged}: " in capsys.readouterr().err

    (data / "darkfield" / f"{kept}.tif").write_bytes(b"not a tiff at all")
    with pytest.raises(DatasetError, match="none of the 2 pairs"):
        evaluate(tiny_checkpoint, data, split="test", mc_samples=1, device="cpu")
