"""An ONNX Runtime session for an exported graph: the execution provider, the threads, the checkpoint's metadata.

The device names are the commands' (``--device``: auto, cpu, cuda, cuda:N, mps). CUDA runs on
ONNX Runtime's CUDA execution provider, which only the ``onnxruntime-gpu`` package has; ONNX
Runtime has no Metal backend, so ``mps`` runs on the CPU and says so. No torch is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dfviewer.core.graph_files import runtime_package, weights_file
from dfviewer.core.results import DEVICE_HELP, is_device_name
from dfviewer.errors import UserError
from dfviewer.threads import allowed_cores, choose_threads, free_cores

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
#: on a GPU, the bytes of one activation map of all rows of a run (the torch predictor's smallest GPU
#: budget per pass) and the most rows a run (its largest chunk); not yet measured with ONNX Runtime
GPU_RUN_BYTES = 256 * 1024**2
GPU_MAX_ROWS = 16


class GraphError(UserError):
    """An inference graph is missing, unreadable, or does not belong to its checkpoint."""


class RuntimeDeviceError(UserError):
    """The requested device cannot run the graph here."""


@dataclass(frozen=True)
class ProviderChoice:
    """The execution providers to ask for, in order, and the device they mean."""

    providers: list[Any]  # names, or (name, options) pairs
    device: str  # "cpu" or "cuda"
    note: str | None = None  # a sentence for the user when the device differs from the one asked for


def choose_providers(device: str, available: Sequence[str]) -> ProviderChoice:
    """The providers for ``device`` (a ``--device`` name) when ONNX Runtime offers ``available``.

    ``auto`` takes CUDA when offered, else the CPU; ``cuda`` without the CUDA provider is an error
    naming the package that has it; ``mps`` runs on the CPU with a note.
    """
    name = str(device).strip().lower()
    if not is_device_name(name):
        raise RuntimeDeviceError(f"unknown device {device!r}; use {DEVICE_HELP}.")
    if name == "mps":
        return ProviderChoice([CPU], "cpu", "ONNX Runtime has no Apple Metal (mps) backend, so the model runs on "
                                            "the CPU.")
    if name == "cpu" or (name == "auto" and CUDA not in available):
        return ProviderChoice([CPU], "cpu")
    if CUDA not in available:
        raise RuntimeDeviceError(f"device {name} was requested but this ONNX Runtime has no CUDA support; install "
                                 "it with: pip install onnxruntime-gpu.")
    index = int(name.partition(":")[2] or 0)
    return ProviderChoice([(CUDA, {"device_id": index}), CPU], "cuda")


def runtime_devices(available: Sequence[str] | None = None) -> list[str]:
    """The devices to offer: auto and cpu, and cuda where ONNX Runtime has its CUDA provider (``available``)."""
    if available is None:
        available = runtime_package("onnxruntime").get_available_providers()
    return ["auto", "cpu"] + (["cuda"] if CUDA in available else [])


def gpu_rows_per_run(height: int, width: int, base_width: int) -> int:
    """MC samples per graph run on a GPU for a padded input of ``height`` x ``width``."""
    per_row = max(1, height * width * base_width * 4)
    return max(1, min(GPU_MAX_ROWS, GPU_RUN_BYTES // per_row))


def session_options(ort: Any, threads: int) -> Any:
    """``threads`` compute threads, one inter-op thread, and idle threads that sleep instead of spinning."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    # spin-waiting threads burn cores other processes need (dfviewer.threads: the same policy as torch's)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


@dataclass
class RuntimeSession:
    """An open session and what it runs on."""

    session: Any
    device: str
    threads: int
    note: str | None


def open_session(graph_path: Path, device: str = "auto", threads: int | None = None) -> RuntimeSession:
    """A session for ``graph_path`` on ``device`` (``threads`` None: the free cores, by the thread policy)."""
    ort = runtime_package("onnxruntime")
    choice = choose_providers(device, ort.get_available_providers())
    count = choose_threads(allowed_cores(), None if threads else free_cores(), threads)
    try:
        session = ort.InferenceSession(str(graph_path), session_options(ort, count), providers=choice.providers)
    except Exception:  # noqa: BLE001 - ONNX Runtime raises its own types for every kind of bad file
        raise GraphError(f"{graph_path.name} is not a readable ONNX graph.") from None
    running = "cuda" if CUDA in session.get_providers() else "cpu"
    if choice.device == "cuda" and running != "cuda" and str(device).lower() != "auto":
        # the CUDA provider is installed but could not start (no GPU, no driver, missing CUDA libraries)
        raise RuntimeDeviceError(f"device {device} was requested but ONNX Runtime could not use a CUDA GPU on this "
                                 "machine.")
    return RuntimeSession(session, running, count, choice.note)


def graph_metadata(graph_path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX graph (read with ONNX Runtime)."""
    ort = runtime_package("onnxruntime")
    try:
        session = ort.InferenceSession(str(graph_path), providers=[CPU])
    except Exception:  # noqa: BLE001 - ONNX Runtime raises its own types for every kind of bad file
        raise GraphError(f"{Path(graph_path).name} is not a readable ONNX graph.") from None
    return dict(session.get_modelmeta().custom_metadata_map)


def checkpoint_metadata(model_path: str | Path) -> dict[str, Any]:
    """The free-form metadata of a checkpoint (training data, domain check), read from its safetensors header.

    Called once the graph's weights digest matched: the file is the one export loaded and checked.
    """
    from safetensors import safe_open

    weights = weights_file(model_path)
    try:
        with safe_open(str(weights), framework="numpy") as handle:
            header = handle.metadata() or {}
        metadata = json.loads(header.get("metadata", "{}"))
    except Exception:  # noqa: BLE001 - the Rust parser and json raise their own types
        raise GraphError(f"the metadata of model {weights.name} cannot be read.") from None
    if not isinstance(metadata, dict):
        raise GraphError(f"the metadata of model {weights.name} is not a JSON object.")
    return metadata


__all__ = ["GPU_MAX_ROWS", "GPU_RUN_BYTES", "GraphError", "ProviderChoice", "RuntimeDeviceError", "RuntimeSession",
           "checkpoint_metadata", "choose_providers", "gpu_rows_per_run", "graph_metadata", "open_session", "runtime_devices",
           "session_options"]
