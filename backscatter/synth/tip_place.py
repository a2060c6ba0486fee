"""Where a projected threat may go in a host, and what lies in front of it, per scene family.

A smuggler hides a threat in a cavity, behind a panel, among the contents; not across a
structural member (a stud, an intrusion beam, a wheel spoke, a trolley rod), where it would not
fit. The host's members are found from its pixels: places where the smoothed counts change by
more than :data:`MEMBER_STEP` within about a centimetre (a member's edge), widened by half a
centimetre. The threat's outline must lie in the object region, cover at most its family's
share of member pixels, and not be cut by members into two or more sizeable parts (lying across
one). Per family (see docs/exercises.md) the rules also give the covers in
front of the threat and its depth behind them, as the simulator builds that kind of scene;
``"any"`` (a host of unknown kind) mixes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from backscatter.synth.physics import Layer, clip_layer
from backscatter.synth.threats import EXTENT_CM, GENERATORS
from backscatter.synth.tip_host import HostNoise

#: relative change of the smoothed counts across ~1 cm that marks a structural member's edge
MEMBER_STEP = 0.3


@dataclass(frozen=True)
class FamilyRules:
    """Placement and cover rules of one scene family."""

    #: (material, thickness cm) in front of the threat, drawn uniformly
    covers: tuple[tuple[str, float], ...]
    #: depth of the threat's front face behind the cover, cm
    depth_cm: tuple[float, float]
    #: share of the space in front filled with clothes / packing
    fill: tuple[float, float]
    #: most of the threat's outline that may lie on a structural member
    max_member: float
    #: the object region is eroded by this many cm first (away from a bag's shell or a frame)
    inset_cm: float
    note: str


RULES: dict[str, FamilyRules] = {
    "door": FamilyRules((("steel", 0.07), ("steel", 0.085), ("steel", 0.1)), (1.5, 9.0),
                        (0.0, 0.2), 0.15, 1.0, "in the cavity behind the skin, off the beams"),
    "tyre": FamilyRules((("rubber", 0.9), ("rubber", 1.15), ("rubber", 1.4)), (1.5, 14.0),
                        (0.0, 0.1), 0.05, 0.5, "inside the air cavity, clear of rim and tread"),
    "wall": FamilyRules((("drywall", 1.25), ("plywood", 0.9), ("plywood", 1.8)), (0.3, 6.0),
                        (0.0, 0.3), 0.10, 1.0, "between the studs, behind the panel"),
    "luggage": FamilyRules((("nylon", 0.12), ("plastic", 0.35)), (1.0, 16.0), (0.0, 0.6),
                           0.25, 3.0, "among the contents, inside the shell, off the rods"),
    "crate": FamilyRules((("plywood", 1.2), ("plywood", 2.0), ("paper", 0.5)), (0.3, 20.0),
                         (0.0, 0.5), 0.25, 1.0, "among the goods, off battens and edges"),
}  # fmt: skip
RULES["any"] = FamilyRules(
    tuple(c for r in RULES.values() for c in r.covers),
    (1.0, 12.0),
    (0.0, 0.5),
    0.15,
    1.0,
    "a host of unknown kind: covers of every family, off structural members",
)


def rules_for(family: str | None) -> FamilyRules:
    if family is None:
        return RULES["any"]
    if family not in RULES:
        raise ValueError(f"family: expected one of {sorted(RULES)}, got {family!r}")
    return RULES[family]


def members(pixels: np.ndarray, *, noise: HostNoise, ppc: float) -> np.ndarray:
    """``(rows, cols)`` bool: the host's structural members' edges (see the module docstring)."""
    counts = noise.counts(np.asarray(pixels, np.float64)) + 1.0
    sigma = max(1.0, 0.5 * ppc)
    log_c = np.log(cv2.GaussianBlur(counts, (0, 0), sigma))
    gy, gx = np.gradient(log_c)
    step = np.hypot(gx, gy) * max(ppc, 1.0)  # change of log counts per cm
    edge = (step > MEMBER_STEP).astype(np.uint8)
    r = max(1, int(round(0.5 * ppc)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    return cv2.dilate(edge, kernel) > 0


Generator = Callable[..., Any]


def _straddles(full: np.ndarray, member_map: np.ndarray, area: int) -> bool:
    """True when the members cut the outline into two or more parts of 15 % or more each (a
    thin object lying across a beam covers little of it, yet sits where it could not be)."""
    rows = np.flatnonzero(full.any(axis=1))
    cols = np.flatnonzero(full.any(axis=0))
    box = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    rest = (full[box] & ~member_map[box]).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(rest, connectivity=8)
    return int(np.count_nonzero(stats[1:n, cv2.CC_STAT_AREA] >= 0.15 * area)) >= 2


def place(
    cid: int,
    region: np.ndarray,
    rng: np.random.Generator,
    *,
    ppc: float,
    depth_cm: float,
    member_map: np.ndarray | None,
    rules: FamilyRules,
    min_inside: float = 0.97,
    tries: int = 40,
) -> tuple[list[Layer], np.ndarray, dict[str, Any]] | None:
    """Draw threat ``cid`` at random centres until its outline fits the rules; None if it never
    does. ``member_map`` None places anywhere in the region (the trainer asked so)."""
    shape = region.shape
    allowed = region
    if rules.inset_cm > 0:
        r = max(1, int(round(rules.inset_cm * ppc)))
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        inset = cv2.erode(region.astype(np.uint8), k) > 0
        allowed = inset if inset.any() else region
    r = max(1, int(0.25 * EXTENT_CM[cid] * ppc))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    core = cv2.erode(allowed.astype(np.uint8), kernel) > 0
    if member_map is not None:
        free = core & ~member_map
        core = free if free.any() else core
    ys, xs = np.nonzero(core if core.any() else allowed)
    if ys.size == 0:
        return None
    for _ in range(tries):
        i = int(rng.integers(ys.size))
        gen: Generator = GENERATORS[cid]
        t = gen(rng, center=(float(xs[i]), float(ys[i])), ppc=ppc, depth_cm=depth_cm)
        p = t.patch
        ph, pw = p.cov.shape
        if p.row0 < 0 or p.col0 < 0 or p.row0 + ph > shape[0] or p.col0 + pw > shape[1]:
            continue
        full = np.zeros(shape, bool)
        full[p.row0 : p.row0 + ph, p.col0 : p.col0 + pw] = p.mask
        area = int(full.sum())
        if area < 20 or np.count_nonzero(full & allowed) < min_inside * area:
            continue
        on_member = 0.0
        if member_map is not None:
            on_member = np.count_nonzero(full & member_map) / area
            if on_member > rules.max_member or _straddles(full, member_map, area):
                continue
        layers = [c for lay in t.layers if (c := clip_layer(lay, shape)) is not None]
        params = dict(t.params)
        params["on_member"] = float(on_member)
        return layers, full, params
    return None
