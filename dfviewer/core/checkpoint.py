"""Safe checkpoints: safetensors weights plus JSON config, never a pickle.

One file (``model.safetensors``: the config and metadata sit as JSON in the safetensors
header) or one folder (``model.safetensors`` and ``config.json`` side by side, for people
who want to read the config). A pickle (``.pt`` / ``.pth``, or any file that looks like
one) or a damaged file raises :class:`CheckpointError` with one plain sentence; nothing
from such a file is executed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from dfviewer.atomic import atomic_path, atomic_write_text
from dfviewer.core.config import ConfigError, ModelConfig, model_config_from_dict, to_dict
from dfviewer.core.generator import Cascade
from dfviewer.errors import UserError

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}


class CheckpointError(UserError):
    """A checkpoint cannot be read (wrong format, damaged, or from an unknown version)."""


@dataclass
class Checkpoint:
    """A model's config, weights and free-form metadata (training data, epochs, timings)."""

    config: ModelConfig
    state_dict: dict[str, torch.Tensor]
    metadata: dict[str, Any] = field(default_factory=dict)

    def build_model(self, device: str | torch.device = "cpu") -> Cascade:
        """A :class:`Cascade` with these weights, in eval mode, on ``device``."""
        model = Cascade(self.config)
        try:
            model.load_state_dict(self.state_dict, strict=True)
        except RuntimeError as exc:
            raise CheckpointError(
                f"the checkpoint's weights do not fit its own config: {str(exc).splitlines()[0]}"
            ) from None
        return model.to(device).eval()


def save_checkpoint(
    path: str | Path,
    model: Cascade,
    metadata: dict[str, Any] | None = None,
    *,
    folder: bool = False,
) -> Path:
    """Write ``model`` (config inside) to ``path`` atomically and return the path written.

    ``folder=True`` writes ``path/model.safetensors`` plus a readable ``path/config.json``.
    """
    path = Path(path)
    header = {
        "dfviewer_format": str(FORMAT_VERSION),
        "config": json.dumps(to_dict(model.cfg)),
        "metadata": json.dumps(metadata or {}),
    }
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    weights = path / WEIGHTS_NAME if folder else path
    if not folder and path.suffix != ".safetensors":
        raise CheckpointError(f"a checkpoint file must end in .safetensors, not {path.name!r}")
    with atomic_path(weights) as tmp:
        save_file(tensors, str(tmp), metadata=header)
    if folder:
        readable = {"format_version": FORMAT_VERSION, "model": to_dict(model.cfg), "metadata": metadata or {}}
        atomic_write_text(path / CONFIG_NAME, json.dumps(readable, indent=2) + "\n")
    return path


def _looks_like_pickle(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(9)
    size = path.stat().st_size
    # safetensors: an 8-byte little-endian header length, then the JSON header. Checked first,
    # because that length's first byte may well be 0x80 (a header of 128 + 256 k bytes).
    if len(head) == 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8:
        return False
    # torch.save writes a zip archive; older files and plain pickles start with PROTO 0x80.
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file or folder written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"model {path} does not exist")
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    if path.is_dir() and not weights.is_file():
        raise CheckpointError(f"folder {path} holds no {WEIGHTS_NAME}, so it is not a dfviewer model")
    if weights.suffix.lower() in _PICKLE_SUFFIXES or _looks_like_pickle(weights):
        raise CheckpointError(
            f"{weights.name} is a pickle file; dfviewer only loads safetensors checkpoints, "
            "because unpickling a file can run arbitrary code"
        )
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            header = handle.metadata() or {}
        state = load_file(str(weights))
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"{weights.name} is not a readable safetensors checkpoint ({exc})") from None
    if "config" not in header:
        raise CheckpointError(f"{weights.name} holds weights but no dfviewer config")
    version = int(header.get("dfviewer_format", "0") or 0)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            f"{weights.name} was written by a newer dfviewer (format {version}); please update dfviewer"
        )
    try:
        config = model_config_from_dict(json.loads(header["config"]))
        metadata = json.loads(header.get("metadata", "{}"))
    except (json.JSONDecodeError, ConfigError) as exc:
        raise CheckpointError(f"{weights.name} has a damaged config: {exc}") from None
    return Checkpoint(config=config, state_dict=state, metadata=metadata)
