import numpy as np
import pytest

from backscatter.inference.preprocess import PreprocessSpec, normalise, pad_to_stride, robust_range


@pytest.mark.parametrize(("dtype", "bits"), [("uint8", 8), ("uint16", 12), ("uint16", 16)])
def test_normalise_uses_bits_stored_not_image_max(dtype: str, bits: int) -> None:
    full = 2**bits - 1
    px = np.array([[0, full // 2], [full // 4, 10]], dtype=dtype)
    x = normalise(px, bits_stored=bits, spec=PreprocessSpec())
    assert x.dtype == np.float32
    np.testing.assert_allclose(x, px.astype(np.float64) / full, rtol=1e-6)


def test_window_clips_and_rescales() -> None:
    spec = PreprocessSpec(window_low=0.25, window_high=0.75)
    px = np.array([[0, 16383, 32767, 65535]], dtype=np.uint16)
    x = normalise(px, bits_stored=16, spec=spec)
    np.testing.assert_allclose(x, [[0.0, 0.0, 0.5, 1.0]], atol=1e-4)


def test_normalise_leaves_input_untouched() -> None:
    px = np.full((3, 3), 100, np.uint16)
    normalise(px, bits_stored=16, spec=PreprocessSpec(mean=0.5, std=0.2))
    assert np.all(px == 100)


def test_spec_json_round_trip() -> None:
    spec = PreprocessSpec(input_size=(256, 384), window_low=0.1, mean=0.3, std=0.2)
    assert PreprocessSpec.from_json(spec.to_json()) == spec


def test_pad_to_stride() -> None:
    out = pad_to_stride(np.ones((33, 64), np.float32), stride=32)
    assert out.shape == (64, 64) and out[:33].all() and not out[33:].any()


ROBUST = PreprocessSpec(norm="robust", mean=0.3, std=0.3)


@pytest.mark.parametrize(
    ("gain", "offset"), [(0.25, 0), (1.0, 0), (4.0, 0), (1.0, 6553), (2.0, 3000)]
)
def test_robust_mode_is_invariant_to_gain_and_offset(gain: float, offset: int) -> None:
    rng = np.random.default_rng(3)
    base = rng.uniform(500, 12000, (128, 128))
    base[40:60, 40:80] = 200.0  # a dark (metal) object stays darker than its surround
    ref = normalise(base.astype(np.uint16), bits_stored=16, spec=ROBUST)
    px = np.clip(base * gain + offset, 0, 65535).astype(np.uint16)
    x = normalise(px, bits_stored=16, spec=ROBUST)
    np.testing.assert_allclose(x, ref, atol=0.02)
    assert x[50, 50] < np.median(x)


def test_robust_mode_maps_the_percentiles_and_clips() -> None:
    rng = np.random.default_rng(0)
    px = rng.permutation(np.arange(400 * 400, dtype=np.float32)).reshape(400, 400) / 16e4
    spec = PreprocessSpec(
        norm="robust", robust_low=10, robust_high=90, clip_low=-0.1, clip_high=1.1
    )
    lo, hi = robust_range(px, spec=spec)
    assert lo == pytest.approx(0.1, abs=0.01) and hi == pytest.approx(0.9, abs=0.01)
    x = normalise(px, bits_stored=16, spec=spec)
    assert x.min() == pytest.approx(-0.1) and x.max() == pytest.approx(1.1)
    # a tile normalised with its whole scan's range equals that part of the whole scan
    whole = normalise(px, bits_stored=16, spec=spec)
    tile = normalise(px[:20, :20], bits_stored=16, spec=spec, value_range=(lo, hi))
    np.testing.assert_array_equal(tile, whole[:20, :20])


def test_robust_range_of_a_flat_scan_is_not_empty() -> None:
    lo, hi = robust_range(np.full((64, 64), 700, np.uint16), spec=ROBUST)
    assert (
        hi > lo
        and np.isfinite(
            normalise(np.full((64, 64), 700, np.uint16), bits_stored=16, spec=ROBUST)
        ).all()
    )


def test_robust_spec_round_trips_and_window_json_keeps_the_1x_form() -> None:
    assert PreprocessSpec.from_json(ROBUST.to_json()) == ROBUST
    assert "norm" not in PreprocessSpec().to_json()
    with pytest.raises(ValueError, match="norm: expected one of"):
        PreprocessSpec(norm="minmax")
