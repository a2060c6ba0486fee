"""Novel concealments: objects outside the five threat classes (``synth --novel``).

Cigarette cartons, gold bars, ammunition boxes, electronics and drug packages of shapes and
materials the threat library does not draw. They are the test set of the anomaly map
(:mod:`backscatter.inference.anomaly`) and are never used to train the detector: the dataset
writes them under their own COCO categories (:data:`NOVEL_CATEGORY_BASE` + k, ``novel/KIND``).

Generators follow :mod:`backscatter.synth.threats`: draw parameters from ``rng``, place the object
at ``center`` (x, y px) with its front face ``depth_cm`` behind the scene front, return its slabs
and its full (unoccluded) mask patch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backscatter.synth.physics import Layer
from backscatter.synth.scenes import crop
from backscatter.synth.shapes import (
    Patch,
    cylinder_profile,
    ellipse,
    place,
    raster,
    rounded_rect,
    smooth_noise,
    stripes,
)
from backscatter.synth.threats import slab, union

#: the novel kinds, in category order (COCO id = NOVEL_CATEGORY_BASE + index)
NOVEL_KINDS: tuple[str, ...] = ("cigarettes", "gold", "ammunition", "electronics", "drug_package")
NOVEL_CATEGORY_BASE = 101
#: a novel object in a closed cavity must have this share of its outline inside it
_MIN_INSIDE = 0.85


def novel_category(kind: str) -> tuple[int, str]:
    """COCO ``(category_id, name)`` of a novel kind, e.g. ``(101, "novel/cigarettes")``."""
    return NOVEL_CATEGORY_BASE + NOVEL_KINDS.index(kind), f"novel/{kind}"


@dataclass
class NovelObject:
    """A placed novel concealment: its slabs, its full mask patch, the parameters drawn."""

    kind: str
    layers: list[Layer]
    patch: Patch
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class NovelAnnotation:
    """Ground truth of one novel object; boxes ``x0, y0, x1, y1`` px, x1/y1 exclusive."""

    kind: str
    box: tuple[float, float, float, float]
    #: visible part (hidden objects: the full outline), (rows, cols) bool
    mask: np.ndarray
    hidden: bool
    visible_fraction: float
    mean_snr: float
    depth_cm: float
    params: dict[str, Any] = field(default_factory=dict)


def _grid(
    n: int, w: float, h: float, gap: float, center: tuple[float, float], angle: float, ppc: float
) -> list[tuple[float, float]]:
    cols = int(np.ceil(np.sqrt(n)))
    rows = int(np.ceil(n / cols))
    a = np.radians(angle)
    out = []
    for k in range(n):
        r, c = divmod(k, cols)
        dx, dy = (c - (cols - 1) / 2) * (w + gap), (r - (rows - 1) / 2) * (h + gap)
        out.append(
            (
                center[0] + (dx * np.cos(a) + dy * np.sin(a)) * ppc,
                center[1] + (-dx * np.sin(a) + dy * np.cos(a)) * ppc,
            )
        )
    return out


def cigarettes(
    rng: np.random.Generator, *, center: tuple[float, float], ppc: float, depth_cm: float
) -> NovelObject:
    """Cigarette cartons (about 27 x 9 x 5 cm, 2 x 5 packs) in a cardboard and film wrap."""
    n = int(rng.choice([1, 2, 3, 4, 6], p=[0.2, 0.25, 0.15, 0.25, 0.15]))
    w, h, t = rng.uniform(26.0, 28.0), rng.uniform(8.5, 9.5), rng.uniform(4.4, 5.2)
    angle = float(rng.uniform(0, 180))
    layers, patches = [], []
    for cx, cy in _grid(n, w, h, 0.2, center, angle, ppc):
        p = raster([place(rounded_rect(0.03), center=(cx, cy), size=(w * ppc, h * ppc),
                          angle_deg=angle)])  # fmt: skip
        packs = stripes(p.cov.shape, period_px=w * ppc / 5, angle_deg=angle, duty=0.06)
        layers.append(slab("paper", (0.08 + 0.25 * packs) * p.cov, p, depth_cm))
        layers.append(slab("tobacco", p.cov * t * (1.0 - 0.3 * packs), p, depth_cm + 0.1))
        patches.append(p)
    return NovelObject("cigarettes", layers, union(patches), {"count": n, "angle_deg": angle})


#: gold bar sizes (length, width, thickness cm): 1 kg, 100 g, 12.5 kg "good delivery"
_GOLD_BARS = ((11.6, 5.3, 1.8), (5.5, 3.1, 0.35), (25.0, 7.5, 3.8))


def gold(
    rng: np.random.Generator, *, center: tuple[float, float], ppc: float, depth_cm: float
) -> NovelObject:
    """Gold bars (trapezoid section seen from the top), a few side by side."""
    size = int(rng.choice(len(_GOLD_BARS), p=[0.55, 0.3, 0.15]))
    lb, wb, tb = _GOLD_BARS[size]
    n = int(rng.choice([1, 2, 3, 4, 6], p=[0.3, 0.25, 0.15, 0.15, 0.15]))
    angle = float(rng.uniform(0, 180))
    layers, patches = [], []
    for cx, cy in _grid(n, lb, wb, 0.3, center, angle, ppc):
        p = raster([place(rounded_rect(0.08), center=(cx, cy), size=(lb * ppc, wb * ppc),
                          angle_deg=angle)])  # fmt: skip
        layers.append(slab("gold", cylinder_profile(p, radius_px=0.4 * ppc) * tb, p, depth_cm))
        patches.append(p)
    patch = union(patches)
    layers.append(slab("plastic", patch.cov * 0.05, patch, max(depth_cm - 0.05, 0.0)))
    return NovelObject(
        "gold", layers, patch, {"count": n, "bar_cm": [lb, wb, tb], "angle_deg": angle}
    )


def ammunition(
    rng: np.random.Generator, *, center: tuple[float, float], ppc: float, depth_cm: float
) -> NovelObject:
    """Boxes of cartridges lying side by side: brass cases and lead bullets in cardboard."""
    n = int(rng.choice([1, 2, 3, 4], p=[0.3, 0.3, 0.2, 0.2]))
    w, h = rng.uniform(9.0, 14.0), rng.uniform(5.5, 8.0)
    calibre = rng.uniform(0.6, 1.2)  # cm
    angle = float(rng.uniform(0, 180))
    layers, patches = [], []
    for cx, cy in _grid(n, w, h, 0.3, center, angle, ppc):
        p = raster([place(rounded_rect(0.04), center=(cx, cy), size=(w * ppc, h * ppc),
                          angle_deg=angle)])  # fmt: skip
        rounds = stripes(p.cov.shape, period_px=calibre * 1.1 * ppc, angle_deg=angle, duty=0.8)
        ends = stripes(p.cov.shape, period_px=h * ppc, angle_deg=angle + 90, duty=0.25)
        layers.append(slab("paper", p.cov * 0.15, p, depth_cm))
        layers.append(
            slab("brass", rounds * (1.0 - ends) * p.cov * 0.06 * calibre, p, depth_cm + 0.15)
        )
        layers.append(slab("lead", rounds * ends * p.cov * 0.5 * calibre, p, depth_cm + 0.15))
        patches.append(p)
    return NovelObject(
        "ammunition",
        layers,
        union(patches),
        {"count": n, "calibre_cm": calibre, "angle_deg": angle},
    )


def electronics(
    rng: np.random.Generator, *, center: tuple[float, float], ppc: float, depth_cm: float
) -> NovelObject:
    """Phones, tablets or hard disks: aluminium shell, circuit board, battery, small parts."""
    kind = str(rng.choice(["phones", "tablet", "disks"], p=[0.45, 0.3, 0.25]))
    w, h, n = {
        "phones": (rng.uniform(14.0, 16.5), rng.uniform(7.0, 7.8), int(rng.integers(2, 7))),
        "tablet": (rng.uniform(20.0, 28.0), rng.uniform(15.0, 19.0), 1),
        "disks": (rng.uniform(10.0, 14.7), rng.uniform(7.0, 10.2), int(rng.integers(1, 5))),
    }[kind]
    angle = float(rng.uniform(0, 180))
    layers, patches = [], []
    for cx, cy in _grid(n, w, h, 0.5, center, angle, ppc):
        p = raster([place(rounded_rect(0.1), center=(cx, cy), size=(w * ppc, h * ppc),
                          angle_deg=angle)])  # fmt: skip
        battery = raster([place(rounded_rect(0.05), center=(cx, cy), size=(0.8 * w * ppc,
                                0.55 * h * ppc), angle_deg=angle)])  # fmt: skip
        parts = (smooth_noise(p.cov.shape, rng, cells=10) > 0.55).astype(np.float32)
        layers.append(slab("aluminium", p.cov * 0.08, p, depth_cm))
        layers.append(slab("fr4", p.cov * 0.15, p, depth_cm + 0.1))
        layers.append(slab("steel", parts * p.cov * 0.05, p, depth_cm + 0.25))
        layers.append(slab("water", battery.cov * 0.5, battery, depth_cm + 0.3))
        patches.append(p)
    return NovelObject("electronics", layers, union(patches), {"kind": kind, "count": n,
                                                                 "angle_deg": angle})  # fmt: skip


def drug_package(
    rng: np.random.Generator, *, center: tuple[float, float], ppc: float, depth_cm: float
) -> NovelObject:
    """Packages unlike the taped bricks: round pucks, swallowed-pellet bundles or vacuum bags
    of heroin or compressed cannabis."""
    shape = str(rng.choice(["pucks", "pellets", "vacuum_bag"], p=[0.35, 0.3, 0.35]))
    material = str(rng.choice(["heroin", "cannabis"], p=[0.55, 0.45]))
    angle = float(rng.uniform(0, 180))
    layers, patches = [], []
    if shape == "pucks":
        d, t, n = rng.uniform(9.0, 15.0), rng.uniform(2.0, 4.0), int(rng.integers(1, 5))
        for cx, cy in _grid(n, d, d, 0.3, center, angle, ppc):
            p = raster([place(ellipse(), center=(cx, cy), size=(d * ppc, d * ppc))])
            layers.append(slab(material, cylinder_profile(p, radius_px=1.0 * ppc) * t, p,
                               depth_cm + 0.1))  # fmt: skip
            patches.append(p)
    elif shape == "pellets":
        ln, dia, n = rng.uniform(4.0, 6.0), rng.uniform(1.5, 2.2), int(rng.integers(8, 25))
        for cx, cy in _grid(n, dia, ln, 0.2, center, angle, ppc):
            p = raster([place(rounded_rect(0.45), center=(cx, cy), size=(dia * ppc, ln * ppc),
                              angle_deg=angle)])  # fmt: skip
            layers.append(slab(material, cylinder_profile(p, radius_px=0.5 * dia * ppc) * dia, p,
                               depth_cm + 0.05))  # fmt: skip
            patches.append(p)
    else:
        w, h, t = rng.uniform(15.0, 30.0), rng.uniform(10.0, 22.0), rng.uniform(2.0, 5.0)
        base = ellipse(24) * (1.0 + 0.15 * rng.uniform(-1, 1, (24, 1)))
        p = raster([place(base, center=center, size=(w * ppc, h * ppc), angle_deg=angle)])
        wrinkles = 1.0 + 0.12 * smooth_noise(p.cov.shape, rng, cells=12)
        layers.append(slab(material, cylinder_profile(p, radius_px=2.0 * ppc) * t * wrinkles, p,
                           depth_cm + 0.05))  # fmt: skip
        patches.append(p)
        n = 1
    patch = union(patches)
    layers.append(slab("plastic", patch.cov * 0.03, patch, depth_cm))
    return NovelObject(
        "drug_package", layers, patch, {"shape": shape, "material": material, "count": n}
    )


#: generator per novel kind (order of NOVEL_KINDS)
NOVEL_GENERATORS: dict[str, Callable[..., NovelObject]] = {
    "cigarettes": cigarettes,
    "gold": gold,
    "ammunition": ammunition,
    "electronics": electronics,
    "drug_package": drug_package,
}


def full_mask(patch: Patch, shape: tuple[int, int]) -> np.ndarray:
    """The patch's inside pixels on the whole image, (rows, cols) bool."""
    return crop(patch.mask, -patch.row0, -patch.col0, shape) > 0


