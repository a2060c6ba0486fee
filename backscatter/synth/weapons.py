"""Firearms and blades of the threat library, one function per sub-type.

Outlines are in cm, gun muzzles and knife points to the right (+x), y down. Steel parts are
given as the steel path length a beam meets (a 2 mm slide wall and a 1 cm solid part look alike
to backscatter: both are dark, steel's own yield saturates within a millimetre or two), polymer,
wood and rubber parts as their full thickness (these are bright and their yield grows with it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from backscatter.synth.physics import Layer
from backscatter.synth.shapes import Patch, cylinder_profile
from backscatter.synth.threat_parts import (
    Pose,
    Threat,
    oval,
    pick_subtype,
    rect,
    slab,
    union,
)

Center = tuple[float, float]
Built = tuple[list[Layer], list[Patch], dict[str, object]]

#: handgun outline in cm, muzzle to the right, top of slide at y=0
SLIDE_CM = np.array([[0, 0], [18.5, 0], [18.5, 3.1], [0, 3.1]], float)
FRAME_CM = np.array(
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
MAGAZINE_CM = np.array([[1.8, 5.2], [4.9, 5.5], [4.0, 13.0], [1.1, 12.6]], float)


def _pistol(pose: Pose, depth: float, *, steel_frame: bool) -> Built:
    """Slide (steel), frame with grip (steel or polymer), steel magazine in the grip."""
    slide, frame, mag = pose.patch(SLIDE_CM), pose.patch(FRAME_CM), pose.patch(MAGAZINE_CM)
    ppc = pose.ppc * pose.scale
    layers = [
        slab("steel", cylinder_profile(slide, radius_px=0.6 * ppc) * 1.2, slide, depth),
        slab(
            "steel" if steel_frame else "nylon",
            frame.cov * (0.5 if steel_frame else 2.8),
            frame,
            depth + 0.1,
        ),
        slab("steel", mag.cov * 0.25, mag, depth + 0.9),
    ]
    return layers, [slide, frame], {"steel_frame": steel_frame}


def _revolver(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """Steel frame, cylinder (4 cm drum) and 6-16 cm barrel (with the frame's forcing cone), wood or
    rubber grip panels."""
    lb = float(rng.uniform(6.0, 16.0))
    ppc = pose.ppc * pose.scale
    drum = pose.patch(rect(4.8, -0.3, 9.4, 3.7))
    barrel = pose.patch(rect(9.4, 0.2, 9.4 + lb, 2.0), rect(9.4, 2.0, 9.4 + 0.6 * lb, 2.6))
    frame = pose.patch(
        rect(3.4, -0.9, 10.0, -0.2),
        rect(9.3, -0.9, 10.4, 3.2),
        rect(4.4, 3.6, 9.6, 4.6),
        rect(3.0, -0.9, 4.9, 4.6),
        np.array([[3.2, -0.9], [2.2, -2.0], [1.8, -1.7], [2.8, -0.2]]),  # hammer spur
        np.array([[3.0, 3.0], [4.9, 4.4], [3.9, 10.5], [1.0, 11.0], [0.0, 10.0], [1.5, 4.5]]),
    )
    guard = pose.holed(oval(6.2, 5.2, 1.7, 1.3), oval(6.2, 5.0, 1.25, 0.9))
    grip = pose.patch(np.array([[3.2, 4.0], [4.6, 4.8], [3.7, 10.3], [1.1, 10.7], [0.4, 10.0]]))
    panel = str(rng.choice(["plywood", "rubber"]))
    layers = [
        slab("steel", cylinder_profile(drum, radius_px=1.5 * ppc) * 3.6, drum, depth),
        slab("steel", cylinder_profile(barrel, radius_px=0.9 * ppc) * 1.8, barrel, depth + 0.4),
        slab("steel", frame.cov * 1.0, frame, depth + 0.3),
        slab("steel", guard.cov * 0.5, guard, depth + 0.5),
        slab(panel, cylinder_profile(grip, radius_px=0.8 * ppc) * 2.8, grip, depth),
    ]
    return layers, [drum, barrel, frame, guard], {"barrel_cm": lb, "grip": panel}


def _pistol_parts(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """A field-stripped pistol: slide, barrel, recoil spring, frame and magazine lying apart."""
    steel_frame = bool(rng.random() < 0.35)
    ppc = pose.ppc * pose.scale
    jit = rng.uniform(-15, 15, 5)
    slide = pose.part(0.0, 0.0, jit[0], (9.25, 1.55)).patch(SLIDE_CM)
    bp = pose.part(rng.uniform(-2, 2), 4.6, jit[1], (5.5, 0.8))
    barrel = bp.patch(rect(0.0, 0.0, 11.0, 1.4), rect(0.0, -0.3, 3.5, 1.7))
    spring = pose.part(rng.uniform(-2, 2), 7.4, jit[2], (5.0, 0.4)).patch(rect(0, 0, 10.0, 0.8))
    frame = pose.part(rng.uniform(-4, 0), 16.0, jit[3], (6.8, 8.0)).patch(FRAME_CM)
    mp = pose.part(rng.uniform(11, 14), 14.0 + rng.uniform(-1, 2), jit[4], (3.0, 9.0))
    mag = mp.patch(MAGAZINE_CM)
    layers = [
        slab("steel", cylinder_profile(slide, radius_px=0.6 * ppc) * 1.2, slide, depth),
        slab("steel", cylinder_profile(barrel, radius_px=0.7 * ppc) * 1.4, barrel, depth),
        slab("steel", spring.cov * 0.12, spring, depth),
        slab(
            "steel" if steel_frame else "nylon",
            frame.cov * (0.5 if steel_frame else 2.8),
            frame,
            depth + 0.1,
        ),
        slab("steel", mag.cov * 0.25, mag, depth + 0.2),
    ]
    return layers, [slide, barrel, spring, frame, mag], {"steel_frame": steel_frame}


def _smg(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """Compact submachine gun: stamped steel receiver with bolt, short barrel, straight
    magazine, polymer pistol grip, a wire stock folded over the receiver or none."""
    lr, lb, lm = rng.uniform(22, 28), rng.uniform(2, 8), rng.uniform(15, 24)
    ppc = pose.ppc * pose.scale
    rec = pose.patch(rect(0, 0, lr, 4.5))
    bolt = pose.patch(rect(0.25 * lr, 0.8, 0.25 * lr + 8.0, 3.6))
    barrel = pose.patch(rect(lr, 1.2, lr + lb, 2.6))
    mx = 0.42 * lr
    mag = pose.patch(
        np.array([[mx, 4.5], [mx + 3.0, 4.5], [mx + 3.8, 4.5 + lm], [mx + 0.8, 4.5 + lm]])
    )
    gx = 0.22 * lr
    grip = pose.patch(np.array([[gx, 4.5], [gx + 3.2, 4.5], [gx + 2.6, 13.5], [gx - 0.6, 13.0]]))
    guard = pose.holed(oval(gx + 5.0, 5.8, 1.9, 1.5), oval(gx + 5.0, 5.6, 1.45, 1.05))
    layers = [
        slab("steel", rec.cov * 0.2, rec, depth),
        slab("steel", bolt.cov * 2.0, bolt, depth + 0.4),
        slab("steel", cylinder_profile(barrel, radius_px=0.7 * ppc) * 1.4, barrel, depth + 0.5),
        slab("steel", mag.cov * 0.3, mag, depth + 0.6),
        slab("nylon", cylinder_profile(grip, radius_px=1.0 * ppc) * 3.0, grip, depth + 0.2),
        slab("steel", guard.cov * 0.3, guard, depth + 0.3),
    ]
    parts = [rec, barrel, mag, grip, guard]
    folded = bool(rng.random() < 0.7)
    if folded:
        stock = pose.patch(rect(-1.6, -1.1, lr - 3.0, -0.4), rect(-1.6, -1.1, -0.6, 5.0))
        layers.append(slab("steel", stock.cov * 0.6, stock, depth - 0.3))
        parts.append(stock)
    return layers, parts, {"length_cm": lr + lb, "magazine_cm": lm, "stock_folded": folded}


FIREARM_WEIGHTS: dict[str, float] = {
    "pistol_polymer": 0.24,
    "pistol_steel": 0.18,
    "pistol_compact": 0.14,
    "revolver": 0.16,
    "pistol_parts": 0.12,
    "smg": 0.16,
}
#: (x, y) cm of each firearm sub-type's outline that goes to the threat's centre
_FIREARM_MID = {
    "revolver": (11.0, 4.5),
    "pistol_parts": (5.0, 9.0),
    "smg": (14.0, 9.0),
}


def firearm(
    rng: np.random.Generator,
    *,
    center: Center,
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """A firearm: polymer- or steel-framed pistol, compact pistol, revolver, field-stripped
    pistol parts, or a compact submachine gun."""
    sub = pick_subtype(rng, "firearm", FIREARM_WEIGHTS, subtypes)
    if sub == "pistol_compact":
        scale = float(rng.uniform(0.68, 0.8))
    elif sub == "smg":
        scale = float(rng.uniform(0.95, 1.1))
    else:
        scale = float(rng.uniform(0.85, 1.15))
    angle = rng.uniform(0, 360)
    flip = bool(rng.random() < 0.5)
    pose = Pose(center, ppc, angle, _FIREARM_MID.get(sub, (9.25, 6.8)), flip, scale)
    if sub in ("pistol_polymer", "pistol_steel"):
        layers, parts, extra = _pistol(pose, depth_cm, steel_frame=sub == "pistol_steel")
    elif sub == "pistol_compact":
        layers, parts, extra = _pistol(pose, depth_cm, steel_frame=bool(rng.random() < 0.5))
    elif sub == "revolver":
        layers, parts, extra = _revolver(rng, pose, depth_cm)
    elif sub == "pistol_parts":
        layers, parts, extra = _pistol_parts(rng, pose, depth_cm)
    else:
        layers, parts, extra = _smg(rng, pose, depth_cm)
    params = {"subtype": sub, "scale": scale, "angle_deg": angle, "flip": flip, **extra}
    params.setdefault("steel_frame", True)
    return Threat(2, layers, union(parts), params)


def _knife_profile(lb: float, wb: float, dagger: bool) -> np.ndarray:
    if dagger:
        return np.array(
            [[0, 0], [0.75 * lb, 0.1 * wb], [lb, 0.5 * wb], [0.75 * lb, 0.9 * wb], [0, wb]]
        )
    return np.array(
        [[0, 0], [0.72 * lb, 0], [lb, 0.45 * wb], [0.8 * lb, 0.78 * wb], [0.45 * lb, wb], [0, wb]]
    )


def _knife(
    rng: np.random.Generator, center: Center, ppc: float, depth: float, sub: str
) -> tuple[list[Layer], list[Patch], dict[str, object], float]:
    """Kitchen knife, dagger, steel- or ceramic-handled knife: blade, bolster, handle."""
    lb, wb = rng.uniform(9.0, 22.0), rng.uniform(1.8, 4.5)
    lh = rng.uniform(9.0, 13.0)
    dagger = sub == "dagger" or (sub == "steel_handle" and rng.random() < 0.25)
    bl = _knife_profile(lb, wb, dagger)
    hd = np.array([[-lh, -0.05 * wb], [0.0, -0.12 * wb], [0.0, 1.12 * wb], [-lh, 1.05 * wb]])
    hd[:, 1] = (hd[:, 1] - wb / 2) * max(1.0, 2.4 / wb) + wb / 2
    bolster = np.array([[-0.9, -0.15 * wb], [0.0, -0.15 * wb], [0.0, 1.15 * wb], [-0.9, 1.15 * wb]])
    angle = rng.uniform(0, 360)
    pose = Pose(center, ppc, angle, ((lb - lh) / 2, wb / 2))
    pb, ph, pbo = pose.patch(bl), pose.patch(hd), pose.patch(bolster)
    t_blade = rng.uniform(0.12, 0.3)
    if sub == "steel_handle":
        handle_mat, t_handle = "steel", 0.6
    elif sub == "ceramic_handle":
        handle_mat, t_handle = "porcelain", rng.uniform(1.2, 1.8)
    else:
        handle_mat = str(rng.choice(["plastic", "plywood"], p=[0.59, 0.41]))
        t_handle = rng.uniform(1.4, 2.2)
    layers = [
        slab("steel", cylinder_profile(pb, radius_px=0.4 * ppc) * t_blade, pb, depth),
        slab(handle_mat, cylinder_profile(ph, radius_px=0.5 * ppc) * t_handle, ph, depth),
        slab("steel", pbo.cov * 0.8, pbo, depth),
    ]
    params = {"blade_cm": [lb, wb], "handle": handle_mat, "dagger": dagger}
    return layers, [pb, ph], params, angle


def _cleaver(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """Wide rectangular blade (15-21 x 7-10 cm) with a hanging hole, riveted wooden handle."""
    lb, wb, lh = rng.uniform(15, 21), rng.uniform(7, 10), rng.uniform(10, 13)
    ppc = pose.ppc
    outline = np.array(
        [[0, 0], [lb, 0], [lb, 0.85 * wb], [0.93 * lb, wb], [0.1 * lb, wb], [0, 0.9 * wb]]
    )
    blade = pose.holed(outline, oval(0.85 * lb, 0.18 * wb, 0.7, 0.7, 16))
    handle = pose.patch(rect(-lh, 0.2, 0.3, 2.9))
    rivets = pose.patch(*(oval(-x * lh, 1.55, 0.3, 0.3, 10) for x in (0.2, 0.5, 0.8)))
    mat = str(rng.choice(["plywood", "plastic"]))
    layers = [
        slab("steel", blade.cov * rng.uniform(0.2, 0.35), blade, depth),
        slab(mat, cylinder_profile(handle, radius_px=0.6 * ppc) * 2.2, handle, depth),
        slab("steel", rivets.cov * 2.0, rivets, depth),
    ]
    return layers, [blade, handle], {"blade_cm": [lb, wb], "handle": mat}


def _folding(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """Folding knife, open or closed: steel liners inside plastic/aluminium/wood scales, a
    pivot, a pocket clip."""
    lb, wb, lh = rng.uniform(7, 10), rng.uniform(2.0, 3.0), rng.uniform(10, 13)
    is_open = bool(rng.random() < 0.65)
    handle = pose.patch(np.array([[-lh, 0.2], [0, 0], [0, 2.6], [-lh, 2.3]]))
    if is_open:
        blade = pose.patch(_knife_profile(lb, wb, False) + [0.0, 0.3])
    else:  # edge folded into the handle, the spine just shows along its top
        blade = pose.patch(np.array([[-lb, 0.1], [0, 0.3], [0, 0.3 + wb], [-0.8 * lb, 2.0]]))
    pivot = pose.patch(oval(-0.6, 1.3, 0.65, 0.65, 16))
    clip = pose.patch(rect(-0.85 * lh, 0.5, -0.15 * lh, 1.1))
    scale_mat = str(rng.choice(["plastic", "aluminium", "plywood"], p=[0.5, 0.25, 0.25]))
    layers = [
        slab("steel", blade.cov * rng.uniform(0.25, 0.35), blade, depth + 0.3),
        slab("steel", handle.cov * 0.2, handle, depth + 0.2),  # two 1 mm liners
        slab(scale_mat, handle.cov * (0.3 if scale_mat == "aluminium" else 0.8), handle, depth),
        slab("steel", pivot.cov * 1.0, pivot, depth),
        slab("steel", clip.cov * 0.1, clip, depth - 0.1),
    ]
    return layers, [blade, handle], {"blade_cm": [lb, wb], "open": is_open, "handle": scale_mat}


def _machete(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """Long, thin, bellied blade (25-38 cm) on a riveted plastic or wood handle."""
    lb, wb, lh = rng.uniform(25, 38), rng.uniform(4.0, 6.0), rng.uniform(12, 14)
    outline = np.array(
        [
            [0, 0],
            [0.8 * lb, 0],
            [lb, 0.55 * wb],
            [0.9 * lb, 1.05 * wb],
            [0.6 * lb, 1.1 * wb],
            [0, 0.9 * wb],
        ]
    )
    blade = pose.patch(outline)
    handle = pose.patch(np.array([[-lh, -0.2], [0.3, 0.2], [0.3, 0.75 * wb], [-lh, 3.3]]))
    rivets = pose.patch(*(oval(-x * lh, 1.5, 0.3, 0.3, 10) for x in (0.3, 0.7)))
    mat = str(rng.choice(["plastic", "plywood"]))
    layers = [
        slab("steel", blade.cov * rng.uniform(0.18, 0.3), blade, depth),
        slab(mat, cylinder_profile(handle, radius_px=0.7 * pose.ppc) * 2.6, handle, depth),
        slab("steel", rivets.cov * 2.5, rivets, depth),
    ]
    return layers, [blade, handle], {"blade_cm": [lb, wb], "handle": mat}


def _balisong(rng: np.random.Generator, pose: Pose, depth: float) -> Built:
    """Butterfly knife: blade on two skeletonised handle halves, together or splayed open."""
    lb, lh = rng.uniform(8, 10.5), rng.uniform(10, 12.5)
    splay = float(rng.choice([0.0, rng.uniform(15, 60)]))
    blade = pose.patch(_knife_profile(lb, 2.3, False))
    mat = str(rng.choice(["steel", "aluminium"]))
    halves = []
    for side, y0 in ((-1, -0.1), (1, 1.15)):
        hp = pose.part(0.0, y0 + 0.55, side * splay / 2, (0.0, 0.55))
        slots = [oval(-(0.2 + 0.2 * k) * lh, 0.55, 0.08 * lh, 0.28, 12) for k in range(4)]
        halves.append(hp.holed(np.array([[-lh, 0], [0, 0], [0, 1.1], [-lh, 1.1]]), *slots))
    pins = pose.patch(oval(-0.5, 0.45, 0.35, 0.35, 10), oval(-0.5, 1.7, 0.35, 0.35, 10))
    layers = [slab("steel", blade.cov * 0.3, blade, depth + 0.4)]
    layers += [slab(mat, h.cov * (0.25 if mat == "steel" else 0.6), h, depth) for h in halves]
    layers.append(slab("steel", pins.cov * 1.2, pins, depth))
    return layers, [blade, *halves], {"blade_cm": [lb, 2.3], "splay_deg": splay, "handle": mat}


BLADE_WEIGHTS: dict[str, float] = {
    "kitchen": 0.24,
    "dagger": 0.12,
    "steel_handle": 0.12,
    "cleaver": 0.1,
    "folding": 0.14,
    "machete": 0.1,
    "balisong": 0.1,
    "ceramic_handle": 0.08,
}
_BLADE_BUILD: dict[str, Callable[[np.random.Generator, Pose, float], Built]] = {
    "cleaver": _cleaver,
    "folding": _folding,
    "machete": _machete,
    "balisong": _balisong,
}
#: (x, y) cm of each outline that goes to the threat's centre
_BLADE_MID = {"cleaver": (4.0, 4.0), "folding": (0.0, 1.3), "machete": (12.0, 2.0)}


def blade(
    rng: np.random.Generator,
    *,
    center: Center,
    ppc: float,
    depth_cm: float,
    subtypes: Sequence[str] | None = None,
) -> Threat:
    """A blade: kitchen knife, dagger, steel- or ceramic-handled knife, cleaver, folding knife
    (open or closed), machete, butterfly knife."""
    sub = pick_subtype(rng, "blade", BLADE_WEIGHTS, subtypes)
    if sub in _BLADE_BUILD:
        angle = rng.uniform(0, 360)
        pose = Pose(center, ppc, angle, _BLADE_MID.get(sub, (0.0, 1.2)), bool(rng.random() < 0.5))
        layers, parts, extra = _BLADE_BUILD[sub](rng, pose, depth_cm)
        extra["dagger"] = False
    else:
        layers, parts, extra, angle = _knife(rng, center, ppc, depth_cm, sub)
    return Threat(3, layers, union(parts), {"subtype": sub, "angle_deg": angle, **extra})
