"""The threat library: one parametric generator per class, in class-id order.

Each generator draws its parameters (size, orientation, count, material) from ``rng``, places the
object at ``center`` (x, y px) with its front face ``depth_cm`` behind the scene front, and returns
the slabs it adds plus its full (unoccluded) mask. Lengths are drawn in cm and converted with
``ppc`` (pixels per cm).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.materials import material_id
from backscatter.synth.physics import Layer
from backscatter.synth.shapes import (
    Patch,
    cylinder_profile,
    place,
    raster,
    rounded_rect,
    smooth_noise,
    stripes,
)


@dataclass
class Threat:
    """A placed threat: its slabs, its full mask patch, and the parameters drawn."""

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


def _grid_offsets(n: int, w: float, h: float, gap: float, rng: np.random.Generator) -> list:
    cols = 1 if n == 1 else int(rng.choice([1, 2])) if n == 2 else 2
    rows = int(np.ceil(n / cols))
    out = []
    for k in range(n):
        r, c = divmod(k, cols)
        out.append(((c - (cols - 1) / 2) * (w + gap), (r - (rows - 1) / 2) * (h + gap)))
    return out


def organic_package(
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """Taped bricks (narcotics or explosives): pillow-shaped slabs under a wrap of tape."""
    sub = pick_subtype(rng, "organic_package", _WEIGHTS["organic_package"], subtypes)
    material = str(rng.choice(["organic_compound", "explosive", "powder_low"], p=[0.5, 0.3, 0.2]))
    n = 1 if sub == "single_brick" else int(rng.choice([2, 3, 4], p=[0.55, 0.18, 0.27]))
    w, h = rng.uniform(16, 26), rng.uniform(10, 16)
    thick = rng.uniform(3.0, 6.0)
    gap = rng.uniform(0.3, 1.5)
    angle = rng.uniform(0, 180)
    a = np.radians(angle)
    layers, patches = [], []
    for dx, dy in _grid_offsets(n, w, h, gap, rng):
        cx = center[0] + (dx * np.cos(a) + dy * np.sin(a)) * ppc
        cy = center[1] + (-dx * np.sin(a) + dy * np.cos(a)) * ppc
        poly = place(rounded_rect(0.12), center=(cx, cy), size=(w * ppc, h * ppc), angle_deg=angle)
        p = raster([poly])
        prof = cylinder_profile(p, radius_px=2.0 * ppc)
        prof *= 1.0 + 0.04 * smooth_noise(p.cov.shape, rng, cells=5)
        tape_angle = angle + float(rng.choice([0.0, 90.0, 45.0]))
        tape = stripes(p.cov.shape, period_px=rng.uniform(4, 7) * ppc, angle_deg=tape_angle)
        layers.append(slab("plastic", (0.1 + 0.4 * tape) * p.cov, p, depth_cm))
        layers.append(slab(material, prof * thick, p, depth_cm + 0.2))
        patches.append(p)
    params = {
        "subtype": sub,
        "material": material,
        "count": n,
        "size_cm": [w, h, thick],
        "angle_deg": angle,
    }
    return Threat(0, layers, union(patches), params)


def currency(
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """Banknote bundles (about 15.6 x 6.6 cm, 1-2 cm thick), banded, often in a plastic film."""
    sub = pick_subtype(rng, "currency", _WEIGHTS["currency"], subtypes)
    n = 1 if sub == "single_bundle" else int(rng.choice([2, 3, 4, 6], p=[0.34, 0.2, 0.26, 0.2]))
    w, h = rng.uniform(14.0, 16.0), rng.uniform(6.5, 7.8)
    thick = rng.uniform(1.0, 2.2)
    angle = rng.uniform(0, 180)
    a = np.radians(angle)
    layers, patches = [], []
    for dx, dy in _grid_offsets(n, w, h, 0.15, rng):
        cx = center[0] + (dx * np.cos(a) + dy * np.sin(a)) * ppc
        cy = center[1] + (-dx * np.sin(a) + dy * np.cos(a)) * ppc
        poly = place(rounded_rect(0.04), center=(cx, cy), size=(w * ppc, h * ppc), angle_deg=angle)
        p = raster([poly])
        band = stripes(p.cov.shape, period_px=w * ppc, angle_deg=angle, duty=0.22, phase=0.39)
        t = thick * (1.0 + 0.25 * band + 0.03 * smooth_noise(p.cov.shape, rng, cells=6)) * p.cov
        layers.append(slab("banknote", t, p, depth_cm + 0.05))
        patches.append(p)
    patch = union(patches)
    if rng.random() < 0.5:
        layers.append(slab("plastic", patch.cov * 0.05, patch, depth_cm))
    params = {"subtype": sub, "count": n, "size_cm": [w, h, thick], "angle_deg": angle}
    return Threat(1, layers, patch, params)


#: handgun outline in cm, muzzle to the right, top of slide at y=0
_SLIDE = np.array([[0, 0], [18.5, 0], [18.5, 3.1], [0, 3.1]], float)
_FRAME = np.array(
    [
        [0.6, 3.1],
        [13.0, 3.1],
        [13.0, 4.3],
        [9.6, 4.3],
        [9.3, 6.9],
        [8.6, 7.3],
        [6.5, 7.3],
        [6.0, 5.3],
        [5.5, 5.3],
        [4.7, 13.6],
        [0.3, 13.1],
        [1.5, 6.2],
        [0.6, 5.2],
    ],
    float,
)
_MAGAZINE = np.array([[1.8, 5.2], [4.9, 5.5], [4.0, 13.0], [1.1, 12.6]], float)


def firearm(
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """Handgun silhouette: steel slide/barrel, polymer or steel frame, steel magazine."""
    sub = pick_subtype(rng, "firearm", _WEIGHTS["firearm"], subtypes)
    scale = rng.uniform(0.85, 1.15)
    angle = rng.uniform(0, 360)
    flip = 1.0 if rng.random() < 0.5 else -1.0
    steel_frame = sub == "pistol_steel"
    mid = np.array([9.25, 6.8])

    def put(poly: np.ndarray) -> np.ndarray:
        return place(
            poly - mid, center=center, size=(flip * scale * ppc, scale * ppc), angle_deg=angle
        )

    slide, frame, mag = raster([put(_SLIDE)]), raster([put(_FRAME)]), raster([put(_MAGAZINE)])
    layers = [
        slab("steel", cylinder_profile(slide, radius_px=0.6 * ppc) * 1.2, slide, depth_cm),
        slab(
            "steel" if steel_frame else "nylon",
            frame.cov * (0.5 if steel_frame else 2.8),
            frame,
            depth_cm + 0.1,
        ),
        slab("steel", mag.cov * 0.25, mag, depth_cm + 0.9),
    ]
    return Threat(
        2,
        layers,
        union([slide, frame]),
        {"subtype": sub, "scale": scale, "angle_deg": angle, "steel_frame": steel_frame},
    )


def blade(
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """Knife: tapered steel blade with a point, bolster, and a plastic/wood or steel handle."""
    sub = pick_subtype(rng, "blade", _WEIGHTS["blade"], subtypes)
    lb, wb = rng.uniform(9.0, 22.0), rng.uniform(1.8, 4.5)
    lh = rng.uniform(9.0, 13.0)
    dagger = sub == "dagger" or (sub == "steel_handle" and rng.random() < 0.25)
    if dagger:
        bl = np.array(
            [[0, 0], [0.75 * lb, 0.1 * wb], [lb, 0.5 * wb], [0.75 * lb, 0.9 * wb], [0, wb]]
        )
    else:
        bl = np.array(
            [
                [0, 0],
                [0.72 * lb, 0],
                [lb, 0.45 * wb],
                [0.8 * lb, 0.78 * wb],
                [0.45 * lb, wb],
                [0, wb],
            ]
        )
    hd = np.array([[-lh, -0.05 * wb], [0.0, -0.12 * wb], [0.0, 1.12 * wb], [-lh, 1.05 * wb]])
    hd[:, 1] = (hd[:, 1] - wb / 2) * max(1.0, 2.4 / wb) + wb / 2
    bolster = np.array([[-0.9, -0.15 * wb], [0.0, -0.15 * wb], [0.0, 1.15 * wb], [-0.9, 1.15 * wb]])
    angle = rng.uniform(0, 360)
    mid = np.array([(lb - lh) / 2, wb / 2])

    def put(poly: np.ndarray) -> np.ndarray:
        return place(poly - mid, center=center, size=(ppc, ppc), angle_deg=angle)

    pb, ph, pbo = raster([put(bl)]), raster([put(hd)]), raster([put(bolster)])
    t_blade = rng.uniform(0.12, 0.3)
    if sub == "steel_handle":
        handle_mat = "steel"
    else:
        handle_mat = str(rng.choice(["plastic", "plywood"], p=[0.59, 0.41]))
    t_handle = 0.6 if handle_mat == "steel" else rng.uniform(1.4, 2.2)
    layers = [
        slab("steel", cylinder_profile(pb, radius_px=0.4 * ppc) * t_blade, pb, depth_cm),
        slab(handle_mat, cylinder_profile(ph, radius_px=0.5 * ppc) * t_handle, ph, depth_cm),
        slab("steel", pbo.cov * 0.8, pbo, depth_cm),
    ]
    return Threat(
        3,
        layers,
        union([pb, ph]),
        {
            "subtype": sub,
            "blade_cm": [lb, wb],
            "handle": handle_mat,
            "angle_deg": angle,
            "dagger": dagger,
        },
    )


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


def liquid(
    rng: np.random.Generator,
    *,
    center: tuple[float, float],
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """A bottle or jerrycan of liquid (water-like or alcohol), PET, glass or HDPE walls."""
    kind = pick_subtype(rng, "liquid", _WEIGHTS["liquid"], subtypes)
    content = str(rng.choice(["water", "ethanol"]))
    angle = rng.uniform(0, 360)
    fill = rng.uniform(0.75, 0.98)
    if kind == "jerrycan":
        d, h = rng.uniform(16, 24), rng.uniform(22, 32)
        outline = place(rounded_rect(0.1), center=center, size=(d * ppc, h * ppc), angle_deg=angle)
        depth_body = rng.uniform(8, 13)
    else:
        d, h = rng.uniform(5.5, 9.5), rng.uniform(18, 32)
        outline = place(
            _bottle_outline(1.0, 1.0, 0.3), center=center, size=(d * ppc, h * ppc), angle_deg=angle
        )
        depth_body = d
    body = raster([outline])
    prof = cylinder_profile(body, radius_px=0.5 * min(d, depth_body) * ppc)
    # fill line: liquid below it (towards the base at +h/2 in template space)
    rr = np.arange(body.cov.shape[0], dtype=np.float32)[:, None]
    cc = np.arange(body.cov.shape[1], dtype=np.float32)[None, :]
    a = np.radians(angle)
    ux, uy = -np.sin(a), np.cos(a)  # template +y (base) direction in image coordinates
    along = ((cc + body.col0 - center[0]) * ux + (rr + body.row0 - center[1]) * uy) / (h * ppc)
    wet = (along > 0.5 - fill).astype(np.float32)
    wall_mat, wall = {
        "pet": ("plastic", 0.06),
        "glass": ("glass", 0.35),
        "jerrycan": ("plastic", 0.3),
    }[kind]
    layers = [
        slab(wall_mat, body.cov * wall, body, depth_cm),
        slab(content, prof * depth_body * wet, body, depth_cm + wall),
    ]
    return Threat(
        4,
        layers,
        body,
        {
            "subtype": kind,
            "kind": kind,
            "content": content,
            "size_cm": [d, h],
            "fill": fill,
            "angle_deg": angle,
        },
    )


#: draw weight of each sub-type within its class (names are the public sub-type vocabulary)
_WEIGHTS: dict[str, dict[str, float]] = {
    "organic_package": {"single_brick": 0.45, "multi_brick": 0.55},
    "currency": {"single_bundle": 0.25, "multi_bundle": 0.75},
    "firearm": {"pistol_polymer": 0.65, "pistol_steel": 0.35},
    "blade": {"kitchen": 0.64, "dagger": 0.21, "steel_handle": 0.15},
    "liquid": {"pet": 0.5, "glass": 0.3, "jerrycan": 0.2},
}

#: class name -> every sub-type its generator can produce (``params["subtype"]``)
SUBTYPES: dict[str, tuple[str, ...]] = {c: tuple(_WEIGHTS[c]) for c in THREAT_CLASSES}

#: generator per class id (index = class id, order of THREAT_CLASSES)
GENERATORS: tuple[Callable[..., Threat], ...] = (organic_package, currency, firearm, blade, liquid)

#: rough extent (cm) of each class for placement
EXTENT_CM: tuple[float, ...] = (30.0, 22.0, 20.0, 30.0, 28.0)
