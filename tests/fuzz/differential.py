"""The differential campaign: files built consistent, with a known expected result, run in the fuzz worker.

Unlike the mutation campaign (tests/fuzz/fuzzing.py), every case here is a well-formed file whose
right answer is computed independently of dfviewer (see synth_dicom.py, synth_images.py,
synth_store.py), so wrong pixels, wrongly accepted checkpoints and stores that verify OK while
mixed or damaged are caught as well as crashes. A finding is any outcome but ``ok`` and
``user_error`` (a traceback, an exit code other than 0/1/2, over ``timeout`` seconds, over 1 GB
touched, pixels unlike the expected image, a consistent file refused).
"""

from __future__ import annotations

import random
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import fuzzing
import synth_dicom
import synth_images
import synth_store
from expectation import Expect

#: kind -> (suffixes drawn from, worker target)
KINDS: dict[str, tuple[tuple[str, ...], str]] = {
    "dicom-diff": ((".dcm",), "expect"),
    "tiff-diff": ((".tif",), "expect"),
    "exif": ((".jpg", ".png"), "expect"),
    "npy-diff": ((".npy",), "expect"),
    "bomb": ((".png", ".tif", ".jpg", ".gif", ".npy", ".dcm"), "expect"),
    "checkpoint-diff": ((".safetensors",), "checkpoint_expect"),
    "store": ((".json",), "store"),
}
DEFAULT_CASES = {"dicom-diff": 1000, "tiff-diff": 800, "exif": 300, "npy-diff": 400, "bomb": 200,
                 "checkpoint-diff": 200, "store": 120}


def _builder(kind: str, workdir: Path) -> Callable[[random.Random, Path], Expect | str]:
    if kind == "dicom-diff":
        return synth_dicom.dicom_case
    if kind == "tiff-diff":
        return lambda rng, path: (synth_images.tiff_complex_case(rng, path) if rng.random() < 0.03
                                  else synth_images.tiff_case(rng, path))
    if kind == "exif":
        return synth_images.exif_case
    if kind == "npy-diff":
        return synth_images.npy_case
    if kind == "bomb":
        return synth_images.bomb_case
    import seeds

    checkpoint = seeds.seed_files(workdir / "seeds")["checkpoint"][0]
    if kind == "checkpoint-diff":
        return lambda rng, path: synth_store.checkpoint_case(rng, path, checkpoint)
    fixture = synth_store.make_store_fixture(workdir / "store-fixture", checkpoint)
    return lambda rng, path: synth_store.store_case(rng, path.with_suffix(""), fixture)


def campaign(cases: dict[str, int], seed: int, workdir: Path, timeout: float = 10.0,
             code_root: Path = fuzzing.ROOT, minutes: float | None = None) -> fuzzing.Report:
    """Run ``cases[kind]`` synthesised cases per kind; findings grouped by (kind, outcome, message head)."""
    report = fuzzing.Report()
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    kinds = [k for k, n in cases.items() if n > 0]
    for position, kind in enumerate(kinds):
        suffixes, target = KINDS[kind]
        rng = random.Random(f"{seed}-{kind}")
        build = _builder(kind, workdir)
        worker = fuzzing.Worker(torch=target != "expect", code_root=code_root, timeout=timeout)
        deadline = None if minutes is None else started + 60 * minutes * (position + 1) / len(kinds)
        try:
            for number in range(cases[kind]):
                if deadline is not None and time.perf_counter() > deadline:
                    break
                suffix = rng.choice(suffixes)
                path = workdir / f"case-{kind}{suffix}"
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    built = build(rng, path)
                if isinstance(built, str):  # a store case: the request travels in a file
                    path.write_text(built)
                    what = built
                else:
                    built.save(path)
                    what = built.what
                answer = worker.run(target, path)
                if report.record(kind, answer):
                    answer = dict(answer, where=answer.get("where") or _head(answer.get("message", "")))
                    report.add(fuzzing.Finding(kind, f"case {number}", what[:200], answer, path.read_bytes(), suffix))
        finally:
            worker.stop()
    report.wall_seconds = time.perf_counter() - started
    return report


def _head(message: str) -> str:
    """The part of a finding's message that names its class (before the case details in brackets)."""
    text = message.split("[")[0]
    for cut in (" by up to", ": mean error", " at ("):
        text = text.split(cut)[0]
    return text.strip()[:80]
