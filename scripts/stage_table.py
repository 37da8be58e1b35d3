"""Stage-wise MSE / PSNR / SSIM of several ``dfviewer evaluate --out`` reports, as one Markdown table.

Usage: ``python scripts/stage_table.py NAME=REPORT.json [NAME=REPORT.json ...]``. One row per
report and stage, then the last stage against the first (MSE as a ratio, PSNR and SSIM as
differences) and how many images the last stage improves: what docs/evaluation/stages_study.md
compares between training recipes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rows(name: str, report: dict) -> list[str]:
    """The table rows of one report."""
    stages = report["stages"]
    keys = sorted(stages, key=int)
    out = []
    for k in keys:
        s = stages[k]
        out.append(f"| {name} | {k} | {s['mse']['mean']:.5f} | {s['psnr']['mean']:.2f} | {s['ssim']['mean']:.3f} |")
    first, last = stages[keys[0]], stages[keys[-1]]
    mse: dict[tuple[str, int], float] = {(r["case"], int(r["stage"])): r["mse"] for r in report.get("per_image", [])}
    cases = sorted({case for case, _ in mse})
    a, b = int(keys[0]), int(keys[-1])
    n_better = sum(1 for c in cases if mse.get((c, b), 1e9) < mse.get((c, a), -1e9))
    wins = f"; MSE lower on {n_better}/{len(cases)} images" if cases else ""
    out.append(f"| {name} | {keys[0]} → {keys[-1]} | {last['mse']['mean'] / first['mse']['mean']:.3f}x | "
               f"{last['psnr']['mean'] - first['psnr']['mean']:+.2f} | "
               f"{last['ssim']['mean'] - first['ssim']['mean']:+.3f}{wins} |")
    return out


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print("| run | stage | MSE | PSNR (dB) | SSIM |")
    print("|---|---|---|---|---|")
    for arg in argv:
        name, _, path = arg.rpartition("=")
        report = json.loads(Path(path).read_text(encoding="utf-8"))
        for row in rows(name or Path(path).stem, report):
            print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
