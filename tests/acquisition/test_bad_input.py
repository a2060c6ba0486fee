"""Bad input: one typed error per file whose message names the file and the reason."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from backscatter.acquisition import ReadPolicy, ScanAccessError, ScanReadError, open_scan

MakeDicom = Callable[..., Path]


def _raises(exc_type: type[Exception], path: Path, reason: str, **kw: object) -> Exception:
    with pytest.raises(exc_type) as info:
        open_scan(path, **kw)  # type: ignore[arg-type]
    message = str(info.value)
    assert str(path) in message
    assert reason in message, message
    return info.value


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.dcm"
    path.touch()
    err = _raises(ScanReadError, path, "empty file (0 bytes)")
    assert isinstance(err, ValueError)


def test_missing_path(tmp_path: Path) -> None:
    err = _raises(ScanAccessError, tmp_path / "nope.dcm", "no such file")
    assert isinstance(err, OSError)


def test_directory(tmp_path: Path) -> None:
    _raises(ScanAccessError, tmp_path, "is a directory")


def test_truncated_in_pixel_data(make_dicom: MakeDicom, tmp_path: Path) -> None:
    path = make_dicom(np.ones((64, 64), np.uint16))
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(path.read_bytes()[:-1000])
    _raises(ScanReadError, cut, "truncated DICOM: pixel data has 7192 bytes, expected 8192")


@pytest.mark.parametrize("offset", [-3, 50])
def test_truncated_in_header(make_dicom: MakeDicom, tmp_path: Path, offset: int) -> None:
    """Cut inside an element's header (-3) or inside its value (+50)."""
    path = make_dicom(np.ones((8, 8), np.uint16), ImageComments="c" * 300)
    data = path.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: data.index(b"c" * 300) + offset])
    _raises(ScanReadError, cut, "truncated or corrupt DICOM")


@pytest.mark.parametrize(
    ("sop_class", "reason"),
    [
        ("1.2.840.10008.5.1.4.1.1.501.3", "Threat Detection Report (TDR), not a 2-D image"),
        ("1.2.840.10008.5.1.4.1.1.501.6", "Quadrupole Resonance (QR) object, not a 2-D image"),
        ("1.2.840.10008.5.1.4.1.1.88.22", "has no pixel data"),
    ],
)
def test_dicom_that_is_not_an_image(make_dicom: MakeDicom, sop_class: str, reason: str) -> None:
    _raises(ScanReadError, make_dicom(None, sop_class=sop_class), reason)


def test_ct_volume_says_3d(make_dicom: MakeDicom) -> None:
    path = make_dicom(
        np.zeros((4, 4), np.uint16), sop_class="1.2.840.10008.5.1.4.1.1.501.1", NumberOfFrames=3
    )
    _raises(ScanReadError, path, "3-D volume (3 frames of 4 x 4), not a 2-D image")


@pytest.mark.parametrize(
    ("syntax", "name"),
    [("1.2.3.4.999", "unknown to pydicom"), ("1.2.840.10008.1.2.4.100", "MPEG2")],
)
def test_compressed_syntax_without_decoder(make_dicom: MakeDicom, syntax: str, name: str) -> None:
    path = make_dicom(
        np.zeros((16, 16), np.uint16), transfer_syntax=syntax, encapsulated=[b"\xff\xd8xx\xff\xd9"]
    )
    _raises(ScanReadError, path, f"no decoder for transfer syntax {syntax} ({name}")


def test_corrupt_compressed_data(make_dicom: MakeDicom) -> None:
    path = make_dicom(
        np.zeros((16, 16), np.uint16),
        transfer_syntax="1.2.840.10008.1.2.4.70",
        encapsulated=[b"\xff\xd8not a jpeg\xff\xd9"],
    )
    _raises(ScanReadError, path, "cannot decode pixel data (JPEG Lossless")


def test_huge_header_refused_before_allocating(make_dicom: MakeDicom) -> None:
    """65535 x 65535 x 8 bytes (34 GB) is refused from the header; nothing big is allocated."""
    path = make_dicom(np.zeros((2, 2), np.uint64))
    import pydicom

    ds = pydicom.dcmread(path)
    ds.Rows = ds.Columns = 65535
    ds.save_as(path)
    tracemalloc.start()
    try:
        _raises(ScanReadError, path, "over the 2147483648-byte limit")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 50e6


def test_policy_cap_applies_to_compressed_too(make_dicom: MakeDicom) -> None:
    path = make_dicom(
        np.zeros((300, 200), np.uint16),
        transfer_syntax="1.2.840.10008.1.2.4.70",
        encapsulated=[b"\xff\xd8xx\xff\xd9"],
    )
    policy = ReadPolicy(max_pixel_bytes=100_000)
    _raises(ScanReadError, path, "300 x 200 x 1 samples x 2 bytes = 120000 bytes", policy=policy)


def _png_chunk(ctype: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + ctype + body + struct.pack(">I", zlib.crc32(ctype + body))


def test_png_with_huge_ihdr_refused(tmp_path: Path) -> None:
    ihdr = struct.pack(">IIBBBBB", 200_000, 100_000, 16, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IEND", b"")
    path = tmp_path / "huge.png"
    path.write_bytes(data)
    _raises(ScanReadError, path, "header declares 100000 x 200000")


def test_tiff_with_huge_dimensions_refused(tmp_path: Path) -> None:
    """A hand-made little-endian TIFF whose IFD claims 100000 x 100000 uint16."""
    entries = [
        (256, 4, 1, 100_000),  # ImageWidth LONG
        (257, 4, 1, 100_000),  # ImageLength
        (258, 3, 1, 16),  # BitsPerSample SHORT
        (259, 3, 1, 1),  # no compression
        (262, 3, 1, 1),  # BlackIsZero
        (273, 4, 1, 8),  # StripOffsets
        (277, 3, 1, 1),  # SamplesPerPixel
        (278, 4, 1, 100_000),  # RowsPerStrip
        (279, 4, 1, 20_000_000_000 % 2**32),  # StripByteCounts
    ]
    ifd = struct.pack("<H", len(entries))
    for tag, typ, count, value in entries:
        packed = struct.pack("<H", value) + b"\0\0" if typ == 3 else struct.pack("<I", value)
        ifd += struct.pack("<HHI", tag, typ, count) + packed
    ifd += struct.pack("<I", 0)
    path = tmp_path / "huge.tif"
    path.write_bytes(b"II*\x00" + struct.pack("<I", 8) + ifd)
    _raises(ScanReadError, path, "over the 2147483648-byte limit")


def test_unrecognised_bytes(tmp_path: Path) -> None:
    path = tmp_path / "mystery.dcm"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    _raises(ScanReadError, path, "unrecognised format")


def test_garbage_after_dicm_preamble(tmp_path: Path) -> None:
    path = tmp_path / "garbage.dcm"
    path.write_bytes(b"\0" * 128 + b"DICM" + np.random.default_rng(1).bytes(3000))
    with pytest.raises(ScanReadError, match="garbage.dcm: "):
        open_scan(path)


def test_raw_sidecar_size_disagrees(tmp_path: Path) -> None:
    path = tmp_path / "scan.raw"
    path.write_bytes(np.zeros((10, 20), np.uint16).tobytes() + b"\0")
    (tmp_path / "scan.yaml").write_text("width: 20\nheight: 10\ndtype: uint16\n")
    _raises(
        ScanReadError,
        path,
        "size disagrees with sidecar scan.yaml: 10 x 20 uint16 + 0 header bytes = 400 bytes, "
        "file has 401",
    )
