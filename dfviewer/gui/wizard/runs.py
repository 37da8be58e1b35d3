"""Qt-free helpers of the training wizard: devices, the ``dfviewer train`` command line, run folders.

The wizard trains in a child process running the very command a user would type
(``python -m dfviewer train ... --events-json``), or ``python -m torch.distributed.run
--nproc_per_node=N -m dfviewer.cli.train ...`` for several GPUs, and reads its JSON events.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dfviewer.core.config import ExperimentConfig, model_config_from_dict, train_config_from_dict
from dfviewer.wording import plural

CONFIG_NAME = "config.json"


@dataclass(frozen=True)
class DeviceChoice:
    """Where training runs: ``device`` for ``--device``, the GPUs it may see, how many processes."""

    label: str
    device: str = "cpu"
    gpus: tuple[int, ...] = ()
    processes: int = 1

    @property
    def distributed(self) -> bool:
        return self.processes > 1


def available_devices() -> list[DeviceChoice]:
    """CPU, each CUDA GPU, and all GPUs together (torchrun) when there are several."""
    choices = [DeviceChoice("CPU")]
    try:
        import torch

        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        names = [torch.cuda.get_device_name(i) for i in range(n)]
    except Exception:  # noqa: BLE001 - a broken driver must not break the wizard
        n, names = 0, []
    for i, name in enumerate(names):
        choices.append(DeviceChoice(f"GPU {i}: {name}", "cuda", (i,)))
    if n > 1:
        choices.append(DeviceChoice(f"All {n} GPUs (torchrun, one process each)", "cuda", tuple(range(n)), n))
    return choices


@dataclass
class TrainCommand:
    """A program, its arguments and extra environment variables for one training process."""

    program: str
    arguments: list[str]
    env: dict[str, str] = field(default_factory=dict)

    def shell_text(self) -> str:
        """The command as a user would type it (for the log)."""
        import shlex

        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in sorted(self.env.items()))
        cmd = " ".join(shlex.quote(a) for a in [self.program, *self.arguments])
        return f"{env} {cmd}".strip()


def train_command(data: str | Path, out_dir: str | Path, device: DeviceChoice, *,
                  config: str | Path | None = None, resume: bool = False, threads: int = 0,
                  python: str | None = None) -> TrainCommand:
    """The ``dfviewer train --events-json`` command for these settings (torchrun for several processes)."""
    python = python or sys.executable
    args = ["--data", str(data), "--out", str(out_dir), "--events-json", "--device", device.device]
    if config is not None:
        args += ["--config", str(config)]
    if resume:
        args.append("--resume")
    env = {"PYTHONUNBUFFERED": "1"}
    if device.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(g) for g in device.gpus)
    if threads > 0:  # else automatic: the train command follows the thread policy (dfviewer.threads)
        args += ["--threads", str(threads)]
    if device.distributed:
        head = ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={device.processes}",
                "-m", "dfviewer.cli.train"]
    else:
        head = ["-m", "dfviewer", "train"]
    return TrainCommand(python, head + args, env)


@dataclass(frozen=True)
class RunState:
    """What an output folder holds: an unfinished run to resume, or a finished model."""

    folder: Path
    experiment: ExperimentConfig | None
    done_epochs: int
    total_epochs: int
    world_size: int
    seconds: float
    finished_model: Path | None

    @property
    def resumable(self) -> bool:
        return self.experiment is not None and self.done_epochs < self.total_epochs

    def describe(self) -> str:
        if self.finished_model is not None and not self.resumable:
            return f"{self.folder} already holds a finished model ({self.finished_model.name})"
        return (f"{self.folder} holds an unfinished run: {self.done_epochs} of {plural(self.total_epochs, 'epoch')} done "
                f"({self.seconds / 60:.1f} min)")


def total_epochs(experiment: ExperimentConfig) -> int:
    """Epochs of a whole run: every stage, then the fine-tuning."""
    return experiment.model.n_stages * experiment.train.epochs_per_stage + experiment.train.finetune_epochs


def read_run_state(folder: str | Path) -> RunState | None:
    """The run held by ``folder`` (from its ``resume.safetensors`` header), or None if there is none."""
    from dfviewer.core.run_files import FINAL_NAME, RESUME_NAME

    folder = Path(folder)
    resume, final = folder / RESUME_NAME, folder / FINAL_NAME
    if not resume.is_file():
        return RunState(folder, None, 0, 0, 1, 0.0, final) if final.is_file() else None
    try:
        from safetensors import safe_open

        with safe_open(str(resume), framework="numpy") as handle:
            state: dict[str, Any] = json.loads((handle.metadata() or {})["dfviewer_resume"])
        saved = state["experiment"]
        experiment = ExperimentConfig(model=model_config_from_dict(saved["model"]),
                                      train=train_config_from_dict(saved["train"]))
    except Exception:  # noqa: BLE001 - a damaged file is reported by the core when resuming
        return RunState(folder, None, 0, 0, 1, 0.0, final if final.is_file() else None)
    return RunState(folder, experiment, int(state.get("global_epoch", 0)), total_epochs(experiment),
                    int(state.get("world_size", 1)), float(state.get("seconds", 0.0)),
                    final if final.is_file() else None)


def default_output_folder(base: str | Path | None = None) -> Path:
    """A fresh, dated folder under ``~/dfviewer-runs`` (or ``base``)."""
    import time

    base = Path(base) if base else Path(os.path.expanduser("~")) / "dfviewer-runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / f"run-{stamp}"
    i = 1
    while path.exists():
        i += 1
        path = base / f"run-{stamp}-{i}"
    return path
