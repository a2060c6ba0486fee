"""Benign clutter: false-alarm bait that looks like threats to an untrained eye.

Books and flour bags are bright rectangles (like packages), tools are dark elongated steel (like
knives and guns), fruit and food cans are round liquid-filled bodies. The look-alikes of every
class (toy guns, staplers, pliers, paper stacks, cheese, drink cans...) are in lookalikes.py;
:data:`LOOKALIKE_OF` names the class each kind imitates. Each generator returns the
slabs of one item placed at ``center`` (x, y px), ``depth_cm`` behind the scene front.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backscatter.synth.lookalikes import LOOKALIKES
from backscatter.synth.physics import Layer
from backscatter.synth.shapes import (
    RECT,
    cylinder_profile,
    ellipse,
    place,
    raster,
    rounded_rect,
    shape_patch,
    smooth_noise,
    stripes,
)
from backscatter.synth.threats import slab

Center = tuple[float, float]


def book(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Sharp-edged paper block with page lines along the spine."""
    w, h, t = rng.uniform(13, 24), rng.uniform(18, 30), rng.uniform(1.2, 5.0)
    angle = rng.uniform(0, 180)
    p = shape_patch(RECT, center=center, size=(w * ppc, h * ppc), angle_deg=angle)
    pages = stripes(p.cov.shape, period_px=max(1.5, 0.25 * ppc), angle_deg=angle, duty=0.5)
    return [slab("paper", p.cov * t * (0.97 + 0.06 * pages), p, depth)]


