"""Scene families: the structure a threat hides in, plus benign clutter.

A family builds a :class:`Layout`: the structural slabs (cover, beams, studs...), the region where
threats may sit (a full-image bool mask, optionally also the region that clips them, e.g. the air
cavity of a tyre), the depth range behind the cover, and clutter kinds that belong there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from backscatter.synth.clutter import CLUTTER
from backscatter.synth.physics import Layer
from backscatter.synth.shapes import (
    RECT,
    Patch,
    annulus_polys,
    cylinder_profile,
    ellipse,
    raster,
    rounded_rect,
    shape_patch,
    smooth_noise,
    stripes,
)
from backscatter.synth.threats import slab

FAMILIES: tuple[str, ...] = ("door", "tyre", "wall", "luggage", "crate")


@dataclass
class Layout:
    layers: list[Layer]
    #: where threat centres may go, (rows, cols) bool
    region: np.ndarray
    #: threat slabs are cut to this mask when set (objects inside a closed cavity)
    clip: np.ndarray | None
    depth_range: tuple[float, float]
    clutter_kinds: tuple[str, ...]
    clutter_count: tuple[int, int]
    clutter_depth: tuple[float, float]
    params: dict[str, object] = field(default_factory=dict)


def _full(material: str, thickness: np.ndarray, depth: float) -> Layer:
    return slab(material, thickness, Patch(thickness, 0, 0), depth)


def _erode(mask: np.ndarray, px: float) -> np.ndarray:
    k = max(1, int(round(px)))
    return cv2.erode(mask.astype(np.uint8), np.ones((2 * k + 1, 2 * k + 1), np.uint8)).astype(bool)


def _inset(shape: tuple[int, int], frac: float) -> np.ndarray:
    m = np.zeros(shape, bool)
    r, c = int(shape[0] * frac), int(shape[1] * frac)
    m[r : shape[0] - r, c : shape[1] - c] = True
    return m


def _patch_full(p: Patch, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.float32)
    r0, c0 = max(p.row0, 0), max(p.col0, 0)
    r1, c1 = min(p.row0 + p.cov.shape[0], shape[0]), min(p.col0 + p.cov.shape[1], shape[1])
    if r1 > r0 and c1 > c0:
        out[r0:r1, c0:c1] = p.cov[r0 - p.row0 : r1 - p.row0, c0 - p.col0 : c1 - p.col0]
    return out


def door(rng: np.random.Generator, shape: tuple[int, int], ppc: float) -> Layout:
    """Vehicle door: 0.7-1 mm steel skin, window rails, intrusion beam, speaker, glass, trim."""
    h, w = shape
    body = _patch_full(
        shape_patch(
            rounded_rect(0.06),
            center=(w / 2 + rng.uniform(-0.05, 0.05) * w, h / 2),
            size=(w * rng.uniform(0.95, 1.15), h * rng.uniform(0.95, 1.15)),
        ),
        shape,
    )
    skin = rng.uniform(0.07, 0.1)
    layers = [_full("steel", body * skin * (1 + 0.03 * smooth_noise(shape, rng, cells=4)), 0.0)]
    for _ in range(int(rng.integers(1, 4))):  # bitumen sound-deadening pads
        p = shape_patch(
            RECT,
            center=(rng.uniform(0.2, 0.8) * w, rng.uniform(0.3, 0.8) * h),
            size=(rng.uniform(10, 25) * ppc, rng.uniform(10, 25) * ppc),
        )
        layers.append(slab("rubber", p.cov * 0.25, p, 0.1))
    for x in rng.uniform(0.15, 0.85, int(rng.integers(1, 3))) * w:  # window rails
        p = shape_patch(
            RECT,
            center=(x, h * 0.45),
            size=(3.0 * ppc, h * 0.8),
            angle_deg=rng.uniform(-4, 4),
        )
        layers.append(slab("steel", p.cov * 0.3, p, 2.0))
    y = rng.uniform(0.45, 0.75) * h  # side intrusion beam (tube)
    p = shape_patch(
        RECT, center=(w / 2, y), size=(w * 1.1, 3.5 * ppc), angle_deg=rng.uniform(-12, 12)
    )
    layers.append(
        slab("steel", (0.25 + 0.5 * (1 - cylinder_profile(p, radius_px=1.7 * ppc))) * p.cov, p, 4.0)
    )
    sc = (rng.uniform(0.2, 0.4) * w, rng.uniform(0.7, 0.85) * h)  # speaker: cone + magnet
    d = rng.uniform(13, 17) * ppc
    cone = shape_patch(ellipse(), center=sc, size=(d, d))
    magnet = shape_patch(ellipse(), center=sc, size=(0.45 * d, 0.45 * d))
    layers += [
        slab("paper", cone.cov * 0.15, cone, 3.0),
        slab("steel", magnet.cov * 1.2, magnet, 5.0),
    ]
    glass = shape_patch(RECT, center=(w / 2, h * rng.uniform(0.15, 0.3)), size=(w * 0.85, h * 0.35))
    layers.append(slab("glass", glass.cov * 0.4, glass, 7.0))
    lock = shape_patch(
        RECT, center=(w * rng.choice([0.08, 0.92]), h * 0.45), size=(6 * ppc, 10 * ppc)
    )
    layers.append(slab("steel", lock.cov * 0.4, lock, 3.0))
    layers.append(_full("plastic", body * 0.3, 12.0))  # inner trim panel
    layers.append(_full("foam", body * 1.5, 12.3))
    region = (body > 0.5) & _inset(shape, 0.12)
    return Layout(
        layers,
        region,
        None,
        (1.5, 9.0),
        (
            "cable",
            "screwdriver",
            "clothes",
            "metal_bar",
            "bracket",
            "hinge",
            "drink_can",
            "water_bottle",
            "paper_stack",
        ),
        (0, 2),
        (1.5, 10.0),
        {"skin_cm": skin},
    )


def tyre(rng: np.random.Generator, shape: tuple[int, int], ppc: float) -> Layout:
    """Tyre sidewall view: rubber annulus with steel-belted tread, alloy or steel rim inside."""
    h, w = shape
    c = (w / 2 + rng.uniform(-0.05, 0.05) * w, h / 2 + rng.uniform(-0.05, 0.05) * h)
    r_out = min(h, w) / 2 * rng.uniform(0.8, 0.95)
    r_rim = r_out * rng.uniform(0.45, 0.55)
    ring = raster(annulus_polys(c, r_out, r_rim))
    ring_full = _patch_full(ring, shape)
    yy = np.arange(h, dtype=np.float32)[:, None]
    xx = np.arange(w, dtype=np.float32)[None, :]
    rad = np.hypot(xx - c[0], yy - c[1])
    theta = np.arctan2(yy - c[1], xx - c[0])
    side = rng.uniform(0.9, 1.4)
    letters = (np.sin(theta * rng.integers(40, 90)) > 0.6) & (
        np.abs(rad - (r_rim + r_out) / 2) < 1.5 * ppc
    )
    layers = [_full("rubber", ring_full * side * (1 + 0.2 * letters), 0.0)]
    tread = ((rad > r_out - 3.0 * ppc) & (rad < r_out)).astype(np.float32)
    belts = (np.sin(theta * 400 + rad * 0.2) > 0).astype(np.float32)
    layers += [
        _full("rubber", tread * 2.0, 1.5),
        _full("steel", tread * (0.04 + 0.03 * belts), 2.0),
    ]
    layers.append(_full("rubber", ring_full * side, 20.0))  # far sidewall
    rim = _patch_full(shape_patch(ellipse(96), center=c, size=(2 * r_rim, 2 * r_rim)), shape)
    alloy = rng.random() < 0.6
    n_spokes = int(rng.integers(5, 8))
    spokes = (np.cos(theta * n_spokes + rng.uniform(0, 6.3)) > 0.2) & (rad > 0.25 * r_rim)
    rim_t = (0.35 + 0.6 * spokes) if alloy else (0.25 + 0.15 * (rad < 0.5 * r_rim))
    layers.append(_full("aluminium" if alloy else "steel", rim * rim_t, 1.0))
    hub = shape_patch(ellipse(), center=c, size=(0.3 * r_rim, 0.3 * r_rim))
    layers.append(slab("steel", hub.cov * 1.0, hub, 0.5))
    cavity = (rad > r_rim + 1.0 * ppc) & (rad < r_out - 3.0 * ppc)
    return Layout(
        layers,
        cavity,
        cavity,
        (1.5, 14.0),
        ("clothes", "cable", "metal_bar", "bracket", "water_bottle"),
        (0, 1),
        (2.0, 15.0),
        {"alloy_rim": alloy},
    )


def wall(rng: np.random.Generator, shape: tuple[int, int], ppc: float) -> Layout:
    """Partition: drywall or plywood on wood or steel studs, insulation, back panel, services."""
    h, w = shape
    front = str(rng.choice(["drywall", "plywood"], p=[0.65, 0.35]))
    t_front = 1.25 if front == "drywall" else rng.uniform(0.9, 1.8)
    ones = np.ones(shape, np.float32)
    layers = [_full(front, ones * t_front * (1 + 0.02 * smooth_noise(shape, rng, cells=6)), 0.0)]
    spacing = 40.6 * ppc
    x0 = rng.uniform(0, spacing)
    steel_studs = rng.random() < 0.3
    studs = np.zeros(shape, bool)
    for x in np.arange(x0 - spacing, w + spacing, spacing):
        p = shape_patch(RECT, center=(x, h / 2), size=(4.0 * ppc, h + 10))
        full = _patch_full(p, shape)
        studs |= full > 0.5
        if steel_studs:
            layers.append(_full("steel", full * 0.15, t_front))
        else:
            layers.append(_full("plywood", full * 9.0, t_front))
        phase = rng.uniform(0, 1)  # screw heads along the stud line
        c0, c1 = max(0, int(np.floor(x - ppc))), min(w, int(np.ceil(x + ppc)) + 1)
        if c1 > c0:
            dots = stripes((h, c1 - c0), period_px=30 * ppc, angle_deg=90, duty=0.02,
                           phase=phase, origin=(0, c0))  # fmt: skip
            on_line = (np.abs(np.arange(c0, c1) - x) < 0.5 * ppc)[None, :]
            t = full[:, c0:c1] * dots * 0.4 * on_line
            layers.append(slab("steel", t, Patch(t, 0, c0), 0.2))
    if rng.random() < 0.5:
        layers.append(_full("foam", (~studs).astype(np.float32) * rng.uniform(5, 9), t_front + 0.5))
    back = str(rng.choice(["drywall", "plywood"]))
    layers.append(_full(back, ones * 1.25, t_front + 9.0))
    if rng.random() < 0.6:  # electrical box and cable
        bx = (rng.uniform(0.1, 0.9) * w, rng.uniform(0.2, 0.8) * h)
        box = shape_patch(RECT, center=bx, size=(6 * ppc, 9 * ppc))
        layers += [
            slab("plastic", box.cov * 0.5, box, t_front),
            slab("steel", box.cov * 0.05, box, t_front + 1),
        ]
        wire = shape_patch(RECT, center=(bx[0], bx[1] / 2), size=(0.8 * ppc, bx[1]))
        layers.append(slab("plastic", wire.cov * 0.8, wire, t_front + 2.0))
    if rng.random() < 0.4:  # water pipe
        px = rng.uniform(0.1, 0.9) * w
        pipe = shape_patch(RECT, center=(px, h / 2), size=(2.2 * ppc, h + 10))
        layers += [
            slab("plastic", pipe.cov * 0.3, pipe, t_front + 3),
            slab("water", cylinder_profile(pipe, radius_px=1.1 * ppc) * 1.8, pipe, t_front + 3.2),
        ]
    region = ~studs & _inset(shape, 0.08)
    return Layout(
        layers,
        region,
        None,
        (t_front + 0.3, t_front + 6.0),
        (
            "cable",
            "book",
            "clothes",
            "metal_bar",
            "bracket",
            "hinge",
            "steel_ruler",
            "paper_stack",
            "letter_envelope",
            "drink_can",
            "router",
        ),
        (0, 2),
        (t_front + 0.3, t_front + 7.0),
        {"front": front, "steel_studs": steel_studs},
    )


def luggage(rng: np.random.Generator, shape: tuple[int, int], ppc: float) -> Layout:
    """Suitcase: soft nylon or hard plastic shell, trolley rods, zip, wheels, packed contents."""
    h, w = shape
    bw, bh = rng.uniform(45, 62) * ppc, rng.uniform(62, 82) * ppc
    c = (w / 2 + rng.uniform(-0.06, 0.06) * w, h / 2 + rng.uniform(-0.05, 0.05) * h)
    angle = rng.uniform(-8, 8) + float(rng.choice([0, 90], p=[0.7, 0.3]))
    bag = shape_patch(rounded_rect(0.08), center=c, size=(bw, bh), angle_deg=angle)
    bag_full = _patch_full(bag, shape)
    hard = rng.random() < 0.5
    shell = ("plastic", 0.35) if hard else ("nylon", 0.12)
    layers = [_full(shell[0], bag_full * shell[1], 0.0), _full(shell[0], bag_full * shell[1], 24.0)]
    inner = _patch_full(
        shape_patch(
            rounded_rect(0.08), center=c, size=(bw - 3 * ppc, bh - 3 * ppc), angle_deg=angle
        ),
        shape,
    )
    zip_line = np.clip(
        bag_full
        - _patch_full(
            shape_patch(
                rounded_rect(0.08),
                center=c,
                size=(bw - 1.2 * ppc, bh - 1.2 * ppc),
                angle_deg=angle,
            ),
            shape,
        ),
        0,
        1,
    )
    layers.append(_full("steel", zip_line * 0.08, 0.2))
    a = np.radians(angle)
    for s in (-1, 1):  # trolley rods along the long side, behind the back panel lining
        off = s * 0.3 * bw
        rc = (c[0] + off * np.cos(a), c[1] - off * np.sin(a))
        rod = shape_patch(RECT, center=rc, size=(2.0 * ppc, bh * 0.95), angle_deg=angle)
        layers.append(
            slab(
                "aluminium",
                (1 - 0.6 * cylinder_profile(rod, radius_px=ppc)) * rod.cov * 0.4,
                rod,
                22.0,
            )
        )
    if rng.random() < 0.8:  # a base layer of clothes
        layers.append(
            _full(
                "textile",
                inner * rng.uniform(3, 8) * (1 + 0.4 * smooth_noise(shape, rng, cells=10)),
                12.0,
            )
        )
    region = _erode(inner > 0.5, 4.0 * ppc)
    kinds = (
        "book", "clothes", "laptop", "phone", "food_can", "fruit", "flour_bag", "screwdriver",
        "wrench", "cable", "hammer", "toy_gun", "stapler", "hair_dryer", "hard_drive",
        "power_bank", "scissors", "pliers", "can_opener", "paper_stack", "letter_envelope",
        "deck_of_cards", "cheese_block", "sausage", "bread", "coffee_brick", "water_bottle",
        "drink_can", "shampoo", "router",
    )  # fmt: skip
    return Layout(
        layers, region, inner > 0.5, (1.0, 16.0), kinds, (2, 6), (0.8, 20.0), {"hard_shell": hard}
    )


def crate(rng: np.random.Generator, shape: tuple[int, int], ppc: float) -> Layout:
    """Wooden crate (planks, battens, nails) or cardboard boxes on a pallet, packed goods inside."""
    h, w = shape
    ones = np.ones(shape, np.float32)
    wooden = rng.random() < 0.55
    if wooden:
        t = rng.uniform(1.2, 2.0)
        plank = rng.uniform(9, 15) * ppc
        seams = stripes(shape, period_px=plank, angle_deg=90, duty=0.03, phase=rng.uniform(0, 1))
        grain = 1 + 0.05 * smooth_noise(shape, rng, cells=30)
        layers = [_full("plywood", ones * t * (1 - 0.8 * seams) * grain, 0.0)]
        for y in (0.1, 0.9):
            b = shape_patch(RECT, center=(w / 2, y * h), size=(w + 10, 9 * ppc))
            layers.append(slab("plywood", b.cov * 2.0, b, -2.0 + 0.0))
        nails = stripes(shape, period_px=plank, angle_deg=90, duty=0.015) * stripes(
            shape, period_px=12 * ppc, angle_deg=0, duty=0.05
        )
        layers.append(_full("steel", nails * 0.8, 0.1))
    else:
        layers = []
        for k in range(int(rng.integers(2, 5))):
            bx = shape_patch(
                RECT,
                center=(rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h),
                size=(rng.uniform(30, 60) * ppc, rng.uniform(25, 50) * ppc),
            )
            edge = np.clip(bx.cov - (cylinder_profile(bx, radius_px=1.0 * ppc) > 0.99), 0, 1)
            layers.append(slab("paper", bx.cov * 0.5 + edge * 1.5, bx, 0.1 * k))
        layers.append(_full("paper", ones * 0.5, 0.0))
        t = 0.5
    layers.append(_full("plywood", ones * 1.5, 45.0))
    region = _inset(shape, 0.08)
    kinds = (
        "book", "clothes", "laptop", "food_can", "fruit", "flour_bag", "wrench", "hammer",
        "cable", "metal_bar", "bracket", "hinge", "power_drill", "hard_drive", "router",
        "power_bank", "toy_gun", "stapler", "hair_dryer", "pliers", "paper_stack",
        "cheese_block", "sausage", "bread", "coffee_brick", "water_bottle", "drink_can",
        "shampoo",
    )  # fmt: skip
    return Layout(
        layers, region, None, (t + 0.3, 20.0), kinds, (2, 7), (t + 0.3, 30.0), {"wooden": wooden}
    )


BUILDERS: dict[str, Callable[[np.random.Generator, tuple[int, int], float], Layout]] = {
    "door": door,
    "tyre": tyre,
    "wall": wall,
    "luggage": luggage,
    "crate": crate,
}


def add_clutter(layout: Layout, rng: np.random.Generator, ppc: float) -> list[Layer]:
    """Draw the family's clutter items at random places and depths in its region."""
    lo, hi = layout.clutter_count
    n = int(rng.integers(lo, hi + 1))
    rows, cols = np.nonzero(layout.region)
    out: list[Layer] = []
    if rows.size == 0:
        return out
    for _ in range(n):
        k = int(rng.integers(rows.size))
        kind = str(rng.choice(layout.clutter_kinds))
        depth = rng.uniform(*layout.clutter_depth)
        for lay in CLUTTER[kind](rng, (float(cols[k]), float(rows[k])), ppc, depth):
            if layout.clip is not None:
                lay.thickness = lay.thickness * crop(
                    layout.clip, lay.row0, lay.col0, lay.thickness.shape
                )
            out.append(lay)
    return out


def crop(full: np.ndarray, r0: int, c0: int, shape: tuple[int, ...]) -> np.ndarray:
    """``full[r0:r0+h, c0:c0+w]`` as float32, zero where the window leaves the image."""
    out = np.zeros(shape[:2], np.float32)
    R, C = full.shape
    rr0, cc0 = max(r0, 0), max(c0, 0)
    rr1, cc1 = min(r0 + shape[0], R), min(c0 + shape[1], C)
    if rr1 > rr0 and cc1 > cc0:
        out[rr0 - r0 : rr1 - r0, cc0 - c0 : cc1 - c0] = full[rr0:rr1, cc0:cc1]
    return out
