"""Inference on an exported ONNX graph with ONNX Runtime: the product's predictor, without torch.

:class:`RuntimePredictor` offers what :class:`~dfviewer.core.inference.Predictor` (the torch
reference) offers: :meth:`~RuntimePredictor.predict`, :meth:`~RuntimePredictor.predict_stream`
(a deterministic preview, then running Monte Carlo estimates), :meth:`~RuntimePredictor.predict_batch`,
the input checks, and the same :class:`~dfviewer.core.results.StageResult` objects. The graph
(:mod:`dfviewer.core.export`) runs the network; the image is prepared, the dropout masks drawn
(:func:`~dfviewer.core.mc_masks.sample_masks`, per image seed and sample) and the samples summarised
here as the torch predictor does, so the same seed gives the same maps to float rounding.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from dfviewer.core import input_checks, resampling
from dfviewer.core.config import model_config_from_dict
from dfviewer.core.domain import DomainModel
from dfviewer.core.geometry import resample_map
from dfviewer.core.graph_files import KEY_CONFIG, KEY_DIGEST, KEY_DROPOUT, default_graph_path, weights_digest
from dfviewer.core.mc_masks import ones_masks, sample_masks
from dfviewer.core.mc_stats import RunningMapStats
from dfviewer.core.prepare import PreparedImage, prepare_image
from dfviewer.core.results import (
    DEFAULT_MC_SAMPLES,
    NonFiniteOutputError,
    Prediction,
    PredictionCancelled,
    StageResult,
    check_finite,
)
from dfviewer.core.runtime_session import (
    GraphError,
    checkpoint_metadata,
    gpu_rows_per_run,
    graph_metadata,
    open_session,
)
from dfviewer.core.stages import check_stages
from dfviewer.errors import UserError

#: one stage's working-size maps by name (mean, alpha, beta, aleatoric, epistemic), 2-D float32
Maps = dict[str, np.ndarray]
_GRAPH_NAMES = {"mean": "mean", "alpha": "alpha", "beta": "beta", "aleatoric": "sigma"}


class RuntimePredictor:
    """Runs checkpoint ``model_path``'s exported graph (default: beside it) with ONNX Runtime.

    ``device``: a ``--device`` name (:func:`~dfviewer.core.runtime_session.choose_providers`);
    ``threads``: CPU compute threads (None: the thread policy's free cores). Attributes: ``config``,
    ``metadata`` (the checkpoint's), ``domain`` (its domain check or None), ``device`` ("cpu" or
    "cuda"), ``device_note`` (a sentence when the device differs from the one asked for, else None).
    """

    def __init__(self, model_path: str | Path, graph_path: str | Path | None = None, threads: int | None = None,
                 device: str = "auto", weights_sha256: str | None = None) -> None:
        """``weights_sha256``: the weights' digest where the caller has computed it (hashing a large model takes seconds)."""
        model_path = Path(model_path)
        graph_path = Path(graph_path) if graph_path is not None else default_graph_path(model_path)
        if not graph_path.is_file():
            raise GraphError(f"model {model_path.name} has no inference graph {graph_path.name}; "
                             f"write it with `dfviewer export {model_path}`.")
        opened = open_session(graph_path, device, threads)
        self.session = opened.session
        self.device = opened.device
        self.device_note = opened.note
        self.threads = opened.threads
        resampling.set_threads(self.threads if self.device == "cpu" else None)  # the maps' resampling too
        # MC samples per graph run. CPU: one per thread, paired on 2 cores (docs/speed.md, ONNX Runtime):
        # 1 thread was fastest with 1 row a run (20 rows: 20-28% slower, as activations outgrow the
        # caches), 2 threads with 2 rows (1 row: 14% slower, too little work to split). GPU (None):
        # from the image's size, gpu_rows_per_run.
        self.rows_per_run: int | None = self.threads if self.device == "cpu" else None
        meta = dict(self.session.get_modelmeta().custom_metadata_map)
        if meta.get(KEY_DIGEST) != (weights_sha256 or weights_digest(model_path)):
            raise GraphError(f"graph {graph_path.name} was exported from other weights than model {model_path.name}; "
                             f"export it again with `dfviewer export {model_path}`.")
        self.config = model_config_from_dict(json.loads(meta[KEY_CONFIG]))
        self.layers: list[dict[str, Any]] = json.loads(meta[KEY_DROPOUT])
        self.metadata = checkpoint_metadata(model_path)
        #: the "is this a frontal chest radiograph" check, when the checkpoint carries one
        self.domain = DomainModel.from_dict(self.metadata["domain_check"]) if "domain_check" in self.metadata else None

    # -- the input checks --

    def input_warning(self, image: np.ndarray) -> str | None:
        """A sentence when ``image`` is not what this model was trained on, else None (:mod:`~dfviewer.core.input_checks`)."""
        return input_checks.input_warning(image, self.config, self.domain)

    def domain_score(self, image: np.ndarray) -> float | None:
        """The domain check's score of ``image`` (above ``self.domain.threshold``: flagged); None without a check."""
        return input_checks.domain_score(image, self.config, self.domain)

    # -- predictions --

    def predict(self, image: np.ndarray, mc_samples: int = DEFAULT_MC_SAMPLES, working_size: int | None = None,
                progress: Callable[[int, int], None] | None = None, cancel: threading.Event | None = None,
                stages: Sequence[int] | None = None, seed: int | None = None,
                network_units: bool = False) -> list[StageResult]:
        """The final result: one :class:`StageResult` per requested stage (1-based numbers).

        ``mc_samples=0``: the deterministic pass only (epistemic zero). ``progress(done, total)``
        after every graph run; a set ``cancel`` raises :class:`PredictionCancelled` within one run;
        a fixed ``seed`` gives the torch predictor's samples; ``network_units``: the maps as the
        network gives them (the target normalisation not undone). Unlike the stream it runs no
        preview pass when there are samples: nobody sees it.
        """
        last: Prediction | None = None
        updates = self._updates(image, mc_samples, working_size, cancel, stages, seed, network_units,
                                preview=_sample_count(mc_samples) == 0)
        for update in updates:
            last = update
            if progress is not None and not update.preview:
                progress(update.samples_done, update.samples_total)
        assert last is not None
        return last.stages

    def predict_stream(self, image: np.ndarray, mc_samples: int = DEFAULT_MC_SAMPLES,
                       working_size: int | None = None, cancel: threading.Event | None = None,
                       stages: Sequence[int] | None = None, seed: int | None = None,
                       network_units: bool = False) -> Iterator[Prediction]:
        """Yield the deterministic preview, then a running MC estimate after every graph run, the last complete."""
        return self._updates(image, mc_samples, working_size, cancel, stages, seed, network_units, preview=True)

    def _updates(self, image: np.ndarray, mc_samples: int, working_size: int | None, cancel: threading.Event | None,
                 stages: Sequence[int] | None, seed: int | None, network_units: bool,
                 preview: bool) -> Iterator[Prediction]:
        samples = _sample_count(mc_samples)
        wanted = check_stages(stages, self.config.n_stages)
        prepared = prepare_image(image, self.config, working_size)
        _raise_if_cancelled(cancel)
        x = _network_input(prepared)
        if preview:
            maps = self._deterministic(x, prepared.work, max(wanted))
            yield Prediction(self._builder(maps, prepared, wanted, 0, network_units), 0, samples, True)
        for done, maps in self._mc_runs(x, prepared.work, samples, _seed_or_random(seed), max(wanted), cancel):
            yield Prediction(self._builder(maps, prepared, wanted, done, network_units), done, samples, False)

    def predict_batch(self, images: Sequence[np.ndarray | PreparedImage], mc_samples: int = DEFAULT_MC_SAMPLES,
                      seeds: Sequence[int] | None = None, stages: Sequence[int] | None = None,
                      working_size: int | None = None, network_units: bool = False,
                      out_shapes: Sequence[tuple[int, int] | None] | None = None) -> list[list[StageResult] | UserError]:
        """:meth:`predict` for several images: per image, its stage results or its :class:`UserError`.

        Image ``i`` draws its samples from ``seeds[i]`` exactly as ``predict(image, seed=seeds[i])``
        does; ``images`` may be arrays or :func:`prepare_image` results; ``out_shapes[i]`` resamples
        image ``i``'s maps to that shape instead of its input's. The graph takes one image a run (its
        rows are that image's samples), so the images run one after another.
        """
        samples = _sample_count(mc_samples)
        wanted = check_stages(stages, self.config.n_stages)
        if seeds is not None and len(seeds) != len(images):
            raise ValueError(f"{len(seeds)} seeds for {len(images)} images")
        results: list[list[StageResult] | UserError] = []
        for i, image in enumerate(images):
            try:
                item = image if isinstance(image, PreparedImage) else prepare_image(image, self.config, working_size)
            except UserError as exc:
                results.append(exc)
                continue
            maps = self._final_maps(_network_input(item), item.work, samples,
                                    _seed_or_random(None if seeds is None else seeds[i]), max(wanted))
            shape = out_shapes[i] if out_shapes is not None and out_shapes[i] is not None else item.shape
            target = PreparedImage(item.x, (int(shape[0]), int(shape[1])), item.work)  # type: ignore[index]
            try:
                results.append(self._builder(maps, target, wanted, samples, network_units)())
            except NonFiniteOutputError as exc:
                results.append(exc)
        return results

    # -- internals --

    def _run(self, x: np.ndarray, masks: list[np.ndarray], n_run: int) -> dict[int, dict[str, np.ndarray]]:
        """One graph run: per stage up to ``n_run``, the maps of every row (N, 1, H, W)."""
        names = [f"{name}_{m}" for m in range(1, n_run + 1) for name in _GRAPH_NAMES.values()]
        feeds = {"x": x, **{f"mask_{i}": mask for i, mask in enumerate(masks)}}
        values = dict(zip(names, self.session.run(names, feeds)))
        return {m: {key: values[f"{name}_{m}"] for key, name in _GRAPH_NAMES.items()} for m in range(1, n_run + 1)}

    def _deterministic(self, x: np.ndarray, work: tuple[int, int], n_run: int) -> dict[int, Maps]:
        """The deterministic pass (all-ones masks): per stage, its maps at the working shape."""
        h, w = work
        out = self._run(x, ones_masks(self.layers, *x.shape[-2:]), n_run)
        return {m: {**{k: np.ascontiguousarray(v[0, 0, :h, :w]) for k, v in maps.items()},
                    "epistemic": np.zeros((h, w), np.float32)} for m, maps in out.items()}

    def _final_maps(self, x: np.ndarray, work: tuple[int, int], samples: int, seed: int,
                    n_run: int) -> dict[int, Maps]:
        """The deterministic maps (``samples`` 0) or the estimate of all ``samples``."""
        maps = self._deterministic(x, work, n_run) if samples == 0 else {}
        for _, estimate in self._mc_runs(x, work, samples, seed, n_run, None):
            maps = estimate
        return maps

    def _mc_runs(self, x: np.ndarray, work: tuple[int, int], samples: int, seed: int, n_run: int,
                 cancel: threading.Event | None) -> Iterator[tuple[int, dict[int, Maps]]]:
        """After every graph run of up to :attr:`rows_per_run` samples: (samples done, the running estimate)."""
        h, w = work
        height, width = x.shape[-2:]
        stats = {m: RunningMapStats() for m in range(1, n_run + 1)}
        per_run = self.rows_per_run or gpu_rows_per_run(height, width, self.config.base_width)
        done = 0
        while done < samples:
            _raise_if_cancelled(cancel)
            rows = [sample_masks(seed, s, self.layers, self.config.dropout, height, width)
                    for s in range(done, min(samples, done + per_run))]
            out = self._run(x, [np.stack(layer) for layer in zip(*rows)], n_run)
            for m, maps in out.items():
                crop = {k: np.ascontiguousarray(v[..., :h, :w]) for k, v in maps.items()}
                stats[m].add(crop["mean"], crop["alpha"], crop["beta"], crop["aleatoric"])
            done += len(rows)
            yield done, {m: {k: _plane(v) for k, v in acc.snapshot().items()} for m, acc in stats.items()}

    def _builder(self, maps: dict[int, Maps], prepared: PreparedImage, wanted: list[int], samples: int,
                 network_units: bool) -> Callable[[], list[StageResult]]:
        norm = None if network_units else self.config.normalization

        def build() -> list[StageResult]:
            results = [StageResult.from_working(m, samples, maps[m], prepared.shape, norm, resample_map)
                       for m in wanted]
            check_finite(results)
            return results

        return build


def _sample_count(mc_samples: Any) -> int:
    if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)) or mc_samples < 0:
        raise UserError(f"the number of MC samples must be a whole number >= 0, not {mc_samples!r}")
    return int(mc_samples)


def _seed_or_random(seed: int | None) -> int:
    """The image's dropout seed; None: a fresh random one (as the torch predictor's unseeded masks)."""
    return secrets.randbits(62) if seed is None else int(seed)


def _network_input(prepared: PreparedImage) -> np.ndarray:
    return np.ascontiguousarray(np.asarray(prepared.x, dtype=np.float32))


def _plane(value: Any) -> np.ndarray:
    """A (1, 1, h, w) running estimate as a 2-D float32 array."""
    array = np.asarray(value, dtype=np.float32)
    return array.reshape(array.shape[-2:])


def _raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise PredictionCancelled("prediction cancelled")


__all__ = ["GraphError", "PredictionCancelled", "RuntimePredictor", "graph_metadata"]
