"""Raw binary + YAML sidecar: geometry, byte order, header skip, metadata, strict sidecars."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from backscatter.acquisition import ScanReadError, open_scan
from backscatter.acquisition.raw import find_sidecar, read_raw


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "uint32", "float32"])
@pytest.mark.parametrize("order", ["little", "big"])
def test_round_trip(tmp_path: Path, rng: np.random.Generator, dtype: str, order: str) -> None:
    px = (rng.random((12, 9)) * 200).astype(dtype)
    stored = px.astype(np.dtype(dtype).newbyteorder("<" if order == "little" else ">"))
    path = tmp_path / "scan.bin"
    path.write_bytes(b"HDR!" * 4 + stored.tobytes())
    (tmp_path / "scan.yaml").write_text(
        f"width: 9\nheight: 12\ndtype: {dtype}\nbyte_order: {order}\nheader_bytes: 16\n"
    )
    scan = open_scan(path)
    assert scan.object_type == "RAW"
    assert scan.pixels.dtype == np.dtype(dtype)
    assert scan.pixels.dtype.isnative
    np.testing.assert_array_equal(scan.pixels, px)


def test_metadata_and_optional_fields(tmp_path: Path) -> None:
    path = tmp_path / "van.raw"
    path.write_bytes(np.full((4, 5), 4000, np.uint16).tobytes())
    (tmp_path / "van.raw.yml").write_text(
        """
width: 5
height: 4
dtype: uint16
bits_stored: 12
pixel_spacing_mm: [2.0, 1.5]
window: [2048, 4096]
scan_id: VAN-0001
metadata:
  manufacturer: ACME
  model: BX-9
  serial: "0042"
  kvp: 450
  tube_current_ma: 8.5
  acquisition_time: 2024-05-01T10:15:02
  scan_direction: left-to-right
"""
    )
    scan = open_scan(path)
    assert scan.bits_stored == 12
    assert scan.scan_id == "VAN-0001"
    assert scan.pixel_spacing_mm == (2.0, 1.5)
    assert scan.window == (2048.0, 4096.0)
    meta = scan.metadata
    assert (meta.manufacturer, meta.model, meta.serial) == ("ACME", "BX-9", "0042")
    assert (meta.kvp, meta.tube_current_ma) == (450, 8.5)
    assert meta.acquisition_time == datetime(2024, 5, 1, 10, 15, 2)
    assert meta.scan_direction == "left-to-right"


def test_sidecar_given_explicitly(tmp_path: Path) -> None:
    path = tmp_path / "frame.dat"
    path.write_bytes(np.arange(6, dtype=np.uint8).tobytes())
    side = tmp_path / "elsewhere.yaml"
    side.write_text("width: 3\nheight: 2\ndtype: uint8\n")
    assert find_sidecar(path) is None
    scan = read_raw(path, sidecar=side)
    np.testing.assert_array_equal(scan.pixels, [[0, 1, 2], [3, 4, 5]])
    np.testing.assert_array_equal(open_scan(path, sidecar=side).pixels, scan.pixels)


def test_id_without_scan_id_is_content_derived(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "a.raw"
    path.write_bytes(b"\x01\x02\x03\x04")
    (tmp_path / "a.yaml").write_text("width: 2\nheight: 1\ndtype: uint16\n")
    scan = open_scan(path)
    digest = hashlib.sha256(b"\x01\x02\x03\x04").hexdigest()
    assert scan.source_sha256 == digest
    assert scan.scan_id == f"sha256:{digest[:32]}"


@pytest.mark.parametrize(
    ("sidecar", "reason"),
    [
        ("width: 2\nheight: 2\ndtype: complex64\n", "dtype must be one of"),
        ("height: 2\ndtype: uint8\n", "width must be an integer >= 1, got None"),
        ("width: 2\nheight: 2\ndtype: uint8\nbyte_order: middle\n", "byte_order must be little"),
        ("width: 2\nheight: 2\ndtype: uint8\nmetadata: {colour: red}\n", "unknown metadata keys"),
        ("width: [\n", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping, got list"),
        ("width: 2\nheight: 2\ndtype: uint8\nbits_stored: 9\n", "bits_stored"),
    ],
)
def test_bad_sidecar_names_the_sidecar(tmp_path: Path, sidecar: str, reason: str) -> None:
    path = tmp_path / "s.raw"
    path.write_bytes(b"\0" * 4)
    (tmp_path / "s.yaml").write_text(sidecar)
    with pytest.raises(ScanReadError) as info:
        open_scan(path)
    assert "s.yaml" in str(info.value) or "s.raw" in str(info.value)
    assert reason in str(info.value)


def test_raw_without_sidecar_is_unrecognised(tmp_path: Path) -> None:
    path = tmp_path / "lonely.raw"
    path.write_bytes(b"\x07" * 64)
    with pytest.raises(ScanReadError, match="lonely.raw: unrecognised format.*lonely.yaml"):
        open_scan(path)
