import numpy as np
import pytest

from backscatter.inference.preprocess import PreprocessSpec, normalise, pad_to_stride


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
