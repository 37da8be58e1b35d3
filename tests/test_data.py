import numpy as np
import pytest
import tifffile
import torch
from _dfv_pairs import make_pairs

from dfviewer.core.config import Normalization
from dfviewer.core.data import Augment, PairedDataset
from dfviewer.core.dataset_check import DatasetError, check_dataset, hash_split
from dfviewer.core.dataset_combine import combine_datasets
from dfviewer.core.normalize import denormalize_target, normalize_target


def _folder_dataset(root):
    (root / "attenuation").mkdir(parents=True)
    (root / "darkfield").mkdir()
    img = np.random.default_rng(0).random((24, 24)).astype(np.float32)
    for name in ("good1", "good2", "orphan", "small", "broken"):
        np.save(root / "attenuation" / f"{name}.npy", img)
    for name in ("good1", "good2", "broken"):
        tifffile.imwrite(root / "darkfield" / f"{name}.tif", img)
    tifffile.imwrite(root / "darkfield" / "small.tif", img[:12, :16])
    (root / "attenuation" / "broken.npy").write_bytes(b"this is not an image")
    np.save(root / "darkfield" / "lonely.npy", img)
    return root


def test_folder_check_names_every_bad_pair(tmp_path):
    root = _folder_dataset(tmp_path / "data")
    report = check_dataset(root)
    assert report.layout == "folders"
    assert sorted(p.case for p in report.pairs) == ["good1", "good2"]
    bad = {p.case: p.reason for p in report.blocking}
    assert set(bad) == {"orphan", "small", "broken", "lonely"}
    assert "no partner" in bad["orphan"] and "no partner" in bad["lonely"]
    assert "size mismatch" in bad["small"] and "24x24" in bad["small"] and "12x16" in bad["small"]
    assert "unreadable" in bad["broken"]
    assert report.sizes == {"24x24": 2}
    with pytest.raises(DatasetError) as info:
        report.raise_if_blocking()
    message = str(info.value)
    for case in ("orphan", "small", "broken", "lonely"):
        assert case in message
    assert "\n" not in message


def test_hash_split_is_stable_and_roughly_80_10_10():
    names = [f"patient_{i}" for i in range(2000)]
    splits = [hash_split(n) for n in names]
    assert splits == [hash_split(n) for n in names]
    share = {s: splits.count(s) / len(splits) for s in ("train", "val", "test")}
    assert 0.76 < share["train"] < 0.84 and 0.07 < share["val"] < 0.13 and 0.07 < share["test"] < 0.13


def test_manifest_layout_splits_flags_and_masks(tmp_path):
    root = make_pairs(tmp_path / "m", n=6, size=32)
    report = check_dataset(root)
    assert report.ok and report.layout == "manifest"
    assert report.splits == {"train": 4, "val": 1, "test": 1}
    assert report.formats == {"npy": 6, "tif": 6}
    test_pair = report.split("test")[0]
    assert test_pair.ood and test_pair.lung_mask is not None and test_pair.shape == (32, 32)
    # a manifest given by path works the same
    assert check_dataset(root / "manifest.csv").splits == report.splits


def test_manifest_missing_file_and_bad_split(tmp_path):
    root = make_pairs(tmp_path / "m", n=4, size=24)
    text = (root / "manifest.csv").read_text().replace("darkfield/case01.tif", "darkfield/gone.tif")
    text = text.replace(",val,", ",holdout,")
    (root / "manifest.csv").write_text(text)
    report = check_dataset(root)
    reasons = {p.case: p.reason for p in report.blocking}
    assert "missing file" in reasons["case01"] and "gone.tif" in reasons["case01"]
    assert "unknown split" in reasons["case02"]


