"""Rendered scenes: determinism, tight boxes, hidden threats, families."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from backscatter.synth import render as render_mod
from backscatter.synth.physics import Layer
from backscatter.synth.render import render_scene
from backscatter.synth.scenes import BUILDERS, FAMILIES, Layout
from backscatter.synth.shapes import Patch
from backscatter.synth.threats import slab

SMALL = (160, 160)


def test_same_seed_same_bytes_different_seed_different() -> None:
    a = render_scene(11, size=SMALL)
    b = render_scene(11, size=SMALL)
    c = render_scene(12, size=SMALL)
    assert a.pixels.tobytes() == b.pixels.tobytes()
    assert [x.box for x in a.annotations] == [x.box for x in b.annotations]
    assert a.pixels.tobytes() != c.pixels.tobytes()


@pytest.mark.parametrize("seed", range(8))
def test_boxes_are_tight_around_masks(seed: int) -> None:
    r = render_scene(100 + seed, size=(192, 224), classes=[0, 2, 3, 4])
    assert r.annotations
    for ann in r.annotations:
        rows = np.flatnonzero(ann.mask.any(axis=1))
        cols = np.flatnonzero(ann.mask.any(axis=0))
        assert ann.box == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
        assert ann.mask.shape == r.pixels.shape


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_renders_16_bit(family: str) -> None:
    r = render_scene(5, size=SMALL, family=family)
    assert r.family == family
    assert r.pixels.dtype == np.uint16 and r.bits_stored == 16
    assert r.pixels.std() > 100  # structure and noise, not a flat field


def test_clean_scene_has_no_threats() -> None:
    for seed in range(5):
        assert render_scene(seed, size=SMALL, clean=True).annotations == []


def test_unknown_family_is_named() -> None:
    with pytest.raises(ValueError, match="submarine"):
        render_scene(0, size=SMALL, family="submarine")


def _box_family(cover: str, thickness: float) -> Callable[..., Layout]:
    """A flat cover over a textile backing, threats in the middle third."""

    def build(rng: np.random.Generator, shape: tuple[int, int], ppc: float) -> Layout:
        t = np.full(shape, thickness, np.float32)
        layers: list[Layer] = [slab(cover, t, Patch(t, 0, 0), 0.0)]
        back = np.full(shape, 3.0, np.float32)
        layers.append(slab("textile", back, Patch(back, 0, 0), 12.0))
        region = np.zeros(shape, bool)
        region[shape[0] // 3 : 2 * shape[0] // 3, shape[1] // 3 : 2 * shape[1] // 3] = True
        return Layout(layers, region, None, (1.0, 2.0), ("cable",), (0, 0), (1.0, 2.0))

    return build


def test_package_behind_thin_cover_is_positive_behind_thick_steel_hidden(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(BUILDERS, "thin", _box_family("nylon", 0.1))
    monkeypatch.setitem(BUILDERS, "thick", _box_family("steel", 1.0))
    thin = render_scene(3, size=(256, 256), family="thin", classes=[0])
    thick = render_scene(3, size=(256, 256), family="thick", classes=[0])
    assert [a.hidden for a in thin.annotations] == [False]
    assert [a.hidden for a in thick.annotations] == [True]
    assert thick.annotations[0].mean_snr < render_mod.MIN_MEAN_SNR


def test_hidden_flag_follows_the_recognition_rule() -> None:
    seen = 0
    for seed in range(12):
        for a in render_scene(seed, size=(192, 192)).annotations:
            rule = (
                a.visible_fraction < render_mod.MIN_VISIBLE_FRACTION
                or a.mean_snr < render_mod.MIN_MEAN_SNR
            )
            if rule:
                assert a.hidden
            seen += 1
    assert seen > 5


def test_preview_is_small_8_bit_with_box_colours() -> None:
    from backscatter.synth.preview import preview

    r = render_scene(21, size=(256, 256), family="luggage", classes=[4])
    img = preview(r, size=128)
    assert img.dtype == np.uint8 and img.shape == (128, 128, 3)
    plain = preview(r, size=128, boxes=False)
    assert np.array_equal(plain[..., 0], plain[..., 2])  # grey without boxes
    assert not np.array_equal(img, plain)
