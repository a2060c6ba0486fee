"""8/16-bit (and float) TIFF and PNG reader: tifffile for TIFF, OpenCV for PNG.

Pixels come back as stored. Greyscale exported as identical colour channels is reduced to one
channel; real colour is refused. Bits stored come from the file (TIFF BitsPerSample, PNG sBIT
or bit depth), never from the pixel values.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from datetime import datetime
from typing import Any

import numpy as np

from backscatter.acquisition._common import (
    LoadedFile,
    check_pixel_budget,
    load_file,
    quiet,
    single_channel,
    supported_dtype,
)
from backscatter.acquisition.errors import ScanReadError
from backscatter.acquisition.policy import DEFAULT_POLICY, ReadPolicy
from backscatter.scan import AcquisitionMetadata, Scan

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def image_kind(data: bytes | bytearray) -> str | None:
    """ "TIFF", "PNG" or None from the magic bytes."""
    if data[:8] == PNG_SIGNATURE:
        return "PNG"
    if bytes(data[:4]) in TIFF_SIGNATURES:
        return "TIFF"
    return None


def read_image(path: str | os.PathLike[str], *, policy: ReadPolicy = DEFAULT_POLICY) -> Scan:
    """Read a TIFF or PNG file (chosen by its magic bytes) into a Scan."""
    return image_from_loaded(load_file(path, policy=policy), policy=policy)


def image_from_loaded(loaded: LoadedFile, *, policy: ReadPolicy = DEFAULT_POLICY) -> Scan:
    kind = image_kind(loaded.data)
    if kind == "PNG":
        return _png(loaded, policy=policy)
    if kind == "TIFF":
        return _tiff(loaded, policy=policy)
    raise ScanReadError(loaded.source, "not a TIFF or PNG file (no magic bytes)")


def _scan(
    loaded: LoadedFile,
    pixels: np.ndarray,
    *,
    kind: str,
    bits: int,
    spacing: tuple[float, float] | None,
    metadata: AcquisitionMetadata,
    extras: dict[str, Any],
) -> Scan:
    pixels, reduced = single_channel(pixels, loaded.source)
    if reduced:
        extras["reduced_from_channels"] = True
    pixels = supported_dtype(pixels, loaded.source)
    full = pixels.dtype.itemsize * 8
    if pixels.dtype.kind == "f" or not 1 <= bits <= full:
        bits = full
    return Scan(
        pixels=pixels,
        bits_stored=bits,
        scan_id=loaded.stable_id,
        source_uri=loaded.source,
        pixel_spacing_mm=spacing,
        metadata=metadata,
        object_type=kind,
        source_sha256=loaded.sha256,
        extras=extras,
    )


# --- PNG -------------------------------------------------------------------------------------


def _png_chunks(data: bytes | bytearray) -> dict[bytes, bytes]:
    """First occurrence of each chunk before IDAT/IEND (header chunks only)."""
    chunks: dict[bytes, bytes] = {}
    pos = 8
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        ctype = bytes(data[pos + 4 : pos + 8])
        if ctype in (b"IDAT", b"IEND"):
            break
        chunks.setdefault(ctype, bytes(data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return chunks


def _png(loaded: LoadedFile, *, policy: ReadPolicy) -> Scan:
    import cv2

    source = loaded.source
    problem = _png_structure_problem(loaded.data)
    if problem:
        raise ScanReadError(source, problem)
    chunks = _png_chunks(loaded.data)
    ihdr = chunks.get(b"IHDR", b"")
    if len(ihdr) < 13:
        raise ScanReadError(source, "PNG without a valid IHDR header (truncated?)")
    width, height, depth, colour = struct.unpack(">IIBB", ihdr[:10])
    samples = {0: 1, 2: 3, 3: 3, 4: 2, 6: 4}.get(colour, 4)
    check_pixel_budget(
        source, height, width, 2 if depth == 16 else 1, policy=policy, samples=samples
    )
    buf = np.frombuffer(loaded.data, dtype=np.uint8)
    try:
        pixels = cv2.imdecode(buf, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        raise ScanReadError(source, f"PNG could not be decoded: {exc}") from None
    if pixels is None:
        raise ScanReadError(source, "PNG could not be decoded (corrupt or truncated)")
    if pixels.ndim == 3 and pixels.shape[2] >= 3:  # OpenCV gives BGR(A); keep channel order honest
        pixels = pixels[:, :, [2, 1, 0, *range(3, pixels.shape[2])]]
    bits = depth
    sbit = chunks.get(b"sBIT")
    if sbit and colour == 0:
        bits = sbit[0]
    extras: dict[str, Any] = {"png_bit_depth": depth, "png_colour_type": colour}
    text = _png_text(chunks)
    if text:
        extras["png_text"] = text
    meta = AcquisitionMetadata(
        manufacturer=text.get("Make") or text.get("Manufacturer"),
        model=text.get("Model"),
        serial=text.get("Serial"),
        acquisition_time=_parse_time(text.get("Creation Time", "")),
    )
    return _scan(
        loaded,
        pixels,
        kind="PNG",
        bits=bits,
        spacing=_png_spacing(chunks),
        metadata=meta,
        extras=extras,
    )


def _png_structure_problem(data: bytes | bytearray) -> str | None:
    """Why libpng would fail (truncation, CRC of a critical chunk), checked before decoding so
    the reason reaches the user as our error rather than libpng's stderr."""
    pos = 8
    view = memoryview(data)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", view[pos : pos + 4])
        ctype = bytes(view[pos + 4 : pos + 8])
        end = pos + 12 + length
        if end > len(data):
            return f"truncated PNG: {ctype.decode('latin-1')} chunk runs past the end of the file"
        if ctype[:1].isupper():  # critical chunk: libpng refuses a bad CRC
            (crc,) = struct.unpack(">I", view[end - 4 : end])
            if zlib.crc32(view[pos + 4 : end - 4]) != crc:
                return f"corrupt PNG: CRC mismatch in {ctype.decode('latin-1')} chunk"
        if ctype == b"IEND":
            return None
        pos = end
    return "truncated PNG: no IEND chunk"


