"""DICOS and DICOM 2-D image reader (pydicom + the JPEG decoder chosen in policy).

Reads DICOS DX / 2D AIT (V02, V02A, V03), DICOM DX, CR, SC and any other single-frame
monochrome object with pixel data. The DICOS V02A variants keep uint32 / uint64 / float32
pixels in (7FE0,0011) / (7FE0,0012) / (7FE0,0013); their ``*_unsigned64`` files write the OD
length without the two reserved bytes, which a tolerant read repairs (see ReadPolicy).
Pixels are returned as stored: no rescale, no inversion of MONOCHROME1, no windowing.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

import numpy as np

from backscatter.acquisition._common import (
    LoadedFile,
    check_pixel_budget,
    load_file,
    single_channel,
    supported_dtype,
    tolerant_pydicom,
)
from backscatter.acquisition.errors import NotAnImageError, ScanReadError
from backscatter.acquisition.policy import AUTO_PLUGINS, DEFAULT_POLICY, ReadPolicy
from backscatter.scan import AcquisitionMetadata, Scan

log = logging.getLogger(__name__)

DICOS_ROOT = "1.2.840.10008.5.1.4.1.1.501"

#: SOP class -> object type for the 2-D image classes we know by name
IMAGE_CLASSES: dict[str, str] = {
    f"{DICOS_ROOT}.2.1": "DICOS DX",  # DX for presentation
    f"{DICOS_ROOT}.2.2": "DICOS DX",  # DX for processing
    f"{DICOS_ROOT}.2.2.1": "DICOS DX",  # V02A uint32
    f"{DICOS_ROOT}.2.2.2": "DICOS DX",  # V02A uint64
    f"{DICOS_ROOT}.2.2.3": "DICOS DX",  # V02A float32
    f"{DICOS_ROOT}.4": "DICOS AIT2D",
    f"{DICOS_ROOT}.4.1": "DICOS AIT2D",
    f"{DICOS_ROOT}.4.2": "DICOS AIT2D",
    f"{DICOS_ROOT}.4.3": "DICOS AIT2D",
    "1.2.840.10008.5.1.4.1.1.1": "DICOM CR",
    "1.2.840.10008.5.1.4.1.1.1.1": "DICOM DX",
    "1.2.840.10008.5.1.4.1.1.1.1.1": "DICOM DX",
    "1.2.840.10008.5.1.4.1.1.7": "DICOM SC",
    "1.2.840.10008.5.1.4.1.1.7.1": "DICOM SC",
    "1.2.840.10008.5.1.4.1.1.7.2": "DICOM SC",
    "1.2.840.10008.5.1.4.1.1.7.3": "DICOM SC",
    "1.2.840.10008.5.1.4.1.1.7.4": "DICOM SC",
}

#: SOP classes that are not 2-D images, with what they are instead
NOT_IMAGE_CLASSES: dict[str, str] = {
    f"{DICOS_ROOT}.1": "a DICOS CT object, a 3-D volume",
    f"{DICOS_ROOT}.2": "a DICOS CT image (legacy), a 3-D volume",
    f"{DICOS_ROOT}.3": "a DICOS Threat Detection Report (TDR)",
    f"{DICOS_ROOT}.5": "a DICOS 3D AIT object, a 3-D volume",
    f"{DICOS_ROOT}.6": "a DICOS Quadrupole Resonance (QR) object",
}

#: V02A pixel elements: tag -> (little-endian dtype, VR)
V02A_PIXEL_TAGS: dict[int, tuple[str, str]] = {
    0x7FE00011: ("u4", "OL"),
    0x7FE00012: ("u8", "OD"),
    0x7FE00013: ("f4", "OF"),
}
STANDARD_PIXEL_TAGS = (0x7FE00010, 0x7FE00008, 0x7FE00009)


def read_dicom(path: str | os.PathLike[str], *, policy: ReadPolicy = DEFAULT_POLICY) -> Scan:
    """Read one DICOS/DICOM 2-D image file into a Scan (pixels as stored)."""
    return dicom_from_loaded(load_file(path, policy=policy), policy=policy)


def looks_like_dicom(data: bytes | bytearray) -> bool:
    """True for a Part 10 file (``DICM`` at 128) or a bare dataset starting with group 0002/0008."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return True
    if len(data) < 8:
        return False
    group = int.from_bytes(data[0:2], "little")
    element = int.from_bytes(data[2:4], "little")
    return group in (0x0002, 0x0008) and element < 0x0100