def clothes(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Folded or crumpled textile: a large soft blob with wrinkles."""
    w, h = rng.uniform(20, 45), rng.uniform(15, 40)
    p = shape_patch(
        rounded_rect(rng.uniform(0.1, 0.45)),
        center=center,
        size=(w * ppc, h * ppc),
        angle_deg=rng.uniform(0, 180),
    )
    base = rng.uniform(2.0, 8.0)
    wr = 1.0 + 0.45 * smooth_noise(p.cov.shape, rng, cells=9)
    wr *= 1.0 + 0.15 * smooth_noise(p.cov.shape, rng, cells=25)
    return [slab("textile", np.clip(p.cov * base * wr, 0, None), p, depth)]


def laptop(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Aluminium/plastic case, PCB, battery cells (steel cans) and a screen."""
    w, h = rng.uniform(28, 36), rng.uniform(20, 25)
    angle = rng.uniform(-20, 20) + float(rng.choice([0, 90]))
    case = shape_patch(rounded_rect(0.04), center=center, size=(w * ppc, h * ppc), angle_deg=angle)
    case_mat = str(rng.choice(["aluminium", "plastic"]))
    layers = [slab(case_mat, case.cov * (0.15 if case_mat == "aluminium" else 0.4), case, depth)]
    a = np.radians(angle)
    for k in range(int(rng.integers(2, 5))):
        off = (-0.3 + 0.2 * k) * w * ppc
        c = (
            center[0] + off * np.cos(a) + 0.28 * h * ppc * np.sin(a),
            center[1] - off * np.sin(a) + 0.28 * h * ppc * np.cos(a),
        )
        cell = shape_patch(
            rounded_rect(0.3), center=c, size=(6.5 * ppc, 1.8 * ppc), angle_deg=angle
        )
        layers.append(
            slab("steel", cylinder_profile(cell, radius_px=0.9 * ppc) * 0.1, cell, depth + 0.4)
        )
    board = shape_patch(RECT, center=center, size=(0.6 * w * ppc, 0.4 * h * ppc), angle_deg=angle)
    layers.append(slab("fr4", board.cov * 0.16, board, depth + 0.3))
    return layers


def phone(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    w, h = rng.uniform(6.5, 8.0), rng.uniform(14, 16.5)
    p = shape_patch(
        rounded_rect(0.15),
        center=center,
        size=(w * ppc, h * ppc),
        angle_deg=rng.uniform(0, 180),
    )
    return [slab("aluminium", p.cov * 0.3, p, depth), slab("fr4", p.cov * 0.3, p, depth + 0.2)]


def food_can(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Tin can (steel) of wet food seen from the side: dark rectangle, bright only if thin."""
    d, h = rng.uniform(6.5, 10.0), rng.uniform(8.0, 12.0)
    p = shape_patch(RECT, center=center, size=(d * ppc, h * ppc), angle_deg=rng.uniform(0, 180))
    mat = str(rng.choice(["steel", "aluminium"], p=[0.6, 0.4]))
    return [
        slab(mat, p.cov * (0.03 if mat == "steel" else 0.02), p, depth),
        slab("water", cylinder_profile(p, radius_px=d * ppc / 2) * d, p, depth + 0.05),
    ]


def fruit(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Round water-rich bodies (apples, oranges): bright discs."""
    d = rng.uniform(6.0, 9.5)
    p = shape_patch(ellipse(), center=center, size=(d * ppc, d * ppc * rng.uniform(0.85, 1.1)))
    return [slab("water", cylinder_profile(p, radius_px=d * ppc / 2) * d * 0.9, p, depth)]


def flour_bag(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """A paper bag of flour or sugar: bright, soft-edged, sagging, no tape."""
    w, h = rng.uniform(12, 18), rng.uniform(18, 28)
    p = shape_patch(
        rounded_rect(0.25),
        center=center,
        size=(w * ppc, h * ppc),
        angle_deg=rng.uniform(0, 180),
    )
    prof = cylinder_profile(p, radius_px=4.0 * ppc) * (
        1 + 0.15 * smooth_noise(p.cov.shape, rng, cells=4)
    )
    return [
        slab("paper", p.cov * 0.03, p, depth),
        slab("powder_low", prof * rng.uniform(5, 9), p, depth + 0.03),
    ]


def wrench(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Spanner: steel bar with open jaws at the ends."""
    length = rng.uniform(15, 28)
    angle = rng.uniform(0, 360)
    bar = place(RECT, center=center, size=(length * ppc, 1.6 * ppc), angle_deg=angle)
    a = np.radians(angle)
    ends = [
        (center[0] + s * length / 2 * ppc * np.cos(a), center[1] - s * length / 2 * ppc * np.sin(a))
        for s in (-1, 1)
    ]
    heads = [
        place(ellipse(12), center=e, size=(3.6 * ppc, 3.2 * ppc), angle_deg=angle) for e in ends
    ]
    p = raster([bar, *heads])
    return [slab("steel", p.cov * 0.6, p, depth)]


def screwdriver(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Thin steel shaft and a fat plastic handle: a knife look-alike."""
    ls, lh = rng.uniform(8, 20), rng.uniform(9, 12)
    angle = rng.uniform(0, 360)
    a = np.radians(angle)
    u = np.array([np.cos(a), -np.sin(a)])
    c = np.asarray(center)
    shaft = shape_patch(
        RECT,
        center=tuple(c + u * ls / 2 * ppc),
        size=(ls * ppc, 0.7 * ppc),
        angle_deg=angle,
    )
    handle = shape_patch(
        rounded_rect(0.3),
        center=tuple(c - u * lh / 2 * ppc),
        size=(lh * ppc, 3.0 * ppc),
        angle_deg=angle,
    )
    return [
        slab("steel", cylinder_profile(shaft, radius_px=0.35 * ppc) * 0.7, shaft, depth),
        slab("plastic", cylinder_profile(handle, radius_px=1.5 * ppc) * 3.0, handle, depth),
    ]


def hammer(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Wooden handle with a steel head: an L/T silhouette like a gun to a novice."""
    lh = rng.uniform(25, 33)
    angle = rng.uniform(0, 360)
    a = np.radians(angle)
    u = np.array([np.cos(a), -np.sin(a)])
    c = np.asarray(center)
    handle = shape_patch(RECT, center=tuple(c), size=(lh * ppc, 2.8 * ppc), angle_deg=angle)
    head = shape_patch(
        RECT,
        center=tuple(c + u * lh / 2 * ppc),
        size=(3.0 * ppc, 11 * ppc),
        angle_deg=angle,
    )
    return [
        slab("plywood", cylinder_profile(handle, radius_px=1.4 * ppc) * 2.8, handle, depth),
        slab("steel", head.cov * 2.5, head, depth),
    ]


def cable(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """A charger cable: curvy plastic sheath with copper (approximated as steel) wires."""
    n = 8
    pts = np.cumsum(rng.normal(0, 4 * ppc, (n, 2)), axis=0) + np.asarray(center)
    polys = []
    for p0, p1 in zip(pts[:-1], pts[1:], strict=True):
        d = p1 - p0
        nrm = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-6) * 0.35 * ppc
        polys.append(np.array([p0 + nrm, p1 + nrm, p1 - nrm, p0 - nrm]))
    p = raster(polys)
    return [slab("plastic", p.cov * 0.6, p, depth), slab("steel", p.cov * 0.02, p, depth + 0.1)]


#: name -> generator; the scene families pick from these (the look-alikes of lookalikes.py too)
CLUTTER: dict[str, Callable[[np.random.Generator, Center, float, float], list[Layer]]] = {
    "book": book,
    "clothes": clothes,
    "laptop": laptop,
    "phone": phone,
    "food_can": food_can,
    "fruit": fruit,
    "flour_bag": flour_bag,
    "wrench": wrench,
    "screwdriver": screwdriver,
    "hammer": hammer,
    "cable": cable,
    **{name: fn for name, (fn, _) in LOOKALIKES.items()},
}

#: clutter kind -> the threat class it imitates (evaluation counts a false alarm on it against
#: that class); laptop and cable are scene filler that imitates nothing in particular
LOOKALIKE_OF: dict[str, str] = {
    "book": "currency",
    "phone": "currency",
    "clothes": "organic_package",
    "flour_bag": "organic_package",
    "screwdriver": "blade",
    "wrench": "blade",
    "hammer": "firearm",
    "food_can": "liquid",
    "fruit": "liquid",
    **{name: cls for name, (_, cls) in LOOKALIKES.items()},
}
