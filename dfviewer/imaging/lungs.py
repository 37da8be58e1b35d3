"""Lung masks and crop boxes from an attenuation radiograph (and a dark-field when there is one).

With a dark-field the lungs are its brightest large structures: smoothing, Otsu threshold,
opening, the two largest components (one each side of the middle) and their convex hulls.
Without one, a classical method on the attenuation image: the body is everything except the dark
region (darkest of three Otsu classes) connected to the image border (air outside the patient); inside it (less a thin rim), in
the rows where it is at least 0.6 of its widest (the thorax, not the neck), the lungs are the
low-attenuation class of an Otsu threshold, less the arms (dark strips along the body's sides);
opening, hole filling, the two largest components (one in each half of the body, none lying along
the body's side), a flank joined at a lung's base cut off, the apices grown up into the rows at
least 0.4 of the widest, and their convex hulls, which restore the lung behind the heart.
The analysis runs at most 256 pixels on the longer side and is scaled back. When two plausible lungs cannot be found the
result is the whole image with ``found=False``, never a wrong box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WORK_SIZE = 256  # the longer side the analysis runs at


@dataclass
class LungMaskResult:
    """``mask``: bool (H, W); ``found``: two lungs were found; ``method``: 'darkfield', 'attenuation' or 'none'."""

    mask: np.ndarray
    found: bool
    method: str


@dataclass(frozen=True)
class LungBox:
    """A crop box (rows ``row0:row1``, columns ``col0:col1``, end exclusive) and whether lungs were found."""

    row0: int
    row1: int
    col0: int
    col1: int
    found: bool
    method: str = "none"

    @property
    def box(self) -> tuple[int, int, int, int]:
        return self.row0, self.row1, self.col0, self.col1

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.row0, self.row1), slice(self.col0, self.col1)


def _normalise(image: np.ndarray) -> np.ndarray:
    data = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(data)
    if not finite.any():
        return np.zeros(data.shape, dtype=np.float32)
    lo, hi = np.percentile(data[finite], [1.0, 99.0])
    if not hi > lo:
        hi = lo + 1.0
    out = (np.where(finite, data, lo) - lo) / (hi - lo)
    return np.clip(out, -0.5, 1.5).astype(np.float32)


def _downsample(image: np.ndarray) -> tuple[np.ndarray, int]:
    factor = max(1, int(np.ceil(max(image.shape) / WORK_SIZE)))
    if factor == 1:
        return image, 1
    h, w = (s // factor * factor for s in image.shape)
    if h == 0 or w == 0:
        return image, 1
    small = image[:h, :w].reshape(h // factor, factor, w // factor, factor).mean(axis=(1, 3))
    return small, factor


def _upsample(mask: np.ndarray, factor: int, shape: tuple[int, int]) -> np.ndarray:
    if factor == 1:
        return mask
    big = np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)
    out = np.zeros(shape, dtype=bool)
    h, w = min(big.shape[0], shape[0]), min(big.shape[1], shape[1])
    out[:h, :w] = big[:h, :w]
    if h < shape[0]:
        out[h:, :w] = out[h - 1:h, :w]
    if w < shape[1]:
        out[:, w:] = out[:, w - 1:w]
    return out


def _otsu(values: np.ndarray) -> float:
    from skimage.filters import threshold_otsu

    values = values[np.isfinite(values)]
    if values.size < 2 or values.min() == values.max():
        return float(values.mean()) if values.size else 0.0
    return float(threshold_otsu(values))


def _border_components(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    labels, n = ndimage.label(mask)
    if n == 0:
        return np.zeros_like(mask)
    edge = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    edge = edge[edge > 0]
    return np.isin(labels, edge)


def _two_lungs(candidates: np.ndarray, region: np.ndarray, min_fraction: float = 0.015,
               edge: np.ndarray | None = None) -> np.ndarray | None:
    """The two largest components, one each side of the region's middle column; None if not plausible.

    When the lungs are joined (e.g. through the trachea) the candidates are eroded a few times
    and the two parts found are grown back inside the original candidates. With ``edge`` (a thin
    band inside the body's outline) a component beside it over most of its height is an arm or a
    flank, never a lung: it is left out, and an arm joined to a lung is cut off by eroding further.
    """
    from scipy import ndimage

    area_ref = max(int(region.sum()), 1)
    cols = np.nonzero(region.any(axis=0))[0]
    middle = (cols[0] + cols[-1]) / 2.0 if cols.size else candidates.shape[1] / 2.0
    work = candidates
    erosions = 5 if edge is None else max(5, round(0.05 * candidates.shape[1]))
    for eroded in range(erosions):
        labels, n = ndimage.label(work)
        if n >= 2:
            sizes = ndimage.sum(work, labels, index=np.arange(1, n + 1))
            outer = _along_edge(labels, n, edge, eroded) if edge is not None else np.zeros(n, bool)
            order = [i for i in np.argsort(sizes)[::-1] if not outer[i]]
            big = [int(i) + 1 for i in order[:2] if sizes[i] >= min_fraction * area_ref]
            if len(big) == 2:
                centres = [ndimage.center_of_mass(labels == lab)[1] for lab in big]
                if (centres[0] - middle) * (centres[1] - middle) < 0:
                    chosen = np.isin(labels, big)
                    if eroded:
                        grown = ndimage.binary_dilation(chosen, iterations=eroded) & candidates
                        arms = np.isin(labels, np.nonzero(outer)[0] + 1)
                        if arms.any():
                            grown &= ~ndimage.binary_dilation(arms, iterations=eroded + 1)
                        chosen = grown | chosen
                    return chosen
        work = ndimage.binary_erosion(work, iterations=1)
        if not work.any():
            break
    return None


def _cut_arms(candidates: np.ndarray, body: np.ndarray) -> np.ndarray:
    """``candidates`` without the arms beside the chest.

    An arm is a strip of dark columns at the body's side, dark in (nearly) every thorax row, while a
    lung column is dark only down to the diaphragm: the columns dark in at least 0.8 of the rows,
    from the body's side inwards, are dropped (measured on the phantom: arms 0.8-1.0, lungs at most 0.72).
    """
    rows = body.sum(axis=0)
    valid = rows >= 0.5 * rows.max()
    frac = np.where(valid, candidates.sum(axis=0) / np.maximum(rows, 1), 0.0)
    cols = np.nonzero(valid)[0]
    if cols.size < 10:
        return candidates
    out = candidates.copy()
    for side in (1, -1):
        order = cols if side == 1 else cols[::-1]
        strip = 0
        while strip < cols.size // 4 and frac[order[strip]] >= 0.8:
            strip += 1
        if strip < 2:
            continue
        if side == 1:
            out[:, :order[strip]] = False
        else:
            out[:, order[strip] + 1:] = False
    return out


def _shaped(lungs: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """Each lung without a tail below its widest row and with its apex.

    A tail is a flank joined at the base: the lung ends at the first row under 0.15 of the widest
    when more than 0.15 of its height lies below it (a shorter taper is the costophrenic angle:
    cutting that took RG1's bases). The apex can lie above the thorax rows (where the shoulders
    and arms set the width): the lung grows into the dark pixels of ``upper`` within its columns.
    """
    from scipy import ndimage

    labels, n = ndimage.label(lungs)
    out = np.zeros_like(lungs)
    for k in range(1, n + 1):
        part = labels == k
        width = part.sum(axis=1)
        rows = np.nonzero(width)[0]
        widest = int(np.argmax(width))
        narrow = np.nonzero(width[widest:] < 0.15 * width[widest])[0]
        if narrow.size:
            cut = widest + int(narrow[0])
            if rows[-1] - cut > 0.15 * (cut - rows[0]):
                part[cut:] = False
        cols = np.nonzero(part.any(axis=0))[0]
        room = np.zeros_like(part)
        room[:, cols[0]:cols[-1] + 1] = upper[:, cols[0]:cols[-1] + 1]
        out |= ndimage.binary_propagation(part, mask=part | room) if room.any() else part
    return out


def _along_edge(labels: np.ndarray, n: int, edge: np.ndarray, eroded: int) -> np.ndarray:
    """Per component: whether it lies beside ``edge`` in most of its rows (measured: arms and flanks
    0.98-1.0 of their rows, lungs at most 0.27 on the phantom and 0.02 on RG1)."""
    from scipy import ndimage

    near = ndimage.binary_dilation(edge, iterations=eroded) if eroded else edge
    out = np.zeros(n, dtype=bool)
    for k, found in enumerate(ndimage.find_objects(labels)):
        if found is None:
            continue
        part = labels[found] == k + 1
        rows = part.any(axis=1)
        touching = (part & near[found]).any(axis=1)
        out[k] = touching.sum() >= 0.8 * rows.sum()
    return out


def _clean(mask: np.ndarray, radius: int) -> np.ndarray:
    from scipy import ndimage

    structure = ndimage.generate_binary_structure(2, 1)
    if radius > 0:
        mask = ndimage.binary_opening(mask, structure=structure, iterations=radius)
    return ndimage.binary_fill_holes(mask)


def _from_darkfield(df: np.ndarray) -> np.ndarray | None:
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(df, 3.0)  # dark-field is noisy; the lungs are large
    candidates = _clean(smooth > _otsu(smooth.ravel()), max(1, round(min(df.shape) / 100)))
    lungs = _two_lungs(candidates, np.ones_like(candidates))
    return None if lungs is None else _hulls(lungs)


def _hulls(mask: np.ndarray) -> np.ndarray:
    """Each component replaced by its convex hull (recovers lung behind the heart and the bases)."""
    from scipy import ndimage
    from skimage.morphology import convex_hull_image

    labels, n = ndimage.label(mask)
    out = np.zeros_like(mask)
    for k in range(1, n + 1):
        out |= convex_hull_image(labels == k)
    return out


def _from_attenuation(att: np.ndarray) -> np.ndarray | None:
    """Lungs from attenuation; if none are found, again with air and lung apices told apart.

    On a tightly collimated film a lung apex can touch the air around the shoulders through a thin
    neck of dark pixels, so the whole lung counts as outside air; a few erosions cut that neck
    before the border-connected air is found (then it is grown back inside the dark pixels).
    """
    lungs = _lungs_from_attenuation(att, cut=0)
    if lungs is None:  # stricter: each lung at least 4 % of the thorax, so noise never passes for lungs
        lungs = _lungs_from_attenuation(att, cut=max(1, round(0.012 * max(att.shape))), min_fraction=0.04)
    if lungs is not None:
        from scipy import ndimage

        smooth = ndimage.gaussian_filter(att, 1.5)
        edge_dark = _border_components(smooth <= _air_threshold(smooth))
        if edge_dark.mean() >= 0.03:  # dark regions at the edges: air, or lungs cut by a tight collimation
            framed = _lungs_from_attenuation(att, cut=0, air=False)
            # kept only when it holds the first lungs and its lungs stand out clearly more from the
            # body (measured on RG1 framed tighter: 0.49 against 0.30; the whole film 0.31 against 0.33)
            # and it adds lung above or beside the first (the part taken for air), not below their bases:
            # with the arms beside the chest it took arms and flanks down to the film's bottom edge
            if framed is not None and (framed & lungs).sum() >= 0.9 * lungs.sum() \
                    and _bottom(framed) <= _bottom(lungs) + 0.05 * att.shape[0] \
                    and _contrast(smooth, framed, np.ones_like(framed)) >= _contrast(smooth, lungs, ~edge_dark) + 0.15:
                lungs = framed
    return lungs


def _bottom(mask: np.ndarray) -> int:
    return int(np.nonzero(mask.any(axis=1))[0][-1])


def _contrast(smooth: np.ndarray, mask: np.ndarray, body: np.ndarray) -> float:
    """How much darker ``mask`` is than the rest of ``body`` (medians of the smoothed image)."""
    rest = body & ~mask
    return float(np.median(smooth[rest]) - np.median(smooth[mask])) if rest.any() and mask.any() else 0.0


def _air_threshold(smooth: np.ndarray) -> float:
    """The darkest of three Otsu classes: air below it. Two classes would put the lungs with the air
    whenever the patient is wide (arms beside the chest) and the lungs reach the air through the
    dim chest wall; then the abdomen was taken for the lungs."""
    from skimage.filters import threshold_multiotsu

    try:
        return float(threshold_multiotsu(smooth, classes=3)[0])
    except ValueError:  # too few distinct values for three classes
        return _otsu(smooth.ravel())


def _lungs_from_attenuation(att: np.ndarray, cut: int, min_fraction: float = 0.015,
                            air: bool = True) -> np.ndarray | None:
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(att, 1.5)
    dark = smooth <= _air_threshold(smooth)
    if not air:  # the body fills the image: nothing dark is outside it
        outside = np.zeros_like(dark)
    elif cut:
        outside = ndimage.binary_dilation(_border_components(ndimage.binary_erosion(dark, iterations=cut)),
                                          iterations=cut) & dark
    else:
        outside = _border_components(dark)
    if outside.mean() < 0.03:  # no air around the patient: the body fills the image
        outside = np.zeros_like(outside)
    full_body = ndimage.binary_fill_holes(~outside)
    # drop a skin-deep rim (3 % of the width) so the dim body edge never joins a lung
    body = ndimage.binary_erosion(full_body, iterations=max(2, round(0.03 * att.shape[1])))
    if body.sum() < 0.1 * body.size:
        return None
    width = body.sum(axis=1)
    upper = body & (width >= 0.4 * width.max())[:, None]
    body &= (width >= 0.6 * width.max())[:, None]  # the thorax: drop the narrow neck and head rows
    threshold = _otsu(smooth[body])
    upper &= (smooth < threshold) & ~body.any(axis=1)[:, None]
    candidates = body & (smooth < threshold)
    candidates = _clean(candidates, max(1, round(min(att.shape) / 100)))
    edge = None
    if outside.any():
        candidates = _cut_arms(candidates, body)
        edge = body & ~ndimage.binary_erosion(body, iterations=3)
    lungs = _two_lungs(candidates, body, min_fraction, edge)
    if lungs is None:
        return None
    lungs = _shaped(lungs, upper)
    # regions clearly darker than the body around them, not noise
    rest = body & ~lungs
    grain = float(np.std(att - smooth)) + 1e-6
    if not rest.any() or float(smooth[rest].mean() - smooth[lungs].mean()) < 3 * grain:
        return None
    return _hulls(lungs) & full_body


def lung_mask(attenuation: np.ndarray, darkfield: np.ndarray | None = None) -> LungMaskResult:
    """Mask of both lungs: from ``darkfield`` when given (falling back to ``attenuation``), else from ``attenuation``.

    ``attenuation`` must be oriented as :class:`~dfviewer.io.Radiograph` pixels (larger = more
    attenuation). Returns the whole image with ``found=False`` when two lungs are not found.
    """
    att = np.asarray(attenuation, dtype=np.float32)
    if att.ndim != 2 or att.size == 0:
        raise ValueError(f"lung_mask needs a 2-D image, got shape {att.shape}")
    attempts: list[tuple[str, np.ndarray, Callable[[np.ndarray], np.ndarray | None]]] = []
    if darkfield is not None:
        df = np.asarray(darkfield, dtype=np.float32)
        if df.shape == att.shape:
            attempts.append(("darkfield", df, _from_darkfield))
    attempts.append(("attenuation", att, _from_attenuation))
    for method, image, finder in attempts:
        small, factor = _downsample(_normalise(image))
        try:
            found = finder(small)
        except (ValueError, IndexError):
            found = None
        if found is not None and found.any():
            return LungMaskResult(_upsample(found, factor, att.shape), True, method)
    return LungMaskResult(np.ones(att.shape, dtype=bool), False, "none")


def lung_bbox(attenuation: np.ndarray, darkfield: np.ndarray | None = None, pad: float = 0.05) -> LungBox:
    """Padded bounding box of both lungs (pad: fraction of the box's height/width on each side).

    The whole image with ``found=False`` when the lungs are not found.
    """
    return mask_bbox(lung_mask(attenuation, darkfield), pad)


def mask_bbox(result: LungMaskResult, pad: float = 0.05) -> LungBox:
    """Padded bounding box of a :func:`lung_mask` result (the whole image when no lungs were found)."""
    h, w = result.mask.shape
    if not result.found:
        return LungBox(0, h, 0, w, False, result.method)
    rows = np.nonzero(result.mask.any(axis=1))[0]
    cols = np.nonzero(result.mask.any(axis=0))[0]
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    pr, pc = int(round(pad * (r1 - r0))), int(round(pad * (c1 - c0)))
    return LungBox(max(0, r0 - pr), min(h, r1 + pr), max(0, c0 - pc), min(w, c1 + pc), True, result.method)
