"""Training speed of the ``fast`` preset on this machine: steps per second per stage.

Usage: ``python tests/benchmarks/training_speed.py [--sizes 128 256] [--n 12]``. Simulates a
small phantom dataset per size (dfviewer.phantom), trains one epoch per stage with the fast
preset (batch 4) and prints the steps/s of each stage, timed between StepDone events (the
first step of a stage, the data loading and the validation are left out).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--n", type=int, default=16, help="simulated cases (about 70 % train)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs per stage")
    args = parser.parse_args()

    import dataclasses

    import torch

    from dfviewer.core.config import preset
    from dfviewer.core.training import StepDone, train
    from dfviewer.phantom.dataset import write_dataset

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            write_dataset(data, n=args.n, size=size, seed=0)
            exp = preset("fast")
            exp = dataclasses.replace(
                exp,
                model=dataclasses.replace(exp.model, working_size=size),
                train=dataclasses.replace(exp.train, epochs_per_stage=args.epochs, val_mc_samples=0),
            )
            stamps: dict[int, list[float]] = {}
            last: dict[str, float] = {}

            def callback(event, stamps=stamps, last=last) -> None:
                # the time between two steps of the same epoch is one step's time
                if isinstance(event, StepDone):
                    now = time.perf_counter()
                    if event.step > 1:
                        stamps.setdefault(event.stage, []).append(now - last["t"])
                    last["t"] = now

            train(data, exp, Path(tmp) / "out", device="cpu", callback=callback)
            import statistics

            for stage, ts in sorted(stamps.items()):
                rate = 1.0 / statistics.median(ts)
                print(f"fast preset, {size} px, batch {exp.train.batch_size}, stage {stage}: "
                      f"{rate:.2f} steps/s ({rate * exp.train.batch_size:.1f} images/s; median of {len(ts)} steps)")
        print(f"load after {size} px: {os.getloadavg()}")


if __name__ == "__main__":
    main()
