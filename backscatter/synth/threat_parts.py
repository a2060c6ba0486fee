"""Building blocks of the threat library: the :class:`Threat` record, slabs, sub-type draws and
a :class:`Pose` that places outlines drawn in cm.

Outlines are drawn in cm in the object's own frame (x right, y down, e.g. a gun's muzzle to the
right and the top of its slide at y = 0); a :class:`Pose` scales them by the scan's pixels per cm,
mirrors, rotates and moves them to the object's centre in the image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.materials import material_id
from backscatter.synth.physics import Layer
from backscatter.synth.shapes import Patch, place, raster, raster_union


@dataclass
class Threat:
    """A placed threat: its slabs, its full (unoccluded) mask patch, and the parameters drawn
    (``params["subtype"]`` names its sub-type, one of ``threats.SUBTYPES[class_name]``)."""

    class_id: int
    layers: list[Layer]
    patch: Patch
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def class_name(self) -> str:
        return THREAT_CLASSES[self.class_id]


def slab(material: str, thickness: np.ndarray, patch: Patch, depth_cm: float) -> Layer:
    """A :class:`Layer` of ``material`` with ``thickness`` (cm, shaped like ``patch.cov``)."""
    return Layer(
        material_id(material), thickness.astype(np.float32), patch.row0, patch.col0, float(depth_cm)
    )


def union(patches: list[Patch]) -> Patch:
    """One patch covering all of ``patches`` (max coverage)."""
    r0 = min(p.row0 for p in patches)
    c0 = min(p.col0 for p in patches)
    r1 = max(p.row0 + p.cov.shape[0] for p in patches)
    c1 = max(p.col0 + p.cov.shape[1] for p in patches)
    cov = np.zeros((r1 - r0, c1 - c0), np.float32)
    for p in patches:
        sub = cov[
            p.row0 - r0 : p.row0 - r0 + p.cov.shape[0], p.col0 - c0 : p.col0 - c0 + p.cov.shape[1]
        ]
        np.maximum(sub, p.cov, out=sub)
    return Patch(cov, r0, c0)


def pick_subtype(
    rng: np.random.Generator,
    cls: str,
    weights: dict[str, float],
    subtypes: Sequence[str] | None,
) -> str:
    """Draw one sub-type name of class ``cls`` by ``weights``, only among ``subtypes`` when given.

    ValueError naming the first unknown name (or an empty selection)."""
    if subtypes is None:
        allowed = list(weights)
    else:
        chosen = [subtypes] if isinstance(subtypes, str) else list(subtypes)
        for name in chosen:
            if name not in weights:
                raise ValueError(
                    f"{cls} subtypes: expected names from {list(weights)}, got {name!r}"
                )
        allowed = [n for n in weights if n in chosen]
        if not allowed:
            raise ValueError(f"{cls} subtypes: expected at least one of {list(weights)}, got none")
    p = np.array([weights[n] for n in allowed], np.float64)
    return allowed[int(rng.choice(len(allowed), p=p / p.sum()))]


def grid_offsets(
    n: int, w: float, h: float, gap: float, rng: np.random.Generator
) -> list[tuple[float, float]]:
    """Centres (cm, object frame) of ``n`` items ``w x h`` cm laid in 1 or 2 columns."""
    cols = 1 if n == 1 else int(rng.choice([1, 2])) if n == 2 else 2
    rows = int(np.ceil(n / cols))
    out = []
    for k in range(n):
        r, c = divmod(k, cols)
        out.append(((c - (cols - 1) / 2) * (w + gap), (r - (rows - 1) / 2) * (h + gap)))
    return out


def rect(x0: float, y0: float, x1: float, y1: float) -> np.ndarray:
    """Axis-aligned rectangle outline (cm, object frame)."""
    return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)


def oval(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    """Ellipse outline (cm, object frame) centred on ``(cx, cy)`` with half-axes ``rx, ry``."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    return np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)


@dataclass
class Pose:
    """Where an object drawn in cm goes: ``origin`` (cm, object frame) lands on ``center``
    (x, y px), scaled by ``ppc`` (px per cm) times ``scale``, mirrored left-right when ``flip``,
    rotated by ``angle_deg`` (counter-clockwise on screen)."""

    center: tuple[float, float]
    ppc: float
    angle_deg: float
    origin: tuple[float, float] = (0.0, 0.0)
    flip: bool = False
    scale: float = 1.0

    def pts(self, poly: np.ndarray) -> np.ndarray:
        """Outline in cm -> image points (px)."""
        s = self.ppc * self.scale
        size = (-s if self.flip else s, s)
        return place(
            np.asarray(poly, float) - self.origin,
            center=self.center,
            size=size,
            angle_deg=self.angle_deg,
        )

    def at(self, x: float, y: float) -> tuple[float, float]:
        """One point (cm, object frame) in image px."""
        p = self.pts(np.array([[x, y]]))[0]
        return float(p[0]), float(p[1])

    def patch(self, *polys: np.ndarray) -> Patch:
        """The filled union of outlines."""
        return raster_union([self.pts(p) for p in polys])

    def holed(self, outer: np.ndarray, *holes: np.ndarray) -> Patch:
        """``outer`` filled, with ``holes`` (each inside ``outer``, not overlapping) cut out."""
        return raster([self.pts(outer), *(self.pts(h) for h in holes)])

    def part(self, x: float, y: float, angle_deg: float, origin: tuple[float, float]) -> Pose:
        """The pose of a loose part whose ``origin`` sits at ``(x, y)`` of this frame, turned by
        a further ``angle_deg``."""
        turn = -angle_deg if self.flip else angle_deg
        return Pose(self.at(x, y), self.ppc, self.angle_deg + turn, origin, self.flip, self.scale)
