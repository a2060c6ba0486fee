"""The threat library's named sub-types (each can be drawn alone, has a plausible size, and
``subtypes=`` restricts the draw) and the benign look-alikes of every class."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.clutter import CLUTTER, LOOKALIKE_OF
from backscatter.synth.physics import clip_layer, get_profile, scatter_signal
from backscatter.synth.scenes import BUILDERS
from backscatter.synth.shapes import Patch
from backscatter.synth.threats import GENERATORS, SUBTYPES, Threat, slab

PPC = 5.0  # px per cm, about the handheld 512 x 512 scan

#: sub-types the detector issue names; they must keep these names
REQUIRED = {
    "organic_package": {"single_brick", "multi_brick"},
    "currency": {"single_bundle", "multi_bundle"},
    "firearm": {"pistol_polymer", "pistol_steel"},
    "blade": {"kitchen", "dagger", "steel_handle"},
    "liquid": {"pet", "glass", "jerrycan"},
}

#: longest side (cm) of an object's box: a pocket pistol to a 20 L jerrycan
LONG_CM = {
    "organic_package": (10.0, 60.0),
    "currency": (6.0, 42.0),
    "firearm": (10.0, 45.0),
    "blade": (9.0, 55.0),
    "liquid": (10.0, 55.0),
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
        lo, hi = LONG_CM[THREAT_CLASSES[cid]]
        assert area_cm2 >= 20.0, (sub, area_cm2)
        assert lo <= long_cm <= hi, (sub, long_cm)
        assert t.layers and all(lay.thickness.max() > 0 for lay in t.layers)


@pytest.mark.parametrize("cid", range(len(THREAT_CLASSES)))
def test_default_draw_covers_all_subtypes_and_restriction_holds(cid: int) -> None:
    names = SUBTYPES[THREAT_CLASSES[cid]]
    seen = {_draw(cid, s).params["subtype"] for s in range(60 * len(names))}
    assert seen == set(names)
    keep = list(names[:1]) + list(names[-1:])
    drawn = {_draw(cid, s, keep).params["subtype"] for s in range(40)}
    assert drawn == set(keep)


@pytest.mark.parametrize("cid", range(len(THREAT_CLASSES)))
def test_unknown_subtype_is_refused_by_name(cid: int) -> None:
    first = SUBTYPES[THREAT_CLASSES[cid]][0]
    with pytest.raises(ValueError, match=f"{THREAT_CLASSES[cid]} subtypes: .*'bazooka'"):
        _draw(cid, 0, [first, "bazooka"])


def test_a_subtype_of_another_class_is_refused() -> None:
    with pytest.raises(ValueError, match="'revolver'"):
        _draw(3, 0, ["revolver"])


def test_empty_selection_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one"):
        _draw(3, 0, [])


def test_same_seed_same_threat() -> None:
    a, b = _draw(4, 7), _draw(4, 7)
    assert a.params == b.params
    assert np.array_equal(a.patch.cov, b.patch.cov)


def test_subtypes_differ_in_more_than_the_name() -> None:
    """Two sub-types of a class drawn from the same seed differ in outline or in material."""
    for cid, cls in enumerate(THREAT_CLASSES):
        sigs = {}
        for sub in SUBTYPES[cls]:
            t = _draw(cid, 3, [sub])
            sigs[sub] = (
                t.patch.cov.shape,
                round(float(t.patch.cov.sum()), 1),
                sorted((lay.material, round(float(lay.thickness.sum()), 1)) for lay in t.layers),
            )
        assert len(set(map(repr, sigs.values()))) == len(sigs), cls


def test_lookalikes_cover_every_class_and_exist() -> None:
    assert set(LOOKALIKE_OF) <= set(CLUTTER)
    assert set(LOOKALIKE_OF.values()) == set(THREAT_CLASSES)
    for cls in THREAT_CLASSES:
        assert sum(v == cls for v in LOOKALIKE_OF.values()) >= 4, cls


def test_every_lookalike_is_used_by_some_scene_family() -> None:
    used: set[str] = set()
    for build in BUILDERS.values():
        used |= set(build(np.random.default_rng(0), (128, 128), 1.28).clutter_kinds)
    assert set(LOOKALIKE_OF) <= used
    assert used <= set(CLUTTER)


@pytest.mark.parametrize("kind", sorted(CLUTTER))
def test_every_clutter_kind_renders_a_visible_object(kind: str) -> None:
    """Through the layer transport over a plywood panel, the object changes the signal over
    at least 4 cm2 by more than 5 %, and it is deterministic in the seed."""
    shape, ppc = (240, 240), 3.0
    ones = np.ones(shape, np.float32)
    panel = [slab("textile", ones * 4.0, Patch(ones, 0, 0), 8.0)]
    prof = get_profile("handheld")
    base = scatter_signal(panel, shape, prof)
    for seed in range(3):
        layers = CLUTTER[kind](np.random.default_rng(seed), (120.0, 120.0), ppc, 1.0)
        again = CLUTTER[kind](np.random.default_rng(seed), (120.0, 120.0), ppc, 1.0)
        assert [lay.thickness.tobytes() for lay in layers] == [
            lay.thickness.tobytes() for lay in again
        ]
        clipped = [c for lay in layers if (c := clip_layer(lay, shape)) is not None]
        assert clipped, kind
        sig = scatter_signal(panel + clipped, shape, prof)
        changed = np.abs(sig - base) > 0.05 * base
        assert changed.sum() / ppc**2 >= 4.0, (kind, seed)


def test_contact_sheet_has_one_tile_per_subtype_and_lookalike() -> None:
    from backscatter.synth import montage

    tiles = montage.library_tiles(seed=1)
    n_sub = sum(len(v) for v in SUBTYPES.values())
    assert len(tiles) == n_sub + len(LOOKALIKE_OF)
    assert len({label for label, _ in tiles}) == len(tiles)
    sheet = montage.montage(tiles, cols=10)
    assert sheet.dtype == np.uint8
    assert sheet.shape == (-(-len(tiles) // 10) * montage.TILE_PX, 10 * montage.TILE_PX)
    # every tile shows its object: the middle of the tile is not one flat grey
    for _, sig in tiles:
        mid = sig[30:-30, 30:-30]
        assert mid.max() - mid.min() > 0.05 * mid.max()
