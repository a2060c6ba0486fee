"""The threat library's named sub-types: each can be drawn alone, has a plausible size, and
``subtypes=`` restricts the draw."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.threats import GENERATORS, SUBTYPES, Threat

PPC = 5.0  # px per cm, about the handheld 512 x 512 scan

#: sub-types the detector issue names; they must keep these names
REQUIRED = {
    "organic_package": {"single_brick", "multi_brick"},
    "currency": {"single_bundle", "multi_bundle"},
    "firearm": {"pistol_polymer", "pistol_steel"},
    "blade": {"kitchen", "dagger", "steel_handle"},
    "liquid": {"pet", "glass", "jerrycan"},
}

CASES = [(cid, sub) for cid, cls in enumerate(THREAT_CLASSES) for sub in SUBTYPES[cls]]


def _draw(cid: int, seed: int, subtypes: list[str] | None = None) -> Threat:
    rng = np.random.default_rng(seed)
    return GENERATORS[cid](rng, center=(200.0, 200.0), ppc=PPC, depth_cm=2.0, subtypes=subtypes)


def test_every_class_lists_its_subtypes_and_the_named_ones() -> None:
    assert set(SUBTYPES) == set(THREAT_CLASSES)
    for cls, names in REQUIRED.items():
        assert names <= set(SUBTYPES[cls]), cls
        assert len(set(SUBTYPES[cls])) == len(SUBTYPES[cls])


@pytest.mark.parametrize(("cid", "sub"), CASES)
def test_each_subtype_draws_alone_with_a_plausible_mask(cid: int, sub: str) -> None:
    for seed in range(3):
        t = _draw(cid, seed, [sub])
        assert t.class_id == cid
        assert t.params["subtype"] == sub
        mask = t.patch.mask
        area_cm2 = mask.sum() / PPC**2
        rows = np.flatnonzero(mask.any(axis=1))
        cols = np.flatnonzero(mask.any(axis=0))
        long_cm = max(rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1) / PPC
        assert area_cm2 >= 4.0, (sub, area_cm2)
        assert 5.0 <= long_cm <= 75.0, (sub, long_cm)
        assert t.layers and all(lay.thickness.max() > 0 for lay in t.layers)


@pytest.mark.parametrize("cid", range(len(THREAT_CLASSES)))
def test_default_draw_covers_all_subtypes_and_restriction_holds(cid: int) -> None:
    names = SUBTYPES[THREAT_CLASSES[cid]]
    seen = {_draw(cid, s).params["subtype"] for s in range(60 * len(names))}
    assert seen == set(names)
    keep = list(names[:1]) + list(names[-1:])
    drawn = {_draw(cid, s, keep).params["subtype"] for s in range(40)}
    assert drawn == set(keep)


def test_unknown_subtype_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="'bazooka'"):
        _draw(2, 0, ["pistol_polymer", "bazooka"])


def test_empty_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        _draw(3, 0, [])


def test_same_seed_same_threat() -> None:
    a, b = _draw(4, 7), _draw(4, 7)
    assert a.params == b.params
    assert np.array_equal(a.patch.cov, b.patch.cov)
