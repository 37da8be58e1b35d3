"""Fold eval-mode BatchNorm into the convolution before it, for inference.

In eval mode ``BatchNorm2d(conv(x))`` is an affine map per channel, so it can be merged into
the convolution's weights and bias: one pass over the activations instead of two. MC dropout
is unaffected (dropout sits before the convolutions, and BatchNorm never samples).
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def fold_batchnorm(model: nn.Module) -> int:
    """Merge every ``Conv2d`` directly followed by ``BatchNorm2d`` in a ``Sequential``, in place.

    The BatchNorm becomes ``nn.Identity``. Returns the number of layers folded. Only valid for
    inference: the folded model no longer tracks batch statistics.
    """
    folded = 0
    for seq in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
        for i in range(len(seq) - 1):
            conv, bn = seq[i], seq[i + 1]
            if not (isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d)):
                continue
            if bn.running_mean is None or bn.running_var is None:
                continue  # BatchNorm without running statistics normalises by the batch: not foldable
            scale = torch.rsqrt(bn.running_var.float() + bn.eps)
            if bn.affine:
                scale = scale * bn.weight.float()
            shift = -bn.running_mean.float() * scale
            if bn.affine:
                shift = shift + bn.bias.float()
            bias = conv.bias.float() if conv.bias is not None else torch.zeros_like(shift)
            conv.weight.copy_(conv.weight.float() * scale.view(-1, 1, 1, 1))
            conv.bias = nn.Parameter((bias * scale + shift).to(conv.weight.dtype), requires_grad=False)
            seq[i + 1] = nn.Identity()
            folded += 1
    return folded
