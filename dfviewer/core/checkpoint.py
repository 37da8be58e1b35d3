"""Safe checkpoints: safetensors weights plus JSON config, never a pickle.

One file (``model.safetensors``: the config and metadata sit as JSON in the safetensors
header) or one folder (``model.safetensors`` and ``config.json`` side by side, for people
who want to read the config). A pickle (``.pt`` / ``.pth``, or any file that looks like
one) or a damaged file raises :class:`CheckpointError` with one plain sentence; nothing
from such a file is executed.
"""

from __future__ import annotations

import json
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from dfviewer.atomic import atomic_path, atomic_write_text
from dfviewer.core.config import ConfigError, ModelConfig, model_config_from_dict, to_dict
from dfviewer.core.network import Cascade
from dfviewer.errors import UserError, first_line, sentence

FORMAT_VERSION = 1
WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"
_PICKLE_SUFFIXES = {".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin"}
#: the most bytes of weights a checkpoint may declare (the paper preset needs about 0.4 GB)
MAX_WEIGHT_BYTES = 2 * 1024**3
#: limits on the JSON texts in the header: characters, and how deeply objects / lists nest
MAX_CONFIG_CHARS = 1_000_000
MAX_METADATA_CHARS = 64_000_000
MAX_JSON_DEPTH = 32
_DTYPE_BYTES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "U16": 2, "I16": 2, "F16": 2, "BF16": 2,
                "U32": 4, "I32": 4, "F32": 4, "U64": 8, "I64": 8, "F64": 8}
_STOP = (KeyboardInterrupt, SystemExit, GeneratorExit)
#: the weight dtypes a model can use (cast to float32 on loading without losing what they hold);
#: float8 is refused: with 2-3 mantissa bits the maps would be off by up to a fifth, silently
_FLOAT_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "F64": "float64"}
#: BatchNorm's step counters are the model's only integer tensors
_COUNTER_SUFFIX = "num_batches_tracked"
_COUNTER_DTYPES = {"I64", "I32"}
_DTYPE_WORDS = {"BOOL": "bool", "U8": "uint8", "I8": "int8", "U16": "uint16", "I16": "int16", "U32": "uint32",
                "I32": "int32", "U64": "uint64", "I64": "int64", "F8_E4M3": "float8 (e4m3)",
                "F8_E5M2": "float8 (e5m2)", "C64": "complex64", "C128": "complex128", **_FLOAT_DTYPES}


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
                sentence(f"the checkpoint's weights do not fit its own config ({first_line(exc)})")
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
        raise CheckpointError(f"a checkpoint file must end in .safetensors, not {path.name!r}.")
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




