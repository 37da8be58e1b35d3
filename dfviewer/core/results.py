"""What the predictor gives, torch-free: one stage's maps, their names, the MC sample count, the devices,
the stream's updates (:class:`Prediction`) and its cancellation (:class:`PredictionCancelled`).

The network works at the working size (256 px on the longer side for the bundled model); a
6000 x 6000 input's six maps of three stages at full resolution would take 2.6 GB. A
:class:`StageResult` made by the predictor holds the small working-size maps and resamples one map
at a time when it is asked for: :meth:`StageResult.full_map` gives a fresh array (for writers that
handle one map at a time), the attributes (``result.mean``) go through a process-wide cache bounded
to :data:`MAP_CACHE_BYTES`, so a viewer that looks at the same map again pays nothing, whatever the
image's size. The resampling is handed in by the predictor, so this module (and the viewer model
typed against it) needs neither torch nor Qt.
"""

from __future__ import annotations

import itertools
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Sequence

import numpy as np

from dfviewer.core.config import Normalization
from dfviewer.errors import UserError

#: ``resample(array, shape)``: a float32 2-D map resampled (bilinear) to ``shape``
Resampler = Callable[[np.ndarray, tuple[int, int]], np.ndarray]

#: Monte Carlo dropout samples of the viewer, ``predict``, ``generate`` and ``evaluate`` unless the user
#: gives another number (0: one deterministic pass, no epistemic map)
DEFAULT_MC_SAMPLES = 20

#: the compute devices the commands and the viewer accept (``cuda:N`` names one GPU)
DEVICE_NAMES = ("auto", "cpu", "cuda", "mps")
#: how the device names read in a help text or a message
DEVICE_HELP = "auto, cpu, cuda, cuda:N or mps"


def device_choices(cuda_count: int, mps: bool) -> list[str]:
    """The devices to offer on a machine with ``cuda_count`` GPUs and (``mps``) Apple's Metal backend."""
    return ["auto", "cpu"] + [f"cuda:{i}" for i in range(cuda_count)] + (["mps"] if mps else [])


def is_device_name(name: str) -> bool:
    """Whether ``name`` is one of :data:`DEVICE_NAMES` or ``cuda:N`` (any case), present here or not."""
    name = name.strip().lower()
    index = name.removeprefix("cuda:")
    return name in DEVICE_NAMES or (index != name and index.isdigit() and index.isascii())


MAP_NAMES = ("mean", "alpha", "beta", "aleatoric", "epistemic", "total")
#: the maps the network gives (``total`` is computed from the two sigmas)
NETWORK_MAPS = MAP_NAMES[:-1]
#: full-resolution maps the attribute cache keeps at most (all 18 maps of a 3-stage result of a
#: 2,500 x 3,000 film fit; of a 6,000 x 6,000 input, the last three looked at)
MAP_CACHE_BYTES = 512 * 1024**2


class NonFiniteOutputError(UserError):
    """The model produced NaN or infinite values: an error for that input, never a result."""