def test_combine_keeps_splits_flags_masks_and_extra_columns(tmp_path):
    site_a = make_pairs(tmp_path / "site" / "a", n=5, size=24, extras=True)
    with open(site_a / "manifest.csv") as handle:  # an informational column travels along
        lines = handle.read().splitlines()
    lines = [lines[0] + ",dose"] + [line + f",{i}" for i, line in enumerate(lines[1:])]
    (site_a / "manifest.csv").write_text("\n".join(lines) + "\n")
    site_b = make_pairs(tmp_path / "other" / "a", n=4, size=24, seed=1)  # same folder name as site_a
    folders = _folder_dataset(tmp_path / "plain")
    for name in ("orphan", "small", "broken"):  # keep only its good pairs
        (folders / "attenuation" / f"{name}.npy").unlink()
    for name in ("small", "broken", "lonely"):
        next((folders / "darkfield").glob(f"{name}.*")).unlink()

    manifest, splits = combine_datasets([site_a, site_b / "manifest.csv", folders], tmp_path / "all" / "combined.csv")
    assert manifest == tmp_path / "all" / "combined.csv"
    combined = check_dataset(manifest)
    originals = {prefix: check_dataset(src) for prefix, src in (("a", site_a), ("a_", site_b), ("plain", folders))}
    assert combined.ok and len(combined.pairs) == sum(len(r.pairs) for r in originals.values()) == 11
    assert splits == combined.splits
    by_case = {p.case: p for p in combined.pairs}
    for prefix, report in originals.items():
        for pair in report.pairs:
            mine = by_case[f"{prefix}_{pair.case}"]
            assert mine.split == pair.split and mine.ood == pair.ood
            assert mine.attenuation.resolve() == pair.attenuation.resolve()
            assert mine.darkfield.resolve() == pair.darkfield.resolve()
            assert (mine.lung_mask and mine.lung_mask.resolve()) == (pair.lung_mask and pair.lung_mask.resolve())
            assert {k: v.resolve() for k, v in mine.extras.items()} == {k: v.resolve() for k, v in pair.extras.items()}
    assert by_case["a_case03"].row["dose"] == "3"
    assert by_case["a_case04"].row["device_mask"] == "../site/a/masks/case04_device.png"  # relative: the tree can move


def test_combine_refuses_a_broken_source_and_writes_nothing(tmp_path):
    good = make_pairs(tmp_path / "good", n=3, size=24)
    bad = make_pairs(tmp_path / "bad", n=3, size=24)
    (bad / "darkfield" / "case01.tif").unlink()
    with pytest.raises(DatasetError, match="case01"):
        combine_datasets([good, bad], tmp_path / "out")
    assert not (tmp_path / "out" / "manifest.csv").exists()
    before = (good / "manifest.csv").read_text()
    with pytest.raises(DatasetError, match="elsewhere"):  # never overwrites a source's own manifest
        combine_datasets([good], good)
    assert (good / "manifest.csv").read_text() == before