def dicom_from_loaded(loaded: LoadedFile, *, policy: ReadPolicy = DEFAULT_POLICY) -> Scan:
    """Scan from bytes already loaded (see :func:`read_dicom`)."""
    try:
        with tolerant_pydicom():
            return _dicom_from_loaded(loaded, policy=policy)
    except ScanReadError:
        raise
    except MemoryError:
        raise ScanReadError(loaded.source, "not enough memory to decode the pixel data") from None
    except Exception as exc:  # corrupt input can make pydicom fail in many ways: one typed error
        reason = " ".join(str(exc).split())[:200]
        raise ScanReadError(
            loaded.source, f"unreadable DICOM ({type(exc).__name__}: {reason})"
        ) from exc


def _dicom_from_loaded(loaded: LoadedFile, *, policy: ReadPolicy) -> Scan:
    import pydicom
    from pydicom.errors import InvalidDicomError

    source = loaded.source
    try:
        ds = pydicom.dcmread(io.BytesIO(loaded.data), force=True)
    except (OSError, EOFError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ScanReadError(source, f"truncated or corrupt DICOM ({reason})") from None
    except (InvalidDicomError, ValueError, KeyError, TypeError, OverflowError) as exc:
        reason = " ".join(str(exc).split())[:200]
        raise ScanReadError(source, f"not a readable DICOM file ({reason})") from None
    _ensure_transfer_syntax(ds)
    sop_class = str(ds.get("SOPClassUID", "") or "") or None
    if sop_class in NOT_IMAGE_CLASSES:
        what = NOT_IMAGE_CLASSES[sop_class]
        extra = ""
        if "NumberOfFrames" in ds and "Rows" in ds:
            extra = f" ({_int(ds, 'NumberOfFrames')} frames of {ds.Rows} x {ds.Columns})"
        raise NotAnImageError(source, f"is {what}{extra}, not a 2-D image")
    pixel_tags = [t for t in (*STANDARD_PIXEL_TAGS, *V02A_PIXEL_TAGS) if t in ds]
    if not pixel_tags:
        if looks_truncated(ds, loaded.data):
            raise ScanReadError(source, "truncated or corrupt DICOM: file ends inside an element")
        what = f"SOP class {sop_class}" if sop_class else "no SOP class"
        raise NotAnImageError(source, f"DICOM has no pixel data ({what}): not a 2-D image")
    for name in ("Rows", "Columns"):
        if name not in ds:
            raise ScanReadError(source, f"DICOM has pixel data but no {name}")
    frames = _int(ds, "NumberOfFrames", 1)
    if frames > 1:
        raise NotAnImageError(source, f"is a multi-frame object ({frames} frames), not a 2-D image")
    samples = _int(ds, "SamplesPerPixel", 1)
    rows, cols = _int(ds, "Rows"), _int(ds, "Columns")
    bits_alloc = _int(ds, "BitsAllocated", 16)
    itemsize = max(1, (bits_alloc + 7) // 8)
    check_pixel_budget(source, rows, cols, itemsize, policy=policy, samples=samples)

    extras: dict[str, Any] = {}
    tag = pixel_tags[0]
    if tag in V02A_PIXEL_TAGS:
        pixels = _v02a_pixels(ds, loaded, tag, rows, cols, policy=policy, extras=extras)
    else:
        pixels, extras["decoder"] = _standard_pixels(ds, source, policy=policy)
    pixels, reduced = single_channel(pixels, source)
    if reduced:
        extras["reduced_from_channels"] = samples
    pixels = supported_dtype(pixels, source)

    full_bits = pixels.dtype.itemsize * 8
    bits = _int(ds, "BitsStored", full_bits) if pixels.dtype.kind in "ui" else full_bits
    if not 1 <= bits <= full_bits:
        extras["bits_stored_declared"] = bits
        bits = full_bits
    ts = str(ds.file_meta.get("TransferSyntaxUID", ""))
    from backscatter.dicos.content import identity_of

    extras.update(
        {
            "transfer_syntax_uid": ts,
            "modality": _str(ds, "Modality"),
            "photometric_interpretation": _str(ds, "PhotometricInterpretation"),
            "presentation_intent": _str(ds, "PresentationIntentType"),
            "dicos_version": _str(ds, "DICOSVersion") or _dicos_version(ds),
            "pixel_element": f"({tag >> 16:04X},{tag & 0xFFFF:04X})",
            "rescale": _rescale(ds),
            "sop_instance_uid": _str(ds, "SOPInstanceUID"),
            "study_instance_uid": _str(ds, "StudyInstanceUID"),
            "series_instance_uid": _str(ds, "SeriesInstanceUID"),
            "identity": identity_of(ds),  # the patient/study elements a TDR copies
        }
    )
    scan_id = _str(ds, "SOPInstanceUID") or loaded.stable_id
    return Scan(
        pixels=pixels,
        bits_stored=bits,
        scan_id=scan_id,
        source_uri=source,
        pixel_spacing_mm=_spacing(ds),
        window=_window(ds),
        metadata=_metadata(ds),
        object_type=_object_type(ds, sop_class),
        sop_class_uid=sop_class,
        source_sha256=loaded.sha256,
        extras={k: v for k, v in extras.items() if v is not None},
    )


def _ensure_transfer_syntax(ds: Any) -> None:
    """Bare datasets (no file meta) get the syntax pydicom detected while reading."""
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    meta = getattr(ds, "file_meta", None)
    if meta is None:
        meta = ds.file_meta = FileMetaDataset()
    if "TransferSyntaxUID" in meta:
        return
    implicit, little = ds.original_encoding
    if implicit:
        meta.TransferSyntaxUID = ImplicitVRLittleEndian
    else:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian if little else ExplicitVRBigEndian


def _standard_pixels(ds: Any, source: str, *, policy: ReadPolicy) -> tuple[np.ndarray, str]:
    """Pixels of (7FE0,0010/0008/0009) via pydicom, and the decoder plugin that ran."""
    from pydicom.pixels import get_decoder

    uid = ds.file_meta.TransferSyntaxUID
    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        name = uid.name if uid.name != str(uid) else "unknown to pydicom"
        raise ScanReadError(
            source, f"no decoder for transfer syntax {uid} ({name}); cannot decode pixel data"
        ) from None
    if not decoder.is_available:
        hint = "; ".join(decoder.missing_dependencies) or "no plugin installed"
        raise ScanReadError(
            source, f"no decoder installed for transfer syntax {uid} ({uid.name}): {hint}"
        )
    plugin = ""
    if uid.is_compressed:
        plugins = decoder.available_plugins
        wanted = [policy.decoding_plugin] if policy.decoding_plugin else list(AUTO_PLUGINS)
        plugin = next((p for p in wanted if p in plugins), "")
        if not plugin:
            raise ScanReadError(
                source,
                f"no allowed decoder for {uid.name}: policy wants {' or '.join(wanted)}, "
                f"installed: {', '.join(plugins)} (gdcm runs only with "
                "ReadPolicy(decoding_plugin='gdcm'): it can abort on corrupt data)",
            )
    else:
        _check_native_length(ds, source)
        fast = _plain_native_pixels(ds, uid)
        if fast is not None:
            return fast, "native"
    try:
        if plugin:
            ds.pixel_array_options(decoding_plugin=plugin)
        return np.asarray(ds.pixel_array), plugin or "native"
    except (ValueError, RuntimeError, NotImplementedError, AttributeError, TypeError) as exc:
        first = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise ScanReadError(source, f"cannot decode pixel data ({uid.name}): {first}") from None


def _plain_native_pixels(ds: Any, uid: Any) -> np.ndarray | None:
    """The common case read straight from the bytes: one frame, one sample, unsigned 8/16-bit,
    little endian, (7FE0,0010) of at least the expected length (checked before). Equal to
    pydicom's ``pixel_array`` (which also clears the bits above BitsStored) at a fraction of
    its cost; None for anything else, which then goes through pydicom."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

    if uid not in (ExplicitVRLittleEndian, ImplicitVRLittleEndian) or 0x7FE00010 not in ds:
        return None
    if _int(ds, "SamplesPerPixel", 1) != 1 or _int(ds, "PixelRepresentation", 0) != 0:
        return None
    bits_alloc = _int(ds, "BitsAllocated", 0)
    bits_stored = _int(ds, "BitsStored", 0)
    if bits_alloc not in (8, 16) or not 1 <= bits_stored <= bits_alloc:
        return None
    value = ds[0x7FE00010].value
    if not isinstance(value, bytes | bytearray):
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    dtype = np.dtype("<u2") if bits_alloc == 16 else np.dtype("u1")
    raw = np.frombuffer(value, dtype=dtype, count=rows * cols).reshape(rows, cols)
    pixels: np.ndarray = raw.astype(dtype.newbyteorder("="), copy=True)
    if bits_stored < bits_alloc:
        np.bitwise_and(pixels, (1 << bits_stored) - 1, out=pixels)
    return pixels


def _check_native_length(ds: Any, source: str) -> None:
    tag = next(t for t in STANDARD_PIXEL_TAGS if t in ds)
    value = ds[tag].value
    bits_alloc = _int(ds, "BitsAllocated", 16)
    expected = int(ds.Rows) * int(ds.Columns) * _int(ds, "SamplesPerPixel", 1)
    expected = (expected * bits_alloc + 7) // 8
    got = 0 if value is None else len(value)
    if got < expected:
        raise ScanReadError(
            source, f"truncated DICOM: pixel data has {got} bytes, expected {expected}"
        )


def _v02a_pixels(
    ds: Any,
    loaded: LoadedFile,
    tag: int,
    rows: int,
    cols: int,
    *,
    policy: ReadPolicy,
    extras: dict[str, Any],
) -> np.ndarray:
    """Pixels of the DICOS V02A (7FE0,0011/0012/0013) elements, repairing the OD length quirk."""
    source = loaded.source
    code, vr = V02A_PIXEL_TAGS[tag]
    little = ds.original_encoding[1] is not False
    dtype = np.dtype(("<" if little else ">") + code)
    expected = rows * cols * dtype.itemsize
    value = ds[tag].value or b""
    if len(value) < expected:
        value = _recover_short_length(loaded, tag, vr, expected, little)
        if value is None:
            raise ScanReadError(
                source,
                f"truncated DICOM: {vr} pixel data has {len(ds[tag].value or b'')} "
                f"bytes, expected {expected}",
            )
        if not policy.recover_quirks:
            raise ScanReadError(
                source,
                f"{vr} pixel element length written without reserved bytes "
                "(DICOS V02A quirk); policy forbids recovering it",
            )
        extras["quirks"] = [f"{vr} element length written without reserved bytes (recovered)"]
    pixels = np.frombuffer(value, dtype=dtype, count=rows * cols).reshape(rows, cols)
    return pixels.astype(dtype.newbyteorder("="), copy=True)


def _recover_short_length(
    loaded: LoadedFile, tag: int, vr: str, expected: int, little: bool
) -> bytes | None:
    """Find the element in the raw bytes and accept a length written without reserved bytes.

    The SDICOS V02A ``*_unsigned64`` files write the length as 8 bytes right after the VR
    (``OD`` + uint64 length), so pixels start 14 bytes after the tag; a bare 4-byte length
    (pixels at +10) is accepted too. The length must equal rows x cols x itemsize.
    """
    order: Literal["little", "big"] = "little" if little else "big"
    head = ((tag >> 16).to_bytes(2, order) + (tag & 0xFFFF).to_bytes(2, order)) + vr.encode()
    data = loaded.data
    at = data.find(head)
    if at < 0:
        return None
    for width in (8, 4):
        length = int.from_bytes(data[at + 6 : at + 6 + width], order)
        start = at + 6 + width
        if length == expected and start + expected <= len(data):
            return bytes(data[start : start + expected])
    return None


def looks_truncated(ds: Any, data: bytes | bytearray) -> bool:
    """True when the file ends inside an element (value or header) instead of after one."""
    from pydicom.dataelem import RawDataElement
    from pydicom.filereader import data_element_generator

    keys = list(ds.keys())
    if not keys:
        return True
    raw = ds._dict[keys[-1]]
    if (
        isinstance(raw, RawDataElement)
        and raw.value is not None
        and raw.length != 0xFFFFFFFF
        and len(raw.value) < raw.length
    ):
        return True
    start = 0
    if len(data) >= 144 and data[128:132] == b"DICM" and data[132:136] == b"\x02\x00\x00\x00":
        start = 144 + int.from_bytes(data[140:144], "little")  # after (0002,0000) and the group
    implicit, little = ds.original_encoding
    fp = io.BytesIO(data)
    fp.seek(start)
    end = start
    try:
        for _ in data_element_generator(fp, bool(implicit), little is not False, defer_size=64):
            end = fp.tell()
    except Exception:  # unparseable tail: also not a clean end
        return True
    return end != len(data)


def _object_type(ds: Any, sop_class: str | None) -> str:
    if sop_class in IMAGE_CLASSES:
        return IMAGE_CLASSES[sop_class]
    modality = _str(ds, "Modality") or "image"
    family = "DICOS" if sop_class and sop_class.startswith(DICOS_ROOT) else "DICOM"
    return f"{family} {modality}"


def _metadata(ds: Any) -> AcquisitionMetadata:
    current = _float(ds, "XRayTubeCurrentInmA")
    if current is None:
        current = _float(ds, "XRayTubeCurrent")  # (0018,1151) IS, mA
    if current is None and (ua := _float(ds, "XRayTubeCurrentInuA")) is not None:
        current = ua / 1000.0
    kvp = _float(ds, "KVP")
    return AcquisitionMetadata(
        manufacturer=_str(ds, "Manufacturer"),
        model=_str(ds, "ManufacturerModelName"),
        serial=_str(ds, "DeviceSerialNumber"),
        kvp=kvp if kvp is not None and kvp >= 0 else None,
        tube_current_ma=current if current is not None and current >= 0 else None,
        acquisition_time=_acquisition_time(ds),
        scan_direction=_scan_direction(ds),
    )


def _acquisition_time(ds: Any) -> datetime | None:
    pairs = [("AcquisitionDateTime", None), ("AcquisitionDate", "AcquisitionTime")]
    pairs += [("ContentDate", "ContentTime")]
    for date_key, time_key in pairs:
        text = _str(ds, date_key)
        if not text:
            continue
        if time_key:
            text += _str(ds, time_key) or ""
        parsed = _parse_dt(text)
        if parsed is not None:
            return parsed
    return None


def _parse_dt(text: str) -> datetime | None:
    """DICOM DA+TM / DT text (``YYYYMMDDHHMMSS.FFFFFF&ZZXX``) to a naive datetime."""
    text = re.split(r"[+-]", text.strip(), maxsplit=1)[0]
    head, _, frac = text.partition(".")
    fmt = "%Y%m%d%H%M%S"[: {8: 6, 10: 8, 12: 10, 14: 12}.get(len(head), 0)]
    if not fmt:
        return None
    try:
        parsed = datetime.strptime(head, fmt)
    except ValueError:
        return None
    if frac.isdigit():
        parsed = parsed.replace(microsecond=int(frac[:6].ljust(6, "0")))
    return parsed


def _scan_direction(ds: Any) -> str | None:
    """Row/column directions as the device wrote them (Patient Orientation), else None."""
    value = ds.get("PatientOrientation")
    if value is None or value == "":
        return None
    many = isinstance(value, Sequence) and not isinstance(value, str | bytes)
    parts = [str(v) for v in (value if many else [value]) if v]
    return "\\".join(parts) or None


def _spacing(ds: Any) -> tuple[float, float] | None:
    for key in ("PixelSpacing", "ImagerPixelSpacing", "NominalScannedPixelSpacing"):
        value = ds.get(key)
        try:
            sp = (float(value[0]), float(value[1]))
        except (TypeError, ValueError, IndexError):
            continue
        if all(np.isfinite(v) and v > 0 for v in sp):
            return sp
    return None


def _window(ds: Any) -> tuple[float, float] | None:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    try:
        c, w = float(_first(center)), float(_first(width))
    except (TypeError, ValueError, IndexError):
        return None
    if np.isfinite(c) and np.isfinite(w) and w > 0:
        return (c, w)
    return None


def _rescale(ds: Any) -> dict[str, float] | None:
    slope, intercept = _float(ds, "RescaleSlope"), _float(ds, "RescaleIntercept")
    if slope is None and intercept is None:
        return None
    return {"slope": 1.0 if slope is None else slope, "intercept": intercept or 0.0}


def _dicos_version(ds: Any) -> str | None:
    elem = ds.get((0x4010, 0x103A))
    return str(elem.value).strip() or None if elem is not None and elem.value else None


def _first(value: Any) -> Any:
    """First item of a multi-valued element, the value itself otherwise."""
    if isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return value[0]
    return value


def _str(ds: Any, key: str) -> str | None:
    try:
        value = ds.get(key)
    except Exception:  # a malformed value must not stop a tolerant read
        return None
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _float(ds: Any, key: str) -> float | None:
    try:
        value = ds.get(key)
        if value is None or value == "":
            return None
        f = float(_first(value))
    except (TypeError, ValueError, IndexError, KeyError):
        return None
    return f if np.isfinite(f) else None


def _int(ds: Any, key: str, default: int = 0) -> int:
    try:
        value = ds.get(key)
        return default if value is None or value == "" else int(value)
    except (TypeError, ValueError):
        return default
