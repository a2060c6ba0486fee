"""Fuzzed inputs: only the project's typed read errors escape, within time and memory bounds.

The short campaign here is fixed-seed (``make fuzz`` runs the long one). Each crash it ever
found is a file in ``corpus/`` or a generated input below, kept as a regression test.
"""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backscatter.acquisition import ReadPolicy, ScanReadError, open_scan
from backscatter.dicos.tdr_read import TDRReadError, read_tdr

from .harness.fuzz import run_inputs, write_inputs
from .harness.mutate import deep_sequence
from .harness.seeds import Seed

CORPUS = Path(__file__).with_name("corpus")
FIXTURE = [HealthCheck.function_scoped_fixture]


def test_short_campaign(seeds: list[Seed], tmp_path: Path) -> None:
    """1,500 mutated files over every reader: typed errors or valid scans, nothing else."""
    items = write_inputs(seeds, 1500, tmp_path, seed=20261128)
    result = run_inputs(items, tmp_path, timeout_s=5.0, memory_mb=768)
    print(result.summary())
    assert result.executions == len(items) == 1504
    assert result.findings == []
    assert result.restarts == 0
    # the mutations reach both the error paths and the decoders (some flips leave a valid file)
    assert result.outcomes["typed"] > 750 and result.outcomes["ok"] > 100
    assert result.max_ms < 5000


def test_seeds_read_cleanly(seeds: list[Seed], tmp_path: Path) -> None:
    """The unmutated seeds are valid inputs: a finding is the mutation's doing."""
    items = []
    for s in seeds:
        p = tmp_path / f"{s.name}{s.suffix}"
        p.write_bytes(s.data)
        if s.sidecar is not None:
            p.with_suffix(".yaml").write_text(s.sidecar)
        items.append((str(p), s.target))
    result = run_inputs(items, tmp_path)
    not_2d = {"sample-V03_Data-QR_01_ExplicitLittlEndian-QR_01_ExplicitLittlEndian.dcs"}
    assert result.findings == []
    assert result.outcomes["ok"] >= len(items) - len(not_2d) - 6  # CT volumes are refused


@pytest.mark.parametrize("path", sorted(CORPUS.glob("tdr-*.dcm")), ids=lambda p: p.stem)
def test_tdr_corpus(path: Path) -> None:
    """Inputs that once escaped read_tdr as AttributeError, OSError, struct.error, ..."""
    with pytest.raises(TDRReadError) as info:
        read_tdr(path)
    assert str(path) in str(info.value)


def test_tiff_with_text_resolution_unit_reads() -> None:
    """A flipped byte made ResolutionUnit a text value: open_scan raised a bare ValueError from
    the spacing lookup. Corrupt metadata now means no spacing, the pixels still read."""
    scan = open_scan(CORPUS / "scan-tiff-resolutionunit-text.tif")
    assert scan.pixels.shape == (48, 64) and scan.pixels.dtype == np.uint16
    assert scan.pixel_spacing_mm is None and scan.bits_stored == 16


def test_tdr_deep_sequence(tmp_path: Path) -> None:
    """3,000 nested sequences once escaped read_tdr as RecursionError."""
    path = tmp_path / "deep.dcm"
    path.write_bytes(deep_sequence(3000))
    with pytest.raises(TDRReadError, match="corrupt DICOM"):
        read_tdr(path)


def test_scan_deep_sequence(tmp_path: Path) -> None:
    path = tmp_path / "deep.dcm"
    path.write_bytes(deep_sequence(3000))
    with pytest.raises(ScanReadError, match="deep.dcm"):
        open_scan(path)


def test_tdr_absurd_element_length_allocates_nothing(own_tdr: Path, tmp_path: Path) -> None:
    """An element claiming 4 GiB once made read_tdr allocate its claimed size (MemoryError
    under an address-space cap); now the file is parsed from memory."""
    path = tmp_path / "huge.dcm"
    tail = struct.pack("<HH", 0x7FE0, 0x0010) + b"OB\x00\x00" + struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(own_tdr.read_bytes() + tail + b"\x00" * 16)
    tracemalloc.start()
    try:
        tdr = read_tdr(path)  # pydicom keeps the short tail: the PTOs are still there
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024**2
    assert len(tdr.detections) == 2


