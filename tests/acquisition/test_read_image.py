"""TIFF and PNG: native dtype kept, bits from the file, spacing and grey-as-colour handling."""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from backscatter.acquisition import ScanReadError, open_scan
from backscatter.acquisition.image import read_image


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_tiff_round_trip(tmp_path: Path, rng: np.random.Generator, dtype: str) -> None:
    px = (rng.random((33, 47)) * 250).astype(dtype)
    path = tmp_path / "a.tif"
    tifffile.imwrite(path, px)
    scan = open_scan(path)
    assert scan.object_type == "TIFF"
    assert scan.pixels.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.bits_stored == np.dtype(dtype).itemsize * 8
    assert scan.sop_class_uid is None


def test_tiff_resolution_and_tags(tmp_path: Path) -> None:
    path = tmp_path / "a.tiff"
    tifffile.imwrite(
        path,
        np.zeros((4, 6), np.uint16),
        resolution=(10.0, 5.0),  # pixels per cm in x, y
        resolutionunit="CENTIMETER",
        extratags=[(271, "s", 0, "ACME", True), (272, "s", 0, "BX-9", True)],
        datetime="2024:05:01 10:15:02",
    )
    scan = open_scan(path)
    assert scan.pixel_spacing_mm == (2.0, 1.0)  # (row = y, col = x) in mm
    assert (scan.metadata.manufacturer, scan.metadata.model) == ("ACME", "BX-9")
    assert scan.metadata.acquisition_time == datetime(2024, 5, 1, 10, 15, 2)


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_png_round_trip(tmp_path: Path, rng: np.random.Generator, dtype: str) -> None:
    px = rng.integers(0, np.iinfo(dtype).max, size=(21, 17), endpoint=True).astype(dtype)
    path = tmp_path / "a.png"
    assert cv2.imwrite(str(path), px)
    scan = read_image(path)
    assert scan.object_type == "PNG"
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.bits_stored == np.dtype(dtype).itemsize * 8


def _insert_chunks(png: bytes, *chunks: tuple[bytes, bytes]) -> bytes:
    """Insert ancillary chunks right after IHDR (8-byte signature + 25-byte IHDR chunk)."""
    out = png[:33]
    for ctype, body in chunks:
        out += struct.pack(">I", len(body)) + ctype + body
        out += struct.pack(">I", zlib.crc32(ctype + body))
    return out + png[33:]


def test_png_sbit_phys_and_text(tmp_path: Path) -> None:
    px = np.array([[0, 4095]], np.uint16)
    ok, enc = cv2.imencode(".png", px)
    assert ok
    data = _insert_chunks(
        enc.tobytes(),
        (b"sBIT", bytes([12])),
        (b"pHYs", struct.pack(">IIB", 2000, 1000, 1)),  # px per metre x, y
        (b"tEXt", b"Make\x00ACME"),
    )
    path = tmp_path / "s.png"
    path.write_bytes(data)
    scan = open_scan(path)
    assert scan.bits_stored == 12
    assert scan.pixel_spacing_mm == (1.0, 0.5)
    assert scan.metadata.manufacturer == "ACME"
    np.testing.assert_array_equal(scan.pixels, px)


def test_grey_saved_as_colour_is_reduced(tmp_path: Path) -> None:
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    path = tmp_path / "c.png"
    cv2.imwrite(str(path), np.dstack([grey, grey, grey]))
    scan = open_scan(path)
    np.testing.assert_array_equal(scan.pixels, grey)
    assert scan.extras["reduced_from_channels"] is True


def test_colour_png_refused(tmp_path: Path) -> None:
    img = np.zeros((5, 6, 3), np.uint8)
    img[2, 3] = (10, 20, 30)
    path = tmp_path / "colour.png"
    cv2.imwrite(str(path), img)
    with pytest.raises(
        ScanReadError, match="colour.png: colour image \\(3 channels that differ\\)"
    ):
        open_scan(path)


def test_png_named_dcm_is_read_as_png(tmp_path: Path) -> None:
    path = tmp_path / "mislabelled.dcm"
    cv2.imwrite(str(path.with_suffix(".png")), np.full((3, 3), 9, np.uint8))
    path.write_bytes(path.with_suffix(".png").read_bytes())
    assert open_scan(path).object_type == "PNG"


def test_truncated_png(tmp_path: Path, rng: np.random.Generator) -> None:
    path = tmp_path / "t.png"
    cv2.imwrite(str(path), rng.integers(0, 255, (64, 64)).astype(np.uint8))
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ScanReadError, match="t.png: truncated PNG: IDAT chunk runs past the end"):
        open_scan(path)


def test_same_content_same_id(tmp_path: Path) -> None:
    px = np.arange(12, dtype=np.uint16).reshape(3, 4)
    a, b = tmp_path / "a.tif", tmp_path / "b.tif"
    tifffile.imwrite(a, px)
    tifffile.imwrite(b, px)
    assert open_scan(a).scan_id == open_scan(b).scan_id
    assert open_scan(a).scan_id.startswith("sha256:")
