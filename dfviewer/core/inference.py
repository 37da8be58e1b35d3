"""Inference: dark-field mean plus aleatoric and epistemic uncertainty maps for one radiograph.

:class:`Predictor` wraps a trained :class:`~dfviewer.core.network.Cascade`. It takes a 2-D
numpy image of any size, normalises it as the checkpoint says, resamples it so the longer side
equals the working size, pads it to the network's multiple, runs a deterministic pass and then
Monte Carlo dropout samples (docs/method.md §4). Its results keep the maps at the working size
and give them at the input's shape and in the target's units when asked for
(:mod:`dfviewer.core.results`); the input side lives in :mod:`dfviewer.core.prepare`.

:meth:`Predictor.predict_stream` yields a quick deterministic preview first and then running
estimates as samples finish (for a viewer that updates live); :meth:`Predictor.predict` returns
the final result only.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch

from dfviewer.core import input_checks
from dfviewer.core.checkpoint import Checkpoint, load_checkpoint
from dfviewer.core.config import ModelConfig
from dfviewer.core.devices import DeviceError, select_device
from dfviewer.core.domain import DomainModel
from dfviewer.core.fold import fold_batchnorm as fold_batchnorm_layers
from dfviewer.core.geometry import resample_map
from dfviewer.core.mc_stats import RunningMapStats, deterministic_maps
from dfviewer.core.network import (
    Cascade,
    StageOutput,
    UNetStage,
    mc_dropout,
    seeded_dropout,
    stage_input,
)
from dfviewer.core.normalize import normalize_input
from dfviewer.core.prepare import InputImageError, PreparedImage, check_image, prepare_image
from dfviewer.core.results import (
    DEFAULT_MC_SAMPLES,
    MAP_NAMES,
    NonFiniteOutputError,
    Prediction,
    PredictionCancelled,
    StageResult,
    check_finite,
)
from dfviewer.core.stages import check_stages
from dfviewer.errors import UserError

# --- the predictor --------------------------------------------------------------------


#: activations one forward pass may hold on a CPU (the largest map of all its rows); more rows
#: per pass than fit here only spill the caches (measured: no gain per sample on 2 cores)
CPU_PASS_BYTES = 16 * 1024**2


class Predictor:
    """Runs a :class:`Cascade` on radiographs: deterministic preview plus MC-dropout estimates.

    ``Predictor(model, config, metadata, device)`` runs ``model`` on ``device`` (``auto``:
    CUDA, then MPS, then CPU) in eval mode and, on a CPU, in channels-last memory (about 1.5x
    faster convolutions). With ``fold_batchnorm`` (the default) it works on a copy whose
    BatchNorm layers are merged into the convolutions (same outputs to float rounding, fewer
    passes over memory); the caller's model is left as it was. Use :meth:`from_checkpoint` to
    load a saved model.
    """

    def __init__(
        self,
        model: Cascade,
        config: ModelConfig | None = None,
        metadata: dict[str, Any] | None = None,
        device: str | torch.device = "auto",
        fold_batchnorm: bool = True,
    ) -> None:
        self.device = select_device(device)
        self.config = config if config is not None else model.cfg
        self.metadata = dict(metadata or {})
        #: the "is this a frontal chest radiograph" check, when the checkpoint carries one
        self.domain = DomainModel.from_dict(self.metadata["domain_check"]) if "domain_check" in self.metadata else None
        self.channels_last = self.device.type == "cpu"
        if fold_batchnorm:
            model = copy.deepcopy(model)
            fold_batchnorm_layers(model)
        self.model = model.to(self.device).eval()
        if self.channels_last:
            # torch's stubs omit Module.to(memory_format=...), which it accepts (torch._C._nn._parse_to)
            self.model = self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        self.amp_dtype: torch.dtype | None = None
        if self.device.type == "cuda":
            # fp16 keeps 3 more mantissa bits than bf16; BatchNorm keeps activations in range
            self.amp_dtype = torch.float16
        #: MC samples per batch; None picks one from the device and the image size.
        self.chunk_size: int | None = None
        self._pass_bytes: int | None = None

    @classmethod
    def from_checkpoint(cls, path: str | Path | Checkpoint, device: str | torch.device = "auto") -> Predictor:
        """Load a safetensors checkpoint (file, folder or a loaded :class:`Checkpoint`)."""
        ckpt = path if isinstance(path, Checkpoint) else load_checkpoint(path)
        target = select_device(device)
        model = ckpt.build_model(target).eval()
        fold_batchnorm_layers(model)  # our own fresh model: fold in place, no copy
        return cls(model, ckpt.config, ckpt.metadata, target, fold_batchnorm=False)

    # -- public API --

    def input_warning(self, image: np.ndarray) -> str | None:
        """A sentence when ``image`` is not what this model was trained on, else None (:mod:`~dfviewer.core.input_checks`)."""
        return input_checks.input_warning(image, self.config, self.domain)

    def domain_score(self, image: np.ndarray) -> float | None:
        """The domain check's score of ``image`` (above ``self.domain.threshold``: flagged); None without a check."""
        return input_checks.domain_score(image, self.config, self.domain)

    def predict(
        self,
        image: np.ndarray,
        mc_samples: int = DEFAULT_MC_SAMPLES,
        working_size: int | None = None,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
        stages: Sequence[int] | None = None,
        seed: int | None = None,
        network_units: bool = False,
    ) -> list[StageResult]:
        """The final result: one :class:`StageResult` per requested stage (1-based numbers).

        ``mc_samples=0`` runs the deterministic pass only (epistemic zero). ``progress(done,
        total)`` is called as samples finish; a set ``cancel`` event raises
        :class:`PredictionCancelled` within one sample's time; a fixed ``seed`` reproduces
        the dropout masks (on the same device). ``network_units``: the maps as the network
        gives them (the target normalisation not undone), as evaluation scores them.
        """
        last: Prediction | None = None
        for update in self.predict_stream(image, mc_samples, working_size, cancel, stages, seed, network_units):
            last = update
            if progress is not None and not update.preview:
                progress(update.samples_done, update.samples_total)
        assert last is not None
        return last.stages

    def predict_stream(
        self,
        image: np.ndarray,
        mc_samples: int = DEFAULT_MC_SAMPLES,
        working_size: int | None = None,
        cancel: threading.Event | None = None,
        stages: Sequence[int] | None = None,
        seed: int | None = None,
        network_units: bool = False,
    ) -> Iterator[Prediction]:
        """Yield the deterministic preview, then running MC estimates, the last one complete.

        Each MC update summarises all samples so far (running mean and Welford variance).
        Only the dropout layers sample; normalisation layers keep their statistics. Stage 1's
        encoder runs once per image and is shared by the preview and every sample.
        """
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)) or mc_samples < 0:
            raise UserError(f"the number of MC samples must be a whole number >= 0, not {mc_samples!r}")
        mc_samples = int(mc_samples)
        wanted = check_stages(stages, self.config.n_stages)
        n_run = max(wanted)
        prepared = prepare_image(image, self.config, working_size)
        x = self._on_device(prepared.x)
        _raise_if_cancelled(cancel)

        with self._compute():
            feats = cast(UNetStage, self.model.stages[0]).encode(x)
            outputs = self._decode(x, feats, n_run, cancel)
            preview = {
                m: deterministic_maps(*_numpy_maps(self._crop(out, prepared))) for m, out in enumerate(outputs, start=1)
            }
        yield Prediction(self._builder(preview, prepared, wanted, 0, network_units), 0, mc_samples, True)
        if mc_samples == 0:
            return

        accumulators = {m: RunningMapStats() for m in range(1, n_run + 1)}
        chunk = self._chunk_size(prepared, mc_samples)
        done = 0
        while done < mc_samples:
            _raise_if_cancelled(cancel)
            size = min(chunk, mc_samples - done)
            rows = None if seed is None else [(seed, done + i) for i in range(size)]
            with self._compute(dropout=True, rows=rows):
                batch_feats = [self._expand(f, size) for f in feats]
                batch_x = self._expand(x, size)
                outputs = self._decode(batch_x, batch_feats, n_run, cancel)
                for m, out in enumerate(outputs, start=1):
                    accumulators[m].add(*_numpy_maps(self._crop(out, prepared)))
                done += size
                snapshot = {m: acc.snapshot() for m, acc in accumulators.items()}
            yield Prediction(self._builder(snapshot, prepared, wanted, done, network_units), done, mc_samples, False)

    def predict_batch(
        self,
        images: Sequence[np.ndarray | PreparedImage],
        mc_samples: int = DEFAULT_MC_SAMPLES,
        seeds: Sequence[int] | None = None,
        stages: Sequence[int] | None = None,
        working_size: int | None = None,
        network_units: bool = False,
        out_shapes: Sequence[tuple[int, int] | None] | None = None,
    ) -> list[list[StageResult] | UserError]:
        """:meth:`predict` for several images at once: per image, its stage results or its error.

        Images of one padded working shape share forward passes: stage 1's encoder runs once on
        all of them, then every pass decodes up to :attr:`pass_bytes` worth of rows, a row being
        one MC sample of one image. With ``seeds``, image ``i``'s samples draw their dropout masks
        from ``seeds[i]`` exactly as ``predict(image, seed=seeds[i])`` does, whatever else shares
        the pass. ``images`` may be arrays or :func:`prepare_image` results (from a worker
        process); ``out_shapes[i]`` resamples image ``i``'s maps to that shape instead of its
        input's. An image that fails (unusable array, NaN maps) gets its :class:`UserError` in
        its place and the others go on.
        """
        if isinstance(mc_samples, bool) or not isinstance(mc_samples, (int, np.integer)) or mc_samples < 0:
            raise UserError(f"the number of MC samples must be a whole number >= 0, not {mc_samples!r}")
        mc_samples = int(mc_samples)
        wanted = check_stages(stages, self.config.n_stages)
        n_run = max(wanted)
        if seeds is not None and len(seeds) != len(images):
            raise ValueError(f"{len(seeds)} seeds for {len(images)} images")
        results: list[list[StageResult] | UserError | None] = [None] * len(images)
        prepared: dict[int, PreparedImage] = {}
        for i, image in enumerate(images):
            try:
                prepared[i] = image if isinstance(image, PreparedImage) else prepare_image(image, self.config, working_size)
            except UserError as exc:
                results[i] = exc
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, item in prepared.items():
            groups.setdefault(tuple(item.x.shape), []).append(i)
        for members in groups.values():
            maps = self._batch_maps([prepared[i] for i in members], mc_samples,
                                    None if seeds is None else [int(seeds[i]) for i in members], n_run)
            for i, image_maps in zip(members, maps):
                item = prepared[i]
                shape = out_shapes[i] if out_shapes is not None and out_shapes[i] is not None else item.shape
                target = PreparedImage(item.x, tuple(shape), item.work)  # type: ignore[arg-type]
                try:
                    results[i] = self._builder(image_maps, target, wanted, mc_samples, network_units)()
                except NonFiniteOutputError as exc:
                    results[i] = exc
        return [r if r is not None else UserError("the image was not processed") for r in results]

    @property
    def pass_bytes(self) -> int:
        """The activation budget of one forward pass (:data:`CPU_PASS_BYTES` on a CPU)."""
        return self._pass_bytes if self._pass_bytes is not None else self._device_budget()

    @pass_bytes.setter
    def pass_bytes(self, value: int | None) -> None:
        self._pass_bytes = None if value is None else max(1, int(value))

    def rows_per_pass(self, x_shape: Sequence[int]) -> int:
        """How many rows (MC samples of images) one forward pass holds for inputs of ``x_shape``."""
        if self.chunk_size is not None:
            return max(1, int(self.chunk_size))
        per_row = int(x_shape[-2]) * int(x_shape[-1]) * self.config.base_width * 4
        return max(1, self.pass_bytes // max(per_row, 1))

    def _device_budget(self) -> int:
        if self.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(self.device)
            return max(256 * 1024**2, free // 24)  # the decoder holds ~12 such maps, twice
        if self.device.type == "mps":
            return 128 * 1024**2
        return CPU_PASS_BYTES

    def _batch_maps(
        self, items: list[PreparedImage], mc_samples: int, seeds: list[int] | None, n_run: int
    ) -> list[dict[int, dict[str, np.ndarray]]]:
        """Per image, per stage: the maps (cropped to the working shape, network units)."""
        with self._compute():
            x = self._on_device(torch.cat([torch.as_tensor(item.x) for item in items]))
            feats = cast(UNetStage, self.model.stages[0]).encode(x)
            if mc_samples == 0:
                outputs = self._decode(x, feats, n_run, None)
                return [{m: deterministic_maps(*_numpy_maps(self._crop(out, item, j))) for m, out in enumerate(outputs, start=1)}
                        for j, item in enumerate(items)]
        accumulators = [{m: RunningMapStats() for m in range(1, n_run + 1)} for _ in items]
        rows = [(j, s) for j in range(len(items)) for s in range(mc_samples)]
        per_pass = self.rows_per_pass(x.shape)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        for start in range(0, len(rows), per_pass):
            chunk = rows[start:start + per_pass]
            with self._compute(dropout=True, rows=None if seeds is None else [(seeds[j], s) for j, s in chunk]):
                index = torch.tensor([j for j, _ in chunk], device=x.device)
                batch_x = x.index_select(0, index).contiguous(memory_format=fmt)
                batch_feats = [f.index_select(0, index).contiguous(memory_format=fmt) for f in feats]
                outputs = self._decode(batch_x, batch_feats, n_run, None)
                for m, out in enumerate(outputs, start=1):
                    begin = 0
                    for j, rows_of_image in itertools.groupby(chunk, key=lambda row: row[0]):
                        end = begin + sum(1 for _ in rows_of_image)
                        part = self._crop(StageOutput(out.mean[begin:end], out.alpha[begin:end], out.beta[begin:end]),
                                          items[j])
                        accumulators[j][m].add(*_numpy_maps(part))
                        begin = end
        return [{m: acc.snapshot() for m, acc in image_acc.items()} for image_acc in accumulators]

    # -- internals --

    def _on_device(self, array: np.ndarray | torch.Tensor) -> torch.Tensor:
        """A prepared ``x`` on the device (non-blocking from pinned memory), channels-last on a CPU."""
        with torch.inference_mode():
            x = torch.as_tensor(array)
            x = x.to(self.device, non_blocking=x.device.type == "cpu" and x.is_pinned())
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
        return x

    @contextlib.contextmanager
    def _compute(self, dropout: bool = False, rows: Sequence[tuple[int, int]] | None = None) -> Iterator[None]:
        """Inference mode, eval mode (dropout sampling if asked, per-row (seed, sample) masks if given), autocast."""
        with contextlib.ExitStack() as stack:
            stack.enter_context(torch.inference_mode())
            if dropout and rows is not None:
                stack.enter_context(seeded_dropout(self.model, rows))
            else:
                stack.enter_context(mc_dropout(self.model, enabled=dropout))
            if self.amp_dtype is not None:
                stack.enter_context(torch.autocast(device_type=self.device.type, dtype=self.amp_dtype))
            yield

    def _decode(
        self, x: torch.Tensor, feats: list[torch.Tensor], n_run: int, cancel: threading.Event | None
    ) -> list[StageOutput]:
        outputs: list[StageOutput] = []
        for m, stage in enumerate(self.model.stages[:n_run]):
            if m == 0:
                out = cast(UNetStage, stage).decode(feats)
            else:
                _raise_if_cancelled(cancel)
                prev = outputs[-1]
                out = stage(stage_input(self.config, x, prev), previous_mean=prev.mean)
            outputs.append(out)
        return outputs

    def _expand(self, t: torch.Tensor, size: int) -> torch.Tensor:
        if size == 1:
            return t
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        return t.expand(size, *t.shape[1:]).contiguous(memory_format=fmt)

    @staticmethod
    def _crop(out: StageOutput, prepared: PreparedImage, row: int | None = None) -> StageOutput:
        """The working-size part of ``out`` (of its row ``row`` only, when given)."""
        h, w = prepared.work
        rows = slice(None) if row is None else slice(row, row + 1)
        return StageOutput(out.mean[rows, :, :h, :w], out.alpha[rows, :, :h, :w], out.beta[rows, :, :h, :w])

    def _chunk_size(self, prepared: PreparedImage, mc_samples: int) -> int:
        if self.chunk_size is not None:
            return max(1, int(self.chunk_size))
        if self.device.type == "cpu":
            # Measured on a 2-core CPU: batching gains nothing per sample, and chunks of one
            # give the finest progress and the quickest cancel.
            return 1
        return max(1, min(mc_samples, 16, self.rows_per_pass(prepared.x.shape)))

    def _builder(
        self, maps: dict[int, dict[str, np.ndarray]], prepared: PreparedImage, wanted: list[int], samples: int,
        network_units: bool = False,
    ) -> Callable[[], list[StageResult]]:
        norm = self.config.normalization

        def build() -> list[StageResult]:
            # the maps stay at the working size; each is resampled to the output shape when asked
            # for (a 6000 x 6000 input's 18 full-size maps would take 2.6 GB at once)
            results = [StageResult.from_working(m, samples, {name: value[0, 0] for name, value in maps[m].items()},
                                                prepared.shape, None if network_units else norm, resample_map)
                       for m in wanted]
            check_finite(results)
            return results

        return build


def _numpy_maps(out: StageOutput) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, alpha, beta and sigma as float32 arrays on the CPU (what the numpy statistics take)."""
    return tuple(t.float().cpu().numpy() for t in (out.mean, out.alpha, out.beta, out.sigma))  # type: ignore[return-value]


def _raise_if_cancelled(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise PredictionCancelled("prediction cancelled")


__all__ = [
    "MAP_NAMES",
    "DeviceError",
    "InputImageError",
    "NonFiniteOutputError",
    "Prediction",
    "PredictionCancelled",
    "PreparedImage",
    "Predictor",
    "StageResult",
    "check_finite",
    "check_image",
    "prepare_image",
    "normalize_input",
    "select_device",
]
