"""Where a checkpoint's inference graph lives and how it is tied to the weights (no torch needed).

:mod:`dfviewer.core.export` writes the graph; :mod:`dfviewer.core.runtime_predictor` and
:mod:`dfviewer.core.predictors` read it. These names are shared by both sides.
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from dfviewer.errors import UserError

#: a checkpoint folder's weights file (as :mod:`dfviewer.core.checkpoint` writes it)
WEIGHTS_NAME = "model.safetensors"
GRAPH_FORMAT = "1"
#: metadata_props keys of the graph
KEY_FORMAT = "dfviewer_graph_format"
KEY_CONFIG = "dfviewer_config"
KEY_DIGEST = "dfviewer_weights_sha256"
KEY_DROPOUT = "dfviewer_dropout_layers"

#: the install command per package the graph needs (onnx only writes graphs, with torch)
_INSTALL = {"onnx": 'pip install "dfviewer[train]"'}


def weights_file(model_path: str | Path) -> Path:
    """The safetensors file of a checkpoint file or folder."""
    path = Path(model_path)
    return path / WEIGHTS_NAME if path.is_dir() else path


def weights_digest(model_path: str | Path) -> str:
    """sha256 of the checkpoint's weights file (hex)."""
    digest = hashlib.sha256()
    with open(weights_file(model_path), "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_graph_path(model_path: str | Path) -> Path:
    """Where the graph of a checkpoint lives: ``demo.safetensors`` -> ``demo.onnx``, a folder's ``model.onnx``."""
    return weights_file(model_path).with_suffix(".onnx")


def runtime_package(name: str) -> Any:
    """Import ``onnx`` or ``onnxruntime``; one sentence naming the install command where it is missing."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError:
        command = _INSTALL.get(name, 'pip install "dfviewer[runtime]"')
        raise UserError(f"{name} is not installed; the inference graph needs it: {command}.") from None


__all__ = ["GRAPH_FORMAT", "KEY_CONFIG", "KEY_DIGEST", "KEY_DROPOUT", "KEY_FORMAT", "WEIGHTS_NAME",
           "default_graph_path", "runtime_package", "weights_digest", "weights_file"]