def place_novel(
    rng: np.random.Generator,
    *,
    count: int,
    region: np.ndarray,
    clip: np.ndarray | None,
    depth_range: tuple[float, float],
    ppc: float,
    occupied: np.ndarray,
) -> list[tuple[NovelObject, float]]:
    """Place up to ``count`` novel objects of random kinds where threats may go (``region``),
    cut to ``clip`` (a cavity) when set, overlapping ``occupied`` (threats) by <= 10 %."""
    rows, cols = np.nonzero(region)
    shape = (int(region.shape[0]), int(region.shape[1]))
    taken = occupied.copy()
    placed: list[tuple[NovelObject, float]] = []
    if rows.size == 0:
        return placed
    for _ in range(int(count)):
        kind = str(rng.choice(NOVEL_KINDS))
        for _attempt in range(12):
            k = int(rng.integers(rows.size))
            depth = float(rng.uniform(*depth_range))
            obj = NOVEL_GENERATORS[kind](
                rng, center=(float(cols[k]), float(rows[k])), ppc=ppc, depth_cm=depth
            )
            whole = obj.patch.area
            if clip is not None:
                inside = crop(clip, obj.patch.row0, obj.patch.col0, obj.patch.cov.shape)
                if np.count_nonzero(obj.patch.mask & (inside > 0.5)) < _MIN_INSIDE * whole:
                    continue
                for lay in obj.layers:
                    lay.thickness = lay.thickness * crop(
                        clip, lay.row0, lay.col0, lay.thickness.shape
                    )
                obj.patch.cov = obj.patch.cov * crop(
                    clip, obj.patch.row0, obj.patch.col0, obj.patch.cov.shape
                )
            full = full_mask(obj.patch, shape)
            area = int(full.sum())
            if area < 30 or area < 0.6 * whole or (full & taken).sum() > 0.1 * area:
                continue
            taken |= full
            placed.append((obj, depth))
            break
    return placed
