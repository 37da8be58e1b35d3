"""Running Monte Carlo statistics of the network's maps (Welford), and the deterministic pass's maps (numpy only)."""

from __future__ import annotations

import numpy as np


class RunningMapStats:
    """Running mean / variance (Welford) of the mean map and running means of the rest (float32 arrays)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None
        self.alpha: np.ndarray | None = None
        self.beta: np.ndarray | None = None
        self.sigma: np.ndarray | None = None

    def add(self, mean: np.ndarray, alpha: np.ndarray, beta: np.ndarray, sigma: np.ndarray) -> None:
        """Add the samples of a chunk; each argument is (B, 1, h, w) float32."""
        for i in range(mean.shape[0]):
            self.n += 1
            x = np.asarray(mean[i : i + 1], dtype=np.float32)
            if self.mean is None:
                self.mean = x.copy()
                self.m2 = np.zeros_like(self.mean)
                self.alpha, self.beta, self.sigma = (np.array(a[i : i + 1], dtype=np.float32, order="C")
                                                     for a in (alpha, beta, sigma))
                continue
            assert self.m2 is not None  # set with self.mean
            delta = x - self.mean
            self.mean += delta / np.float32(self.n)
            self.m2 += delta * (x - self.mean)
            for name, value in (("alpha", alpha), ("beta", beta), ("sigma", sigma)):
                acc = getattr(self, name)
                acc += (value[i : i + 1] - acc) / np.float32(self.n)

    def snapshot(self) -> dict[str, np.ndarray]:
        """Copies of the current estimates; epistemic is the population std over samples."""
        assert self.mean is not None and self.m2 is not None
        assert self.alpha is not None and self.beta is not None and self.sigma is not None
        return {
            "mean": self.mean.copy(),
            "alpha": self.alpha.copy(),
            "beta": self.beta.copy(),
            "aleatoric": self.sigma.copy(),
            "epistemic": np.sqrt(np.maximum(self.m2 / np.float32(self.n), np.float32(0))),
        }


def deterministic_maps(mean: np.ndarray, alpha: np.ndarray, beta: np.ndarray, sigma: np.ndarray) -> dict[str, np.ndarray]:
    """The maps of the deterministic pass (float32 copies; epistemic zero)."""
    maps = {name: np.array(value, dtype=np.float32, order="C") for name, value in
            (("mean", mean), ("alpha", alpha), ("beta", beta), ("aleatoric", sigma))}
    maps["epistemic"] = np.zeros_like(maps["aleatoric"])
    return maps


__all__ = ["RunningMapStats", "deterministic_maps"]
