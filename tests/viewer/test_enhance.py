"""Enhancement functions: window/level maps the chosen range to 0..255, tools never modify input."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.viewer import enhance


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_window_level_maps_the_window_to_full_range(dtype: type) -> None:
    scale = 1.0 if dtype is np.float32 else float(np.iinfo(dtype).max)
    lo, hi = 0.2 * scale, 0.6 * scale
    values = np.array([[0.0, lo, (lo + hi) / 2, hi, scale]])
    px = values.astype(dtype)
    lo, hi = float(px[0, 1]), float(px[0, 3])
    out = enhance.window_level(px, window=((lo + hi) / 2, hi - lo))
    assert out.dtype == np.uint8
    assert out[0, 0] == 0 and out[0, 1] == 0
    assert out[0, 3] == 255 and out[0, 4] == 255
    assert 126 <= out[0, 2] <= 129


def test_window_level_is_monotonic_and_leaves_input_alone() -> None:
    px = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    before = px.copy()
    out = enhance.window_level(px, window=(30000.0, 20000.0))
    assert np.all(np.diff(out.ravel().astype(int)) >= 0)
    assert np.array_equal(px, before)


def test_auto_window_ignores_outliers() -> None:
    rng = np.random.default_rng(3)
    px = rng.integers(10000, 20000, (256, 256)).astype(np.uint16)
    px[0, :5] = 65535  # a few hot pixels
    center, width = enhance.auto_window(px)
    assert 9900 < center - width / 2 < 10200
    assert 19800 < center + width / 2 < 20100


def test_auto_window_of_a_flat_image_has_positive_width() -> None:
    assert enhance.auto_window(np.full((8, 8), 7, np.uint16)) == (7.5, 1.0)


def test_negative_and_gamma() -> None:
    img = np.array([[0, 64, 128, 255]], np.uint8)
    assert enhance.negative(img).tolist() == [[255, 191, 127, 0]]
    brighter = enhance.gamma_correct(img, gamma=2.0)
    assert brighter[0, 0] == 0 and brighter[0, 3] == 255
    assert brighter[0, 1] == round(255 * (64 / 255) ** 0.5)
    windowed = enhance.window_level(img, window=(127.5, 255.0), negative=True)
    assert windowed.tolist() == [[255, 191, 127, 0]]


def test_clahe_raises_local_contrast() -> None:
    rng = np.random.default_rng(5)
    img = (120 + rng.integers(0, 8, (128, 128))).astype(np.uint8)  # faint texture
    out = enhance.clahe(img)
    assert out.std() > 2 * img.std()


def test_edge_enhance_steepens_an_edge() -> None:
    img = np.zeros((32, 32), np.uint8)
    img[:, 16:] = 100
    out = enhance.edge_enhance(img, amount=1.0, sigma=2.0)
    assert out[16, 17] > 100 and out[16, 14] == 0
    assert out[16, 30] == 100


def test_pseudo_colour_shapes_and_unknown_map() -> None:
    img = np.arange(256, dtype=np.uint8).reshape(16, 16)
    grey = enhance.pseudo_colour(img)
    assert grey.shape == (16, 16, 3) and np.array_equal(grey[..., 0], img)
    hot = enhance.pseudo_colour(img, colormap="hot")
    assert not np.array_equal(hot[..., 0], hot[..., 2])
    with pytest.raises(ValueError, match="colormap: expected one of"):
        enhance.pseudo_colour(img, colormap="rainbow")


def test_bad_inputs_name_the_reason() -> None:
    with pytest.raises(ValueError, match="expected uint8"):
        enhance.negative(np.zeros((2, 2), np.uint16))
    with pytest.raises(ValueError, match="width > 0"):
        enhance.window_level(np.zeros((2, 2), np.uint16), window=(1.0, 0.0))
    with pytest.raises(ValueError, match=r"shape \(rows, cols\)"):
        enhance.window_level(np.zeros((2, 2, 3), np.uint16))
