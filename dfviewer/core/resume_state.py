"""The resume file of a training run: tensors plus a JSON header, no pickle.

``resume.safetensors`` holds the model, discriminator and optimiser tensors; its
``dfviewer_resume`` header holds the counters, optimiser and scheduler settings (tensors
replaced by their names, see :func:`flatten_state`), the best scores and the history.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from dfviewer.atomic import atomic_path
from dfviewer.core.config import ExperimentConfig, model_config_from_dict, to_dict, train_config_from_dict
from dfviewer.core.run_files import RESUME_NAME
from dfviewer.core.training_events import encode_json
from dfviewer.errors import UserError

RESUME_FORMAT = 1


class TrainingError(UserError):
    """Training cannot start or continue (bad output folder, resume state, settings)."""


def flatten_state(prefix: str, state: dict[str, Any]) -> tuple[dict[str, torch.Tensor], Any]:
    """Split a (nested) state dict into tensors (named ``prefix.path``) and a JSON skeleton."""
    tensors: dict[str, torch.Tensor] = {}

    def walk(value: Any, path: str) -> Any:
        if isinstance(value, torch.Tensor):
            name = f"{prefix}.{path}"
            tensors[name] = value.detach().to("cpu").contiguous().clone()
            return {"__tensor__": name}
        if isinstance(value, dict):
            return {"__dict__": [[k, walk(v, f"{path}.{k}")] for k, v in value.items()]}
        if isinstance(value, (list, tuple)):
            return {"__list__": [walk(v, f"{path}.{i}") for i, v in enumerate(value)],
                    "tuple": isinstance(value, tuple)}
        if isinstance(value, float) and not math.isfinite(value):
            return {"__float__": repr(value)}
        return value

    return tensors, walk(state, "s")


def unflatten_state(skeleton: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`flatten_state`."""
    if isinstance(skeleton, dict):
        if "__tensor__" in skeleton:
            return tensors[skeleton["__tensor__"]]
        if "__dict__" in skeleton:
            return {k: unflatten_state(v, tensors) for k, v in skeleton["__dict__"]}
        if "__list__" in skeleton:
            items = [unflatten_state(v, tensors) for v in skeleton["__list__"]]
            return tuple(items) if skeleton.get("tuple") else items
        if "__float__" in skeleton:
            return float(skeleton["__float__"])
    return skeleton


def read_resume(out_dir: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """The JSON state and the tensors of ``out_dir``'s resume file; :class:`TrainingError` if unusable."""
    path = Path(out_dir) / RESUME_NAME
    if not path.is_file():
        raise TrainingError(f"cannot resume: {path} does not exist (no finished epoch to continue from)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
            tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        state = json.loads(header["dfviewer_resume"])
    except Exception as exc:  # noqa: BLE001 - any damage means we cannot resume
        raise TrainingError(f"cannot resume: {path} is damaged ({exc})") from None
    if int(state.get("format", 0)) > RESUME_FORMAT:
        raise TrainingError(f"cannot resume: {path} was written by a newer dfviewer")
    return state, tensors


def write_resume(out_dir: Path, tensors: dict[str, torch.Tensor], state: dict[str, Any]) -> None:
    """Write the resume file atomically (``state`` gets ``format``)."""
    header = {"dfviewer_resume": json.dumps(encode_json({"format": RESUME_FORMAT, **state}), allow_nan=False)}
    with atomic_path(Path(out_dir) / RESUME_NAME) as tmp:
        save_file(tensors, str(tmp), metadata=header)


def saved_experiment(state: dict[str, Any]) -> ExperimentConfig:
    """The settings the saved run was started with."""
    data = state["experiment"]
    return ExperimentConfig(model=model_config_from_dict(data["model"]), train=train_config_from_dict(data["train"]))


def new_epoch_budget(state: dict[str, Any], experiment: ExperimentConfig | None, out_dir: Path,
                     world: int) -> int | None:
    """Check that ``experiment`` may continue the saved run; returns a new ``epochs_per_stage`` or None.

    Only the epochs per stage may change, and only when the run stopped between two stages
    (they apply to the stages not begun). The process count must match.
    """
    new_epochs = None
    if experiment is not None:
        a, b = to_dict(experiment), to_dict(saved_experiment(state))
        a["model"]["normalization"] = b["model"]["normalization"]  # computed from the data
        diff = [f"{part}.{k}" for part in ("model", "train") for k in a[part] if a[part][k] != b[part][k]]
        if diff == ["train.epochs_per_stage"] and int(state.get("next_epoch", 0)) == 0:
            new_epochs = int(experiment.train.epochs_per_stage)
        elif diff == ["train.epochs_per_stage"]:
            raise TrainingError(
                f"cannot change the epochs of {out_dir} in the middle of a stage; resume it as saved "
                "and change them when it stops between two stages"
            )
        elif diff:
            raise TrainingError(
                f"cannot resume {out_dir} with different settings ({', '.join(diff)}); "
                "leave them out to continue with the saved ones"
            )
    if int(state.get("world_size", 1)) != world:
        raise TrainingError(
            f"cannot resume: the run in {out_dir} used {state.get('world_size')} processes, this one has {world}"
        )
    return new_epochs
