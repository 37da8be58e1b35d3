"""Is this a frontal chest radiograph? A check learned from the training inputs, kept in the checkpoint.

A model trained on chest radiographs gives confident-looking maps for anything: a CT slice, a
lateral view, a hand, an inverted image. The check describes each *normalised* input (what
the network sees) by a coarse picture of its layout, 4 x 4 block means, and of its local
contrast, 8 x 8 block standard deviations, and scores how far that description lies from the
training inputs' with a probabilistic PCA (Mahalanobis distance in the main components plus
the residual beyond them, per feature). The threshold is a high quantile of the scores of
validation inputs (posed, framed and rendered as clinical systems deliver them), so about that fraction of
in-distribution inputs is flagged; everything is stored as plain numbers in the checkpoint's
metadata (``domain_check``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from dfviewer.errors import UserError, first_line, sentence

#: feature layouts by name: (layout blocks, texture blocks) per side
LAYOUTS = {"blockmean8+blockstd8": (8, 8), "blockmean4+blockstd8": (4, 8)}
# Measured on rendered phantom views, RG1 (a real chest CR) cropped to 70-100 % of each side as other
# collimations deliver it, and pydicom's CT / MR / ultrasound / extremity files: a 4 x 4 layout with
# 8 x 8 texture, fitted on views cropped the same way, passed the crops and kept every other input
# 1.25x or more above the threshold; 8 x 8 layouts flagged most crops of RG1 (the phantom's field of
# view is narrower than real films'), and a 16 x 16 layout put RG1 above a chest CT slice.
FEATURES = "blockmean4+blockstd8"
_FINE = 64


def domain_features(normalized: np.ndarray, features: str = FEATURES) -> np.ndarray:
    """The layout and texture description of one normalised input image (``features`` names the layout)."""
    if features not in LAYOUTS:
        raise UserError(f"unknown domain-check features {features!r}")
    layout_blocks, texture_blocks = LAYOUTS[features]
    image = np.ascontiguousarray(normalized, dtype=np.float32)
    if not np.isfinite(image).all():  # copied only then: nan_to_num holds ~2 images more (36 MP: 300 MB)
        image = np.nan_to_num(image)
    if image.ndim != 2 or min(image.shape) < 2:
        raise UserError("the domain check needs a two-dimensional image")
    # in float64 from the first sums on (torch's float32 pooling differed by ~1e-7 in the layout and up
    # to ~1e-4 in the texture of near-flat blocks, where the variance cancels; far below any threshold)
    fine = _adaptive_mean(image, _FINE)
    layout = _block_means(fine, _FINE // layout_blocks)
    mean = _block_means(fine, _FINE // texture_blocks)
    texture = np.sqrt(np.maximum(_block_means(fine * fine, _FINE // texture_blocks) - mean * mean, 0.0))
    return np.concatenate([layout.ravel(), texture.ravel()])


def _windows(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """Adaptive pooling's windows along one axis: [floor(i n_in / n_out), ceil((i + 1) n_in / n_out))."""
    i = np.arange(n_out)
    return (i * n_in) // n_out, -((-(i + 1) * n_in) // n_out)


def _adaptive_mean(image: np.ndarray, size: int) -> np.ndarray:
    """Adaptive average pooling of a 2-D image to ``size`` x ``size`` (float64; windows overlap where sides don't divide)."""
    row_start, row_end = _windows(image.shape[0], size)
    col_start, col_end = _windows(image.shape[1], size)
    # one pass over the image: each band of rows summed (float64 accumulators one row wide), then the columns
    bands = np.stack([image[a:b].sum(axis=0, dtype=np.float64) for a, b in zip(row_start, row_end)])
    running = np.zeros((size, image.shape[1] + 1))
    np.cumsum(bands, axis=1, out=running[:, 1:])
    sums = running[:, col_end] - running[:, col_start]
    return sums / ((row_end - row_start)[:, None] * (col_end - col_start)[None])


def _block_means(a: np.ndarray, k: int) -> np.ndarray:
    """Means of the k x k blocks of a square array whose side ``k`` divides."""
    n = a.shape[0] // k
    return a.reshape(n, k, n, k).mean(axis=(1, 3))


@dataclass(frozen=True)
class DomainModel:
    """A probabilistic PCA of training features and the score threshold above which to flag."""

    mean: list[float]
    components: list[list[float]]
    variances: list[float]
    residual_variance: float
    threshold: float
    quantile: float
    features: str = FEATURES
    fitted_on: str = ""

    def score(self, features: np.ndarray) -> float:
        """Mean squared standardised distance per feature (about 1 for a typical training input).

        A score that overflows (NaN or infinite: extreme statistics or features) is infinite, so
        every comparison with the threshold flags the image: the check fails closed.
        """
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            f = np.asarray(features, dtype=np.float64) - np.asarray(self.mean)
            comps = np.asarray(self.components)
            z = comps @ f
            resid = f - comps.T @ z
            d = f.size
            total = float(np.sum(z * z / np.asarray(self.variances)) + resid @ resid / self.residual_variance) / d
        return total if math.isfinite(total) else math.inf

    def flagged(self, features: np.ndarray) -> bool:
        return not self.score(features) <= self.threshold  # NaN-proof: anything not provably within flags

    def score_image(self, normalized: np.ndarray) -> float:
        """The score of a normalised input image, described with this model's own features."""
        return self.score(domain_features(normalized, self.features))

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"] = [round(v, 6) for v in self.mean]
        data["components"] = [[round(v, 6) for v in row] for row in self.components]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> DomainModel:
        """Read the metadata form; a damaged one raises :class:`UserError`."""
        try:
            model = cls(**data)
            mean = np.asarray(model.mean, dtype=np.float64)
            comps = np.asarray(model.components, dtype=np.float64)
            var = np.asarray(model.variances, dtype=np.float64)
            residual = float(model.residual_variance)
            ok = (mean.ndim == 1 and comps.ndim == 2 and comps.shape[1] == mean.size
                  and var.shape == (comps.shape[0],) and np.all(np.isfinite(var)) and np.all(var > 0)
                  and math.isfinite(residual) and residual > 0
                  and math.isfinite(float(model.threshold)) and model.features in LAYOUTS
                  and mean.size == sum(n * n for n in LAYOUTS[model.features])
                  and np.all(np.isfinite(comps)) and np.all(np.isfinite(mean)))
        except (TypeError, ValueError) as exc:
            raise UserError(sentence(f"the checkpoint's domain check is damaged: {first_line(exc)}")) from None
        if not ok:
            raise UserError("The checkpoint's domain check is damaged (inconsistent sizes, or values that are not "
                            "finite).")
        return model


