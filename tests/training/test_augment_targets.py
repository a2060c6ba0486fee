import numpy as np
import pytest

from backscatter.training.augment import (
    augment_crop,
    crop,
    dose_noise,
    flip,
    line_jitter,
    rescale,
)
from backscatter.training.config import AugmentConfig
from backscatter.training.targets import build_targets


def _image_with_box() -> tuple[np.ndarray, np.ndarray]:
    img = np.zeros((40, 60), np.float32)
    img[5:15, 10:30] = 1.0
    return img, np.array([[10, 5, 30, 15]], np.float32)


@pytest.mark.parametrize("horizontal", [True, False])
def test_flip_moves_boxes_with_pixels(horizontal: bool) -> None:
    img, boxes = _image_with_box()
    out, ob = flip(img, boxes, horizontal=horizontal)
    x0, y0, x1, y1 = ob[0].astype(int)
    assert out[y0:y1, x0:x1].min() == 1.0
    assert out.sum() == img.sum()
    assert img[5, 10] == 1.0  # input untouched


def test_rescale_scales_boxes() -> None:
    img, boxes = _image_with_box()
    out, ob, ign = rescale(img, boxes, np.zeros((0, 4), np.float32), factor=2.0)
    assert out.shape == (80, 120)
    np.testing.assert_allclose(ob, boxes * 2)
    assert ign.shape == (0, 4)


def test_dose_noise_variance_follows_counting_statistics() -> None:
    rng = np.random.default_rng(0)
    img = np.full((200, 200), 0.5, np.float32)
    out = dose_noise(img, rng=rng, dose=0.5, photons=1000.0)
    expected = 0.5 / 1000.0 * (1 / 0.5 - 1)
    assert out.var() == pytest.approx(expected, rel=0.05)
    assert abs(out.mean() - 0.5) < 1e-3


def test_line_jitter_shifts_rows_by_at_most_max() -> None:
    rng = np.random.default_rng(1)
    img = np.tile(np.arange(50, dtype=np.float32), (30, 1))
    out = line_jitter(img, rng=rng, max_shift=2)
    shift = img[:, 10] - out[:, 10]
    assert np.all(np.abs(shift) <= 2)
    assert np.any(shift != 0)


def test_crop_keeps_inside_boxes_and_ignores_mostly_cut_ones() -> None:
    img = np.ones((100, 100), np.float32)
    big = np.array([[0, 0, 90, 90], [40, 40, 48, 48]], np.float32)
    none = np.zeros((0, 4), np.float32)
    rng = np.random.default_rng(3)
    out, kept, labels, ign = crop(img, big, np.array([0, 4]), none, rng=rng, size=32)
    assert out.shape == (32, 32)
    inside = np.array([[40, 40, 48, 48]], np.float32)
    # the small box is kept (shifted) only when the window holds it; the big one never fits
    assert len(ign) >= 1
    assert all(lab == 4 for lab in labels)
    if len(kept):
        np.testing.assert_allclose(kept[:, 2] - kept[:, 0], inside[:, 2] - inside[:, 0])


@pytest.mark.parametrize("seed", range(6))
def test_augment_crop_keeps_boxes_on_their_pixels(seed: int) -> None:
    # one bright object in a 512 scan; scale, flips and line jitter on, no intensity change
    img = np.zeros((512, 512), np.float32)
    img[300:340, 100:180] = 1.0
    box = np.array([[100, 300, 180, 340]], np.float32)
    none = np.zeros((0, 4), np.float32)
    cfg = AugmentConfig(hflip=0.5, vflip=0.5, gain=(1.0, 1.0), noise=0.0, line_jitter=1.0,
                        max_jitter=2, scale=(0.8, 1.25))  # fmt: skip
    rng = np.random.default_rng(seed)
    out, boxes, labels, ign = augment_crop(
        img, box, np.array([2]), none, rng=rng, cfg=cfg, size=256, focus=1.0
    )
    assert out.shape == (256, 256) and out.dtype == np.float32
    assert list(labels) == [2] and len(ign) == 0  # focus keeps the object in the crop
    x0, y0, x1, y1 = boxes[0]
    assert 0.8 * 80 - 4 <= x1 - x0 <= 1.25 * 80 + 1 and 0.8 * 40 - 1 <= y1 - y0 <= 1.25 * 40 + 1
    inner = out[int(y0) + 2 : int(y1) - 2, int(x0) + 4 : int(x1) - 4]
    assert inner.min() > 0.99  # the box still sits on the object's pixels
    outside = out.copy()
    outside[max(int(y0) - 3, 0) : int(y1) + 3, max(int(x0) - 5, 0) : int(x1) + 5] = 0
    assert outside.max() < 0.01  # and nothing of it lies outside the box


def test_targets_peak_at_object_centre_and_regress_its_box() -> None:
    boxes = np.array([[16, 32, 48, 64]], np.float32)  # centre (32, 48) -> cell (7.5, 11.5)
    t = build_targets(boxes, np.array([3]), np.zeros((0, 4), np.float32), num_classes=5,
                      out_shape=(32, 32))  # fmt: skip
    heat = t["heat"]
    assert heat[3].max() == 1.0 and heat[[0, 1, 2, 4]].max() == 0.0
    cy, cx = np.unravel_index(np.argmax(heat[3]), heat[3].shape)
    assert (cy, cx) == (12, 8)
    np.testing.assert_array_equal(t["box"][:, cy, cx], boxes[0])
    assert t["box_weight"][cy, cx] > 0
    assert t["box_weight"][0, 0] == 0


def test_ignore_region_is_marked() -> None:
    t = build_targets(np.zeros((0, 4), np.float32), np.zeros(0, np.int64),
                      np.array([[0, 0, 16, 8]], np.float32), num_classes=5,
                      out_shape=(8, 8))  # fmt: skip
    assert t["ignore"][:2, :4].min() == 1.0 and t["ignore"].sum() == 8
