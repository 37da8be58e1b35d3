"""The product's one way to get a predictor: ONNX Runtime on the checkpoint's exported graph.

:func:`open_predictor` finds the graph of a checkpoint (beside it, else in the per-user cache),
checks that it was exported from these very weights, and, where it is missing or stale and torch
is installed, exports it first. Without torch and without a current graph it says, in one
sentence, how to get one. torch is imported only to export.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dfviewer.atomic import WriteError
from dfviewer.core.graph_files import default_graph_path, weights_digest, weights_file
from dfviewer.errors import UserError, cause, sentence

if TYPE_CHECKING:
    from dfviewer.core.runtime_predictor import RuntimePredictor

#: the install command that adds torch (train, export, the wizard's training)
TRAIN_INSTALL = 'pip install "dfviewer[train]"'


def torch_installed() -> bool:
    """Whether torch can be imported (without importing it)."""
    if "torch" in sys.modules:
        return sys.modules["torch"] is not None
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):
        return False


def require_torch(what: str) -> None:
    """Raise one sentence naming the install command when torch is missing (``what``: "training", ...)."""
    if not torch_installed():
        raise UserError(f"PyTorch is not installed, and {what} needs it; add it with {TRAIN_INSTALL}")


def graph_cache_dir() -> Path:
    """The per-user folder for graphs of checkpoints that sit in read-only folders."""
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "dfviewer" / "graphs"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Caches" / "dfviewer" / "graphs"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dfviewer" / "graphs"


def cached_graph_path(digest: str) -> Path:
    """The cache file of the graph of the weights with sha256 ``digest``."""
    return graph_cache_dir() / f"{digest}.onnx"


def open_predictor(model_path: str | Path, device: str = "auto", threads: int | None = None) -> RuntimePredictor:
    """A :class:`~dfviewer.core.runtime_predictor.RuntimePredictor` for checkpoint ``model_path``.

    The graph beside the checkpoint is used when it belongs to these weights, else the cached
    one; where neither does, the graph is exported (needs torch) beside the checkpoint when that
    folder is writable, else into the cache. ``threads``: None follows the thread policy.
    """
    from dfviewer.core.runtime_predictor import RuntimePredictor
    from dfviewer.core.runtime_session import GraphError

    model_path = Path(model_path)
    weights = weights_file(model_path)
    try:
        digest = weights_digest(model_path)
    except OSError as exc:
        reason = "does not exist" if not weights.exists() else f"cannot be read ({exc.strerror or exc})"
        raise UserError(f"model {weights} {reason}") from None
    beside, cached = default_graph_path(model_path), cached_graph_path(digest)
    for graph in (beside, cached):
        if graph.is_file():
            try:
                return RuntimePredictor(model_path, graph, threads=threads, device=device, weights_sha256=digest)
            except GraphError:
                continue  # stale or damaged: export again below
    if not torch_installed():
        raise UserError(f"model {model_path.name} has no current inference graph ({beside.name}); write it with "
                        f"`dfviewer export {model_path}`, which needs PyTorch: {TRAIN_INSTALL}")
    target = beside if os.access(beside.parent, os.W_OK) else cached
    try:
        export_graph(model_path, target)
    except WriteError:
        if target == cached:
            raise
        target = cached  # a read-only disk that os.access did not see (or a root user's view of one)
        export_graph(model_path, target)
    return RuntimePredictor(model_path, target, threads=threads, device=device, weights_sha256=digest)


def export_after_training(model_path: str | Path) -> str:
    """Export the graph beside a checkpoint just trained; the line to print (a warning where it failed)."""
    try:
        path = export_graph(Path(model_path), default_graph_path(model_path))
    except Exception as exc:  # noqa: BLE001 - the trained model stays whatever the export meets
        reason = sentence(str(exc)) if isinstance(exc, UserError) else f"{cause(exc)}."
        return (f"warning: the inference graph was not written: {reason} The model is saved; "
                f"write the graph with `dfviewer export {model_path}`.")
    return f"wrote the inference graph {path}"


def export_graph(model_path: Path, target: Path) -> Path:
    """Export the graph of ``model_path`` to ``target`` atomically (imports torch)."""
    from dfviewer.core.export import export_graph as write_graph

    return write_graph(model_path, target)


__all__ = ["TRAIN_INSTALL", "cached_graph_path", "export_after_training", "graph_cache_dir", "open_predictor",
           "require_torch", "torch_installed"]
