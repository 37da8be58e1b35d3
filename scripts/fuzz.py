#!/usr/bin/env python
"""Mutation-fuzz the radiograph reader and the checkpoint loader for N minutes (or N cases).

    python scripts/fuzz.py --minutes 10                  # all kinds, time split between them
    python scripts/fuzz.py --cases 10000 --kinds dicom   # a fixed number of cases
    python scripts/fuzz.py --minutes 5 --save            # minimise findings into tests/data/fuzz/
    python scripts/fuzz.py --code /path/to/checkout      # fuzz another checkout's code
    python scripts/fuzz.py --kinds differential --cases 3000   # consistent files with known answers

Differential kinds (tests/fuzz/differential.py): dicom-diff, tiff-diff, exif, npy-diff, bomb,
checkpoint-diff, store; ``differential`` names them all, and ``--cases`` is then the total, split
in the proportions of ``differential.DEFAULT_CASES``. Findings of these kinds are kept with --save
unminimised (the file is consistent; its expectation sits beside it as ``.expect.npz``).

Prints the cases run, the outcomes, the slowest case and the most memory one case touched, then
one line per distinct finding. Exits 1 when there were findings. Seeds are fixed (``--seed``).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests" / "fuzz"))

import differential  # noqa: E402
import fuzzing  # noqa: E402
import seeds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=None, help="time budget, split between the kinds")
    parser.add_argument("--cases", type=int, default=None, help="cases per kind (default 10,000; 1,000 checkpoints)")
    parser.add_argument("--kinds", default="dicom,image,checkpoint")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--large", action="store_true", help="add the larger real DICOMs (a chest CR among them)")
    parser.add_argument("--save", action="store_true", help="minimise each new finding into tests/data/fuzz/")
    parser.add_argument("--code", type=Path, default=fuzzing.ROOT, help="checkout whose dfviewer is fuzzed")
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds before a case counts as a hang")
    args = parser.parse_args()

    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    if "differential" in kinds:
        kinds = [k for k in kinds if k != "differential"] + list(differential.KINDS)
    unknown = set(kinds) - set(fuzzing.TARGET) - set(differential.KINDS)
    if unknown:
        parser.error(f"unknown kinds {sorted(unknown)}; choose from {sorted(fuzzing.TARGET) + sorted(differential.KINDS)}")
    diff_kinds = [k for k in kinds if k in differential.KINDS]
    kinds = [k for k in kinds if k in fuzzing.TARGET]
    if diff_kinds:
        return _differential(args, diff_kinds, mutation_kinds=kinds)
    default = args.cases if args.cases is not None else (10**9 if args.minutes else None)
    cases = {k: default if default is not None else (1000 if k == "checkpoint" else 10000) for k in kinds}
    with tempfile.TemporaryDirectory(prefix="dfviewer-fuzz-") as tmp:
        work = Path(tmp)
        corpus = seeds.seed_files(work / "seeds", large=args.large)
        report = fuzzing.campaign(corpus, cases, args.seed, work / "cases", args.minutes, args.code, args.timeout)
        print(report.summary())
        if args.save:
            originals = {p.name: p.read_bytes() for paths in corpus.values() for p in paths}
            for finding in report.findings.values():
                data = fuzzing.minimise(finding, originals[finding.seed], work, args.code)
                path = fuzzing.keep(finding, data)
                print(f"kept {path.relative_to(fuzzing.ROOT)} ({len(data)} bytes, from {len(finding.data)})")
    return 1 if report.findings else 0


def _differential(args: argparse.Namespace, kinds: list[str], mutation_kinds: list[str]) -> int:
    if mutation_kinds:
        print("run mutation kinds and differential kinds in separate calls", file=sys.stderr)
        return 2
    if args.cases is None:
        cases = {k: differential.DEFAULT_CASES[k] for k in kinds}
    else:
        weights = sum(differential.DEFAULT_CASES[k] for k in kinds)
        cases = {k: max(1, round(args.cases * differential.DEFAULT_CASES[k] / weights)) for k in kinds}
    with tempfile.TemporaryDirectory(prefix="dfviewer-diff-") as tmp:
        report = differential.campaign(cases, args.seed, Path(tmp), args.timeout, args.code, args.minutes)
        print(report.summary())
        if args.save:
            for finding in report.findings.values():
                path = fuzzing.keep(finding, finding.data)
                print(f"kept {path.relative_to(fuzzing.ROOT)} ({len(finding.data)} bytes)")
    return 1 if report.findings else 0


if __name__ == "__main__":
    sys.exit(main())
