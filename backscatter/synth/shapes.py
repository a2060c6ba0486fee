"""Rasterising parametric outlines into anti-aliased masks and thickness profiles.

Points are ``(x, y)`` = ``(col, row)`` in pixels. A :class:`Patch` is a float32 coverage crop
placed at ``(row0, col0)`` of the image; coverage >= 0.5 is "inside".
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

_SHIFT = 3  # sub-pixel bits for cv2.fillPoly


@dataclass
class Patch:
    """Coverage ``(h, w)`` float32 in [0, 1] at ``(row0, col0)``."""

    cov: np.ndarray
    row0: int
    col0: int

    @property
    def mask(self) -> np.ndarray:
        return self.cov >= 0.5

    @property
    def area(self) -> int:
        return int(np.count_nonzero(self.mask))


def place(
    template: np.ndarray,
    *,
    center: tuple[float, float],
    size: tuple[float, float],
    angle_deg: float = 0.0,
) -> np.ndarray:
    """Template points in [-0.5, 0.5]^2 -> image points: scaled to ``size`` (w, h) px, rotated
    by ``angle_deg`` (counter-clockwise on screen), moved to ``center`` (x, y)."""
    pts = np.asarray(template, np.float64) * np.asarray(size, np.float64)
    a = np.radians(angle_deg)
    rot = np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]])
    return pts @ rot.T + np.asarray(center, np.float64)


def raster(polygons: list[np.ndarray], *, pad: int = 2) -> Patch:
    """Fill polygons (each ``(N, 2)`` px) into one anti-aliased coverage patch."""
    allpts = np.concatenate(polygons, axis=0)
    x0 = int(np.floor(allpts[:, 0].min())) - pad
    y0 = int(np.floor(allpts[:, 1].min())) - pad
    x1 = int(np.ceil(allpts[:, 0].max())) + pad + 1
    y1 = int(np.ceil(allpts[:, 1].max())) + pad + 1
    img = np.zeros((max(y1 - y0, 1), max(x1 - x0, 1)), np.uint8)
    scaled = [
        np.round((p - [x0, y0]) * (1 << _SHIFT)).astype(np.int32).reshape(-1, 1, 2)
        for p in polygons
    ]
    cv2.fillPoly(img, scaled, 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    return Patch(img.astype(np.float32) * np.float32(1 / 255), y0, x0)


def shape_patch(
    template: np.ndarray,
    *,
    center: tuple[float, float],
    size: tuple[float, float],
    angle_deg: float = 0.0,
) -> Patch:
    """:func:`place` a template and :func:`raster` it: one filled outline as a patch."""
    return raster([place(template, center=center, size=size, angle_deg=angle_deg)])


#: unit square template for :func:`place`
RECT = np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])


def ellipse(n: int = 40) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([0.5 * np.cos(t), 0.5 * np.sin(t)], axis=1)


def rounded_rect(radius: float, n: int = 6) -> np.ndarray:
    """Rectangle with corners rounded by ``radius`` (fraction of each side, < 0.5)."""
    pts = []
    r = min(max(radius, 0.0), 0.49)
    for cx, cy, a0 in (
        (0.5 - r, 0.5 - r, 0),
        (-0.5 + r, 0.5 - r, 90),
        (-0.5 + r, -0.5 + r, 180),
        (0.5 - r, -0.5 + r, 270),
    ):
        for a in np.radians(np.linspace(a0, a0 + 90, n)):
            pts.append((cx + r * np.cos(a), cy + r * np.sin(a)))
    return np.array(pts)


def annulus_polys(
    center: tuple[float, float], r_out: float, r_in: float, n: int = 96
) -> list[np.ndarray]:
    """Outer and inner circles as one even-odd polygon pair (use with :func:`raster_ring`)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    c = np.asarray(center)
    outer = c + r_out * np.stack([np.cos(t), np.sin(t)], axis=1)
    inner = c + r_in * np.stack([np.cos(t), np.sin(t)], axis=1)
    return [outer, inner]


