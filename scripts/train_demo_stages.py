"""Train the demo model with its per-stage epoch budget: 5 epochs for stage 1, 3 for stage 2, 2 for stage 3.

    python scripts/train_demo_stages.py DATA RUN CONFIG

The same run as ``dfviewer train --data DATA --out RUN --preset fast --working-size 256 --epochs 5
--seed 0 --device cpu --config CONFIG``, stopped between stages (after each stage's last epoch is
saved) and resumed with a smaller ``--epochs`` for the stages not begun yet, which is how the bundled
model was trained within one working session on two CPU cores.
"""

from __future__ import annotations

import sys
import threading

from dfviewer.core.config import experiment_from_dict, load_experiment, to_dict
from dfviewer.core.training import CheckpointSaved, train

BUDGET = (5, 3, 2)


def experiment(config: str, epochs: int):
    data = to_dict(load_experiment(config))
    data["model"]["working_size"] = 256
    data["train"].update(epochs_per_stage=epochs, seed=0)
    return experiment_from_dict({**data, "preset": "fast"})


def main() -> int:
    data, run, config = sys.argv[1:4]
    done = 0
    for stage, epochs in enumerate(BUDGET):
        done += epochs
        cancel = threading.Event()

        def stop_at(event, last=done, cancel=cancel):
            if isinstance(event, CheckpointSaved) and event.which == "last" and event.global_epoch == last:
                cancel.set()

        last_stage = stage == len(BUDGET) - 1
        result = train(data, experiment(config, epochs), run, resume=stage > 0, device="cpu",
                       callback=None if last_stage else stop_at, cancel=None if last_stage else cancel)
        print(f"stage {stage + 1}: {epochs} epochs, {result.global_epoch} in all", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
