"""The lookup-table form of normalise() is the same function, bit for bit."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.inference.preprocess import PreprocessSpec, normalise, normalise_lut

SPECS = [
    PreprocessSpec(),
    PreprocessSpec(window_low=0.05, window_high=0.6, mean=0.25, std=0.18),
]


@pytest.mark.parametrize(
    ("dtype", "bits"), [("uint8", 8), ("uint8", 5), ("uint16", 16), ("uint16", 12)]
)
@pytest.mark.parametrize("spec", SPECS)
def test_table_lookup_equals_normalise_bit_for_bit(
    dtype: str, bits: int, spec: PreprocessSpec
) -> None:
    rng = np.random.default_rng(bits)
    px = rng.integers(0, np.iinfo(dtype).max + 1, size=(64, 48)).astype(dtype)  # incl. > 2**bits
    lut = normalise_lut(px.dtype, bits_stored=bits, spec=spec)
    assert lut is not None and not lut.flags.writeable
    expected = normalise(px, bits_stored=bits, spec=spec)
    np.testing.assert_array_equal(lut[px].view(np.uint32), expected.view(np.uint32))


@pytest.mark.parametrize("dtype", ["uint32", "int16", "float32"])
def test_no_table_for_wide_or_signed_or_float_pixels(dtype: str) -> None:
    assert normalise_lut(np.dtype(dtype), bits_stored=16, spec=SPECS[0]) is None


def test_table_is_built_once_per_dtype_bits_and_spec() -> None:
    a = normalise_lut(np.dtype("uint16"), bits_stored=14, spec=SPECS[1])
    assert a is normalise_lut(np.dtype("uint16"), bits_stored=14, spec=SPECS[1])
    assert a is not normalise_lut(np.dtype("uint16"), bits_stored=13, spec=SPECS[1])
