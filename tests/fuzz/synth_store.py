"""Checkpoints written directly (weight dtypes, domain-check statistics) and tampered generated stores.

Checkpoint cases take the tiny seed model's tensors and header and write them again with every
float weight in another dtype (float16/bfloat16/float64 must work; integer, bool, complex and
float8 must be refused) or with extreme domain-check statistics (a score must never be NaN).

Store cases copy a reference store made once by ``dfviewer generate`` and tamper with it; the
worker then runs ``--verify``, a resume with the reference's options, and ``--verify`` again
through the CLI's ``main``. A finding: a traceback, an exit code other than 0/1/2, a damaged store
the first verify passes, or a store the last verify passes whose settings, rows or maps differ
from the reference (the maps of a seeded run are the same bytes).
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import numpy as np
from expectation import Expect

FLOAT_OK = ("float16", "bfloat16", "float64")
REFUSED = ("int8", "int32", "int64", "uint8", "bool", "complex64", "float8_e4m3fn", "float8_e5m2")
EXTREMES = (1e300, -1e300, 1e-300, 5e-324, 1e308, 0.0, -1.0, 1e30)


def checkpoint_case(rng: random.Random, path: Path, seed_checkpoint: Path) -> Expect:
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(seed_checkpoint), "pt") as handle:
        header = dict(handle.metadata() or {})
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
    kind = rng.choice(("dtype", "dtype", "domain"))
    refuse = False
    if kind == "dtype":
        name = rng.choice(FLOAT_OK + REFUSED)
        dtype = getattr(torch, name)
        share = rng.choice((1.0, 0.5, 0.0 if name in FLOAT_OK else 0.05))
        floats = [k for k, v in tensors.items() if v.is_floating_point()]
        chosen = [k for k in floats if rng.random() < share] or [rng.choice(floats)]
        for key in chosen:
            tensors[key] = tensors[key].to(dtype)
        refuse = name in REFUSED
        what = f"checkpoint weights {name} ({len(chosen)} of {len(floats)} tensors)"
    else:
        from dfviewer.core.domain import FEATURES, LAYOUTS

        size = sum(n * n for n in LAYOUTS[FEATURES])
        gen = np.random.default_rng(rng.randrange(2**32))
        k = 4
        comps = np.linalg.qr(gen.normal(size=(size, k)))[0].T
        check = {"mean": gen.normal(size=size).tolist(), "components": comps.tolist(),
                 "variances": (gen.random(k) + 0.5).tolist(), "residual_variance": 0.3, "threshold": 2.0,
                 "quantile": 0.999, "features": FEATURES, "fitted_on": "fuzz"}
        field = rng.choice(("mean", "components", "variances", "residual_variance", "threshold"))
        value = rng.choice(EXTREMES)
        if field in ("residual_variance", "threshold"):
            check[field] = value
        elif field == "variances":
            check[field][rng.randrange(k)] = value
        elif field == "mean":
            check[field][rng.randrange(size)] = value
        else:
            check[field][rng.randrange(k)][rng.randrange(size)] = value
        metadata = json.loads(header.get("metadata", "{}"))
        metadata["domain_check"] = check
        header["metadata"] = json.dumps(metadata)
        what = f"checkpoint domain check {field} = {value:g}"
    save_file(tensors, str(path), metadata=header)
    return Expect(refuse=refuse, what=what)


# --- stores -------------------------------------------------------------------------------------------

#: options every run of the campaign's stores uses (small, fast, deterministic)
STORE_OPTIONS = ["--mc", "2", "--shard-size", "2", "--workers", "0", "--threads", "1", "--size", "32"]
#: a second store of the same sources made with other options (its shards are "foreign")
OTHER_OPTIONS = ["--mc", "3", "--shard-size", "2", "--workers", "0", "--threads", "1", "--size", "24",
                 "--maps", "mean"]


def make_store_fixture(folder: Path, checkpoint: Path) -> Path:
    """Sources, the reference store and a foreign store under ``folder``, made with the generate CLI."""
    import subprocess
    import sys

    from PIL import Image

    sources = folder / "sources"
    sources.mkdir(parents=True, exist_ok=True)
    gen = np.random.default_rng(7)
    for i in range(5):
        image = (gen.random((40, 36)) * 60 + np.linspace(60, 200, 36)).astype(np.uint8)
        Image.fromarray(image).save(sources / f"img{i}.png")
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", OMP_NUM_THREADS="1")
    for name, options in (("reference", STORE_OPTIONS), ("foreign", OTHER_OPTIONS)):
        if not (folder / name / "index.parquet").exists():
            subprocess.run([sys.executable, "-m", "dfviewer", "generate", str(sources), "--out", str(folder / name),
                            "--model", str(checkpoint), *options], check=True, env=env, capture_output=True)
    (folder / "fixture.json").write_text(json.dumps({"checkpoint": str(checkpoint)}))
    return folder


#: settings that do not change what a store holds (editing them is no damage)
BENIGN_SETTINGS = ("batch_size", "units", "model")
TAMPERS = (
    # (name, damaging: the first verify must fail)
    ("none", False), ("delete-settings", True), ("delete-settings-other-options", True), ("delete-index", False),
    ("delete-shard", True), ("truncate-shard", True), ("flip-shard-byte", True), ("foreign-shard", True),
    ("shard-is-folder", True), ("temp-is-folder", False), ("shard-is-fifo", True), ("edit-settings", True),
    ("edit-sources", True), ("index-garbage", True), ("row-negative", True), ("empty-shard-file", True),
    ("duplicate-shard", True),
)


def store_case(rng: random.Random, case: Path, fixture: Path) -> str:
    """Copy the reference store to ``case`` and tamper with it; returns the request line for the worker."""
    if case.exists():
        shutil.rmtree(case)
    shutil.copytree(fixture / "reference", case)
    name, damaging = rng.choice(TAMPERS)
    shards = sorted((case / "shards").glob("shard-*.h5"))
    shard = rng.choice(shards)
    options = STORE_OPTIONS
    if name == "delete-settings":
        (case / "settings.json").unlink()
    elif name == "delete-settings-other-options":
        (case / "settings.json").unlink()
        options = OTHER_OPTIONS
    elif name == "delete-index":
        (case / "index.parquet").unlink()
    elif name == "delete-shard":
        shard.unlink()
    elif name == "truncate-shard":
        data = shard.read_bytes()
        shard.write_bytes(data[: rng.randrange(0, len(data))])
    elif name == "flip-shard-byte":
        data = bytearray(shard.read_bytes())
        at = rng.randrange(len(data) // 2, len(data))
        data[at] ^= 1 << rng.randrange(8)
        shard.write_bytes(bytes(data))
    elif name == "foreign-shard":
        foreign = rng.choice(sorted((fixture / "foreign" / "shards").glob("shard-*.h5")))
        shutil.copyfile(foreign, case / "shards" / foreign.name)
    elif name == "shard-is-folder":
        shard.unlink()
        shard.mkdir()
    elif name == "temp-is-folder":
        (case / "shards" / f".{shard.stem}.x.tmp.h5").mkdir()
    elif name == "shard-is-fifo":
        shard.unlink()
        os.mkfifo(shard)
    elif name == "edit-settings":
        settings = json.loads((case / "settings.json").read_text())
        key = rng.choice(sorted(settings))
        settings[key] = rng.choice((None, 0, "x", [1], 10**30))
        damaging = key not in BENIGN_SETTINGS
        (case / "settings.json").write_text(json.dumps(settings))
    elif name == "edit-sources":
        sources = json.loads((case / "sources.json").read_text())
        payload = rng.choice(([], sources[::-1], sources + sources[:1], "x", None))
        (case / "sources.json").write_text(json.dumps(payload))
    elif name == "index-garbage":
        (case / "index.parquet").write_bytes(os.urandom(rng.randrange(0, 200)))
    elif name == "row-negative":
        _edit_rows(shard, rng)
    elif name == "empty-shard-file":
        shard.write_bytes(b"")
    elif name == "duplicate-shard":
        stem = shard.name.replace(".h5", "-p1.h5")
        shutil.copyfile(shard, shard.with_name(stem))
    return json.dumps({"store": str(case), "tamper": name, "damaging": damaging, "options": options,
                       "fixture": str(fixture)})


def _edit_rows(shard: Path, rng: random.Random) -> None:
    import h5py

    with h5py.File(shard, "r+") as handle:
        if "rows" not in handle:
            return
        raw = handle["rows"][()]
        text = raw.decode() if isinstance(raw, bytes) else str(raw.tobytes().decode() if hasattr(raw, "tobytes") else raw)
        rows = json.loads(text)
        if rows:
            row = rng.choice(rows)
            key = rng.choice(("index", "position", "height", "status", "maps_sha256"))
            row[key] = rng.choice((-3, None, "x", 10**9))
        del handle["rows"]
        handle["rows"] = json.dumps(rows)


def _run(argv: list[str]) -> int:
    import contextlib
    import io

    from dfviewer.cli.main import main

    with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        try:
            return main(argv)
        except SystemExit as exc:  # argparse
            return int(exc.code or 0)


def store_round(request_path: str) -> str:
    """verify, resume, verify (in this process); '' when fine, else the finding (one line)."""
    request = json.loads(Path(request_path).read_text())
    store, fixture = Path(request["store"]), Path(request["fixture"])
    checkpoint = json.loads((fixture / "fixture.json").read_text())["checkpoint"]
    tamper = request["tamper"]
    first = _run(["generate", "--verify", str(store)])
    if first not in (0, 1, 2):
        return f"{tamper}: verify exit {first}"
    if request["damaging"] and first == 0:
        # a flipped byte may lie in space the HDF5 file does not use: only changed contents are damage
        problem = same_store(store, fixture / "reference") if tamper == "flip-shard-byte" else "it was damaged"
        if problem:
            return f"{tamper}: a damaged store verifies OK ({problem})"
    resumed = _run(["generate", str(fixture / "sources"), "--out", str(store), "--model", checkpoint,
                    *request["options"]])
    if resumed not in (0, 1, 2):
        return f"{tamper}: resume exit {resumed}"
    last = _run(["generate", "--verify", str(store)])
    if last not in (0, 1, 2):
        return f"{tamper}: second verify exit {last}"
    if last == 0:
        reference = fixture / ("foreign" if request["options"] != STORE_OPTIONS else "reference")
        problem = same_store(store, reference)
        if problem:
            return f"{tamper}: verify says OK but {problem}"
    return ""


def same_store(store: Path, reference: Path) -> str:
    """'' when the store holds the reference's settings and the same maps for every image, else what differs."""
    import h5py
    import pyarrow.parquet as pq

    def settings(folder: Path) -> dict:
        data = json.loads((folder / "settings.json").read_text())
        return {k: v for k, v in data.items() if k not in ("created", "started", "version", *BENIGN_SETTINGS)}

    if settings(store) != settings(reference):
        return "its settings differ from the run's"
    rows = sorted(pq.read_table(store / "index.parquet").to_pylist(), key=lambda r: r["index"])
    want = sorted(pq.read_table(reference / "index.parquet").to_pylist(), key=lambda r: r["index"])
    if [(r["index"], r["path"], r["status"]) for r in rows] != [(r["index"], r["path"], r["status"]) for r in want]:
        return "its index rows differ from a clean run's"

    def maps(folder: Path, row: dict) -> np.ndarray:
        with h5py.File(folder / "shards" / row["shard"], "r") as handle:
            return np.asarray(handle["maps"][row["position"]])

    for got, expected in zip(rows, want):
        if got["status"] == "done" and not np.array_equal(maps(store, got), maps(reference, expected)):
            return f"the maps of image {got['index']} differ from a clean run's"
    return ""
