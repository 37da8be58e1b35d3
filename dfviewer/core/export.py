"""Export a checkpoint's cascade to an ONNX inference graph (the torch model stays the source of truth).

The graph takes one prepared image ``x`` (1, C, H, W; H and W multiples of the network's) and one
mask per dropout layer, in the order the layers run (``mask_0`` ...: (N, C, 1, 1) for channel
dropout, (N, C, h, w) for element dropout, values 0 or 1 / (1 - p)). Its N rows are N Monte Carlo
samples (all-ones masks: the deterministic pass); stage 1's encoder runs once for all of them. It
gives ``mean_m``, ``alpha_m``, ``beta_m`` and ``sigma_m`` (N, 1, H, W) for every stage m. The
metadata carry the config, the dropout layers and the sha256 of the checkpoint's weights file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from dfviewer.atomic import atomic_path
from dfviewer.core.checkpoint import load_checkpoint
from dfviewer.core.config import to_dict
from dfviewer.core.fold import fold_batchnorm
from dfviewer.core.graph_files import (
    GRAPH_FORMAT,
    KEY_CONFIG,
    KEY_DIGEST,
    KEY_DROPOUT,
    KEY_FORMAT,
    default_graph_path,
    runtime_package,
    weights_digest,
    weights_file,
)
from dfviewer.core.graph_maths import graph_sigma
from dfviewer.core.network import Cascade, StageOutput, UNetStage, dropout_modules, stage_input

#: the ONNX operator set the graph is written for (ONNX Runtime 1.17 and later run it)
OPSET = 17


class GraphCascade(nn.Module):
    """The cascade as the predictor runs it, with the dropout masks as inputs (the module that is exported)."""

    def __init__(self, model: Cascade) -> None:
        super().__init__()
        self.model = model.eval()
        self.layers = list(dropout_modules(model))
        self._masks: Iterator[torch.Tensor] = iter(())
        for layer in self.layers:
            layer.register_forward_hook(self._apply_mask)

    def _apply_mask(self, module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> torch.Tensor:
        return inputs[0] * next(self._masks)

    def forward(self, x: torch.Tensor, *masks: torch.Tensor) -> tuple[torch.Tensor, ...]:
        self._masks = iter(masks)
        rows = masks[0].shape[0]
        cfg = self.model.cfg
        first = cast(UNetStage, self.model.stages[0])
        feats = [f.expand(rows, -1, -1, -1) for f in first.encode(x)]
        xs = x.expand(rows, -1, -1, -1)
        outputs: list[tuple[StageOutput, torch.Tensor]] = []
        for m, stage in enumerate(self.model.stages):
            if m == 0:
                out = first.decode(feats)
            else:
                prev, prev_sigma = outputs[-1]
                out = stage(stage_input(cfg, xs, prev, prev_sigma), previous_mean=prev.mean)
            outputs.append((out, graph_sigma(out.alpha, out.beta)))
        return tuple(t for out, sig in outputs for t in (out.mean, out.alpha, out.beta, sig))


def dropout_layers(model: Cascade, height: int, width: int) -> list[dict[str, Any]]:
    """Per dropout layer, in the order the layers run: channels, downscale factor, kind (from a real pass)."""
    seen: list[dict[str, Any]] = []

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        shape = inputs[0].shape
        seen.append({"channels": int(shape[1]), "factor": height // int(shape[2]),
                     "kind": "channel" if isinstance(module, nn.Dropout2d) else "element"})

    handles = [m.register_forward_hook(record) for m in dropout_modules(model)]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, model.cfg.in_channels, height, width))
    finally:
        for handle in handles:
            handle.remove()
    return seen


def export_graph(model_path: str | Path, out: str | Path | None = None) -> Path:
    """Write the ONNX graph of checkpoint ``model_path`` (default: beside it) atomically; returns its path."""
    onnx = runtime_package("onnx")

    ckpt = load_checkpoint(model_path)
    model = ckpt.build_model("cpu")
    fold_batchnorm(model)
    cfg = ckpt.config
    side = cfg.multiple * 2
    layers = dropout_layers(model, side, side)
    wrapper = GraphCascade(model)
    x = torch.zeros(1, cfg.in_channels, side, side)
    rows = 2
    masks = [torch.ones(rows, layer["channels"], *((1, 1) if layer["kind"] == "channel"
                                                    else (side // layer["factor"],) * 2)) for layer in layers]
    mask_names = [f"mask_{i}" for i in range(len(masks))]
    outputs = [f"{name}_{m}" for m in range(1, cfg.n_stages + 1) for name in ("mean", "alpha", "beta", "sigma")]
    axes: dict[str, dict[int, str]] = {"x": {2: "height", 3: "width"}}
    for name, layer in zip(mask_names, layers):
        axes[name] = {0: "rows"} if layer["kind"] == "channel" else {0: "rows", 2: f"h{name}", 3: f"w{name}"}
    axes.update({name: {0: "rows", 2: "height", 3: "width"} for name in outputs})
    target = Path(out) if out is not None else default_graph_path(model_path)
    with atomic_path(target) as tmp:
        torch.onnx.export(wrapper, (x, *masks), str(tmp), input_names=["x", *mask_names], output_names=outputs,
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
        graph = onnx.load(str(tmp))
        props = {KEY_FORMAT: GRAPH_FORMAT, KEY_CONFIG: json.dumps(to_dict(cfg)),
                 KEY_DIGEST: weights_digest(model_path), KEY_DROPOUT: json.dumps(layers)}
        for key, value in props.items():
            entry = graph.metadata_props.add()
            entry.key, entry.value = key, value
        onnx.save(graph, str(tmp))
    return target


__all__ = ["KEY_CONFIG", "KEY_DIGEST", "KEY_DROPOUT", "OPSET", "GraphCascade", "default_graph_path", "dropout_layers",
           "export_graph", "runtime_package", "weights_digest", "weights_file"]
