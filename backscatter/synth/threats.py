"""The threat library: one parametric generator per class, in class-id order, each drawing one of
its class's named sub-types (:data:`SUBTYPES`).

Each generator draws a sub-type (only among ``subtypes`` when given) and its parameters (size,
orientation, count, material) from ``rng``, places the object at ``center`` (x, y px) with its
front face ``depth_cm`` behind the scene front, and returns the slabs it adds plus its full
(unoccluded) mask. Lengths are drawn in cm and converted with ``ppc`` (pixels per cm). Firearms
and blades live in :mod:`backscatter.synth.weapons`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.physics import Layer
from backscatter.synth.shapes import (
    Patch,
    cylinder_profile,
    place,
    radial_blob,
    raster,
    raster_union,
    rounded_rect,
    smooth_noise,
    stripes,
)
from backscatter.synth.threat_parts import (
    Pose,
    Threat,
    grid_offsets,
    oval,
    pick_subtype,
    rect,
    slab,
    union,
)
from backscatter.synth.weapons import BLADE_WEIGHTS, FIREARM_WEIGHTS, blade, firearm

__all__ = ["EXTENT_CM", "GENERATORS", "SUBTYPES", "Threat", "slab", "union"]

Center = tuple[float, float]


def _grid_centers(
    center: Center, ppc: float, angle: float, offsets: list[tuple[float, float]]
) -> list[Center]:
    a = np.radians(angle)
    return [
        (
            center[0] + (dx * np.cos(a) + dy * np.sin(a)) * ppc,
            center[1] + (-dx * np.sin(a) + dy * np.cos(a)) * ppc,
        )
        for dx, dy in offsets
    ]


def _bricks(
    rng: np.random.Generator, center: Center, ppc: float, depth: float, n: int, material: str
) -> tuple[list[Layer], list[Patch], dict[str, object]]:
    """Pillow-shaped slabs under a wrap of tape, in a grid."""
    w, h = rng.uniform(16, 26), rng.uniform(10, 16)
    thick = rng.uniform(3.0, 6.0)
    gap = rng.uniform(0.3, 1.5)
    angle = rng.uniform(0, 180)
    layers, patches = [], []
    for cx, cy in _grid_centers(center, ppc, angle, grid_offsets(n, w, h, gap, rng)):
        poly = place(rounded_rect(0.12), center=(cx, cy), size=(w * ppc, h * ppc), angle_deg=angle)
        p = raster([poly])
        prof = cylinder_profile(p, radius_px=2.0 * ppc)
        prof *= 1.0 + 0.04 * smooth_noise(p.cov.shape, rng, cells=5)
        tape_angle = angle + float(rng.choice([0.0, 90.0, 45.0]))
        tape = stripes(p.cov.shape, period_px=rng.uniform(4, 7) * ppc, angle_deg=tape_angle)
        layers.append(slab("plastic", (0.1 + 0.4 * tape) * p.cov, p, depth))
        layers.append(slab(material, prof * thick, p, depth + 0.2))
        patches.append(p)
    return layers, patches, {"count": n, "size_cm": [w, h, thick], "angle_deg": angle}


def _sheets(
    rng: np.random.Generator, center: Center, ppc: float, depth: float, material: str
) -> tuple[list[Layer], list[Patch], dict[str, object]]:
    """Sheet explosive or pressed flat slabs: 1-3 thin sheets 0.5-1.5 cm, film-wrapped."""
    w, h, t = rng.uniform(15, 30), rng.uniform(10, 20), rng.uniform(0.5, 1.5)
    n, angle = int(rng.integers(1, 4)), rng.uniform(0, 180)
    layers, patches = [], []
    for k in range(n):
        c = (center[0] + rng.normal(0, 0.6) * ppc, center[1] + rng.normal(0, 0.6) * ppc)
        p = raster([place(rounded_rect(0.03), center=c, size=(w * ppc, h * ppc), angle_deg=angle)])
        layers.append(slab("plastic", p.cov * 0.03, p, depth + k * (t + 0.05)))
        layers.append(slab(material, p.cov * t, p, depth + k * (t + 0.05) + 0.02))
        patches.append(p)
    return layers, patches, {"count": n, "size_cm": [w, h, t], "angle_deg": angle}


def _cylinders(
    rng: np.random.Generator, center: Center, ppc: float, depth: float, material: str
) -> tuple[list[Layer], list[Patch], dict[str, object]]:
    """Vacuum-packed cylinders ("chubs", 6-9 cm) or a bundle of sticks (2.5-4 cm), crimped
    ends, plastic film or paper wrap."""
    sticks = bool(rng.random() < 0.4)
    d = rng.uniform(2.5, 4.0) if sticks else rng.uniform(6.0, 9.0)
    length = rng.uniform(16, 25) if sticks else rng.uniform(14, 28)
    n = int(rng.integers(3, 7)) if sticks else int(rng.integers(1, 3))
    angle = rng.uniform(0, 180)
    pose = Pose(center, ppc, angle, (0.0, 0.0))
    outline = np.array(
        [
            [-length / 2, -0.35 * d],
            [-length / 2 + 0.6 * d, -d / 2],
            [length / 2 - 0.6 * d, -d / 2],
            [length / 2, -0.35 * d],
            [length / 2, 0.35 * d],
            [length / 2 - 0.6 * d, d / 2],
            [-length / 2 + 0.6 * d, d / 2],
            [-length / 2, 0.35 * d],
        ]
    )
    layers, patches = [], []
    for k in range(n):
        y = (k - (n - 1) / 2) * d * 1.02
        p = pose.patch(outline + [0.0, y])
        prof = cylinder_profile(p, radius_px=0.5 * d * ppc)
        layers.append(slab("paper" if sticks else "plastic", p.cov * 0.05, p, depth))
        layers.append(slab(material, prof * d, p, depth + 0.05))
        patches.append(p)
    return layers, patches, {"count": n, "size_cm": [length, d], "sticks": sticks}


def _powder_bag(
    rng: np.random.Generator, center: Center, ppc: float, depth: float, material: str
) -> tuple[list[Layer], list[Patch], dict[str, object]]:
    """A loosely filled plastic bag of powder: irregular, sagging outline, knotted neck.

    Loose powder packs at about half the density of a pressed brick; the slab's thickness is
    scaled by that fill fraction (same attenuation and yield as a half-density material)."""
    w, h = rng.uniform(12, 24), rng.uniform(10, 20)
    angle = rng.uniform(0, 360)
    body = raster(
        [
            place(
                radial_blob(40, rng, roughness=0.35),
                center=center,
                size=(w * ppc, h * ppc),
                angle_deg=angle,
            )
        ]
    )
    pose = Pose(center, ppc, angle)
    neck = pose.patch(
        np.array([[0.45 * w, -0.8], [0.5 * w + 3.0, -0.3], [0.5 * w + 3.0, 0.3], [0.45 * w, 0.8]])
    )
    thick = rng.uniform(3.0, 7.0)
    fill = rng.uniform(0.45, 0.65)
    prof = cylinder_profile(body, radius_px=0.3 * min(w, h) * ppc)
    prof *= 1.0 + 0.2 * smooth_noise(body.cov.shape, rng, cells=6)
    layers = [
        slab("plastic", body.cov * 0.02, body, depth),
        slab(material, np.clip(prof, 0, None) * thick * fill, body, depth + 0.02),
        slab("plastic", neck.cov * 0.15, neck, depth),
    ]
    return layers, [body, neck], {"size_cm": [w, h, thick], "fill": fill, "angle_deg": angle}


def _pellets(
    rng: np.random.Generator, center: Center, ppc: float, depth: float, material: str
) -> tuple[list[Layer], list[Patch], dict[str, object]]:
    """Many small latex-wrapped capsules (1.4-2.2 x 3-5 cm) loose in a plastic bag."""
    n = int(rng.integers(12, 41))
    spread = np.sqrt(n) * rng.uniform(1.6, 2.1)
    d, length = rng.uniform(1.4, 2.2), rng.uniform(3.0, 5.0)
    polys: list[np.ndarray] = []
    centers: list[np.ndarray] = []
    for _ in range(n * 4):
        if len(polys) == n:
            break
        off = rng.normal(0, spread / 2.5, 2)
        if any(np.hypot(*(off - c)) < 0.55 * length for c in centers):
            continue
        centers.append(off)
        polys.append(
            place(
                rounded_rect(0.45),
                center=(center[0] + off[0] * ppc, center[1] + off[1] * ppc),
                size=(length * ppc, d * ppc),
                angle_deg=rng.uniform(0, 180),
            )
        )
    caps = raster_union(polys)
    prof = cylinder_profile(caps, radius_px=0.5 * d * ppc)
    pts = np.concatenate(polys)
    hull = cv2.convexHull(pts.astype(np.float32)).reshape(-1, 2)
    c = hull.mean(axis=0)
    bag = raster([c + (hull - c) * 1.06])
    layers = [
        slab("plastic", bag.cov * 0.03, bag, depth),
        slab("rubber", caps.cov * 0.06, caps, depth + 0.03),
        slab(material, prof * d, caps, depth + 0.06),
    ]
    return layers, [bag], {"count": len(polys), "size_cm": [length, d]}


_ORGANIC_WEIGHTS: dict[str, float] = {
    "single_brick": 0.22,
    "multi_brick": 0.22,
    "sheet": 0.12,
    "cylinder": 0.16,
    "powder_bag": 0.14,
    "pellets": 0.14,
}


def organic_package(
    rng: np.random.Generator,
    *,
    center: Center,
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """Narcotics or explosives: taped bricks (one or several), flat sheets, vacuum-packed
    cylinders or sticks, a loose powder bag, or a bag of small swallowed-type capsules."""
    sub = pick_subtype(rng, "organic_package", _ORGANIC_WEIGHTS, subtypes)
    material = str(rng.choice(["organic_compound", "explosive", "powder_low"], p=[0.5, 0.3, 0.2]))
    if sub == "sheet":
        material = "explosive"
    elif sub in ("powder_bag", "pellets") and material == "powder_low":
        material = "organic_compound"
    if sub == "single_brick":
        layers, patches, extra = _bricks(rng, center, ppc, depth_cm, 1, material)
    elif sub == "multi_brick":
        n = int(rng.choice([2, 3, 4], p=[0.55, 0.18, 0.27]))
        layers, patches, extra = _bricks(rng, center, ppc, depth_cm, n, material)
    elif sub == "sheet":
        layers, patches, extra = _sheets(rng, center, ppc, depth_cm, material)
    elif sub == "cylinder":
        layers, patches, extra = _cylinders(rng, center, ppc, depth_cm, material)
    elif sub == "powder_bag":
        layers, patches, extra = _powder_bag(rng, center, ppc, depth_cm, material)
    else:
        layers, patches, extra = _pellets(rng, center, ppc, depth_cm, material)
    params = {"subtype": sub, "material": material, **extra}
    return Threat(0, layers, union(patches), params)


def _bundle_layers(
    rng: np.random.Generator,
    p: Patch,
    ppc: float,
    w: float,
    thick: float,
    angle: float,
    depth: float,
) -> Layer:
    band = stripes(p.cov.shape, period_px=w * ppc, angle_deg=angle, duty=0.22, phase=0.39)
    t = thick * (1.0 + 0.25 * band + 0.03 * smooth_noise(p.cov.shape, rng, cells=6)) * p.cov
    return slab("banknote", t, p, depth)


_CURRENCY_WEIGHTS: dict[str, float] = {
    "single_bundle": 0.2,
    "multi_bundle": 0.3,
    "stack": 0.2,
    "rolled": 0.15,
    "envelope": 0.15,
}


def currency(
    rng: np.random.Generator,
    *,
    center: Center,
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """Banknotes (about 15.6 x 6.6 cm): banded bundles side by side (often in a plastic film),
    bundles stacked depth-wise, rolled notes under rubber bands, or bundles in an envelope."""
    sub = pick_subtype(rng, "currency", _CURRENCY_WEIGHTS, subtypes)
    w, h = rng.uniform(14.0, 16.0), rng.uniform(6.5, 7.8)
    thick = rng.uniform(1.0, 2.2)
    angle = rng.uniform(0, 180)
    layers, patches = [], []
    params: dict[str, object] = {"subtype": sub, "size_cm": [w, h, thick], "angle_deg": angle}
    if sub in ("single_bundle", "multi_bundle"):
        n = 1 if sub == "single_bundle" else int(rng.choice([2, 3, 4, 6], p=[0.34, 0.2, 0.26, 0.2]))
        for c in _grid_centers(center, ppc, angle, grid_offsets(n, w, h, 0.15, rng)):
            p = raster(
                [place(rounded_rect(0.04), center=c, size=(w * ppc, h * ppc), angle_deg=angle)]
            )
            layers.append(_bundle_layers(rng, p, ppc, w, thick, angle, depth_cm + 0.05))
            patches.append(p)
        patch = union(patches)
        if rng.random() < 0.5:
            layers.append(slab("plastic", patch.cov * 0.05, patch, depth_cm))
        params["count"] = n
        return Threat(1, layers, patch, params)
    if sub == "stack":
        n = int(rng.integers(2, 6))
        for k in range(n):
            c = (center[0] + rng.uniform(-0.5, 0.5) * ppc, center[1] + rng.uniform(-0.5, 0.5) * ppc)
            a = angle + rng.uniform(-4, 4)
            p = raster([place(rounded_rect(0.04), center=c, size=(w * ppc, h * ppc), angle_deg=a)])
            layers.append(_bundle_layers(rng, p, ppc, w, thick, a, depth_cm + k * thick))
            patches.append(p)
        params["count"] = n
        return Threat(1, layers, union(patches), params)
    if sub == "rolled":
        n = int(rng.integers(1, 9))
        d = rng.uniform(2.0, 4.5)
        pose = Pose(center, ppc, angle)
        for k in range(n):
            x = (k - (n - 1) / 2) * d * 1.05
            p = pose.patch(rect(x - d / 2, -h / 2, x + d / 2, h / 2))
            layers.append(
                slab(
                    "banknote", cylinder_profile(p, radius_px=0.5 * d * ppc) * d * 0.85, p, depth_cm
                )
            )
            bands = pose.patch(rect(x - d / 2, -0.3 * h, x + d / 2, -0.3 * h + 0.5))
            layers.append(slab("rubber", bands.cov * 0.2, bands, depth_cm - 0.1))
            patches.append(p)
        params.update(count=n, roll_cm=[h, d])
        return Threat(1, layers, union(patches), params)
    # envelope: 1-3 bundles or loose notes in a paper envelope with a folded flap
    ew, eh = w + rng.uniform(1.0, 8.0), h + rng.uniform(3.0, 9.0)
    pose = Pose(center, ppc, angle)
    env = pose.patch(rect(-ew / 2, -eh / 2, ew / 2, eh / 2))
    flap = pose.patch(np.array([[-ew / 2, -eh / 2], [ew / 2, -eh / 2], [0, 0.1 * eh]]))
    n = int(rng.integers(1, 4))
    loose = bool(rng.random() < 0.35)
    t = rng.uniform(0.3, 1.2) if loose else thick
    for k in range(n):
        c = pose.at(rng.uniform(-0.4, 0.4) * (ew - w), rng.uniform(-0.4, 0.4) * (eh - h))
        p = raster(
            [
                place(
                    rounded_rect(0.04),
                    center=c,
                    size=(w * ppc, h * ppc),
                    angle_deg=angle + rng.uniform(-6, 6),
                )
            ]
        )
        layers.append(_bundle_layers(rng, p, ppc, w, t, angle, depth_cm + 0.05 + k * t))
    layers += [
        slab("paper", env.cov * 0.04, env, depth_cm),
        slab("paper", flap.cov * 0.02, flap, depth_cm - 0.02),
    ]
    params.update(count=n, loose=loose, envelope_cm=[ew, eh])
    return Threat(1, layers, env, params)


def _bottle_outline(d: float, h: float, neck: float) -> np.ndarray:
    top = -h / 2
    shoulder = top + 0.3 * h
    return np.array(
        [
            [-d / 2, h / 2],
            [d / 2, h / 2],
            [d / 2, shoulder],
            [neck / 2, top + 0.12 * h],
            [neck / 2, top],
            [-neck / 2, top],
            [-neck / 2, top + 0.12 * h],
            [-d / 2, shoulder],
        ]
    )


def _wet(body: Patch, center: Center, angle: float, h_px: float, fill: float) -> np.ndarray:
    """1 below the fill line (towards the base, +y of the outline), 0 above, on ``body``'s grid."""
    rr = np.arange(body.cov.shape[0], dtype=np.float32)[:, None]
    cc = np.arange(body.cov.shape[1], dtype=np.float32)[None, :]
    a = np.radians(angle)
    ux, uy = -np.sin(a), np.cos(a)  # template +y (base) direction in image coordinates
    along = ((cc + body.col0 - center[0]) * ux + (rr + body.row0 - center[1]) * uy) / h_px
    return (along > 0.5 - fill).astype(np.float32)


