"""``dfviewer generate``: batched prediction, the store and its index, resume after a stop or a kill, torchrun.

A dozen 64 x 64 phantom radiographs and the tiny random cascade; runs that must be killed are real
subprocesses sent real signals.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _dfv_procs import alive, children
from PIL import Image

from dfviewer.cli.main import main
from dfviewer.core import GeneratedDataset
from dfviewer.core import store as st
from dfviewer.core.archive_job import image_seed
from dfviewer.core.inference import MAP_NAMES, Predictor

FUZZ = Path(__file__).parent / "data" / "fuzz"
N_GOOD = 12


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py


@pytest.fixture(scope="module")
def phantoms():
    from dfviewer.phantom import PhantomConfig, simulate_case

    cfg = PhantomConfig(size=64)
    return [simulate_case(11, i, cfg).attenuation for i in range(N_GOOD)]


@pytest.fixture(scope="module")
def source(tmp_path_factory, phantoms) -> Path:
    """8 PNG (16-bit) and 4 TIFF radiographs in two folders, a fuzz reproducer and files generate must skip."""
    import tifffile

    folder = tmp_path_factory.mktemp("collection")
    (folder / "a").mkdir()
    (folder / "b").mkdir()
    for i, image in enumerate(phantoms):
        scaled = (image - image.min()) / (np.ptp(image) + 1e-6)
        if i < 8:
            Image.fromarray((scaled * 65535).astype(np.uint16)).save(folder / "a" / f"case{i:02d}.png")
        else:
            tifffile.imwrite(folder / "b" / f"case{i:02d}.tif", image.astype(np.float32))
    bad = sorted(FUZZ.glob("dicom-crash-*.dcm"))[0]
    shutil.copy(bad, folder / "b" / "case99_damaged.dcm")
    (folder / "a" / "case00_darkfield.tiff").write_bytes(b"not listed")  # a companion, skipped
    (folder / "a" / "notes.txt").write_text("not an image")
    return folder


def _generate(args, store: Path, model: Path, *extra) -> int:
    # one compute thread in every run compared here: float sums split over another number of
    # threads differ in the last bits, and a torchrun rank gets fewer threads by default
    return main(["generate", *map(str, args), "--out", str(store), "--model", str(model), "--mc", "3",
                 "--batch-size", "2", "--shard-size", "4", "--workers", "0", "--seed", "5", "--threads", "1",
                 *map(str, extra)])


def _contents(store: Path) -> dict[int, tuple]:
    return {int(r["index"]): (r["path"], r["status"], r["maps_sha256"], r["reason"]) for r in st.read_index(store)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, source, tiny_checkpoint) -> Path:
    """The uninterrupted single-process run."""
    store = tmp_path_factory.mktemp("ref") / "store"
    assert _generate([source], store, tiny_checkpoint) == 1  # the damaged file failed, the rest were stored
    return store


def test_batch_equals_single(tiny_checkpoint, phantoms):
    p = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    images = phantoms[:5]
    single = [p.predict(image, mc_samples=4, seed=100 + i) for i, image in enumerate(images)]
    p.pass_bytes = 64 * 64 * 4 * 4 * 3  # 3 rows a pass: passes cut across images
    batch = p.predict_batch(images, mc_samples=4, seeds=[100 + i for i in range(5)])
    for one, many in zip(single, batch):
        assert isinstance(many, list)
        for a, b in zip(one, many):
            for name in MAP_NAMES:
                np.testing.assert_allclose(getattr(b, name), getattr(a, name), rtol=1e-5, atol=1e-5, err_msg=name)
    deterministic = p.predict_batch(images[:2], mc_samples=0)
    for image, many in zip(images[:2], deterministic):
        assert isinstance(many, list)
        np.testing.assert_allclose(many[2].mean, p.predict(image, mc_samples=0)[2].mean, rtol=1e-5, atol=1e-5)
    bad = p.predict_batch([images[0], np.full((3, 3, 3), 1.0)], mc_samples=1, seeds=[1, 2])
    assert isinstance(bad[0], list) and "2-D" in str(bad[1])


def test_store_index_and_verify(reference, source, tiny_checkpoint, phantoms, capsys):
    rows = st.read_index(reference)
    assert len(rows) == N_GOOD + 1 == len(st.read_sources(reference))
    names = [Path(r["path"]).name for r in rows]
    assert "case00_darkfield.tiff" not in names and "notes.txt" not in names
    failed = [r for r in rows if r["status"] == "failed"]
    assert [Path(r["path"]).name for r in failed] == ["case99_damaged.dcm"]
    assert failed[0]["reason"].endswith(".") and "\n" not in failed[0]["reason"]
    done = [r for r in rows if r["status"] == "done"]
    assert all(r["height"] == r["width"] == 64 and r["stored_bytes"] > 0 and len(r["sha256"]) == 64 for r in done)
    assert all(np.isfinite([r["lung_darkfield"], r["lung_aleatoric"], r["lung_epistemic"]]).all() for r in done)
    settings = st.read_settings(reference)
    assert settings["map_names"] == ["stage3_mean", "stage3_aleatoric", "stage3_epistemic"]
    assert settings["dtype"] == "float16" and settings["mc"] == 3 and settings["seed"] == 5
    # the stored maps are the predictor's for that image and seed, in float16
    p = Predictor.from_checkpoint(tiny_checkpoint, device="cpu")
    first = next(r for r in done if r["path"].endswith("case08.tif"))
    expected = p.predict(phantoms[8], mc_samples=3, seed=image_seed(5, first["index"]), stages=[3])[0]
    data = GeneratedDataset(reference)
    item = data[[r["index"] for r in data.rows].index(first["index"])]
    assert item["maps"].shape == (3, 64, 64) and item["image"].shape == (1, 64, 64)
    for k, name in enumerate(("mean", "aleatoric", "epistemic")):
        np.testing.assert_allclose(item["maps"][k].numpy(), getattr(expected, name), rtol=2e-3, atol=2e-3)
    assert len(data) == N_GOOD and len(data.failed) == 1
    capsys.readouterr()
    assert main(["generate", "--verify", str(reference)]) == 0
    assert "verify: OK" in capsys.readouterr().err
    # damage one stored image: verify names it
    broken = reference.parent / "broken"
    shutil.copytree(reference, broken)
    import h5py

    with h5py.File(broken / st.SHARDS_DIR / first["shard"], "r+") as f:
        f["maps"][first["position"], 0, 10, 10] += 1.0
    assert main(["generate", "--verify", str(broken)]) == 1
    assert "do not match their checksum" in capsys.readouterr().err


def test_csv_column_and_root(tmp_path, source, tiny_checkpoint, reference):
    table = tmp_path / "list.csv"
    with open(table, "w", newline="") as handle:
        w = csv.writer(handle)
        w.writerow(["Image Index", "Finding Labels"])
        for name in ("a/case03.png", "b/case09.tif", "a/case03.png", "a/missing.png"):
            w.writerow([name, "No Finding"])
    store = tmp_path / "store"
    assert main(["generate", str(table), "--column", "Image Index", "--root", str(source), "--out", str(store),
                 "--model", str(tiny_checkpoint), "--mc", "2", "--workers", "0", "--maps", "mean,epistemic"]) == 1  # missing.png
    rows = st.read_index(store)
    assert [Path(r["path"]).name for r in rows] == ["case03.png", "case09.tif", "missing.png"]
    assert [r["status"] for r in rows] == ["done", "done", "failed"]
    assert "missing.png" in rows[2]["reason"] and "Errno" not in rows[2]["reason"]
    assert st.read_settings(store)["map_names"] == ["stage3_mean", "stage3_epistemic"]
    assert main(["generate", str(table), "--out", str(tmp_path / "x"), "--maps", "mean,colour"]) == 2
    assert main(["generate", str(table), "--column", "Path", "--out", str(tmp_path / "y"),
                 "--model", str(tiny_checkpoint)]) == 2  # one sentence naming the columns


def test_shard_files_come_in_shard_then_part_order(tmp_path):
    (tmp_path / st.SHARDS_DIR).mkdir()
    names = [st.shard_name(1, 10), st.shard_name(0), st.shard_name(1, 2), st.shard_name(1), st.shard_name(0, 1)]
    for name in names:
        (tmp_path / st.SHARDS_DIR / name).write_bytes(b"")
    assert [p.name for p in st.shard_files(tmp_path)] == [
        st.shard_name(0), st.shard_name(0, 1), st.shard_name(1), st.shard_name(1, 2), st.shard_name(1, 10)]


def test_failed_images_are_kept_until_retried_then_replaced(tmp_path, phantoms, tiny_checkpoint, capsys):
    folder = tmp_path / "collection"
    folder.mkdir()
    for i in range(3):
        scaled = (phantoms[i] - phantoms[i].min()) / (np.ptp(phantoms[i]) + 1e-6)
        Image.fromarray((scaled * 65535).astype(np.uint16)).save(folder / f"case{i}.png")
    broken = folder / "case1.png"
    good_bytes = broken.read_bytes()
    broken.write_bytes(good_bytes[:40])  # cut off: fails
    store = tmp_path / "store"
    assert _generate([folder], store, tiny_checkpoint) == 1
    assert "--retry-failed" in capsys.readouterr().err
    assert [r["status"] for r in st.read_index(store)] == ["done", "failed", "done"]
    broken.write_bytes(good_bytes)  # the file is fixed
    assert _generate([folder], store, tiny_checkpoint) == 1  # without the option a failure stays a failure
    assert "0 image(s) this run" in capsys.readouterr().err
    assert _generate([folder], store, tiny_checkpoint, "--retry-failed") == 0
    err = capsys.readouterr().err
    assert "1 image(s) this run" in err and "3 of 3 image(s), 0 failed" in err
    rows = st.read_index(store)
    assert [r["status"] for r in rows] == ["done"] * 3 and all(r["reason"] in (None, "") for r in rows)
    assert len(list((store / st.SHARDS_DIR).glob("*.h5"))) == 2  # the retry went into a new part of the shard
    assert main(["generate", "--verify", str(store)]) == 0
    data = GeneratedDataset(store)
    assert len(data) == 3 and not data.failed


def _subprocess(args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "dfviewer", "generate", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


SLOW_MC = 80  # enough MC samples that a batch lasts long enough to be interrupted in the middle of a shard


def _slow_args(source, store, model, *extra):
    return [source, "--out", store, "--model", model, "--mc", SLOW_MC, "--batch-size", "2", "--shard-size", "4",
            "--workers", "1", "--seed", "5", "--threads", "1", *extra]


@pytest.fixture(scope="module")
def slow_reference(tmp_path_factory, source, tiny_checkpoint) -> dict[int, tuple]:
    store = tmp_path_factory.mktemp("slow") / "store"
    assert main(["generate", *map(str, _slow_args(source, store, tiny_checkpoint, "--workers", "0"))]) == 1
    return _contents(store)


def _wait_for(predicate, timeout=60.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.002)
    return False


def test_sigkill_mid_run_then_resume_is_bit_identical(tmp_path, source, tiny_checkpoint, slow_reference, capsys):
    store = tmp_path / "store"
    proc = _subprocess(_slow_args(source, store, tiny_checkpoint))
    try:
        # a shard finished and the next one half-written: kill -9 there
        assert _wait_for(lambda: (store / st.SHARDS_DIR).is_dir() and st.shard_files(store) and st.temp_files(store))
        readers = children(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
        proc.communicate(timeout=30)  # returns: no reader holds the killed run's stdout and stderr open
    assert proc.returncode == -signal.SIGKILL
    assert len(readers) == 1  # --workers 1
    assert _wait_for(lambda: not any(alive(pid) for pid in readers), timeout=5.0), "a reader outlived its parent"
    assert st.temp_files(store), "the kill should leave a half-written shard"
    assert 1 <= len(st.shard_files(store)) < 4
    # other settings than the store's: refused in one sentence
    assert main(["generate", *map(str, _slow_args(source, store, tiny_checkpoint, "--mc", "3"))]) == 2
    capsys.readouterr()
    assert main(["generate", *map(str, _slow_args(source, store, tiny_checkpoint, "--workers", "0"))]) == 1
    assert "half-written" in capsys.readouterr().err
    assert not st.temp_files(store)
    assert _contents(store) == slow_reference
    assert main(["generate", "--verify", str(store)]) == 0


def test_sigint_stops_after_a_batch_and_resume_completes(tmp_path, source, tiny_checkpoint, slow_reference):
    store = tmp_path / "store"
    proc = _subprocess(_slow_args(source, store, tiny_checkpoint))
    try:
        assert _wait_for(lambda: (store / st.SHARDS_DIR).is_dir() and st.temp_files(store))
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err and "stopping after the current batch" in err and "stopped:" in err
    assert not st.temp_files(store)  # the shard so far was finished as a (part) file, not left half-written
    assert 0 < len(_contents(store)) < N_GOOD + 1
    assert main(["generate", *map(str, _slow_args(source, store, tiny_checkpoint, "--workers", "0"))]) == 1
    assert _contents(store) == slow_reference


def test_torchrun_two_processes_equal_single_process(tmp_path, source, tiny_checkpoint, reference):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    store = tmp_path / "store"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1",
           f"--master_port={port}", "-m", "dfviewer", "generate", str(source), "--out", str(store),
           "--model", str(tiny_checkpoint), "--mc", "3", "--batch-size", "2", "--shard-size", "4",
           "--workers", "0", "--seed", "5", "--threads", "1", "--device", "cpu"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr[-3000:]  # the damaged file
    assert _contents(store) == _contents(reference)
    names = sorted(p.name for p in st.shard_files(store))
    assert names == ["shard-000000.h5", "shard-000001.h5", "shard-000002.h5", "shard-000003.h5"]
    assert proc.stderr.count("source images;") == 1  # rank 0 speaks


def test_summary_and_verify_count_flagged_images_and_list_each_failure(tmp_path, phantoms, fixed_units_checkpoint,
                                                                       capsys):
    import tifffile

    folder = tmp_path / "collection"
    folder.mkdir()
    for i in range(2):  # 16-bit detector values: outside the fixed-unit model's -ln T range, flagged
        scaled = (phantoms[i] - phantoms[i].min()) / (np.ptp(phantoms[i]) + 1e-6)
        Image.fromarray((scaled * 65535).astype(np.uint16)).save(folder / f"case{i}.png")
    tifffile.imwrite(folder / "case2.tif", np.clip(phantoms[2], 0, 6).astype(np.float32))  # in the model's units
    (folder / "case3.png").write_bytes(b"\x89PNG\r\n\x1a\n cut off")
    store = tmp_path / "store"
    assert main(["generate", str(folder), "--out", str(store), "--model", str(fixed_units_checkpoint), "--mc", "0",
                 "--workers", "0"]) == 1
    err = capsys.readouterr().err
    assert "the store holds 3 of 4 image(s), 1 failed, 2 flagged, 0 still to do" in err
    flagged_lines = [line for line in err.splitlines() if line.startswith("  flagged: ")]
    assert [Path(line.split(": ")[1]).name for line in flagged_lines] == ["case0.png", "case1.png"]
    assert all("have no meaning" in line for line in flagged_lines)
    assert main(["generate", "--verify", str(store)]) == 0
    err = capsys.readouterr().err
    assert "(3 stored, 1 failed, 2 flagged)" in err
    failed = [line for line in err.splitlines() if line.startswith("  failed: ")]
    reason = next(r["reason"] for r in st.read_index(store) if r["status"] == "failed")
    assert failed == [f"  failed: {folder / 'case3.png'}: {reason}"] and reason


# --- issue 23: what is stored is what was checked; special files never block ----------------------------


@pytest.fixture(scope="module")
def offset_checkpoint(tmp_path_factory, tiny_model_config) -> Path:
    """The tiny model with a finite, legitimate target offset of 100000: every mean map is about 1e5."""
    import dataclasses

    import torch

    from dfviewer.core.checkpoint import save_checkpoint
    from dfviewer.core.config import Normalization
    from dfviewer.core.network import Cascade

    torch.manual_seed(0)
    cfg = dataclasses.replace(tiny_model_config, normalization=Normalization(target_offset=1e5))
    return save_checkpoint(tmp_path_factory.mktemp("offset") / "offset.safetensors", Cascade(cfg))


def _two_pngs(folder: Path, phantoms) -> Path:
    folder.mkdir()
    for i in range(2):
        scaled = (phantoms[i] - phantoms[i].min()) / (np.ptp(phantoms[i]) + 1e-6)
        Image.fromarray((scaled * 65535).astype(np.uint16)).save(folder / f"case{i}.png")
    return folder


def test_maps_beyond_float16_are_refused_with_a_reason_not_stored_as_infinity(tmp_path, phantoms,
                                                                              offset_checkpoint, capsys):
    folder = _two_pngs(tmp_path / "collection", phantoms)
    store = tmp_path / "store"
    assert _generate([folder], store, offset_checkpoint) == 1
    rows = st.read_index(store)
    assert [r["status"] for r in rows] == ["failed", "failed"]
    assert rows[0]["reason"] == ("case0.png: its maps reach 1e+05, beyond the largest float16 value (65504), so they "
                                 "cannot be stored in this store; generate into a new --out folder with --dtype "
                                 "float32.")
    assert "2 failed" in capsys.readouterr().err
    assert main(["generate", "--verify", str(store)]) == 0  # a consistent store of two refusals
    wide = tmp_path / "wide"
    assert _generate([folder], wide, offset_checkpoint, "--dtype", "float32") == 0
    assert [r["status"] for r in st.read_index(wide)] == ["done", "done"]
    data = GeneratedDataset(wide, with_source=False)
    mean = data[0]["maps"][0].numpy()
    assert np.isfinite(mean).all() and abs(float(mean.max()) - 1e5) < 1.0
    assert main(["generate", "--verify", str(wide)]) == 0


def test_stored_range_is_judged_on_the_stored_values():
    from dfviewer.core.archive_job import stored_range_problem

    ok = np.full((2, 4, 4), 65504.0, dtype=np.float32)
    assert stored_range_problem(ok, "float16") is None
    beyond = ok.copy()
    beyond[1, 2, 3] = 65520.0  # rounds to infinity in float16
    assert "reach 6.552e+04" in stored_range_problem(beyond, "float16")
    assert stored_range_problem(beyond, "float32") is None


def _run_with_timeout(args, timeout=60):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "dfviewer", "generate", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)


@pytest.mark.parametrize("name", [st.SETTINGS_NAME, st.SOURCES_NAME, st.INDEX_NAME, "shards/shard-000000.h5"])
def test_a_named_pipe_in_a_store_is_refused_by_verify_and_resume_without_blocking(tmp_path, phantoms,
                                                                                   tiny_checkpoint, name):
    folder = _two_pngs(tmp_path / "collection", phantoms)
    store = tmp_path / "store"
    assert _generate([folder], store, tiny_checkpoint) == 0
    target = store / name
    target.unlink()
    os.mkfifo(target)
    verify = _run_with_timeout(["--verify", store])  # a blocking open() would hang here until the timeout
    resume = _run_with_timeout([folder, "--out", store, "--model", tiny_checkpoint, "--mc", "3", "--batch-size",
                                "2", "--shard-size", "4", "--workers", "0", "--seed", "5", "--threads", "1"])
    assert "Traceback" not in verify.stderr + resume.stderr, verify.stderr + resume.stderr
    assert "pipe" in verify.stderr and name.split("/")[-1] in verify.stderr, verify.stderr
    # settings and sources: the store cannot be judged at all (2); a shard or the index: a problem found (1)
    assert verify.returncode == (2 if name in (st.SETTINGS_NAME, st.SOURCES_NAME) else 1), verify.stderr
    if name == st.INDEX_NAME:  # resume writes the index anew from the shards (renamed over the pipe)
        assert resume.returncode == 0, resume.stderr
        assert (store / name).is_file() and main(["generate", "--verify", str(store)]) == 0
    else:
        assert resume.returncode == 2 and "pipe" in resume.stderr, resume.stderr


def _blocked(args, env=None) -> subprocess.Popen:
    """``dfviewer generate ARGS`` in a child process where ``import torch`` fails as on an install without it."""
    from test_predictors import BLOCKED

    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.Popen([sys.executable, "-c", BLOCKED, "torch", "generate", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _same_args(source, store, model):
    return [source, "--out", store, "--model", model, "--mc", "3", "--batch-size", "2", "--shard-size", "4",
            "--seed", "5", "--threads", "1", "--device", "cpu"]


def test_without_torch_generate_with_readers_gives_the_store_of_a_run_with_torch(tmp_path, source, tiny_checkpoint,
                                                                                 reference):
    store = tmp_path / "store"
    proc = _blocked([*_same_args(source, store, tiny_checkpoint), "--workers", "2"])
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err[-3000:]  # the damaged file
    assert "2 reader processes" in err and "Traceback" not in err
    assert _contents(store) == _contents(reference)  # maps bit-identical (their checksums), failures alike
    assert st.read_settings(store)["precision"] == "float32"


def test_any_launchers_rank_and_world_size_share_a_run_without_torch(tmp_path, source, tiny_checkpoint, reference):
    store = tmp_path / "store"
    procs = [_blocked([*_same_args(source, store, tiny_checkpoint), "--workers", "0"],
                      {"RANK": str(r), "WORLD_SIZE": "2", "LOCAL_RANK": str(r), "DFVIEWER_RUN_ID": "test-run"})
             for r in (1, 0)]  # rank 1 first: it waits for rank 0's settings
    outs = [p.communicate(timeout=300) for p in procs]
    rank1, rank0 = procs
    assert rank0.returncode == 1, outs[1][1][-3000:]  # rank 0 reports the whole store: rank 1's damaged file too
    assert rank1.returncode == 0, outs[0][1][-3000:]
    assert outs[1][1].count("source images;") == 1 and outs[0][1] == ""  # rank 0 speaks
    assert _contents(store) == _contents(reference)
    assert not (store / ".ranks").exists()  # the meeting files are gone


def test_precision_other_than_float32_is_refused_in_one_sentence(tmp_path, source, tiny_checkpoint, capsys):
    store = tmp_path / "store"
    assert main(["generate", str(source), "--out", str(store), "--model", str(tiny_checkpoint),
                 "--precision", "bfloat16"]) == 2
    assert capsys.readouterr().err == (
        "dfviewer generate: --precision bfloat16 is no longer offered: generate runs the model on ONNX Runtime in "
        "float32; leave --precision out (the stored number type is --dtype float16 or float32).\n")
    assert not store.exists()
