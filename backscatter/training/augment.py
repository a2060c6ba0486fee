"""Augmentations suited to backscatter scans, on float images in units of full scale.

Images are ``(rows, cols)`` float32 in [0, 1] (see :func:`backscatter.training.data.to_unit`);
boxes ``(N, 4)`` x0, y0, x1, y1 in pixels. Every function returns new arrays and draws only from
the ``numpy.random.Generator`` it is given, so a seeded run is reproducible.
"""

from __future__ import annotations

import cv2
import numpy as np

from backscatter.training.config import AugmentConfig


def flip(
    image: np.ndarray, boxes: np.ndarray, *, horizontal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Mirror left-right (``horizontal``) or top-bottom."""
    rows, cols = image.shape
    out = boxes.copy()
    if horizontal:
        out[:, 0], out[:, 2] = cols - boxes[:, 2], cols - boxes[:, 0]
        return np.ascontiguousarray(image[:, ::-1]), out
    out[:, 1], out[:, 3] = rows - boxes[:, 3], rows - boxes[:, 1]
    return np.ascontiguousarray(image[::-1, :]), out


def dose_noise(
    image: np.ndarray, *, rng: np.random.Generator, dose: float, photons: float
) -> np.ndarray:
    """Re-noise as if acquired at ``dose`` (0..1] of the original exposure.

    Counting statistics: a pixel of value ``v`` (fraction of full scale) that saw ``v * photons``
    quanta gets extra Gaussian-approximated Poisson variance ``v / photons * (1 / dose - 1)``.
    """
    extra = np.clip(image, 0.0, None) / photons * (1.0 / dose - 1.0)
    noisy = image + rng.standard_normal(image.shape).astype(np.float32) * np.sqrt(extra)
    return np.clip(noisy, 0.0, 1.0).astype(np.float32)


def line_jitter(image: np.ndarray, *, rng: np.random.Generator, max_shift: int) -> np.ndarray:
    """Shift each raster line (row) sideways by a small random integer (beam/motion wobble)."""
    rows, cols = image.shape
    shifts = np.asarray(rng.integers(-max_shift, max_shift + 1, size=rows))
    idx = np.clip(np.arange(cols)[None, :] - shifts[:, None], 0, cols - 1)
    return np.take_along_axis(image, idx, axis=1)


def rescale(
    image: np.ndarray, boxes: np.ndarray, ignore: np.ndarray, *, factor: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = image.shape
    size = (max(1, round(cols * factor)), max(1, round(rows * factor)))
    out = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
    fx, fy = size[0] / cols, size[1] / rows
    s = np.array([fx, fy, fx, fy], np.float32)
    return out, boxes * s, ignore * s


def crop(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    ignore: np.ndarray,
    *,
    rng: np.random.Generator,
    size: int,
    min_visible: float = 0.5,
    focus: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Random ``size x size`` window (zero-padded if the image is smaller).

    With probability ``focus`` the window is drawn among those holding one randomly chosen
    object (when it fits), so fewer crops are empty. Boxes are clipped to the window; a box with
    less than ``min_visible`` of its area inside becomes an ignore region (neither object nor
    background for the loss).
    """
    rows, cols = image.shape
    lo_y, hi_y, lo_x, hi_x = 0, max(rows - size, 0), 0, max(cols - size, 0)
    if len(boxes) and rng.random() < focus:
        b = boxes[int(rng.integers(0, len(boxes)))]
        fy = (max(lo_y, int(np.ceil(b[3])) - size), min(hi_y, int(b[1])))
        fx = (max(lo_x, int(np.ceil(b[2])) - size), min(hi_x, int(b[0])))
        if fy[0] <= fy[1] and fx[0] <= fx[1]:
            lo_y, hi_y, lo_x, hi_x = fy[0], fy[1], fx[0], fx[1]
    y0 = int(rng.integers(lo_y, hi_y + 1))
    x0 = int(rng.integers(lo_x, hi_x + 1))
    out = np.zeros((size, size), np.float32)
    patch = image[y0 : y0 + size, x0 : x0 + size]
    out[: patch.shape[0], : patch.shape[1]] = patch
    off = np.array([x0, y0, x0, y0], np.float32)
    limit = np.array([patch.shape[1], patch.shape[0]] * 2, np.float32)

    def clip(b: np.ndarray) -> np.ndarray:
        return np.clip(b - off, 0, limit)

    moved, cut_ignore = clip(boxes), clip(ignore)
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    vis = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    keep = vis >= min_visible * np.maximum(area, 1e-6)
    partial = (~keep) & (vis > 0)
    new_ignore = np.concatenate([cut_ignore, moved[partial]], axis=0)
    ign_area = (new_ignore[:, 2] - new_ignore[:, 0]) * (new_ignore[:, 3] - new_ignore[:, 1])
    return out, moved[keep], labels[keep], new_ignore[ign_area > 0]


def augment_crop(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    ignore: np.ndarray,
    *,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    size: int,
    focus: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`augment` then :func:`crop` to ``size``, done on a window instead of the whole scan.

    The scale factor is drawn first; a window that becomes at least ``size`` after scaling is
    cut (with ``focus``), augmented, and cut to ``size`` at a random offset. Same distribution
    of crops as augmenting the whole scan, at the cost of the window only (a 512 x 512 scan and
    256 crops: about a third of the work).
    """
    factor = _scale_factor(rng, cfg)
    window = int(np.ceil(size / factor)) + 1
    image, boxes, labels, ignore = crop(
        image, boxes, labels, ignore, rng=rng, size=window, focus=focus
    )
    image, boxes, labels, ignore = augment(
        image, boxes, labels, ignore, rng=rng, cfg=cfg, factor=factor
    )
    return crop(image, boxes, labels, ignore, rng=rng, size=size)


def _scale_factor(rng: np.random.Generator, cfg: AugmentConfig) -> float:
    lo, hi = cfg.scale
    if hi > lo or lo != 1.0:
        return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    return 1.0


def augment(
    image: np.ndarray,
    boxes: np.ndarray,
    labels: np.ndarray,
    ignore: np.ndarray,
    *,
    rng: np.random.Generator,
    cfg: AugmentConfig,
    factor: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scale, flips, dose gain, low-dose noise and line jitter, in that order.

    ``factor`` is the scale already drawn (see :func:`augment_crop`); None draws it here.
    """
    if factor is None:
        factor = _scale_factor(rng, cfg)
    if factor != 1.0:
        image, boxes, ignore = rescale(image, boxes, ignore, factor=factor)
    if rng.random() < cfg.hflip:
        image, boxes = flip(image, boxes, horizontal=True)
        _, ignore = flip(image, ignore, horizontal=True)
    if rng.random() < cfg.vflip:
        image, boxes = flip(image, boxes, horizontal=False)
        _, ignore = flip(image, ignore, horizontal=False)
    g_lo, g_hi = cfg.gain
    if g_hi > g_lo or g_lo != 1.0:
        image = np.clip(image * np.float32(rng.uniform(g_lo, g_hi)), 0.0, 1.0)
    if rng.random() < cfg.noise and cfg.min_dose < 1.0:
        dose = float(rng.uniform(cfg.min_dose, 1.0))
        photons = float(np.exp(rng.uniform(np.log(200.0), np.log(3000.0))))
        image = dose_noise(image, rng=rng, dose=dose, photons=photons)
    if cfg.max_jitter > 0 and rng.random() < cfg.line_jitter:
        image = line_jitter(image, rng=rng, max_shift=cfg.max_jitter)
    return image.astype(np.float32, copy=False), boxes, labels, ignore