_LIQUID_WEIGHTS: dict[str, float] = {
    "pet": 0.18,
    "glass": 0.13,
    "jerrycan": 0.1,
    "jerrycan_steel": 0.1,
    "jerrycan_small": 0.08,
    "canister": 0.13,
    "flask": 0.13,
    "bladder": 0.15,
}
#: wall material and thickness (cm) of one wall of each container
_WALLS = {
    "pet": ("plastic", 0.06),
    "glass": ("glass", 0.35),
    "jerrycan": ("plastic", 0.3),
    "jerrycan_steel": ("steel", 0.09),
    "jerrycan_small": ("plastic", 0.2),
    "canister": ("steel", 0.03),
    "flask": ("steel", 0.06),
    "bladder": ("plastic", 0.03),
}


def liquid(
    rng: np.random.Generator,
    *,
    center: Center,
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """A concealed container of liquid (water-like or alcohol/solvent): PET or glass bottle,
    HDPE or steel jerrycan (20 L or 5 L), tinplate canister, steel hip flask, or a flat
    flexible bladder. Everyday small drinks are clutter, not threats (see clutter.py)."""
    kind = pick_subtype(rng, "liquid", _LIQUID_WEIGHTS, subtypes)
    content = str(rng.choice(["water", "ethanol"]))
    angle = rng.uniform(0, 360)
    fill = rng.uniform(0.75, 0.98)
    pose = Pose(center, ppc, angle)
    extra: list[Patch] = []
    if kind in ("jerrycan", "jerrycan_steel", "jerrycan_small"):
        big = kind != "jerrycan_small"
        d, h = (
            (rng.uniform(16, 24), rng.uniform(22, 32))
            if big
            else (rng.uniform(15, 20), rng.uniform(20, 26))
        )
        if kind == "jerrycan_steel":
            d, h = d * 1.3, h * 1.3  # the 20 L NATO pattern: 34 x 47 cm at full size
        depth_body = rng.uniform(8, 13) if kind != "jerrycan_steel" else 0.48 * d
        outline = place(rounded_rect(0.1), center=center, size=(d * ppc, h * ppc), angle_deg=angle)
        if kind == "jerrycan":
            body = raster([outline])
        else:  # a carrying handle cut through the top, a spout at one corner
            hole = pose.pts(rect(-0.25 * d, -0.44 * h, 0.1 * d, -0.36 * h))
            body = raster([outline, hole])
            extra.append(pose.patch(rect(0.28 * d, -0.5 * h - 2.5, 0.28 * d + 3.5, -0.45 * h)))
    elif kind in ("pet", "glass"):
        d, h = rng.uniform(5.5, 9.5), rng.uniform(18, 32)
        body = raster(
            [
                place(
                    _bottle_outline(1.0, 1.0, 0.3),
                    center=center,
                    size=(d * ppc, h * ppc),
                    angle_deg=angle,
                )
            ]
        )
        depth_body = d
    elif kind == "canister":
        d, h = rng.uniform(11, 17), rng.uniform(17, 26)
        depth_body = rng.uniform(6, 10)
        body = pose.patch(rect(-d / 2, -h / 2, d / 2, h / 2))
        extra.append(pose.patch(rect(0.15 * d, -h / 2 - 2.0, 0.15 * d + 3.0, -h / 2 + 0.2)))
    elif kind == "flask":
        d, h = rng.uniform(9, 12), rng.uniform(11, 16)
        depth_body = rng.uniform(2.0, 3.2)
        fill = 1.0
        body = raster(
            [
                place(
                    radial_blob(32, rng, roughness=0.1),
                    center=center,
                    size=(d * ppc, h * ppc),
                    angle_deg=angle,
                )
            ]
        )
        extra.append(pose.patch(rect(-1.2, -h / 2 - 1.6, 1.2, -h / 2 + 0.5)))
    else:  # bladder: a flat pillow of liquid, thin walls, one tube fitting
        d, h = rng.uniform(15, 35), rng.uniform(12, 25)
        depth_body = rng.uniform(2.0, 5.0)
        fill = 1.0
        body = raster(
            [place(rounded_rect(0.2), center=center, size=(d * ppc, h * ppc), angle_deg=angle)]
        )
        extra.append(pose.patch(oval(0.35 * d, -0.5 * h, 1.1, 1.1, 16)))
    radius = 0.5 * min(d, depth_body) * ppc
    prof = cylinder_profile(body, radius_px=radius)
    wet = _wet(body, center, angle, h * ppc, fill)
    wall_mat, wall = _WALLS[kind]
    layers = [
        slab(wall_mat, body.cov * wall, body, depth_cm),
        slab(content, prof * depth_body * wet, body, depth_cm + wall),
    ]
    if kind == "jerrycan_steel":  # pressed X ribs on the faces
        ribs = np.maximum(
            stripes(body.cov.shape, period_px=0.5 * h * ppc, angle_deg=angle + 55, duty=0.06),
            stripes(body.cov.shape, period_px=0.5 * h * ppc, angle_deg=angle - 55, duty=0.06),
        )
        layers.append(slab("steel", body.cov * ribs * 0.09, body, depth_cm + 0.1))
    cap_mat = "steel" if wall_mat == "steel" else "plastic"
    layers += [slab(cap_mat, p.cov * 0.3, p, depth_cm) for p in extra]
    params = {
        "subtype": kind,
        "kind": kind,
        "content": content,
        "size_cm": [d, h, depth_body],
        "fill": fill,
        "angle_deg": angle,
    }
    return Threat(4, layers, union([body, *extra]), params)


#: generator per class id (index = class id, order of THREAT_CLASSES)
GENERATORS: tuple[Callable[..., Threat], ...] = (organic_package, currency, firearm, blade, liquid)

#: class name -> every sub-type its generator can produce (``params["subtype"]``); the order is
#: fixed, new names are appended
SUBTYPES: dict[str, tuple[str, ...]] = {
    name: tuple(w)
    for name, w in zip(
        THREAT_CLASSES,
        (_ORGANIC_WEIGHTS, _CURRENCY_WEIGHTS, FIREARM_WEIGHTS, BLADE_WEIGHTS, _LIQUID_WEIGHTS),
        strict=True,
    )
}

#: rough extent (cm) of each class for placement
EXTENT_CM: tuple[float, ...] = (30.0, 24.0, 26.0, 34.0, 32.0)
