from datetime import datetime

import numpy as np
import pytest

from backscatter.scan import AcquisitionMetadata, Scan


@pytest.mark.parametrize(
    ("dtype", "bits"), [("uint8", 8), ("uint16", 12), ("uint32", 32), ("float32", 32)]
)
def test_scan_keeps_native_dtype_and_values(dtype: str, bits: int) -> None:
    rng = np.random.default_rng(0)
    px = (rng.random((7, 5)) * 200).astype(dtype)
    scan = Scan(pixels=px, bits_stored=bits, scan_id="1.2.3")
    assert scan.pixels.dtype == np.dtype(dtype)
    assert scan.shape == (7, 5)
    np.testing.assert_array_equal(scan.pixels, px)


def test_full_scale_comes_from_bits_stored_not_content() -> None:
    scan = Scan(pixels=np.zeros((4, 4), np.uint16), bits_stored=12, scan_id="a")
    assert scan.full_scale == 4095.0


def test_scan_rejects_3d_pixels() -> None:
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        Scan(pixels=np.zeros((2, 2, 3), np.uint8), bits_stored=8, scan_id="a")


def test_scan_rejects_bits_beyond_dtype() -> None:
    with pytest.raises(ValueError, match=r"bits_stored: expected 1\.\.8 for uint8, got 12"):
        Scan(pixels=np.zeros((2, 2), np.uint8), bits_stored=12, scan_id="a")


def test_scan_rejects_unsupported_dtype() -> None:
    with pytest.raises(ValueError, match="expected dtype in"):
        Scan(pixels=np.zeros((2, 2), np.complex64), bits_stored=8, scan_id="a")


def test_scan_rejects_empty_id() -> None:
    with pytest.raises(ValueError, match="scan_id"):
        Scan(pixels=np.zeros((2, 2), np.uint8), bits_stored=8, scan_id=" ")


@pytest.mark.parametrize("spacing", [(0.0, 1.0), (1.0,), (float("nan"), 1.0)])
def test_scan_rejects_bad_spacing(spacing: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="pixel_spacing_mm"):
        Scan(
            pixels=np.zeros((2, 2), np.uint8),
            bits_stored=8,
            scan_id="a",
            pixel_spacing_mm=spacing,  # type: ignore[arg-type]
        )


def test_scan_rejects_zero_width_window() -> None:
    with pytest.raises(ValueError, match="window"):
        Scan(pixels=np.zeros((2, 2), np.uint8), bits_stored=8, scan_id="a", window=(10, 0))


def test_metadata_rejects_negative_kvp() -> None:
    with pytest.raises(ValueError, match="kvp"):
        AcquisitionMetadata(kvp=-1)


def test_with_pixels_validates_again() -> None:
    scan = Scan(
        pixels=np.zeros((2, 2), np.uint16),
        bits_stored=16,
        scan_id="a",
        metadata=AcquisitionMetadata(kvp=120, acquisition_time=datetime(2026, 1, 1)),
    )
    other = scan.with_pixels(np.ones((3, 3), np.uint16))
    assert other.shape == (3, 3) and other.metadata.kvp == 120
    with pytest.raises(ValueError, match="expected 2 dimensions"):
        scan.with_pixels(np.ones((3,), np.uint16))
