"""Training events and their JSON lines, without torch.

``dfviewer train --events`` writes one :meth:`Event.to_json` line per event; the wizard reads
them back with :func:`event_from_json` in its GUI process, which must not import torch (and
torch.distributed) just to draw curves.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np


def encode_json(value: Any) -> Any:
    """JSON-ready ``value``: arrays as base64 float16, non-finite floats as null or +-1e308."""
    if isinstance(value, np.ndarray):
        arr = np.ascontiguousarray(value, dtype=np.float16)
        return {"__array__": True, "shape": list(arr.shape), "dtype": "float16",
                "data": base64.b64encode(arr.tobytes()).decode("ascii")}
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else (1e308 if value > 0 else -1e308)
    if isinstance(value, dict):
        return {str(k): encode_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [encode_json(v) for v in value]
    return value


def decode_json(value: Any) -> Any:
    """Inverse of :func:`encode_json` (arrays come back as float32)."""
    if isinstance(value, dict):
        if value.get("__array__"):
            raw = base64.b64decode(value["data"])
            return np.frombuffer(raw, dtype=value["dtype"]).reshape(value["shape"]).astype(np.float32)
        return {k: decode_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [decode_json(v) for v in value]
    return value


@dataclass
class Event:
    """Base of all training events; ``to_json()`` gives one line of JSON."""

    kind: ClassVar[str] = "event"

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {"event": self.kind, **encode_json(data)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False)


@dataclass
class RunStarted(Event):
    """Training begins (or resumes): the plan and the data found."""

    kind: ClassVar[str] = "run_started"
    out_dir: str
    device: str
    world_size: int
    phases: list[dict[str, Any]]  # [{"phase": "stage"|"finetune", "stage": k or 0, "epochs": n}]
    total_epochs: int
    resumed_at_epoch: int  # global epochs already done (0 for a fresh run)
    data: dict[str, Any]
    target_scale: float


@dataclass
class StageStarted(Event):
    """A phase begins: ``stage`` k (1-based) alone, or ``stage`` 0 for end-to-end fine-tuning."""

    kind: ClassVar[str] = "stage_started"
    stage: int
    phase: str
    epochs: int
    start_epoch: int
    lr: float


@dataclass
class StepDone(Event):
    """One optimisation step; ``losses`` holds floats (``g_total``, ``l1``, ``nll``, ``adv``, ``residual``, ``d``)."""

    kind: ClassVar[str] = "step_done"
    stage: int
    epoch: int  # 1-based within the phase
    step: int  # 1-based within the epoch
    steps: int
    global_step: int
    global_steps: int  # planned steps of the whole run
    losses: dict[str, float]


@dataclass
class EpochDone(Event):
    """An epoch ended: mean training losses, validation metrics per stage, and a preview.

    ``val``: {"1": {"mse", "psnr", "ssim", "l1"}, ...} on the validation split (normalised
    target units clipped to [0, 1]); ``preview``: arrays (at most 128 px) of one fixed
    validation case: ``input``, ``target``, ``mean``, ``aleatoric``, ``epistemic`` of the
    stage being trained, in network units (dark-field divided by the target scale).
    """

    kind: ClassVar[str] = "epoch_done"
    stage: int
    phase: str
    epoch: int
    epochs: int
    global_epoch: int
    total_epochs: int
    train_losses: dict[str, float]
    val: dict[str, dict[str, float]]
    lr: float
    seconds: float
    preview: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class CheckpointSaved(Event):
    """A checkpoint was written: ``which`` is ``last``, ``best`` or ``final``."""

    kind: ClassVar[str] = "checkpoint_saved"
    path: str
    which: str
    stage: int
    global_epoch: int


@dataclass
class Finished(Event):
    """The run ended: ``status`` is ``completed`` or ``cancelled``."""

    kind: ClassVar[str] = "finished"
    status: str
    model_path: str | None
    global_epoch: int
    seconds: float
    best: dict[str, float]


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls for cls in (RunStarted, StageStarted, StepDone, EpochDone, CheckpointSaved, Finished)
}


def event_from_json(text: str | dict[str, Any]) -> Event:
    """Rebuild an event from one line written by :meth:`Event.to_json`."""
    data = json.loads(text) if isinstance(text, str) else dict(text)
    cls = EVENT_TYPES[data.pop("event")]
    return cls(**decode_json(data))