def distance_inside(patch: Patch) -> np.ndarray:
    """Distance in px from each inside pixel to the outline (0 outside), float32."""
    m = patch.mask.astype(np.uint8)
    return cv2.distanceTransform(np.pad(m, 1), cv2.DIST_L2, 3)[1:-1, 1:-1]


def cylinder_profile(patch: Patch, *, radius_px: float) -> np.ndarray:
    """Chord-length profile of a rounded body, normalised to 1 at depth >= ``radius_px``."""
    d = np.minimum(distance_inside(patch) / max(radius_px, 1e-3), 1.0)
    return (np.sqrt(np.clip(1.0 - (1.0 - d) ** 2, 0.0, 1.0)) * patch.cov).astype(np.float32)


def smooth_noise(shape: tuple[int, int], rng: np.random.Generator, *, cells: int = 8) -> np.ndarray:
    """Smooth random field in about [-1, 1], float32 ``shape`` (bicubic from a coarse grid)."""
    h, w = shape
    ch = max(2, int(round(cells * h / max(h, w))) + 1)
    cw = max(2, int(round(cells * w / max(h, w))) + 1)
    coarse = rng.uniform(-1.0, 1.0, (ch, cw)).astype(np.float32)
    return cv2.resize(coarse, (max(w, 1), max(h, 1)), interpolation=cv2.INTER_CUBIC)


def stripes(
    shape: tuple[int, int],
    *,
    period_px: float,
    angle_deg: float,
    duty: float = 0.5,
    phase: float = 0.0,
    origin: tuple[int, int] = (0, 0),
) -> np.ndarray:
    """Binary stripes (float32 0/1) across ``shape`` at ``angle_deg``; ``origin`` (row, col)
    is where the window sits in a larger pattern."""
    h, w = shape
    yy = np.arange(origin[0], origin[0] + h, dtype=np.float32)[:, None]
    xx = np.arange(origin[1], origin[1] + w, dtype=np.float32)[None, :]
    a = np.radians(angle_deg)
    u = (xx * np.float32(np.cos(a)) + yy * np.float32(np.sin(a))) / np.float32(period_px)
    return ((u + phase) % 1.0 < duty).astype(np.float32)


def raster_union(polygons: list[np.ndarray], *, pad: int = 2) -> Patch:
    """Fill each polygon on its own and keep the max coverage: the union of overlapping
    outlines. (:func:`raster` fills them together, so where two overlap they cancel, even-odd;
    that is what cuts a hole, not what joins parts.)"""
    if len(polygons) == 1:
        return raster(polygons, pad=pad)
    parts = [raster([p], pad=pad) for p in polygons]
    r0 = min(p.row0 for p in parts)
    c0 = min(p.col0 for p in parts)
    r1 = max(p.row0 + p.cov.shape[0] for p in parts)
    c1 = max(p.col0 + p.cov.shape[1] for p in parts)
    cov = np.zeros((r1 - r0, c1 - c0), np.float32)
    for p in parts:
        h, w = p.cov.shape
        sub = cov[p.row0 - r0 : p.row0 - r0 + h, p.col0 - c0 : p.col0 - c0 + w]
        np.maximum(sub, p.cov, out=sub)
    return Patch(cov, r0, c0)


def radial_blob(n: int, rng: np.random.Generator, *, roughness: float = 0.15) -> np.ndarray:
    """An irregular closed outline in [-0.5, 0.5]^2 (for :func:`place`): a circle whose radius
    wanders smoothly by about ``roughness`` (a sagging bag, a lump)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = np.ones(n)
    for k in (2, 3, 5):
        r += roughness / k * rng.uniform(-1, 1) * np.cos(k * t + rng.uniform(0, 2 * np.pi))
    r = r / r.max() * 0.5
    return np.stack([r * np.cos(t), r * np.sin(t)], axis=1)
