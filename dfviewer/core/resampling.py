"""Bilinear resampling and bottom-right padding of 2-D float32 arrays, numpy only.

The values are those of torch's ``F.interpolate(mode="bilinear", align_corners=False)``, with
``antialias=True`` whenever either side shrinks (the training code's tensor resampling), to float
rounding: the same source positions and tap weights computed in float32 as torch computes them.
Each axis is a banded weight matrix applied in blocks of output rows or columns, so every block is
one small BLAS product on a slice of the input (no gathers, no temporaries the size of the output);
a large pass is shared with a few helper threads.
"""

from __future__ import annotations

import functools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from dfviewer.threads import allowed_cores

_F = np.float32
#: output lines per block when enlarging, and input lines per block when shrinking (measured: fastest)
_BLOCK_OUT = 32
_BLOCK_IN = 32
#: one BLAS product stays at most this many multiply-adds: OpenBLAS then runs it on the calling thread.
#: Measured on the shared 2-core machine: OpenBLAS's own threads (which spin while they wait) made a
#: 2048 x 2048 resampling up to 60x slower while other jobs ran; helper threads that sleep while idle
#: (below) share large passes instead.
_SINGLE_THREAD_MACS = 1 << 18
#: output values from which a pass is shared with the helper threads
_SHARED_FROM = 1 << 18
_helpers: tuple[int, int, ThreadPoolExecutor] | None = None
_helpers_lock = threading.Lock()
#: this process's thread budget for resampling (None: its allowed cores); see :func:`set_threads`
_budget: int | None = None


def set_threads(threads: int | None) -> None:
    """Resample with at most ``threads`` threads in this process (None: its allowed cores).

    The predictor passes the thread policy's count, and a reader process 1, so that resampling
    never takes cores the policy left to others.
    """
    global _budget
    _budget = None if threads is None else max(1, int(threads))


