"""The one validated frame type every reader produces.

A :class:`Scan` holds pixels in their native dtype and never normalises them: intensity
scaling is the model card's business (``backscatter.inference.preprocess``), not the reader's.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

import numpy as np

#: dtypes a scan may carry; anything else is rejected at construction.
SUPPORTED_DTYPES: tuple[np.dtype[Any], ...] = tuple(
    np.dtype(t)
    for t in ("uint8", "uint16", "uint32", "uint64", "int16", "int32", "float32", "float64")
)


@dataclass(frozen=True)
class AcquisitionMetadata:
    """What the device says about how the scan was taken. Every field is optional."""

    manufacturer: str | None = None
    model: str | None = None
    serial: str | None = None
    #: tube peak voltage in kV
    kvp: float | None = None
    #: tube current in mA
    tube_current_ma: float | None = None
    acquisition_time: datetime | None = None
    #: e.g. "horizontal", "vertical", "left-to-right"; free text from the device
    scan_direction: str | None = None

    def __post_init__(self) -> None:
        for name in ("kvp", "tube_current_ma"):
            value = getattr(self, name)
            if value is not None and not (np.isfinite(value) and value >= 0):
                raise ValueError(f"{name}: expected a finite non-negative number, got {value!r}")


@dataclass(frozen=True)
class Scan:
    """One 2-D backscatter image and what is known about it.

    ``pixels`` has shape ``(rows, cols)``; row 0 is the first line the beam swept.
    ``pixel_spacing_mm`` is ``(row spacing, column spacing)`` in millimetres when known.
    ``window`` is the device's display window as ``(center, width)`` in stored-value units.
    """

    pixels: np.ndarray
    bits_stored: int
    scan_id: str
    source_uri: str = ""
    pixel_spacing_mm: tuple[float, float] | None = None
    window: tuple[float, float] | None = None
    metadata: AcquisitionMetadata = field(default_factory=AcquisitionMetadata)
    #: e.g. "DICOS DX", "DICOS AIT2D", "DICOM CR", "TIFF", "PNG", "RAW", "SIM"
    object_type: str = "unknown"
    #: SOP Class UID when the scan came from DICOM/DICOS, else None
    sop_class_uid: str | None = None
    #: sha256 of the source file's bytes when read from a file
    source_sha256: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        px = self.pixels
        if not isinstance(px, np.ndarray):
            raise TypeError(f"pixels: expected numpy.ndarray, got {type(px).__name__}")
        if px.ndim != 2:
            raise ValueError(f"pixels: expected 2 dimensions (rows, cols), got shape {px.shape}")
        if px.shape[0] < 1 or px.shape[1] < 1:
            raise ValueError(f"pixels: expected a non-empty image, got shape {px.shape}")
        if px.dtype not in SUPPORTED_DTYPES:
            names = ", ".join(str(d) for d in SUPPORTED_DTYPES)
            raise ValueError(f"pixels: expected dtype in ({names}), got {px.dtype}")
        bits = self.bits_stored
        if isinstance(bits, bool) or not isinstance(bits, int | np.integer):
            raise TypeError(f"bits_stored: expected int, got {type(bits).__name__}")
        limit = px.dtype.itemsize * 8
        if not 1 <= int(bits) <= limit:
            raise ValueError(f"bits_stored: expected 1..{limit} for {px.dtype}, got {bits}")
        object.__setattr__(self, "bits_stored", int(bits))
        if not isinstance(self.scan_id, str) or not self.scan_id.strip():
            raise ValueError(f"scan_id: expected a non-empty string, got {self.scan_id!r}")
        if self.pixel_spacing_mm is not None:
            sp = tuple(float(v) for v in self.pixel_spacing_mm)
            if len(sp) != 2 or not all(np.isfinite(v) and v > 0 for v in sp):
                got = self.pixel_spacing_mm
                raise ValueError(f"pixel_spacing_mm: expected two positive numbers, got {got!r}")
            object.__setattr__(self, "pixel_spacing_mm", sp)
        if self.window is not None:
            win = tuple(float(v) for v in self.window)
            if len(win) != 2 or not all(np.isfinite(v) for v in win) or win[1] <= 0:
                raise ValueError(
                    f"window: expected (center, width) with width > 0, got {self.window!r}"
                )
            object.__setattr__(self, "window", win)

    @property
    def rows(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def cols(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def shape(self) -> tuple[int, int]:
        return (self.rows, self.cols)

    @property
    def full_scale(self) -> float:
        """Largest value the stored bits can hold (``2**bits_stored - 1``); 1.0 for floats."""
        if self.pixels.dtype.kind == "f":
            return 1.0
        return float(2**self.bits_stored - 1)

    def with_pixels(self, pixels: np.ndarray, **changes: Any) -> Scan:
        """A copy with new pixels (and any other field changes), validated again."""
        return replace(self, pixels=pixels, **changes)
