"""Running Monte Carlo statistics of the network's maps (Welford), and the deterministic pass's maps."""

from __future__ import annotations

import torch

from dfviewer.core.network import StageOutput


class RunningMapStats:
    """Running mean / variance (Welford) of the mean map and running means of the rest."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: torch.Tensor | None = None
        self.m2: torch.Tensor | None = None
        self.alpha: torch.Tensor | None = None
        self.beta: torch.Tensor | None = None
        self.sigma: torch.Tensor | None = None

    def add(self, mean: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, sigma: torch.Tensor) -> None:
        """Add the samples of a chunk; each argument is (B, 1, h, w) float32."""
        for i in range(mean.shape[0]):
            self.n += 1
            x = mean[i : i + 1]
            if self.mean is None:
                self.mean = x.clone()
                self.m2 = torch.zeros_like(x)
                self.alpha, self.beta, self.sigma = alpha[i : i + 1].clone(), beta[i : i + 1].clone(), sigma[i : i + 1].clone()
                continue
            assert self.m2 is not None  # set with self.mean
            delta = x - self.mean
            self.mean += delta / self.n
            self.m2 += delta * (x - self.mean)
            for name, value in (("alpha", alpha), ("beta", beta), ("sigma", sigma)):
                acc = getattr(self, name)
                acc += (value[i : i + 1] - acc) / self.n

    def snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of the current estimates; epistemic is the population std over samples."""
        assert self.mean is not None and self.m2 is not None
        assert self.alpha is not None and self.beta is not None and self.sigma is not None
        return {
            "mean": self.mean.clone(),
            "alpha": self.alpha.clone(),
            "beta": self.beta.clone(),
            "aleatoric": self.sigma.clone(),
            "epistemic": (self.m2 / self.n).clamp_min(0).sqrt(),
        }



def row_of(out: StageOutput, j: int) -> StageOutput:
    return StageOutput(out.mean[j : j + 1], out.alpha[j : j + 1], out.beta[j : j + 1])


def deterministic_maps(out: StageOutput) -> dict[str, torch.Tensor]:
    sigma = out.sigma
    return {
        "mean": out.mean.float().clone(),
        "alpha": out.alpha.float().clone(),
        "beta": out.beta.float().clone(),
        "aleatoric": sigma,
        "epistemic": torch.zeros_like(sigma),
    }



__all__ = ["RunningMapStats", "deterministic_maps", "row_of"]
