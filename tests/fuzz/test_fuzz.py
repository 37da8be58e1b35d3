"""A bounded fuzzing run in the suite, and every reproducer the fuzzer ever found as a regression.

The long campaign is ``python scripts/fuzz.py --minutes N``; see tests/fuzz/fuzzing.py for what
counts as a finding (any exception but a one-sentence ``UserError``, a hang over 10 s, a case
touching over 1 GB, a dead worker, a result with no finite pixels or non-finite maps).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import fuzzing  # noqa: E402
import seeds  # noqa: E402

REPRODUCERS = sorted(p for p in fuzzing.REGRESSIONS.glob("*") if p.is_file())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> dict[str, list[Path]]:
    return seeds.seed_files(tmp_path_factory.mktemp("fuzz-seeds"))


@pytest.mark.timeout(240)
def test_bounded_campaign_finds_nothing(corpus, tmp_path):
    report = fuzzing.campaign(corpus, {"dicom": 1500, "image": 1500, "checkpoint": 200}, seed=2026,
                              workdir=tmp_path)
    assert sum(report.cases.values()) == 3200
    assert report.outcomes["ok"] > 300 and report.outcomes["user_error"] > 1000, report.summary()
    assert not report.findings, report.summary()


@pytest.fixture(scope="module")
def worker():
    worker = fuzzing.Worker(torch=True)
    yield worker
    worker.stop()


def test_the_harness_reports_a_plain_exception_as_a_crash(tmp_path, worker):
    image = tmp_path / "case.npy"
    image.write_bytes(b"\x93NUMPY\x01\x00v\x00{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }" + b" " * 60)
    assert worker.run("radiograph", image)["outcome"] == "user_error"
    answer = worker.run("no such target", image)
    assert answer["outcome"] == "crash" and answer["type"] == "KeyError"


def test_reproducers_are_kept_for_every_target():
    # an empty or moved folder would otherwise turn the reproducer test below into no test at all
    assert {p.name.split("-")[0] for p in REPRODUCERS} == {"dicom", "image", "checkpoint"}


@pytest.mark.parametrize("path", REPRODUCERS, ids=[p.name for p in REPRODUCERS])
def test_reproducer_is_read_or_refused_in_one_sentence(path, worker):
    target = "checkpoint" if path.suffix == ".safetensors" else "radiograph"
    answer = worker.run(target, path, force=".force" in path.name)
    assert answer["outcome"] in fuzzing.FINE, answer