def axis_taps(n_in: int, n_out: int, antialias: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per output index along one axis: input indices (n_out, taps) and their float32 weights."""
    scale = _F(n_in) / _F(n_out)
    i = np.arange(n_out, dtype=_F) + _F(0.5)
    if not antialias:
        # torch computes scale * (i + 0.5) - 0.5 as one fused multiply-add, rounded once to float32
        src = np.maximum((np.float64(scale) * i.astype(np.float64) - 0.5).astype(_F), _F(0))
        i0 = src.astype(np.int64)
        lam = np.clip(src - i0.astype(_F), _F(0), _F(1))
        return np.stack([i0, np.minimum(i0 + 1, n_in - 1)], 1), np.stack([_F(1) - lam, lam], 1)
    # a triangle filter stretched by the scale when shrinking (its support grows with it)
    support = scale if scale >= 1 else _F(1)
    inv = _F(1) / scale if scale >= 1 else _F(1)
    center = scale * i
    first = np.maximum((center - support + _F(0.5)).astype(np.int64), 0)
    end = np.minimum((center + support + _F(0.5)).astype(np.int64), n_in)
    index = first[:, None] + np.arange(max(1, int((end - first).max())))[None]
    weight = np.maximum(_F(0), _F(1) - np.abs((index.astype(_F) - center[:, None] + _F(0.5)) * inv))
    weight[index >= end[:, None]] = 0
    total = weight.sum(axis=1, keepdims=True, dtype=_F)
    weight = weight / np.where(total > 0, total, _F(1))
    return np.minimum(index, n_in - 1), weight


@functools.lru_cache(maxsize=16)  # a viewer resamples every map of an image to the same shape
def _blocks(n_in: int, n_out: int, antialias: bool) -> tuple[tuple[slice, slice, np.ndarray], ...]:
    """(output slice, input slice, dense float32 weights of that block) covering one axis."""
    index, weight = axis_taps(n_in, n_out, antialias)
    scale = n_in / n_out
    per_block = _BLOCK_OUT if scale <= 1 else max(8, round(_BLOCK_IN / scale))
    blocks = []
    for start in range(0, n_out, per_block):
        rows = slice(start, min(n_out, start + per_block))
        idx, w = index[rows], weight[rows]
        low, high = int(idx.min()), int(idx.max()) + 1
        dense = np.zeros((idx.shape[0], high - low), _F)
        np.add.at(dense, (np.repeat(np.arange(idx.shape[0]), idx.shape[1]), (idx - low).ravel()), w.ravel())
        dense.flags.writeable = False  # shared through the cache
        blocks.append((rows, slice(low, high), dense))
    return tuple(blocks)


def _tasks(a: np.ndarray, out: np.ndarray, axis: int, antialias: bool) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(weights, input part, output part) products resampling ``a`` along ``axis`` into ``out``."""
    tasks = []
    other = a.shape[1 - axis]
    for lines, source, dense in _blocks(a.shape[axis], out.shape[axis], antialias):
        step = max(16, _SINGLE_THREAD_MACS // dense.size)
        for start in range(0, other, step):
            part = slice(start, min(other, start + step))
            if axis == 0:
                tasks.append((dense, a[source, part], out[lines, part]))
            else:  # columns: out[:, lines] = a[:, source] @ dense.T
                tasks.append((a[part, source], dense.T, out[part, lines]))
    return tasks


def _helper_pool() -> tuple[int, ThreadPoolExecutor] | None:
    """This process's helper threads: (how many, pool), one fewer than its budget and at most 3; None for one."""
    global _helpers
    extra = min(3, (_budget if _budget is not None else allowed_cores()) - 1)
    if extra < 1:
        return None
    with _helpers_lock:
        if _helpers is None or _helpers[0] != os.getpid() or _helpers[1] != extra:
            # a forked child has none of its parent's threads; a changed CPU affinity gets its own count
            _helpers = (os.getpid(), extra, ThreadPoolExecutor(extra, thread_name_prefix="dfviewer-resample"))
        return _helpers[1], _helpers[2]


def _multiply(tasks: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> None:
    for left, right, into in tasks:
        np.matmul(left, right, out=into)  # numpy lets go of the GIL inside


def _along(a: np.ndarray, axis: int, n_out: int, antialias: bool) -> np.ndarray:
    """``a`` resampled along ``axis`` to ``n_out`` lines (a large pass in contiguous shares, one per thread)."""
    out = np.empty((n_out, a.shape[1]) if axis == 0 else (a.shape[0], n_out), _F)
    tasks = _tasks(a, out, axis, antialias)
    helpers = _helper_pool() if out.size >= _SHARED_FROM else None
    if helpers is None:
        _multiply(tasks)
        return out
    extra, pool = helpers
    parts = extra + 1
    shares = [tasks[len(tasks) * i // parts : len(tasks) * (i + 1) // parts] for i in range(parts)]
    pending = [pool.submit(_multiply, share) for share in shares[1:]]
    _multiply(shares[0])
    for future in pending:
        future.result()
    return out


def resample_array(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 2-D array bilinearly resampled to ``size`` (float32; antialiased when either side shrinks).

    Returns ``array`` itself (as float32) when it already has that size.
    """
    a = np.asarray(array, dtype=_F)
    h, w = a.shape
    out_h, out_w = int(size[0]), int(size[1])
    if (h, w) == (out_h, out_w):
        return a
    antialias = out_h < h or out_w < w
    if out_h / h <= out_w / w:  # the axis that shrinks most (grows least) first: less work for the second
        return _along(_along(a, 0, out_h, antialias), 1, out_w, antialias)
    return _along(_along(a, 1, out_w, antialias), 0, out_h, antialias)


def pad_array(array: np.ndarray, pad_h: int, pad_w: int) -> np.ndarray:
    """Pad the last two axes by ``pad_h`` rows at the bottom and ``pad_w`` columns at the right.

    Reflected (the edge not repeated) where the pad is smaller than the side, else the edge replicated.
    """
    if pad_h == 0 and pad_w == 0:
        return array
    h, w = array.shape[-2:]
    widths = [(0, 0)] * (array.ndim - 2) + [(0, pad_h), (0, pad_w)]
    if pad_h < h and pad_w < w:
        return np.pad(array, widths, mode="reflect")
    return np.pad(array, widths, mode="edge")


__all__ = ["axis_taps", "pad_array", "resample_array"]
