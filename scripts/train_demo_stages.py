"""Train the demo model with its per-stage epoch budget: 5 epochs for stage 1, 3 for stage 2, 2 for stage 3.

    python scripts/train_demo_stages.py DATA RUN CONFIG

The same run as ``dfviewer train --data DATA --out RUN --preset fast --working-size 256 --epochs 5
--seed 0 --device cpu --config CONFIG``, stopped between stages (after each stage's last epoch is
saved) and resumed with a smaller ``--epochs`` for the stages not begun yet, which is how the bundled
model was trained within one working session on two CPU cores (scripts/train_stage_budget.py).
"""

from __future__ import annotations

import sys

from train_stage_budget import train_with_budget

BUDGET = [5, 3, 2]


def main() -> int:
    data, run, config = sys.argv[1:4]
    train_with_budget(data, run, config, BUDGET, size=256, seed=0, device="cpu")
    return 0


if __name__ == "__main__":
    sys.exit(main())