def fit_domain_model(
    train_features: np.ndarray,
    val_features: np.ndarray,
    quantile: float = 0.999,
    explained: float = 0.95,
    max_components: int = 40,
    fitted_on: str = "",
) -> DomainModel:
    """Fit the PCA on ``train_features`` (n images x their features); the threshold is ``quantile`` of the val scores."""
    train = np.asarray(train_features, dtype=np.float64)
    if train.ndim != 2 or train.shape[0] < 10:
        raise UserError("the domain check needs at least 10 training images")
    if len(val_features) < 10:
        raise UserError("the domain check needs at least 10 validation images")
    mean = train.mean(axis=0)
    _, s, vt = np.linalg.svd(train - mean, full_matrices=False)
    eig = s**2 / max(1, train.shape[0] - 1)
    share = np.cumsum(eig) / eig.sum()
    k = int(min(max_components, int(np.searchsorted(share, explained)) + 1, len(eig) - 1))
    rest = eig[k:]
    # the variance beyond the kept components, floored so an unseen direction is not infinitely unlikely
    residual = float(max(rest.sum() / max(1, train.shape[1] - k), 1e-3 * eig[0] / train.shape[1], 1e-12))
    provisional = DomainModel(mean.tolist(), vt[:k].tolist(), np.maximum(eig[:k], 1e-12).tolist(), residual,
                              math.inf, quantile, FEATURES, fitted_on)
    scores = np.array([provisional.score(f) for f in val_features])
    threshold = float(np.quantile(scores, quantile))
    return DomainModel(mean.tolist(), vt[:k].tolist(), np.maximum(eig[:k], 1e-12).tolist(), residual,
                       threshold, quantile, FEATURES, fitted_on)


def stack_features(images: Iterable[np.ndarray]) -> np.ndarray:
    """Features of several normalised images as an (n images, n features) array."""
    return np.stack([domain_features(im) for im in images])


def domain_sentence(score: float, threshold: float) -> str:
    """The one sentence a user reads when an input is flagged."""
    measured = (f"domain score {score:.3g} above its threshold {threshold:.3g}" if math.isfinite(score)
                else "its domain score overflows, so the check cannot vouch for it")
    return (f"this image does not look like a frontal chest radiograph to the model ({measured}; an inverted "
            f"image, a lateral view, another body part or modality), so its dark-field and uncertainty maps "
            f"may have no meaning")


def fit_on_dataset(
    data: str,
    norm: Any,
    working_size: int,
    augment: Any,
    renderings: int = 3,
    quantile: float = 0.999,
    max_train: int = 800,
    seed: int = 0,
) -> DomainModel:
    """Fit the check on a paired dataset's train split and set its threshold on the val split.

    Every image is seen ``renderings`` times under ``augment`` (a
    :class:`~dfviewer.core.data.Augment`: pose, field of view and clinical rendering), normalised
    with ``norm`` as the model normalises its inputs.
    """
    from dfviewer.core.data import PairedDataset
    from dfviewer.core.dataset_check import DatasetError, check_dataset

    if renderings < 1:
        raise UserError(f"the number of renderings per image must be at least 1, not {renderings}")
    report = check_dataset(data)
    report.raise_if_blocking()
    rng = np.random.default_rng(seed)
    train_pairs, val_pairs = report.split("train"), report.split("val")
    if len(train_pairs) > max_train:
        train_pairs = [train_pairs[i] for i in sorted(rng.choice(len(train_pairs), max_train, replace=False))]
    if len(train_pairs) < 10 or len(val_pairs) < 4:
        raise DatasetError(f"dataset {report.root} needs at least 10 train and 4 val pairs for the domain check")

    def features(pairs: list, ds_seed: int) -> np.ndarray:
        ds = PairedDataset(pairs, norm, working_size, augment, ds_seed)
        rows = []
        for epoch in range(renderings):
            ds.epoch = epoch
            for i in range(len(ds)):
                x, _, valid = ds[i]
                h, w = valid.tolist()
                rows.append(domain_features(x[0, :h, :w].numpy()))
        return np.stack(rows)

    described = (f"{report.root}: {len(train_pairs)} train and {len(val_pairs)} val images, "
                 f"{renderings} renderings each, seed {seed}")
    return fit_domain_model(features(train_pairs, seed), features(val_pairs, seed + 1), quantile,
                            fitted_on=described)