def test_combine_command(tmp_path, capsys):
    from dfviewer.cli.main import main

    a, b = make_pairs(tmp_path / "a", n=3, size=24), make_pairs(tmp_path / "b", n=4, size=24)
    assert main(["combine", str(a), str(b), "--out", str(tmp_path / "ab")]) == 0
    assert "listing 7 pairs from 2 datasets (3 train, 2 val, 2 test)" in capsys.readouterr().out
    assert check_dataset(tmp_path / "ab").splits == {"train": 3, "val": 2, "test": 2}
    assert main(["combine", str(a), str(tmp_path / "nothing"), "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dfviewer combine:") and "does not exist" in err and "\n" not in err


def test_not_a_dataset(tmp_path):
    with pytest.raises(DatasetError) as info:
        check_dataset(tmp_path)
    assert str(info.value) == f"folder {tmp_path} holds neither a manifest.csv nor attenuation/ and darkfield/ subfolders"
    with pytest.raises(DatasetError) as info:
        check_dataset(tmp_path / "nope")
    assert str(info.value) == f"dataset {tmp_path / 'nope'} does not exist"


@pytest.mark.parametrize("norm", [Normalization(), Normalization(input_mode="fixed", input_low=10, input_high=500)])
def test_training_input_is_what_the_predictor_feeds_the_network(tmp_path, norm):
    """Same normalisation, resampling to the working size and padding rule in training and inference."""
    import dataclasses

    from dfviewer.core.config import ModelConfig
    from dfviewer.core.dataset_check import read_pixels
    from dfviewer.core.prepare import prepare_image

    cfg = dataclasses.replace(ModelConfig(preset="tiny", base_width=4, depth=2, working_size=32), normalization=norm)
    report = check_dataset(make_pairs(tmp_path, n=3, size=40, shape=(37, 53)))
    pair = report.pairs[0]
    x, _, valid = PairedDataset([pair], norm, cfg.working_size)[0]
    h, w = valid.tolist()
    prepared = prepare_image(read_pixels(pair.attenuation), cfg, cfg.working_size)  # what Predictor.predict feeds
    assert prepared.work == (h, w)
    np.testing.assert_allclose(x[0, :h, :w].numpy(), prepared.x[0, 0, :h, :w], atol=1e-6)


def test_target_normalisation_round_trips():
    img = np.random.default_rng(3).gamma(2.0, 100.0, (37, 53)).astype(np.float32)
    norm = Normalization(target_offset=0.1, target_scale=2.5)
    np.testing.assert_allclose(denormalize_target(normalize_target(img, norm), norm), img, rtol=1e-6)


def test_fixed_normalisation_warns_about_images_in_other_units():
    from dfviewer.core.normalize import input_range_warning

    rng = np.random.default_rng(4)
    log_t = rng.uniform(0.0, 5.5, (64, 64)).astype(np.float32)  # -ln T, as the model was trained on
    fixed = Normalization(input_mode="fixed", input_low=0.0, input_high=6.0)
    assert input_range_warning(log_t, fixed) is None
    assert input_range_warning(log_t * 1.4 - 0.5, fixed) is None  # a heavier patient: still plausible
    assert input_range_warning(np.full((8, 8), 3.0, np.float32), fixed) is None  # flat but in range
    processed = (rng.random((64, 64)) * 4095).astype(np.float32)  # a vendor's 12-bit radiograph
    text = input_range_warning(processed, fixed)
    assert text is not None and "(0 to 6)" in text and "\n" not in text
    assert text.startswith("this image's values (")
    assert input_range_warning(-log_t - 3, fixed) is not None  # mostly below the range
    assert input_range_warning(np.full((8, 8), 40.0, np.float32), fixed) is not None
    # a percentile model rescales every image: any units are fine
    assert input_range_warning(processed, Normalization()) is None


def test_dataset_resizes_pads_and_augments_deterministically(tmp_path):
    root = make_pairs(tmp_path / "m", n=4, size=0, shape=(40, 64), val=0, test=0)
    report = check_dataset(root)
    norm = Normalization(target_scale=2.0)
    plain = PairedDataset(report.pairs, norm, 32)
    x, y, valid = plain[0]
    assert x.shape == y.shape == (1, 32, 32) and valid.tolist() == [20, 32]
    # the padded rows mirror the image (bottom padding by reflection)
    torch.testing.assert_close(x[0, 20], x[0, 18])
    # the target is normalised by the scale
    assert float(y.max()) < 1.5 and float(y.max()) > 0.8

    aug = PairedDataset(report.pairs, norm, 32, Augment(10.0, True, 0.2), seed=5)
    aug.epoch = 3
    a1 = aug[1]
    a2 = aug[1]
    torch.testing.assert_close(a1[0], a2[0])  # same (seed, epoch, index): same draw
    aug.epoch = 4
    changed = [not torch.equal(aug[i][0], a1[0]) for i in range(1)]
    assert all(changed)
    # input and target are moved together: the dark lung in x stays on the bright lung in y
    for epoch in range(4):
        aug.epoch = epoch
        xa, ya, (h, w) = aug[2][0][0], aug[2][1][0], aug[2][2].tolist()
        r = np.corrcoef(xa[:h, :w].flatten().numpy(), ya[:h, :w].flatten().numpy())[0, 1]
        assert r < -0.8