def _special_file_kind(path: Path) -> str | None:
    """What ``path`` is when it exists but is not a regular file (a FIFO would block open())."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def _json_depth(text: str) -> int:
    """How deeply objects and lists nest in a JSON text, counted without parsing it."""
    import numpy as np

    bare = re.sub(r'"(?:[^"\\]|\\.)*"', '""', text)  # brackets inside strings do not count
    codes = np.frombuffer(bare.encode("utf-8", "replace"), dtype=np.uint8)
    steps = np.isin(codes, (ord("{"), ord("["))).astype(np.int64) - np.isin(codes, (ord("}"), ord("]")))
    return int(np.cumsum(steps).max()) if steps.size else 0


def _json_object(text: Any, what: str, name: str, limit: int) -> dict[str, Any]:
    """Parse ``text`` as a JSON object of bounded size and nesting, or raise one sentence."""
    if not isinstance(text, str):
        raise CheckpointError(sentence(f"the {what} in {name} is damaged: it is not text"))
    if len(text) > limit:
        raise CheckpointError(
            sentence(f"the {what} in {name} has {len(text)} characters, more than the {limit} allowed")
        )
    if _json_depth(text) > MAX_JSON_DEPTH:
        raise CheckpointError(
            sentence(f"the {what} in {name} is damaged: it nests more than {MAX_JSON_DEPTH} levels deep")
        )
    try:
        value = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise CheckpointError(sentence(f"the {what} in {name} is damaged: {first_line(exc)}")) from None
    if not isinstance(value, dict):
        raise CheckpointError(
            sentence(f"the {what} in {name} is damaged: it must be a JSON object, not {type(value).__name__}")
        )
    return value


def _declared_weight_bytes(handle: Any) -> int:
    """Bytes of all tensors as the safetensors header declares them (nothing is read)."""
    total = 0
    for key in handle.keys():
        piece = handle.get_slice(key)
        total += math.prod(piece.get_shape()) * _DTYPE_BYTES.get(str(piece.get_dtype()).upper(), 8)
    return total


def _unusable_dtype(handle: Any, name: str) -> str | None:
    """One sentence about the first tensor whose stored dtype the model cannot use, else None.

    Loading casts every tensor to the parameter's dtype: integers and bools would become
    constant (mostly zero) weights, complex numbers would lose their imaginary part.
    """
    for key in handle.keys():
        code = str(handle.get_slice(key).get_dtype()).upper()
        counter = key.endswith(_COUNTER_SUFFIX)
        if code in (_COUNTER_DTYPES if counter else _FLOAT_DTYPES):
            continue
        word = _DTYPE_WORDS.get(code, code.lower()[:20])
        wanted = "an integer step counter (int64)" if counter else "float32, float16, bfloat16 or float64"
        return sentence(f"checkpoint {name} stores weight tensor {key[:120]!r} as {word}, not as {wanted}, "
                        "so the model it describes cannot be used")
    return None


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint file or folder written by :func:`save_checkpoint`.

    Everything a damaged or hostile file could do wrong is refused with one sentence before
    it costs much: special files before they are opened, header and config before any weight is
    read, the model's size before it is built, and weights that are not finite.
    """
    path = Path(path)
    kind = _special_file_kind(path)
    if kind:
        raise CheckpointError(sentence(f"model {path} is {kind}, not a checkpoint file"))
    if not path.exists():
        raise CheckpointError(sentence(f"model {path} does not exist"))
    weights = path / WEIGHTS_NAME if path.is_dir() else path
    kind = _special_file_kind(weights)
    if kind:
        raise CheckpointError(sentence(f"{weights} is {kind}, not a checkpoint file"))
    if path.is_dir() and not weights.is_file():
        raise CheckpointError(sentence(f"folder {path} holds no {WEIGHTS_NAME}, so it is not a dfviewer model"))
    name = weights.name
    try:
        pickled = weights.suffix.lower() in _PICKLE_SUFFIXES or _looks_like_pickle(weights)
    except OSError as exc:
        raise CheckpointError(sentence(f"{name} cannot be read ({first_line(exc)})")) from None
    if pickled:
        raise CheckpointError(
            f"{name} is a pickle file; dfviewer only loads safetensors checkpoints, "
            "because unpickling a file can run arbitrary code."
        )
    try:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as handle:
            header = handle.metadata() or {}
            declared = _declared_weight_bytes(handle)
            unusable = _unusable_dtype(handle, name)
    except BaseException as exc:  # a damaged file may upset the Rust parser in any way
        if isinstance(exc, _STOP):
            raise
        raise CheckpointError(
            f"{name} is not a readable safetensors checkpoint: it is another kind of file, or a damaged or "
            "incomplete download."
        ) from None
    if declared > MAX_WEIGHT_BYTES:
        raise CheckpointError(
            sentence(f"{name} declares {declared / 1e6:.1f} MB of weights, more than the "
                      f"{MAX_WEIGHT_BYTES / 1e6:.0f} MB a dfviewer model may have")
        )
    if unusable:
        raise CheckpointError(unusable)
    if "config" not in header:
        raise CheckpointError(sentence(f"{name} holds weights but no dfviewer config"))
    version_text = header.get("dfviewer_format", "0")
    if not (isinstance(version_text, str) and re.fullmatch(r"[0-9]{1,6}", version_text)):
        raise CheckpointError(
            sentence(f"the format version in {name} is {str(version_text)[:40]!r}, not a whole number")
        )
    version = int(version_text)
    if version > FORMAT_VERSION:
        raise CheckpointError(
            sentence(f"{name} was written by a newer dfviewer (format {version}); please update dfviewer")
        )
    config_data = _json_object(header["config"], "config", name, MAX_CONFIG_CHARS)
    metadata = _json_object(header.get("metadata", "{}"), "metadata", name, MAX_METADATA_CHARS)
    try:
        config = model_config_from_dict(config_data)
    except ConfigError as exc:
        raise CheckpointError(sentence(f"the config in {name} is damaged: {first_line(exc)}")) from None
    try:
        state = load_file(str(weights))
    except BaseException as exc:
        if isinstance(exc, _STOP):
            raise
        raise CheckpointError(
            f"{name} has a safetensors header but its weights cannot be read (the file is damaged or "
            "was cut short, e.g. by an incomplete download)."
        ) from None
    # judged as float32, what the model computes in: a float64 weight beyond 3.4e38 becomes infinite there
    bad = sum(1 for t in state.values() if t.is_floating_point() and not bool(torch.isfinite(t.float()).all()))
    if bad:
        raise CheckpointError(
            f"{name} holds {bad} weight tensor{'s' if bad != 1 else ''} with NaN or infinite values, "
            "so it cannot give meaningful maps."
        )
    return Checkpoint(config=config, state_dict=state, metadata=metadata)
