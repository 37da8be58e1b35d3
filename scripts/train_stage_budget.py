"""Train a cascade with its own epoch budget per stage (e.g. 12 for stage 1, 8 each for stages 2-3).

    python scripts/train_stage_budget.py DATA RUN CONFIG --budget 12,8,8 [--size 128] [--seed 0]
        [--amp bfloat16] [--device cpu] [--threads 1] [--stage1-from RUN1]

The same run as ``dfviewer train`` with ``--epochs`` equal to the first stage's budget, stopped between
stages (after each stage's last epoch is saved) and resumed with the next stage's budget (``train``
lets the epochs change only between stages). ``--stage1-from RUN1``: start from a copy of RUN1, a run
of the same settings stopped after stage 1 with the same stage-1 budget (``--budget 12`` writes one),
so runs that differ only in the later stages' budgets share one trained stage 1.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import threading
from pathlib import Path

from dfviewer.core.config import experiment_from_dict, load_experiment, to_dict
from dfviewer.core.run_files import RESUME_NAME
from dfviewer.core.training import CheckpointSaved, train


def experiment(config: str, epochs: int, size: int, seed: int, amp: str | None):
    """CONFIG on the ``fast`` preset with this working size, seed, precision and epochs a stage."""
    data = to_dict(load_experiment(config))
    data["model"]["working_size"] = size
    data["train"].update(epochs_per_stage=epochs, seed=seed)
    if amp is not None:
        data["train"]["amp"] = amp
    return experiment_from_dict({**data, "preset": "fast"})


def train_with_budget(data: str, run: str, config: str, budget: list[int], size: int = 256, seed: int = 0,
                      amp: str | None = None, device: str = "cpu", stage1_from: str | None = None) -> None:
    """Train stage k for ``budget[k]`` epochs; a budget shorter than the cascade stops after its stages."""
    n_stages = load_experiment(config).model.n_stages
    first = 0 if stage1_from is None else 1
    if stage1_from is not None:
        shutil.copytree(stage1_from, run)
    done = sum(budget[:first])
    for stage in range(first, len(budget)):
        epochs = budget[stage]
        done += epochs
        cancel = threading.Event()

        def stop_at(event, last=done, cancel=cancel):
            if isinstance(event, CheckpointSaved) and event.which == "last" and event.global_epoch == last:
                cancel.set()

        last_stage = stage == n_stages - 1
        result = train(data, experiment(config, epochs, size, seed, amp), run, resume=stage > 0,
                       device=device, callback=None if last_stage else stop_at,
                       cancel=None if last_stage else cancel)
        print(f"stage {stage + 1}: {epochs} epochs, {result.global_epoch} in all", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("run")
    parser.add_argument("config")
    parser.add_argument("--budget", required=True, help="epochs per stage, comma-separated, e.g. 12,8,8")
    parser.add_argument("--size", type=int, default=256, help="working size (default 256)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--amp", choices=("auto", "bfloat16", "off"), default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--stage1-from", default=None, help="a run of the same settings stopped after stage 1")
    args = parser.parse_args(argv)
    budget = [int(b) for b in args.budget.split(",")]
    if args.stage1_from is not None and not (Path(args.stage1_from) / RESUME_NAME).exists():
        parser.error(f"{args.stage1_from} holds no resumable run")
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    train_with_budget(args.data, args.run, args.config, budget, args.size, args.seed, args.amp, args.device,
                      args.stage1_from)
    return 0


if __name__ == "__main__":
    sys.exit(main())
