"""Benign look-alikes of every threat class: everyday objects with a threat's outline, size or
material, so that the detector learns the threat and not just "dark L-shape" or "bright brick".

Each function has the clutter signature ``(rng, center (x, y) px, ppc px/cm, depth cm) ->
layers``; :data:`backscatter.synth.clutter.LOOKALIKE_OF` says which class each imitates.
Outlines are in cm in the object's own frame (see :class:`~backscatter.synth.threat_parts.Pose`).

Liquids: a liquid *threat* is a concealed container of half a litre or more (bottles from 18 cm,
jerrycans, canisters, flasks, bladders). The everyday small ones here (0.33-0.5 L bottles under
18 cm, 330 ml cans, 250 ml toiletries) are benign, as carried in plain sight.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from backscatter.synth.physics import Layer
from backscatter.synth.shapes import cylinder_profile, smooth_noise, stripes
from backscatter.synth.threat_parts import Pose, oval, rect, slab
from backscatter.synth.weapons import FRAME_CM, SLIDE_CM

Center = tuple[float, float]


def _pose(
    rng: np.random.Generator, center: Center, ppc: float, origin: tuple[float, float]
) -> Pose:
    return Pose(center, ppc, float(rng.uniform(0, 360)), origin, bool(rng.random() < 0.5))


# --- firearm look-alikes -------------------------------------------------------------------


def toy_gun(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Plastic toy pistol: a handgun's outline, all moulded plastic, a few steel screws and a
    spring."""
    pose = Pose(
        center,
        ppc,
        rng.uniform(0, 360),
        (9.25, 6.8),
        bool(rng.random() < 0.5),
        rng.uniform(0.8, 1.2),
    )
    body = pose.patch(SLIDE_CM, FRAME_CM)
    screws = pose.patch(*(oval(x, y, 0.25, 0.25, 8) for x, y in ((3, 1.5), (12, 1.5), (3, 9))))
    spring = pose.patch(rect(6.0, 1.2, 14.0, 1.6))
    return [
        slab("plastic", cylinder_profile(body, radius_px=0.8 * ppc) * 2.6, body, depth),
        slab("steel", screws.cov * 0.4, screws, depth + 0.5),
        slab("steel", spring.cov * 0.05, spring, depth + 0.8),
    ]


