"""Validation during training: per-stage scores on the val split and the small preview maps."""

from __future__ import annotations

import numpy as np
import torch

from dfviewer.core.config import TrainConfig
from dfviewer.core.data import Augment, PairedDataset
from dfviewer.core.geometry import resample, working_shape
from dfviewer.core.metrics import batch_image_metrics
from dfviewer.core.network import Cascade, mc_dropout
from dfviewer.core.training_phase import fork_seeded

PREVIEW_SIZE = 128


def downsample_preview(a: torch.Tensor, size: int = PREVIEW_SIZE) -> np.ndarray:
    """A 2-D map shrunk to at most ``size`` pixels on its long side, as float32 numpy."""
    t = a.detach().float().cpu()[None, None] if a.ndim == 2 else a.detach().float().cpu()
    shape = working_shape((t.shape[-2], t.shape[-1]), min(size, max(t.shape[-2:])))
    return resample(t, shape)[0, 0].numpy().astype(np.float32)


@torch.no_grad()
def validate(model: Cascade, val_ds: PairedDataset | None, train_ds: PairedDataset, upto: int,
             device: torch.device, tc: TrainConfig) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """Stages 1..upto+1 scored on ``val_ds`` (mean per stage), and preview maps of its first case.

    Without validation pairs the scores are empty and the preview shows the first training case,
    unaugmented. The preview's epistemic map uses ``tc.val_mc_samples`` MC dropout passes (zeros
    below 2).
    """
    model.eval()
    metrics: dict[int, dict[str, list[float]]] = {}
    val: dict[str, dict[str, float]] = {}
    preview: dict[str, np.ndarray] = {}
    ds = val_ds
    if ds is not None:
        for i in range(len(ds)):
            x, y, valid = ds[i]
            h, w = valid.tolist()
            outs = model(x[None].to(device), n_stages=upto + 1)
            for m, out in enumerate(outs):
                pred = out.mean.float()[..., :h, :w].clamp(0, 1)
                tgt = y[None].to(device)[..., :h, :w].clamp(0, 1)
                mm = batch_image_metrics(pred, tgt, 1.0)
                mm["l1"] = [float((out.mean.float()[..., :h, :w] - y[None].to(device)[..., :h, :w]).abs().mean())]
                acc = metrics.setdefault(m + 1, {})
                for k, v in mm.items():
                    acc.setdefault(k, []).extend(v)
        val = {str(m): {k: float(np.mean(v)) for k, v in d.items()} for m, d in metrics.items()}
    src = ds if ds is not None and len(ds) else train_ds
    saved_epoch = getattr(src, "epoch", 0)
    aug = src.augment
    src.augment = Augment()
    x, y, valid = src[0]
    src.augment = aug
    src.epoch = saved_epoch
    h, w = valid.tolist()
    xb = x[None].to(device)
    det = model(xb, n_stages=upto + 1)[-1]
    preview = {
        "input": downsample_preview(x[0, :h, :w]),
        "target": downsample_preview(y[0, :h, :w]),
        "mean": downsample_preview(det.mean[0, 0, :h, :w]),
        "aleatoric": downsample_preview(det.sigma[0, 0, :h, :w]),
    }
    t = tc.val_mc_samples
    if t >= 2:
        with fork_seeded(tc.seed + 99), mc_dropout(model):
            means = torch.cat([model(xb, n_stages=upto + 1)[-1].mean.float() for _ in range(t)])
        preview["epistemic"] = downsample_preview(means.std(0, unbiased=False)[0, :h, :w])
    else:
        preview["epistemic"] = np.zeros_like(preview["mean"])
    return val, preview


__all__ = ["PREVIEW_SIZE", "downsample_preview", "validate"]
