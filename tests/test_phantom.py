"""The paired chest phantom: determinism, physical sanity, pathology, devices, dataset writer, CLI."""

import csv
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dfviewer.errors import UserError
from dfviewer.phantom import PhantomConfig, PhantomConfigError, simulate_case, write_dataset

STILL = dict(rotation_deg=0.0, position_mm=0.0)  # upright, centred patients


def lung_rows_mean(case, image):
    return float(image[case.masks["lung"]].mean())


def test_same_seed_and_index_give_identical_cases():
    cfg = PhantomConfig(size=64)
    a, b = simulate_case(7, 3, cfg), simulate_case(7, 3, cfg)
    for name in ("attenuation", "darkfield", "attenuation_clean", "darkfield_clean"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.attributes == b.attributes
    other = simulate_case(7, 4, cfg)
    assert not np.array_equal(a.attenuation_clean, other.attenuation_clean)


def test_redraw_keeps_the_patient_and_draws_texture_pathology_and_noise_afresh():
    cfg = PhantomConfig(size=64)
    base = simulate_case(7, 3, cfg, ood=True)
    again = simulate_case(7, 3, cfg, ood=True, redraw=1)
    np.testing.assert_array_equal(simulate_case(7, 3, cfg, ood=True, redraw=1).darkfield, again.darkfield)
    flags = ("healthy", "emphysema", "consolidation", "devices", "dose", "rotation_deg", "zoom", "patient_size")
    assert {k: base.attributes[k] for k in flags} == {k: again.attributes[k] for k in flags}
    np.testing.assert_array_equal(base.masks["lung"], again.masks["lung"])
    np.testing.assert_array_equal(base.masks["device"], again.masks["device"])
    assert not np.array_equal(base.darkfield, again.darkfield)
    # without disease the anatomy is all that is left of the attenuation: identical; the texture is not
    healthy = cfg.replace(pathology=False)
    a, b = simulate_case(7, 3, healthy, redraw=None), simulate_case(7, 3, healthy, redraw=2)
    np.testing.assert_array_equal(a.attenuation_clean, b.attenuation_clean)
    assert not np.array_equal(a.darkfield_clean, b.darkfield_clean)


def test_outputs_are_float32_images_with_required_masks():
    case = simulate_case(0, 0, PhantomConfig(size=48))
    for name in ("attenuation", "darkfield", "attenuation_clean", "darkfield_clean"):
        arr = getattr(case, name)
        assert arr.dtype == np.float32 and arr.shape == (48, 48) and np.isfinite(arr).all()
    for name in ("lung", "emphysema", "consolidation", "device"):
        assert case.masks[name].dtype == bool and case.masks[name].shape == (48, 48)
    assert {"healthy", "emphysema", "consolidation", "devices", "ood", "dose"} <= set(case.attributes)


def test_darkfield_is_zero_outside_the_body_and_small_outside_the_lungs():
    cfg = PhantomConfig(size=128, healthy_fraction=1.0)
    case = simulate_case(1, 0, cfg, ood=False)
    clean, body, lung = case.darkfield_clean, case.masks["body"], case.masks["lung"]
    assert np.all(clean[~body] == 0)
    lung_mean = float(clean[lung].mean())
    # healthy lungs: ~2.5 per metre of lung path, i.e. a few tenths over 10-20 cm
    assert 0.15 < lung_mean < 0.6
    soft = body & ~lung
    assert float(clean[soft].mean()) < 0.25 * lung_mean
    # attenuation: the lungs are the darkest part of the body in the radiograph
    assert float(case.attenuation_clean[lung].mean()) < float(case.attenuation_clean[soft].mean())


def test_emphysema_lowers_lung_darkfield_but_barely_changes_attenuation():
    cfg = PhantomConfig(size=96, healthy_fraction=0.0, emphysema_probability=1.0, consolidation_probability=0.0)
    sick = simulate_case(2, 5, cfg, ood=False)
    well = simulate_case(2, 5, cfg.replace(pathology=False), ood=False)
    assert sick.attributes["emphysema"] and well.attributes["healthy"]
    np.testing.assert_array_equal(sick.masks["lung"], well.masks["lung"])  # same anatomy
    mask = sick.masks["emphysema"]
    assert mask.any() and not well.masks["emphysema"].any()
    d_sick, d_well = sick.darkfield_clean[mask].mean(), well.darkfield_clean[mask].mean()
    assert d_sick < 0.85 * d_well
    assert lung_rows_mean(sick, sick.darkfield_clean) < lung_rows_mean(well, well.darkfield_clean)
    a_drop = well.attenuation_clean[mask].mean() - sick.attenuation_clean[mask].mean()
    assert 0 <= a_drop < 0.2 * (d_well - d_sick) * 10  # a slight drop in attenuation only
    assert a_drop < 0.05 * well.attenuation_clean[mask].mean()


def test_consolidation_raises_attenuation_and_lowers_darkfield():
    cfg = PhantomConfig(size=96, healthy_fraction=0.0, emphysema_probability=0.0, consolidation_probability=1.0)
    sick = simulate_case(4, 1, cfg, ood=False)
    well = simulate_case(4, 1, cfg.replace(pathology=False), ood=False)
    mask = sick.masks["consolidation"]
    assert sick.attributes["consolidation"] and mask.any()
    assert sick.attenuation_clean[mask].mean() > well.attenuation_clean[mask].mean() + 0.1
    assert sick.darkfield_clean[mask].mean() < 0.8 * well.darkfield_clean[mask].mean()


def test_attenuation_is_higher_over_the_spine_than_over_the_lungs():
    cfg = PhantomConfig(size=128, healthy_fraction=1.0, **STILL)
    case = simulate_case(3, 2, cfg, ood=False)
    lung = case.masks["lung"]
    rows = np.nonzero(lung.any(axis=1))[0]
    rows = rows[len(rows) // 4: len(rows) // 2]  # upper-middle lung zone, above the heart
    spine = case.attenuation_clean[rows, 63:65].mean()
    lungs = case.attenuation_clean[rows][lung[rows]].mean()
    assert spine > lungs + 1.0
    # and the dark-field barely shows the bone
    assert case.darkfield_clean[rows, 63:65].mean() < 0.5 * case.darkfield_clean[rows][lung[rows]].mean()


def test_ribs_cross_the_upper_lung_fields_in_bands_and_the_right_dome_sits_higher():
    from dfviewer.phantom.anatomy import build_anatomy
    from dfviewer.phantom.ray_geometry import Canvas

    cfg = PhantomConfig(size=128)
    canvas = Canvas.build(cfg.size, cfg.spacing_mm)
    for seed in range(5):
        anat = build_anatomy(np.random.default_rng(seed), canvas, cfg)
        for side in anat.lungs:
            # a vertical line through the middle of each lung field, upper half of the lung
            col = int(round(canvas.to_pixel(side.center[0], 0.0)[1]))
            rows = np.flatnonzero(anat.lung_len[:, col] > 12)
            bone = anat.a_bone[rows[: len(rows) // 2], col] > 0.1
            bands = int(bone[0]) + int(np.sum(bone[1:] & ~bone[:-1]))
            assert bands >= 3  # several separate ribs, not one slab
            assert 0.3 < bone.mean() < 0.9  # with lung visible between them
        # right hemidiaphragm higher, and the ribs cover the lungs down to about the domes
        assert anat.params["dome_top_right"] > anat.params["dome_top_left"] + 5
        dome_row = canvas.to_pixel(0.0, anat.params["dome_top_right"])[0]
        right_col = int(round(canvas.to_pixel(anat.lungs[0].center[0], 0.0)[1]))
        bone_rows = np.flatnonzero(anat.a_bone[:, right_col] > 0.1)
        assert bone_rows.min() < dome_row < bone_rows.max()


def test_darkfield_noise_grows_where_little_light_gets_through():
    cfg = PhantomConfig(size=128, healthy_fraction=1.0, blur_mm=0.0, stripe_strength=0.0)
    case = simulate_case(5, 0, cfg, ood=False)
    resid = case.darkfield - case.darkfield_clean
    a = case.attenuation_clean
    bright = case.masks["lung"] & (a < np.percentile(a[case.masks["lung"]], 50))
    dim = case.masks["body"] & (a > 4.0)
    assert bright.sum() > 50 and dim.sum() > 50
    assert resid[dim].std() > 2 * resid[bright].std()


def test_device_cases_carry_devices_and_masks():
    cfg = PhantomConfig(size=96, pacemaker_probability=1.0, ecg_probability=1.0, marker_probability=1.0)
    case = simulate_case(0, 1, cfg, ood=True)
    assert case.attributes["ood"] and case.attributes["devices"] == "pacemaker+ecg+marker"
    assert case.masks["device"].sum() > 20
    assert case.attenuation_clean[case.masks["device"]].max() > 1.0
    clean = simulate_case(0, 1, cfg, ood=False)
    assert not clean.masks["device"].any() and clean.attributes["devices"] == ""


def test_every_ood_case_has_at_least_one_device():
    cfg = PhantomConfig(size=32, pacemaker_probability=0.0, ecg_probability=0.0, marker_probability=0.0)
    case = simulate_case(9, 9, cfg, ood=True)
    assert case.attributes["devices"] and case.masks["device"].any()


@pytest.mark.parametrize("change", [dict(size=8), dict(healthy_fraction=1.5), dict(dose=0.0), dict(phase_steps=2)])
def test_bad_settings_are_user_errors(change):
    with pytest.raises(PhantomConfigError) as info:
        PhantomConfig(**change)
    assert isinstance(info.value, UserError) and str(info.value).endswith(".")


def read_manifest(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_write_dataset_layout_manifest_and_determinism(tmp_path):
    from dfviewer.io import read_radiograph

    cfg = PhantomConfig(ood_fraction_eval=1.0)
    manifest = write_dataset(tmp_path / "a", 8, 40, seed=11, config=cfg, dicom=False)
    rows = read_manifest(manifest)
    assert len(rows) == 8
    assert list(rows[0])[:10] == ["case", "attenuation", "darkfield", "lung_mask", "split", "healthy", "emphysema",
                                  "consolidation", "devices", "ood"]
    assert {r["split"] for r in rows} <= {"train", "val", "test"}
    assert [sum(r["split"] == s for r in rows) for s in ("train", "val", "test")] == [6, 1, 1]
    assert not any(r["ood"] == "1" for r in rows if r["split"] == "train")  # training stays in distribution
    assert all(r["ood"] == "1" for r in rows if r["split"] != "train")
    assert all(r["devices"] == "1" for r in rows if r["ood"] == "1")
    for row in rows:
        att = read_radiograph(manifest.parent / row["attenuation"]).pixels
        dark = read_radiograph(manifest.parent / row["darkfield"]).pixels
        mask = np.asarray(Image.open(manifest.parent / row["lung_mask"]))
        assert att.shape == dark.shape == mask.shape == (40, 40)
        assert set(np.unique(mask)) <= {0, 255} and mask.dtype == np.uint8
        for col in ("emphysema_mask", "consolidation_mask", "device_mask", "darkfield_clean"):
            assert (manifest.parent / row[col]).is_file()
    assert not list(manifest.parent.rglob(".*tmp*"))  # atomic writes leave no temporaries
    again = write_dataset(tmp_path / "b", 8, 40, seed=11, config=cfg, dicom=False)
    assert again.read_text() == manifest.read_text()
    row = rows[3]
    np.testing.assert_array_equal(read_radiograph(manifest.parent / row["darkfield"]).pixels,
                                  read_radiograph(again.parent / row["darkfield"]).pixels)


def test_every_registered_subcommand_has_its_module():
    import importlib.util

    from dfviewer.cli.main import COMMANDS

    assert [name for name in COMMANDS if importlib.util.find_spec(f"dfviewer.cli.{name.replace('-', '_')}") is None] == []


def test_cli_module_runs_in_process(tmp_path, capsys):
    import argparse

    from dfviewer.cli import phantom

    parser = argparse.ArgumentParser()
    phantom.add_arguments(parser)
    args = parser.parse_args(["--out", str(tmp_path / "d"), "--n", "2", "--size", "24", "--seed", "4",
                              "--healthy-fraction", "1", "--ood-fraction", "0", "--tiff"])
    assert phantom.run(args) == 0
    captured = capsys.readouterr()
    assert "2/2" in captured.err and str(tmp_path / "d") in captured.out
    rows = read_manifest(tmp_path / "d" / "manifest.csv")
    assert [r["healthy"] for r in rows] == ["1", "1"] and all(r["attenuation"].endswith(".tiff") for r in rows)


def test_cli_writes_a_dataset(tmp_path):
    exe = shutil.which("dfviewer")
    cmd = [exe] if exe else [sys.executable, "-m", "dfviewer"]
    out = tmp_path / "data"
    done = subprocess.run(cmd + ["phantom", "--out", str(out), "--n", "3", "--size", "32", "--seed", "1", "--tiff"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert str(out) in done.stdout and "3/3" in done.stderr and "wrote 3 cases" in done.stdout
    assert "\r" not in done.stderr  # a pipe gets whole lines, not a redrawn progress bar
    assert all(line.startswith("phantom ") and "cases" in line for line in done.stderr.splitlines())
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == 3 and all((out / r["darkfield"]).is_file() for r in rows)
    bad = subprocess.run(cmd + ["phantom", "--out", str(tmp_path / "x"), "--n", "2", "--healthy-fraction", "2"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("dfviewer phantom: ")


def test_write_dataset_attenuation_as_dicom_dx(tmp_path):
    from dfviewer.io import read_radiograph

    manifest = write_dataset(tmp_path, 2, 48, seed=2, dicom=True)
    rows = read_manifest(manifest)
    for row in rows:
        assert row["attenuation"].endswith(".dcm")
        radiograph = read_radiograph(manifest.parent / row["attenuation"])
        case = simulate_case(2, int(row["case"].split("_")[1]), PhantomConfig(size=48), ood=row["ood"] == "1")
        np.testing.assert_allclose(radiograph.pixels, case.attenuation, atol=2e-3 * float(np.ptp(case.attenuation)))
        assert radiograph.pixel_spacing == pytest.approx((400 / 48, 400 / 48))
