"""Time per epoch, measured on a few real training steps of the core's :func:`train` (Qt-free).

The measurement trains the chosen configuration for a few steps per stage on a small subset of
the real training pairs (a temporary manifest pointing at them), in a temporary folder, on the
chosen device, and extrapolates to the full split: the mean step time (the first step of each
stage, with its warm-up, left out) times the steps of an epoch, plus the validation time per
validation pair times the validation pairs.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dfviewer.core.config import ExperimentConfig
from dfviewer.core.dataset_check import DatasetReport
from dfviewer.wording import duration


@dataclass(frozen=True)
class EpochEstimate:
    """Seconds per epoch of each stage (1-based; 0 is end-to-end fine-tuning) and of the whole run."""

    step_seconds: dict[int, float]
    epoch_seconds: dict[int, float]
    total_seconds: float
    device: str
    measured_steps: int

    def describe(self) -> str:
        parts = ", ".join(f"stage {k}: {_fmt(v)}" if k else f"fine-tuning: {_fmt(v)}"
                          for k, v in sorted(self.epoch_seconds.items(), key=lambda kv: kv[0] or 99))
        return f"about {parts} per epoch on {self.device}; whole run about {_fmt(self.total_seconds)}"


def _fmt(seconds: float) -> str:
    return duration(seconds, decimals=1)


def _subset_manifest(report: DatasetReport, folder: Path, n_train: int, n_val: int) -> Path:
    rows = [(p, "train") for p in report.split("train")[:n_train]] + [(p, "val") for p in report.split("val")[:n_val]]
    path = folder / "manifest.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["case", "attenuation", "darkfield", "split"])
        for pair, split in rows:
            writer.writerow([pair.case, str(Path(pair.attenuation).resolve()), str(Path(pair.darkfield).resolve()), split])
    return path


def estimate_epoch_seconds(report: DatasetReport, experiment: ExperimentConfig, device: str = "cpu", *,
                           steps: int = 3, processes: int = 1, cancel: threading.Event | None = None,
                           progress: Callable[[int, int], None] | None = None) -> EpochEstimate:
    """Measure ``steps`` training steps per stage with :func:`dfviewer.core.training.train` and extrapolate.

    ``processes`` > 1 (several GPUs under torchrun) divides the step count of an epoch accordingly.
    """
    from dfviewer.core.training import EpochDone, StepDone, train

    tc, mc = experiment.train, experiment.model
    steps = max(2, int(steps))
    n_train_full = len(report.split("train"))
    n_val_full = len(report.split("val"))
    n_train = min(n_train_full, tc.batch_size * steps)
    stage_steps = math.ceil(n_train / tc.batch_size)
    small = dataclasses.replace(tc, epochs_per_stage=1, finetune_epochs=1 if tc.finetune_epochs else 0)
    exp = dataclasses.replace(experiment, train=small)
    times: dict[int, list[float]] = {}
    val_time: dict[int, float] = {}
    last = [time.perf_counter()]
    phases = mc.n_stages + (1 if tc.finetune_epochs else 0)
    done = [0]

    def callback(event) -> None:
        now = time.perf_counter()
        if isinstance(event, StepDone):
            if event.step > 1:
                times.setdefault(event.stage, []).append(now - last[0])
            elif stage_steps == 1:
                times.setdefault(event.stage, []).append(now - last[0])
            done[0] += 1
            if progress is not None:
                progress(done[0], phases * stage_steps)
        elif isinstance(event, EpochDone):
            val_time[event.stage] = now - last[0]
        last[0] = now

    with tempfile.TemporaryDirectory(prefix="dfviewer-estimate-") as tmp:
        manifest = _subset_manifest(report, Path(tmp), n_train, 1 if n_val_full else 0)
        result = train(manifest, exp, Path(tmp) / "run", device=device, callback=callback, cancel=cancel)
    if result.cancelled:
        from dfviewer.core.results import PredictionCancelled

        raise PredictionCancelled("the time estimate was cancelled")
    full_steps = math.ceil(math.ceil(n_train_full / max(processes, 1)) / tc.batch_size)
    step_s = {k: sum(v) / len(v) for k, v in times.items() if v}
    epoch_s = {k: s * full_steps + val_time.get(k, 0.0) * max(n_val_full, 1) for k, s in step_s.items()}
    total = sum(epoch_s.get(k, 0.0) * tc.epochs_per_stage for k in range(1, mc.n_stages + 1))
    total += epoch_s.get(0, 0.0) * tc.finetune_epochs
    return EpochEstimate(step_s, epoch_s, total, str(device), sum(len(v) for v in times.values()))
