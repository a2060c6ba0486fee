"""Raw binary scans with a YAML sidecar, as vendors export them.

Sidecar (``scan.raw`` + ``scan.yaml``, ``scan.yml`` or ``scan.raw.yaml``)::

    width: 2048            # columns
    height: 1024           # rows
    dtype: uint16          # uint8 uint16 uint32 uint64 int16 int32 float32 float64
    byte_order: little     # little | big (default little)
    header_bytes: 0        # bytes to skip before the pixels (default 0)
    bits_stored: 12        # optional, default: the dtype's width
    pixel_spacing_mm: [0.8, 0.8]   # optional, (row, col)
    window: [2048, 4096]           # optional, (center, width)
    scan_id: ABC-123               # optional, default derived from the file's sha256
    metadata: {manufacturer: ..., model: ..., serial: ..., kvp: 450,
               tube_current_ma: 8, acquisition_time: 2024-05-01T10:00:00, scan_direction: ...}

The file must hold exactly ``header_bytes + width * height * itemsize`` bytes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.acquisition._common import LoadedFile, check_pixel_budget, load_file
from backscatter.acquisition.errors import ScanAccessError, ScanReadError
from backscatter.acquisition.policy import DEFAULT_POLICY, ReadPolicy
from backscatter.scan import SUPPORTED_DTYPES, AcquisitionMetadata, Scan

SIDECAR_SUFFIXES = (".yaml", ".yml")
_META_KEYS = (
    "manufacturer",
    "model",
    "serial",
    "kvp",
    "tube_current_ma",
    "acquisition_time",
    "scan_direction",
)


@dataclass(frozen=True)
class RawSidecar:
    """The validated content of a raw scan's YAML sidecar."""

    width: int
    height: int
    dtype: np.dtype[Any]
    header_bytes: int = 0
    bits_stored: int | None = None
    pixel_spacing_mm: tuple[float, float] | None = None
    window: tuple[float, float] | None = None
    scan_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def pixel_bytes(self) -> int:
        return self.width * self.height * self.dtype.itemsize


def find_sidecar(path: str | os.PathLike[str]) -> Path | None:
    """``scan.yaml`` / ``scan.yml`` / ``scan.raw.yaml`` beside ``scan.raw``, if one exists."""
    p = Path(path)
    candidates = [p.with_suffix(s) for s in SIDECAR_SUFFIXES if p.suffix not in SIDECAR_SUFFIXES]
    candidates += [p.with_name(p.name + s) for s in SIDECAR_SUFFIXES]
    return next((c for c in candidates if c != p and c.is_file()), None)