class _MapCache:
    """Least recently used full-resolution maps, at most ``limit`` bytes, shared by threads."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._items: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: tuple[int, str]) -> np.ndarray | None:
        with self._lock:
            array = self._items.get(key)
            if array is not None:
                self._items.move_to_end(key)
            return array

    def put(self, key: tuple[int, str], array: np.ndarray) -> None:
        if array.nbytes > self.limit:
            return
        with self._lock:
            old = self._items.pop(key, None)
            self._bytes -= 0 if old is None else old.nbytes
            self._items[key] = array
            self._bytes += array.nbytes
            while self._bytes > self.limit:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def forget(self, token: int) -> None:
        """Drop every map of one result (called when the result is garbage-collected)."""
        with self._lock:
            for key in [k for k in self._items if k[0] == token]:
                self._bytes -= self._items.pop(key).nbytes

    @property
    def nbytes(self) -> int:
        return self._bytes


_CACHE = _MapCache(MAP_CACHE_BYTES)
_TOKENS = itertools.count()


class StageResult:
    """One stage's maps, float32 arrays of the output shape, in the target's units.

    ``mean``: the generated dark-field; ``alpha``, ``beta``: the generalized-Gaussian scale
    and shape (averaged over samples); ``aleatoric``: the mean GGD standard deviation;
    ``epistemic``: the standard deviation of ``mean`` over MC samples (0 for a deterministic
    pass); ``total``: ``sqrt(aleatoric**2 + epistemic**2)``. ``samples``: how many MC samples
    the maps summarise (0: the deterministic pass).

    ``StageResult(stage, mean, alpha, beta, aleatoric, epistemic, total, samples)`` keeps the
    arrays given; :meth:`from_working` keeps working-size maps and resamples on demand.
    """

    def __init__(self, stage: int, mean: np.ndarray, alpha: np.ndarray, beta: np.ndarray, aleatoric: np.ndarray,
                 epistemic: np.ndarray, total: np.ndarray, samples: int) -> None:
        self.stage = int(stage)
        self.samples = int(samples)
        self._arrays: dict[str, np.ndarray] | None = dict(zip(MAP_NAMES, (mean, alpha, beta, aleatoric, epistemic,
                                                                          total)))
        self._work: dict[str, np.ndarray] = {}
        self._shape = tuple(np.shape(mean))
        self._norm: Normalization | None = None
        self._resample: Resampler | None = None
        self._token = -1

    @classmethod
    def from_working(cls, stage: int, samples: int, work: dict[str, np.ndarray], shape: Sequence[int],
                     norm: Normalization | None, resample: Resampler) -> StageResult:
        """A result from working-size maps in network units (:data:`NETWORK_MAPS`, float32 2-D).

        The maps are resampled with ``resample`` to ``shape`` and, unless ``norm`` is None (network
        units wanted), brought to the target's units, when asked for.
        """
        self = cls.__new__(cls)
        self.stage, self.samples = int(stage), int(samples)
        self._arrays = None
        self._work = {name: np.ascontiguousarray(work[name], dtype=np.float32) for name in NETWORK_MAPS}
        self._shape = (int(shape[0]), int(shape[1]))
        self._norm = norm
        self._resample = resample
        self._token = next(_TOKENS)
        weakref.finalize(self, _CACHE.forget, self._token)
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        """The maps' (rows, columns)."""
        return self._shape

    @property
    def normalization(self) -> Normalization | None:
        """The target normalisation the maps were brought back from (None: they are in network units
        or were given as they are); scores in network units undo it (``(mean - offset) / scale``)."""
        return self._norm

    def full_map(self, name: str) -> np.ndarray:
        """Map ``name`` at the output shape, computed afresh (nothing kept): for writing one map at a time."""
        if name not in MAP_NAMES:
            raise KeyError(name)
        if self._arrays is not None:
            return self._arrays[name]
        cached = _CACHE.get((self._token, name))
        return cached.copy() if cached is not None else self._compute(name)

    def map(self, name: str) -> np.ndarray:
        """Map ``name`` at the output shape through the bounded cache (read-only when resampled)."""
        if self._arrays is not None:
            return self._arrays[name]
        if name not in MAP_NAMES:
            raise KeyError(name)
        array = _CACHE.get((self._token, name))
        if array is None:
            array = self._compute(name)
            array.setflags(write=False)
            _CACHE.put((self._token, name), array)
        return array

    def maps(self) -> dict[str, np.ndarray]:
        """The six maps by name (the order of :data:`MAP_NAMES`)."""
        return {name: self.map(name) for name in MAP_NAMES}

    def working_maps(self) -> dict[str, np.ndarray]:
        """The maps at the working size in the target's units (``total`` included), for checks and summaries."""
        if self._arrays is not None:
            return dict(self._arrays)
        arrays = {name: self._units(name, self._work[name].copy()) for name in NETWORK_MAPS}
        arrays["total"] = _total(arrays["aleatoric"].copy(), arrays["epistemic"].copy())
        return arrays

    mean = property(lambda self: self.map("mean"), doc="the generated dark-field")
    alpha = property(lambda self: self.map("alpha"), doc="the GGD scale")
    beta = property(lambda self: self.map("beta"), doc="the GGD shape")
    aleatoric = property(lambda self: self.map("aleatoric"), doc="the mean GGD standard deviation")
    epistemic = property(lambda self: self.map("epistemic"), doc="the std of the mean over MC samples")
    total = property(lambda self: self.map("total"), doc="sqrt(aleatoric**2 + epistemic**2)")

    def __repr__(self) -> str:
        return f"StageResult(stage={self.stage}, shape={self._shape}, samples={self.samples})"

    def _compute(self, name: str) -> np.ndarray:
        if name == "total":  # as the full-resolution sigmas give it, not a resampled working-size total
            return _total(self._compute("aleatoric"), self._compute("epistemic"))
        work = self._work[name]
        assert self._resample is not None  # set by from_working, the only maker of working-size results
        array = self._resample(work, (self._shape[0], self._shape[1]))
        if np.shares_memory(array, work):  # already at the output shape
            array = array.copy()
        return self._units(name, array)

    def _units(self, name: str, array: np.ndarray) -> np.ndarray:
        """``array`` (owned, float32) brought to the target's units in place (denormalize_target/_spread)."""
        if self._norm is None or name == "beta":
            return array
        np.multiply(array, np.float32(self._norm.target_scale), out=array)
        if name == "mean":
            np.add(array, np.float32(self._norm.target_offset), out=array)
        return array


