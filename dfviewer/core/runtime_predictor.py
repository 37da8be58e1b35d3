"""Inference on an exported ONNX graph with ONNX Runtime: the same maps as :class:`~dfviewer.core.inference.Predictor`.

The graph (:mod:`dfviewer.core.export`) runs the network; the image is prepared, the dropout masks
drawn and the samples summarised here exactly as the torch predictor does, so a deterministic pass
and a seeded Monte Carlo estimate agree with it to float rounding.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dfviewer.core.config import MC_SEED, model_config_from_dict
from dfviewer.core.export import (
    KEY_CONFIG,
    KEY_DIGEST,
    KEY_DROPOUT,
    default_graph_path,
    runtime_package,
    weights_digest,
)
from dfviewer.core.geometry import resample_map
from dfviewer.core.mc_masks import ones_masks, sample_masks
from dfviewer.core.mc_stats import RunningMapStats
from dfviewer.core.prepare import prepare_image
from dfviewer.core.results import DEFAULT_MC_SAMPLES, StageResult, check_finite
from dfviewer.errors import UserError
from dfviewer.threads import allowed_cores, choose_threads, free_cores


class GraphError(UserError):
    """An inference graph is missing, unreadable, or does not belong to its checkpoint."""


def graph_metadata(graph_path: str | Path) -> dict[str, str]:
    """The metadata_props of an ONNX graph (read with ONNX Runtime)."""
    ort = runtime_package("onnxruntime")

    try:
        session = ort.InferenceSession(str(graph_path), providers=["CPUExecutionProvider"])
    except Exception:  # noqa: BLE001 - ONNX Runtime raises its own types for every kind of bad file
        raise GraphError(f"{Path(graph_path).name} is not a readable ONNX graph.") from None
    return dict(session.get_modelmeta().custom_metadata_map)


class RuntimePredictor:
    """Runs an exported cascade with ONNX Runtime on the CPU (``threads``: None follows the thread policy)."""

    def __init__(self, model_path: str | Path, graph_path: str | Path | None = None,
                 threads: int | None = None) -> None:
        ort = runtime_package("onnxruntime")

        model_path = Path(model_path)
        graph_path = Path(graph_path) if graph_path is not None else default_graph_path(model_path)
        if not graph_path.is_file():
            raise GraphError(f"model {model_path.name} has no inference graph {graph_path.name}; "
                             f"write it with `dfviewer export {model_path}`.")
        options = ort.SessionOptions()
        self.threads = choose_threads(allowed_cores(), None if threads else free_cores(), threads)
        options.intra_op_num_threads = self.threads
        # MC samples per graph run: one per thread. Paired on 2 cores (docs/speed.md, ONNX Runtime):
        # 1 thread was fastest with 1 row a run (20 rows: 20-28% slower, as activations outgrow the
        # caches), 2 threads with 2 rows (1 row: 14% slower, too little work to split).
        self.rows_per_run = self.threads
        options.inter_op_num_threads = 1
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # no spin-waiting
        try:
            self.session = ort.InferenceSession(str(graph_path), options, providers=["CPUExecutionProvider"])
        except Exception:  # noqa: BLE001 - ONNX Runtime raises its own types for every kind of bad file
            raise GraphError(f"{graph_path.name} is not a readable ONNX graph.") from None
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if meta.get(KEY_DIGEST) != weights_digest(model_path):
            raise GraphError(f"graph {graph_path.name} was exported from other weights than model {model_path.name}; "
                             f"export it again with `dfviewer export {model_path}`.")
        self.config = model_config_from_dict(json.loads(meta[KEY_CONFIG]))
        self.layers: list[dict[str, Any]] = json.loads(meta[KEY_DROPOUT])
        self._outputs = [o.name for o in self.session.get_outputs()]

    def predict(self, image: np.ndarray, mc_samples: int = DEFAULT_MC_SAMPLES, working_size: int | None = None,
                stages: Sequence[int] | None = None, seed: int = MC_SEED,
                network_units: bool = False) -> list[StageResult]:
        """One :class:`StageResult` per requested stage, as :meth:`Predictor.predict` with this ``seed`` gives."""
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)) or mc_samples < 0:
            raise UserError(f"the number of MC samples must be a whole number >= 0, not {mc_samples!r}")
        n = self.config.n_stages
        wanted = sorted({int(s) for s in stages}) if stages is not None else list(range(1, n + 1))
        if not wanted or wanted[0] < 1 or wanted[-1] > n:
            raise UserError(f"stages must be numbers from 1 to {n}, not {list(stages or [])}")
        prepared = prepare_image(image, self.config, working_size)
        x = prepared.x.numpy()
        height, width = x.shape[-2:]
        h, w = prepared.work
        if mc_samples == 0:
            maps = self._run(x, ones_masks(self.layers, height, width))
            stage_maps = {m: {**{k: v[0, 0, :h, :w] for k, v in maps[m].items()},
                              "epistemic": np.zeros((h, w), np.float32)} for m in maps}
        else:
            stats = {m: RunningMapStats() for m in range(1, n + 1)}
            for start in range(0, int(mc_samples), self.rows_per_run):
                rows = [sample_masks(seed, s, self.layers, self.config.dropout, height, width)
                        for s in range(start, min(int(mc_samples), start + self.rows_per_run))]
                maps = self._run(x, [np.stack(layer) for layer in zip(*rows)])
                for m, out in maps.items():
                    crop = {k: torch.from_numpy(np.ascontiguousarray(v[..., :h, :w])) for k, v in out.items()}
                    stats[m].add(crop["mean"], crop["alpha"], crop["beta"], crop["aleatoric"])
            stage_maps = {m: {k: v[0, 0].numpy() for k, v in acc.snapshot().items()} for m, acc in stats.items()}
        norm = None if network_units else self.config.normalization
        results = [StageResult.from_working(m, int(mc_samples), stage_maps[m], prepared.shape, norm, resample_map)
                   for m in wanted]
        check_finite(results)
        return results

    def _run(self, x: np.ndarray, masks: list[np.ndarray]) -> dict[int, dict[str, np.ndarray]]:
        feeds = {"x": x, **{f"mask_{i}": mask for i, mask in enumerate(masks)}}
        values = dict(zip(self._outputs, self.session.run(self._outputs, feeds)))
        names = {"mean": "mean", "alpha": "alpha", "beta": "beta", "aleatoric": "sigma"}
        return {m: {key: values[f"{name}_{m}"] for key, name in names.items()}
                for m in range(1, self.config.n_stages + 1)}


__all__ = ["GraphError", "RuntimePredictor", "graph_metadata"]