def stapler(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Desk stapler: steel base and arm channels under a plastic cap, closed or opened."""
    length = rng.uniform(13, 20)
    pose = _pose(rng, center, ppc, (length / 2, 2.0))
    base = pose.patch(rect(0, 0, length, 3.8))
    opened = float(rng.choice([0.0, rng.uniform(15, 40)]))
    arm_pose = pose.part(0.6, 1.9, opened, (0.0, 1.9))
    arm = arm_pose.patch(rect(0.0, 0.6, length - 0.4, 3.2))
    cap = arm_pose.patch(rect(0.5, 0.4, length - 0.2, 3.4))
    return [
        slab("steel", base.cov * 0.12, base, depth + 1.0),
        slab("steel", arm.cov * 0.2, arm, depth + 0.3),
        slab("plastic", cap.cov * 1.5, cap, depth),
    ]


def hair_dryer(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Plastic barrel and pistol-grip handle, a motor at the back, a heating coil at the front."""
    lb, d = rng.uniform(16, 23), rng.uniform(5.5, 7.5)
    pose = _pose(rng, center, ppc, (lb / 2, 6.0))
    barrel = pose.patch(rect(0, -d / 2, lb, d / 2))
    handle = pose.patch(np.array([[2.5, 0], [6.5, 0], [5.5, 12.0], [2.0, 12.0]]))
    motor = pose.patch(rect(1.5, -0.3 * d, 5.0, 0.3 * d))
    coil = pose.patch(rect(0.5 * lb, -0.35 * d, lb - 1.0, 0.35 * d))
    rings = stripes(coil.cov.shape, period_px=0.5 * ppc, angle_deg=pose.angle_deg, duty=0.25)
    return [
        slab("plastic", cylinder_profile(barrel, radius_px=0.5 * d * ppc) * 0.4, barrel, depth),
        slab("plastic", cylinder_profile(handle, radius_px=1.6 * ppc) * 3.2, handle, depth),
        slab("steel", cylinder_profile(motor, radius_px=0.3 * d * ppc) * 1.5, motor, depth + 1),
        slab("steel", coil.cov * rings * 0.05, coil, depth + 1.5),
    ]


def power_drill(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Cordless drill: plastic body and grip, steel chuck and bit, motor, battery of cells."""
    lb = rng.uniform(15, 20)
    pose = _pose(rng, center, ppc, (lb / 2, 8.0))
    body = pose.patch(rect(0, 0, lb, 6.0), np.array([[3, 5], [8, 5], [7.5, 16], [3.5, 16]]))
    battery = pose.patch(rect(1.0, 16, 11.0, 20.5))
    chuck = pose.patch(rect(lb, 1.0, lb + 5.0, 5.0))
    bit = pose.patch(rect(lb + 5.0, 2.7, lb + 5.0 + rng.uniform(4, 12), 3.3))
    motor = pose.patch(rect(2.0, 1.0, 8.0, 5.0))
    cells = pose.patch(*(rect(1.3 + 1.9 * k, 16.4, 3.1 + 1.9 * k, 20.1) for k in range(5)))
    return [
        slab("plastic", cylinder_profile(body, radius_px=2 * ppc) * 3.5, body, depth),
        slab("plastic", battery.cov * 0.5, battery, depth),
        slab("steel", cylinder_profile(chuck, radius_px=2 * ppc) * 3.0, chuck, depth + 0.5),
        slab("steel", bit.cov * 0.6, bit, depth + 2.0),
        slab("steel", motor.cov * 1.0, motor, depth + 1.0),
        slab("steel", cells.cov * 0.08, cells, depth + 0.6),
    ]


def hard_drive(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """3.5" or 2.5" hard disk: cast aluminium case, platters, steel magnet, circuit board."""
    w, h = (14.7, 10.2) if rng.random() < 0.6 else (10.0, 7.0)
    pose = _pose(rng, center, ppc, (w / 2, h / 2))
    case = pose.patch(rect(0, 0, w, h))
    platter = pose.patch(oval(0.4 * w, 0.5 * h, 0.45 * h, 0.45 * h))
    magnet = pose.patch(rect(0.8 * w, 0.1 * h, 0.97 * w, 0.45 * h))
    return [
        slab("aluminium", case.cov * 0.35, case, depth),
        slab("aluminium", platter.cov * 0.3, platter, depth + 0.5),
        slab("steel", magnet.cov * 0.8, magnet, depth + 0.4),
        slab("fr4", case.cov * 0.16, case, depth + 2.0),
    ]


def bracket(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Steel angle or shelf bracket: an L of punched strip (a gun's L to a novice)."""
    a, b, wd = rng.uniform(6, 16), rng.uniform(6, 16), rng.uniform(2, 4)
    pose = _pose(rng, center, ppc, (a / 3, b / 3))
    holes = [oval(a * f, wd / 2, 0.3, 0.3, 10) for f in (0.45, 0.8)]
    holes += [oval(wd / 2, b * f, 0.3, 0.3, 10) for f in (0.45, 0.8)]
    outline = np.array([[0, 0], [a, 0], [a, wd], [wd, wd], [wd, b], [0, b]])
    p = pose.holed(outline, *holes)
    return [slab("steel", p.cov * rng.uniform(0.2, 0.5), p, depth)]


# --- blade look-alikes ---------------------------------------------------------------------


def metal_bar(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Flat bar or rod of steel or aluminium, 20-60 cm, sometimes drilled."""
    length, wd = rng.uniform(20, 60), rng.uniform(1.5, 4.0)
    pose = _pose(rng, center, ppc, (length / 2, wd / 2))
    holes = [oval(f * length, wd / 2, 0.25 * wd, 0.25 * wd, 12) for f in (0.1, 0.9)]
    p = pose.holed(rect(0, 0, length, wd), *(holes if rng.random() < 0.4 else []))
    mat = str(rng.choice(["steel", "aluminium"], p=[0.7, 0.3]))
    t = p.cov * rng.uniform(0.3, 1.0)
    if rng.random() < 0.4:  # round rod: chord profile
        t = cylinder_profile(p, radius_px=0.5 * wd * ppc) * wd
    return [slab(mat, t, p, depth)]


def steel_ruler(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """30 cm steel rule: a thin, straight, blade-like strip with a hanging hole."""
    length = float(rng.choice([15.0, 30.0, 50.0]))
    pose = _pose(rng, center, ppc, (length / 2, 1.3))
    p = pose.holed(rect(0, 0, length, 2.6), oval(length - 1.2, 1.3, 0.3, 0.3, 10))
    return [slab("steel", p.cov * 0.1, p, depth)]


def hinge(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Butt hinge: two drilled steel leaves on a knuckle, open flat or folded."""
    h, wl = rng.uniform(6, 12), rng.uniform(3, 5)
    pose = _pose(rng, center, ppc, (0.0, h / 2))
    folded = bool(rng.random() < 0.4)
    leaves = [(-wl, 0.0)] if folded else [(-wl, 0.0), (0.0, wl)]
    layers = []
    for x0, x1 in leaves:
        holes = [oval((x0 + x1) / 2, h * f, 0.35, 0.35, 10) for f in (0.2, 0.5, 0.8)]
        p = pose.holed(rect(x0, 0, x1, h), *holes)
        layers.append(slab("steel", p.cov * (0.5 if folded else 0.25), p, depth))
    knuckle = pose.patch(rect(-0.45, 0, 0.45, h))
    layers.append(
        slab("steel", cylinder_profile(knuckle, radius_px=0.45 * ppc) * 0.9, knuckle, depth)
    )
    return layers


def pliers(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Combination pliers: steel jaws and pivot, two handles in plastic grips."""
    lj, lh = rng.uniform(4, 7), rng.uniform(11, 15)
    spread = rng.uniform(1.5, 4.0)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    jaws = pose.patch(np.array([[0, -1.3], [lj, -0.3], [lj, 0.3], [0, 1.3]]))
    arms = [
        np.array([[0, -0.3 * s], [-lh, -s * spread], [-lh, -s * (spread - 1.2)], [0, 0.5 * s]])
        for s in (-1, 1)
    ]
    steel = pose.patch(*arms)
    grips = pose.patch(*(a + [-0.5, 0] for a in arms))
    pivot = pose.patch(oval(0.0, 0.0, 1.0, 1.0, 14))
    return [
        slab("steel", jaws.cov * 1.2, jaws, depth),
        slab("steel", steel.cov * 0.8, steel, depth),
        slab("steel", pivot.cov * 1.4, pivot, depth),
        slab("rubber", grips.cov * 1.2, grips, depth - 0.3),
    ]


def scissors(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Two pointed steel blades crossing at a screw, plastic finger loops (rings)."""
    lb = rng.uniform(7, 13)
    open_deg = rng.uniform(0, 25)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    layers = []
    for s in (-1, 1):
        part = pose.part(0.0, 0.0, s * open_deg / 2, (0.0, 0.0))
        bl = part.patch(np.array([[-1.0, -0.5 * s], [lb, 0.0], [-1.0, 0.9 * s]]))
        loop = part.holed(oval(-4.0, 1.4 * s, 2.2, 1.5), oval(-4.0, 1.4 * s, 1.5, 0.9))
        layers += [
            slab("steel", bl.cov * 0.2, bl, depth),
            slab("plastic", loop.cov * 0.8, loop, depth),
        ]
    screw = pose.patch(oval(0.0, 0.0, 0.4, 0.4, 10))
    layers.append(slab("steel", screw.cov * 0.8, screw, depth))
    return layers


def can_opener(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Hand-crank can opener: steel arms in plastic grips, cutting and gear wheels, a key."""
    lh = rng.uniform(12, 16)
    pose = _pose(rng, center, ppc, (lh / 2, 1.5))
    arms = pose.patch(rect(0, 0, lh, 1.2), rect(0, 1.8, lh, 3.0))
    grips = pose.patch(rect(3.0, -0.2, lh, 1.4), rect(3.0, 1.6, lh, 3.2))
    wheels = pose.patch(oval(0.0, 0.6, 1.3, 1.3, 16), oval(0.0, 2.4, 1.1, 1.1, 16))
    key = pose.patch(np.array([[-0.5, 1.2], [-3.5, -0.5], [-4.5, 1.5], [-3.5, 3.5]]))
    return [
        slab("steel", arms.cov * 0.3, arms, depth),
        slab("plastic", grips.cov * 1.0, grips, depth - 0.3),
        slab("steel", wheels.cov * 0.6, wheels, depth),
        slab("steel", key.cov * 0.3, key, depth),
    ]


# --- currency look-alikes ------------------------------------------------------------------


def paper_stack(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """A stack of loose sheets (A4, A5 or notepads), sub-stacks a little out of line."""
    w, h = [(21.0, 29.7), (14.8, 21.0), (10.0, 15.0)][int(rng.integers(3))]
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    layers = []
    for k in range(int(rng.integers(1, 4))):
        part = pose.part(rng.normal(0, 0.5), rng.normal(0, 0.5), rng.normal(0, 3), (0.0, 0.0))
        p = part.patch(rect(-w / 2, -h / 2, w / 2, h / 2))
        layers.append(slab("paper", p.cov * rng.uniform(0.3, 2.0), p, depth + 2.0 * k))
    return layers


def letter_envelope(
    rng: np.random.Generator, center: Center, ppc: float, depth: float
) -> list[Layer]:
    """Envelope of folded letters: paper only, a few mm thick, flap folds showing."""
    w, h = [(22.0, 11.0), (16.2, 11.4), (22.9, 16.2)][int(rng.integers(3))]
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    env = pose.patch(rect(-w / 2, -h / 2, w / 2, h / 2))
    flap = pose.patch(np.array([[-w / 2, -h / 2], [w / 2, -h / 2], [0, 0.1 * h]]))
    sheets = pose.patch(rect(-w / 2 + 0.5, -h / 2 + 0.5, w / 2 - 0.5, h / 2 - 0.5))
    return [
        slab("paper", env.cov * 0.04, env, depth),
        slab("paper", flap.cov * 0.02, flap, depth - 0.02),
        slab("paper", sheets.cov * rng.uniform(0.05, 0.4), sheets, depth + 0.05),
    ]


def deck_of_cards(
    rng: np.random.Generator, center: Center, ppc: float, depth: float
) -> list[Layer]:
    """Playing cards in their box: a small banknote-coloured brick, 8.9 x 6.4 x 1.8 cm."""
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    p = pose.patch(rect(-4.45, -3.2, 4.45, 3.2))
    return [slab("paper", p.cov * 1.8, p, depth)]


def power_bank(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Plastic case the size of a banknote bundle, steel-can cells inside, a small board."""
    n = int(rng.integers(2, 5))
    w, h = 6.8, 1.9 * n + 0.8
    pose = _pose(rng, center, ppc, (w / 2, h / 2))
    case = pose.patch(rect(0, 0, w + 1.2, h))
    cells = pose.patch(*(rect(0.3, 0.4 + 1.9 * k, 6.8, 2.2 + 1.9 * k) for k in range(n)))
    board = pose.patch(rect(w - 0.1, 0.3, w + 1.1, h - 0.3))
    return [
        slab("plastic", case.cov * 0.4, case, depth),
        slab("steel", cylinder_profile(cells, radius_px=0.9 * ppc) * 0.05, cells, depth + 0.2),
        slab("fr4", board.cov * 0.16, board, depth + 0.2),
    ]


# --- organic package look-alikes -----------------------------------------------------------


def cheese_block(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """A block or wedge of hard cheese in plastic film."""
    w, h, t = rng.uniform(10, 22), rng.uniform(7, 12), rng.uniform(3, 8)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    wedge = rng.random() < 0.35
    outline = (
        np.array([[-w / 2, -h / 2], [w / 2, 0], [-w / 2, h / 2]])
        if wedge
        else rect(-w / 2, -h / 2, w / 2, h / 2)
    )
    p = pose.patch(outline)
    return [
        slab("plastic", p.cov * 0.02, p, depth),
        slab("cheese", cylinder_profile(p, radius_px=1.0 * ppc) * t, p, depth + 0.02),
    ]


def sausage(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Salami or a ring sausage: a meat cylinder (3-7 cm) with aluminium clips at the ends."""
    d, length = rng.uniform(3, 7), rng.uniform(15, 35)
    pose = _pose(rng, center, ppc, (length / 2, 0.0))
    bend = rng.uniform(0.0, 0.25) * length
    xs = np.linspace(0, length, 12)
    ys = bend * (1 - (2 * xs / length - 1) ** 2)
    outline = np.concatenate([np.stack([xs, ys - d / 2], 1), np.stack([xs, ys + d / 2], 1)[::-1]])
    body = pose.patch(outline)
    clips = pose.patch(rect(-0.8, -0.5, 0.0, 0.5), rect(length, -0.5, length + 0.8, 0.5))
    return [
        slab("meat", cylinder_profile(body, radius_px=0.5 * d * ppc) * d, body, depth),
        slab("aluminium", clips.cov * 0.3, clips, depth),
    ]


def bread(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """A loaf (20-30 cm) or a baguette (45-60 cm): light, airy crumb, a denser crust."""
    if rng.random() < 0.6:
        w, h, t = rng.uniform(20, 30), rng.uniform(10, 13), rng.uniform(8, 12)
    else:
        w, h, t = rng.uniform(45, 60), rng.uniform(5, 7), rng.uniform(5, 7)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    p = pose.patch(oval(0, 0, w / 2, h / 2, 32))
    prof = cylinder_profile(p, radius_px=0.5 * h * ppc) * (1 + 0.1 * smooth_noise(p.cov.shape, rng))
    return [slab("bread", np.clip(prof, 0, None) * t, p, depth)]


def coffee_brick(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Vacuum-packed ground coffee (250-500 g): a hard brick in foil laminate, no tape.

    Ground coffee packs at about 0.4 g/cm3, modelled as loose sugar-like powder (0.55) with the
    thickness scaled by the density ratio."""
    big = rng.random() < 0.4
    w, h, t = (17.0, 9.0, 7.0) if big else (13.0, 7.0, 5.5)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    p = pose.patch(rect(-w / 2, -h / 2, w / 2, h / 2))
    return [
        slab("aluminium", p.cov * 0.002, p, depth),
        slab("powder_low", cylinder_profile(p, radius_px=0.6 * ppc) * t * 0.4 / 0.55, p, depth),
    ]


def router(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """Wi-Fi router: plastic box with a circuit board, metal shield cans and antenna sticks."""
    w, h = rng.uniform(18, 26), rng.uniform(12, 18)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    case = pose.patch(rect(-w / 2, -h / 2, w / 2, h / 2))
    board = pose.patch(rect(-0.4 * w, -0.4 * h, 0.4 * w, 0.4 * h))
    cans = pose.patch(*(rect(x - 1.5, -1.5, x + 1.5, 1.5) for x in (-0.2 * w, 0.2 * w)))
    n = int(rng.integers(0, 5))
    layers = [
        slab("plastic", case.cov * 0.5, case, depth),
        slab("fr4", board.cov * 0.16, board, depth + 1.0),
        slab("steel", cans.cov * 0.02, cans, depth + 0.8),
    ]
    if n:
        ants = pose.patch(
            *(
                rect(x - 0.6, -h / 2 - 16, x + 0.6, -h / 2)
                for x in np.linspace(-0.35 * w, 0.35 * w, n)
            )
        )
        layers.append(slab("plastic", ants.cov * 1.0, ants, depth))
    return layers


# --- liquid look-alikes (everyday, small, in plain sight) ----------------------------------


def water_bottle(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """0.33-0.5 L PET drinking bottle (5.5-6.8 x 13-17.5 cm), cap and a little air."""
    d, h = rng.uniform(5.5, 6.8), rng.uniform(13, 17.5)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    body = pose.patch(
        np.array(
            [
                [-d / 2, h / 2],
                [d / 2, h / 2],
                [d / 2, -0.2 * h],
                [1.4, -0.4 * h],
                [-1.4, -0.4 * h],
                [-d / 2, -0.2 * h],
            ]
        )
    )
    cap = pose.patch(rect(-1.5, -0.5 * h, 1.5, -0.4 * h))
    wet = pose.patch(rect(-d / 2, -0.15 * h, d / 2, h / 2))
    return [
        slab("plastic", body.cov * 0.05, body, depth),
        slab("plastic", cap.cov * 0.6, cap, depth),
        slab("water", cylinder_profile(wet, radius_px=0.5 * d * ppc) * d, wet, depth + 0.03),
    ]


def drink_can(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """330 ml (6.6 x 11.5 cm) or slim 250 ml aluminium can of a drink, seen from the side."""
    d, h = (6.6, 11.5) if rng.random() < 0.7 else (5.3, 13.4)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    p = pose.patch(rect(-d / 2, -h / 2, d / 2, h / 2))
    return [
        slab("aluminium", p.cov * 0.02, p, depth),
        slab("water", cylinder_profile(p, radius_px=0.5 * d * ppc) * d, p, depth + 0.01),
    ]


def shampoo(rng: np.random.Generator, center: Center, ppc: float, depth: float) -> list[Layer]:
    """250-400 ml HDPE toiletry bottle, oval section, flip cap; watery contents."""
    w, h, t = rng.uniform(6, 8), rng.uniform(15, 21), rng.uniform(3.5, 5)
    pose = _pose(rng, center, ppc, (0.0, 0.0))
    body = pose.patch(oval(0, 0.05 * h, w / 2, 0.45 * h, 28))
    cap = pose.patch(rect(-1.6, -0.5 * h, 1.6, -0.36 * h))
    return [
        slab("plastic", body.cov * 0.1, body, depth),
        slab("plastic", cap.cov * 2.0, cap, depth),
        slab("water", cylinder_profile(body, radius_px=0.5 * t * ppc) * t * 0.9, body, depth + 0.1),
    ]


#: name -> (generator, class it imitates)
LOOKALIKES: dict[
    str, tuple[Callable[[np.random.Generator, Center, float, float], list[Layer]], str]
] = {
    "toy_gun": (toy_gun, "firearm"),
    "stapler": (stapler, "firearm"),
    "hair_dryer": (hair_dryer, "firearm"),
    "power_drill": (power_drill, "firearm"),
    "hard_drive": (hard_drive, "firearm"),
    "bracket": (bracket, "firearm"),
    "metal_bar": (metal_bar, "blade"),
    "steel_ruler": (steel_ruler, "blade"),
    "hinge": (hinge, "blade"),
    "pliers": (pliers, "blade"),
    "scissors": (scissors, "blade"),
    "can_opener": (can_opener, "blade"),
    "paper_stack": (paper_stack, "currency"),
    "letter_envelope": (letter_envelope, "currency"),
    "deck_of_cards": (deck_of_cards, "currency"),
    "power_bank": (power_bank, "currency"),
    "cheese_block": (cheese_block, "organic_package"),
    "sausage": (sausage, "organic_package"),
    "bread": (bread, "organic_package"),
    "coffee_brick": (coffee_brick, "organic_package"),
    "router": (router, "organic_package"),
    "water_bottle": (water_bottle, "liquid"),
    "drink_can": (drink_can, "liquid"),
    "shampoo": (shampoo, "liquid"),
}