def _png_spacing(chunks: dict[bytes, bytes]) -> tuple[float, float] | None:
    phys = chunks.get(b"pHYs")
    if not phys or len(phys) < 9:
        return None
    x_ppu, y_ppu, unit = struct.unpack(">IIB", phys[:9])
    if unit != 1 or x_ppu == 0 or y_ppu == 0:
        return None  # unit 0 is an aspect ratio only
    return (1000.0 / y_ppu, 1000.0 / x_ppu)


def _png_text(chunks: dict[bytes, bytes]) -> dict[str, str]:
    text: dict[str, str] = {}
    for ctype, body in chunks.items():
        key, _, value = body.partition(b"\x00")
        try:
            if ctype == b"tEXt":
                text[key.decode("latin-1")] = value.decode("latin-1")
            elif ctype == b"zTXt" and value:
                text[key.decode("latin-1")] = zlib.decompress(value[1:]).decode("latin-1")
        except (UnicodeDecodeError, zlib.error):
            continue
    return text


# --- TIFF ------------------------------------------------------------------------------------


def _tiff(loaded: LoadedFile, *, policy: ReadPolicy) -> Scan:
    import tifffile

    source = loaded.source
    try:
        with quiet("tifffile"), tifffile.TiffFile(io.BytesIO(loaded.data)) as tif:
            if not tif.pages:
                raise ScanReadError(source, "TIFF has no pages")
            page = tif.pages.first
            if page.dtype is None:
                raise ScanReadError(source, "TIFF sample format is not supported")
            shape = tuple(int(v) for v in page.shape)
            if len(shape) not in (2, 3):
                raise ScanReadError(source, f"TIFF page has shape {shape}; expected a 2-D image")
            rows, cols = shape[0], shape[1]
            samples = shape[2] if len(shape) == 3 else 1
            check_pixel_budget(
                source, rows, cols, page.dtype.itemsize, policy=policy, samples=samples
            )
            pixels = page.asarray()
            tags = {tag.name: tag.value for tag in page.tags.values()}
            n_pages = len(tif.pages)
    except ScanReadError:
        raise
    except Exception as exc:  # tifffile raises many types for corrupt files
        reason = " ".join(str(exc).split())[:200]
        raise ScanReadError(source, f"TIFF could not be decoded: {reason}") from None

    bits = _tiff_bits(tags.get("BitsPerSample"), pixels.dtype.itemsize * 8)
    extras: dict[str, Any] = {"tiff_pages": n_pages}
    if isinstance(tags.get("ImageDescription"), str) and tags["ImageDescription"].strip():
        extras["tiff_description"] = tags["ImageDescription"].strip()
    meta = AcquisitionMetadata(
        manufacturer=_tag_str(tags.get("Make")),
        model=_tag_str(tags.get("Model")),
        acquisition_time=_parse_time(_tag_str(tags.get("DateTime")) or ""),
    )
    return _scan(
        loaded,
        pixels,
        kind="TIFF",
        bits=bits,
        spacing=_tiff_spacing(tags),
        metadata=meta,
        extras=extras,
    )


def _tiff_bits(value: Any, default: int) -> int:
    """BitsPerSample as an int; a corrupt tag (text, empty) falls back to the dtype's width."""
    try:
        return int(value[0] if isinstance(value, tuple) else value)
    except (TypeError, ValueError, IndexError):
        return default


def _tiff_spacing(tags: dict[str, Any]) -> tuple[float, float] | None:
    """Pixel spacing (row, col) in mm from X/YResolution; None when absent or corrupt."""
    raw = tags.get("ResolutionUnit", 2)
    try:
        unit = int(getattr(raw, "value", raw))
    except (TypeError, ValueError):
        return None  # a corrupt tag (e.g. text) says nothing about the spacing
    mm_per_unit = {2: 25.4, 3: 10.0}.get(unit)
    if mm_per_unit is None:
        return None
    try:
        x = _rational(tags["XResolution"])
        y = _rational(tags["YResolution"])
    except (KeyError, ZeroDivisionError, TypeError, ValueError):
        return None
    if x <= 0 or y <= 0:
        return None
    return (mm_per_unit / y, mm_per_unit / x)


def _rational(value: Any) -> float:
    if isinstance(value, tuple):
        return float(value[0]) / float(value[1])
    return float(value)


def _tag_str(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ") or None


def _parse_time(text: str) -> datetime | None:
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"):
        try:
            return datetime.strptime(text.strip()[:19], fmt)
        except ValueError:
            continue
    return None
