"""What reading a synthesised file must give, and the comparison the fuzz worker makes.

``Expect(pixels=...)``: the reader must return these pixels (within ``tolerance``, absolute; a
lossy codec sets ``lossy`` and the mean error is held to the tolerance instead, the largest to ten
times it) and, when ``window`` is given, that default window. ``Expect(refuse=True)``: the file
must be refused with one sentence (decoder bombs, complex samples). ``Expect()``: either is fine,
only crashes, hangs and memory count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Expect:
    pixels: np.ndarray | None = None
    tolerance: float = 0.0
    lossy: bool = False
    window: tuple[float, float] | None = None
    refuse: bool = False
    what: str = ""

    def save(self, path: Path) -> Path:
        """Write next to the case as ``<path>.expect.npz``; returns that path."""
        target = path.with_name(path.name + ".expect.npz")
        meta = {"tolerance": self.tolerance, "lossy": self.lossy, "window": self.window, "refuse": self.refuse,
                "what": self.what}
        arrays = {"pixels": np.asarray(self.pixels, dtype=np.float64)} if self.pixels is not None else {}
        with open(target, "wb") as handle:
            np.savez(handle, meta=np.array(json.dumps(meta)), **arrays)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Expect:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            pixels = data["pixels"] if "pixels" in data else None
        window = tuple(meta["window"]) if meta["window"] is not None else None
        return cls(pixels=pixels, tolerance=meta["tolerance"], lossy=meta["lossy"], window=window,  # type: ignore[arg-type]
                   refuse=meta["refuse"], what=meta["what"])


def compare(expect: Expect, pixels: np.ndarray, window: tuple[float, float]) -> str:
    """'' when a read result is what was expected, else what differs (one line)."""
    if expect.refuse:
        return "read although it must be refused"
    if expect.pixels is None:
        return ""
    want = np.asarray(expect.pixels, dtype=np.float64)
    got = np.asarray(pixels, dtype=np.float64)
    if got.shape != want.shape:
        return f"shape {got.shape}, expected {want.shape}"
    finite = np.isfinite(want)
    if not np.array_equal(np.isfinite(got), finite):
        return "non-finite pixels differ from the expected image"
    if not finite.any():
        return ""
    scale = max(1.0, float(np.max(np.abs(want[finite]))))
    error = np.abs(got[finite] - want[finite])
    slack = 2e-6 * scale  # float32 rounding of the result
    if expect.lossy:
        if error.mean() > expect.tolerance + slack or error.max() > 10 * expect.tolerance + slack:
            return f"pixels differ: mean error {error.mean():.3g}, largest {error.max():.3g} (lossy tolerance {expect.tolerance:g})"
    elif error.max() > expect.tolerance + slack:
        at = np.unravel_index(int(np.argmax(np.where(finite, np.abs(got - want), -1))), want.shape)
        return f"pixels differ by up to {error.max():.6g} at {tuple(int(i) for i in at)} (tolerance {expect.tolerance:g})"
    if expect.window is not None:
        wc, ww = expect.window
        if abs(window[0] - wc) > 1e-3 + 2e-6 * scale or abs(window[1] - ww) > 1e-3 + 2e-6 * scale:
            return f"window {window}, expected {expect.window}"
    return ""