def _dicom_header(rows: int, cols: int, bits: int, frames: int) -> bytes:
    def el(group: int, element: int, vr: bytes, value: bytes) -> bytes:
        if vr in (b"OB", b"OW"):
            return struct.pack("<HH", group, element) + vr + b"\0\0" + struct.pack("<I", len(value))
        return struct.pack("<HH", group, element) + vr + struct.pack("<H", len(value)) + value

    ts = b"1.2.840.10008.1.2.1\x00"
    meta = el(2, 0x10, b"UI", ts)
    head = b"\0" * 128 + b"DICM" + el(2, 0, b"UL", struct.pack("<I", len(meta))) + meta
    body = el(8, 0x16, b"UI", b"1.2.840.10008.5.1.4.1.1.501.2.1\x00")
    body += el(8, 0x18, b"UI", b"1.2.3.4\x00")
    body += el(0x28, 2, b"US", struct.pack("<H", 1))
    body += el(0x28, 4, b"CS", b"MONOCHROME2 ")
    if frames != 1:
        text = str(frames).encode()
        body += el(0x28, 8, b"IS", text + b" " * (len(text) % 2))
    body += el(0x28, 0x10, b"US", struct.pack("<H", rows))
    body += el(0x28, 0x11, b"US", struct.pack("<H", cols))
    body += el(0x28, 0x100, b"US", struct.pack("<H", bits))
    body += el(0x28, 0x101, b"US", struct.pack("<H", bits))
    pixels = el(0x7FE0, 0x10, b"OW", b"\0" * 64) if bits > 8 else b""
    return head + body + (pixels or el(0x7FE0, 0x10, b"OB", b"\0" * 64))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.integers(1, 65535),
    cols=st.integers(1, 65535),
    bits=st.sampled_from([1, 8, 16, 32, 64, 0, 255, 65535]),
    frames=st.sampled_from([1, 0, -1, 2**31, 10**12]),
)
def test_absurd_dicom_sizes_refused_before_allocating(
    tmp_path: Path, rows: int, cols: int, bits: int, frames: int
) -> None:
    """Any header with 64 bytes of pixels: a typed error (or an honest 8x8), never a big buffer."""
    path = tmp_path / "absurd.dcm"
    path.write_bytes(_dicom_header(rows, cols, bits, frames))
    tracemalloc.start()
    try:
        try:
            scan = open_scan(path, policy=ReadPolicy(max_pixel_bytes=2**30))
        except ScanReadError as exc:
            assert str(path) in str(exc)
        else:
            assert scan.pixels.nbytes <= 64
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 * 1024**2


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    width=st.one_of(st.integers(-5, 2**45), st.sampled_from(["1e9", "x", "[1]", "null"])),
    height=st.integers(1, 2**33),
    dtype=st.sampled_from(["uint16", "float64", "object", "V8", "complex64", "S4"]),
    header=st.integers(-3, 2**62),
)
def test_absurd_raw_sidecars_refused(
    tmp_path: Path, width: object, height: int, dtype: str, header: int
) -> None:
    raw = tmp_path / "scan.raw"
    raw.write_bytes(np.zeros(16, np.uint16).tobytes())
    side = f"width: {width}\nheight: {height}\ndtype: {dtype}\nheader_bytes: {header}\n"
    raw.with_suffix(".yaml").write_text(side)
    tracemalloc.start()
    try:
        try:
            scan = open_scan(raw)
        except ScanReadError as exc:
            assert "scan.raw" in str(exc) or "scan.yaml" in str(exc)
        else:
            assert scan.pixels.size * scan.pixels.itemsize <= 32
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 1024**2