def load_sidecar(path: str | os.PathLike[str]) -> RawSidecar:
    """Parse and validate a sidecar; errors name the sidecar file."""
    import yaml

    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScanAccessError(p, "raw sidecar not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScanAccessError(p, f"raw sidecar unreadable: {exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScanReadError(p, f"raw sidecar is not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ScanReadError(p, f"raw sidecar: expected a mapping, got {type(doc).__name__}")
    return _sidecar_from_dict(doc, p)


def _sidecar_from_dict(doc: dict[str, Any], p: Path) -> RawSidecar:
    def need_int(key: str, default: int | None = None, minimum: int = 1) -> int:
        value = doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ScanReadError(
                p, f"raw sidecar: {key} must be an integer >= {minimum}, got {value!r}"
            )
        return value

    width, height = need_int("width"), need_int("height")
    header = need_int("header_bytes", 0, minimum=0)
    order = str(doc.get("byte_order", "little")).lower()
    if order not in ("little", "big"):
        raise ScanReadError(p, f"raw sidecar: byte_order must be little or big, got {order!r}")
    try:
        dtype = np.dtype(str(doc.get("dtype", "")))
    except TypeError:
        dtype = np.dtype("V")  # refused below
    if dtype not in SUPPORTED_DTYPES:
        allowed = ", ".join(str(d) for d in SUPPORTED_DTYPES)
        raise ScanReadError(
            p, f"raw sidecar: dtype must be one of {allowed}, got {doc.get('dtype')!r}"
        )
    dtype = dtype.newbyteorder("<" if order == "little" else ">")
    bits = doc.get("bits_stored")
    if bits is not None:
        bits = need_int("bits_stored")
    metadata = doc.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise ScanReadError(p, f"raw sidecar: metadata must be a mapping, got {metadata!r}")
    return RawSidecar(
        width=width,
        height=height,
        dtype=dtype,
        header_bytes=header,
        bits_stored=bits,
        pixel_spacing_mm=_pair(doc, "pixel_spacing_mm", p),
        window=_pair(doc, "window", p),
        scan_id=str(doc["scan_id"]) if doc.get("scan_id") else None,
        metadata=metadata,
    )


def _pair(doc: dict[str, Any], key: str, p: Path) -> tuple[float, float] | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        a, b = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ScanReadError(p, f"raw sidecar: {key} must be two numbers, got {value!r}") from None
    return (a, b)


def read_raw(
    path: str | os.PathLike[str],
    *,
    sidecar: str | os.PathLike[str] | None = None,
    policy: ReadPolicy = DEFAULT_POLICY,
) -> Scan:
    """Read a raw binary scan; the sidecar is found beside it unless given."""
    return raw_from_loaded(load_file(path, policy=policy), sidecar=sidecar, policy=policy)


def raw_from_loaded(
    loaded: LoadedFile,
    *,
    sidecar: str | os.PathLike[str] | None = None,
    policy: ReadPolicy = DEFAULT_POLICY,
) -> Scan:
    source = loaded.source
    side_path = Path(sidecar) if sidecar is not None else find_sidecar(loaded.path)
    if side_path is None:
        raise ScanReadError(source, "raw file without a .yaml/.yml sidecar")
    side = load_sidecar(side_path)
    check_pixel_budget(source, side.height, side.width, side.dtype.itemsize, policy=policy)
    expected = side.header_bytes + side.pixel_bytes
    if len(loaded.data) != expected:
        raise ScanReadError(
            source,
            f"size disagrees with sidecar {side_path.name}: {side.height} x {side.width} "
            f"{side.dtype.name} + {side.header_bytes} header bytes = {expected} bytes, "
            f"file has {len(loaded.data)}",
        )
    pixels = np.frombuffer(
        loaded.data, dtype=side.dtype, count=side.width * side.height, offset=side.header_bytes
    ).reshape(side.height, side.width)
    if not side.dtype.isnative:
        pixels = pixels.astype(side.dtype.newbyteorder("="))
    full = side.dtype.itemsize * 8
    bits = side.bits_stored if side.bits_stored is not None else full
    try:
        return Scan(
            pixels=pixels,
            bits_stored=bits,
            scan_id=side.scan_id or loaded.stable_id,
            source_uri=source,
            pixel_spacing_mm=side.pixel_spacing_mm,
            window=side.window,
            metadata=_metadata(side.metadata, side_path),
            object_type="RAW",
            source_sha256=loaded.sha256,
            extras={"sidecar": str(side_path), "byte_order": side.dtype.byteorder},
        )
    except (TypeError, ValueError) as exc:
        raise ScanReadError(source, f"sidecar {side_path.name}: {exc}") from None


def _metadata(meta: dict[str, Any], p: Path) -> AcquisitionMetadata:
    unknown = sorted(set(meta) - set(_META_KEYS))
    if unknown:
        raise ScanReadError(
            p, f"raw sidecar: unknown metadata keys {unknown} (known: {list(_META_KEYS)})"
        )
    values = dict(meta)
    when = values.get("acquisition_time")
    if isinstance(when, str):
        try:
            values["acquisition_time"] = datetime.fromisoformat(when)
        except ValueError:
            raise ScanReadError(
                p, f"raw sidecar: acquisition_time is not ISO 8601: {when!r}"
            ) from None
    elif when is not None and not isinstance(when, datetime):
        raise ScanReadError(p, f"raw sidecar: acquisition_time is not a date-time: {when!r}")
    for key in ("manufacturer", "model", "serial", "scan_direction"):
        if values.get(key) is not None:
            values[key] = str(values[key])
    try:
        return AcquisitionMetadata(**values)
    except (TypeError, ValueError) as exc:
        raise ScanReadError(p, f"raw sidecar metadata: {exc}") from None