def _total(aleatoric: np.ndarray, epistemic: np.ndarray) -> np.ndarray:
    """``sqrt(aleatoric**2 + epistemic**2)`` in float32, in place in ``aleatoric`` (both are consumed)."""
    with np.errstate(over="ignore"):  # an overflow is inf, which check_finite refuses
        np.square(aleatoric, out=aleatoric)
        np.square(epistemic, out=epistemic)
        aleatoric += epistemic
    return np.sqrt(aleatoric, out=aleatoric)


class PredictionCancelled(Exception):
    """The caller's cancel event was set; the prediction stopped early (not a user error)."""


class Prediction:
    """One update of a predictor's ``predict_stream``.

    ``preview`` is True for the deterministic pass (dropout off, epistemic zero), which comes
    first. The estimate is complete when ``samples_done == samples_total``. ``stages`` (one
    :class:`StageResult` per requested stage) is built on first access, so a consumer that
    skips stale updates pays nothing for them.
    """

    def __init__(
        self,
        stages: list[StageResult] | Callable[[], list[StageResult]],
        samples_done: int,
        samples_total: int,
        preview: bool,
    ) -> None:
        self._stages = stages
        self.samples_done = samples_done
        self.samples_total = samples_total
        self.preview = preview

    @property
    def stages(self) -> list[StageResult]:
        if callable(self._stages):
            self._stages = self._stages()
        return self._stages

    @property
    def complete(self) -> bool:
        return self.samples_done >= self.samples_total

    def __repr__(self) -> str:
        return (
            f"Prediction(samples_done={self.samples_done}, samples_total={self.samples_total}, "
            f"preview={self.preview})"
        )


def check_finite(results: Sequence[StageResult]) -> None:
    """Raise :class:`NonFiniteOutputError` when any map of any stage holds NaN or infinity.

    A resampled result is checked at the working size: bilinear upsampling only averages
    neighbours, so finite working-size maps give finite full-resolution maps (the total is checked
    for its largest possible value, the sum of the sigmas' largest squares).
    """
    bad = []
    for r in results:
        arrays = r.working_maps()
        for name in MAP_NAMES:
            if not np.isfinite(arrays[name]).all():
                bad.append(f"stage {r.stage} {name}")
            elif name == "total" and r._arrays is None:
                largest = [np.float32(np.abs(arrays[k]).max()) for k in ("aleatoric", "epistemic")]
                with np.errstate(over="ignore"):
                    if not np.isfinite(largest[0] * largest[0] + largest[1] * largest[1]):
                        bad.append(f"stage {r.stage} total")
    if bad:
        shown = ", ".join(bad[:3]) + (f" and {len(bad) - 3} more" if len(bad) > 3 else "")
        raise NonFiniteOutputError(f"The model gave NaN or infinite values ({shown}); its weights or settings "
                                   "may be damaged, so no maps were produced for this image.")


__all__ = ["DEFAULT_MC_SAMPLES", "DEVICE_HELP", "DEVICE_NAMES", "MAP_CACHE_BYTES", "MAP_NAMES", "NETWORK_MAPS",
           "NonFiniteOutputError", "Prediction", "PredictionCancelled", "Resampler", "StageResult", "check_finite",
           "device_choices", "is_device_name"]
