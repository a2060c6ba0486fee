"""Device profiles: what a device says about its scale when its files cannot say it themselves.

A PNG, TIFF or raw frame carries no bits stored (PNG), no pixel spacing and no rescale; a DICOM or
DICOS file carries them in its header. A profile (``configs/devices/NAME.yaml``) names them for
one device, so every scan of that device is read with the same scale::

    name: acme-bsx-12bit          # required
    manufacturer: ACME            # optional: filled in where the file says nothing
    model: BSX
    bits_stored: 12               # stored bits of the device's ADC
    rescale_slope: 1.0            # stored value -> counts: counts = slope * v + intercept
    rescale_intercept: -256.0     #   (the dark offset of this device, here 256 DN)
    pixel_spacing_mm: [1.95, 1.95]

What the file itself says always wins (a DICOM header over a profile): the profile only fills
what is missing, and the scan records which profile was applied (``extras["device_profile"]``)
and the rescale in force (``extras["rescale"]``, as for DICOM). Models from 2.0 normalise each
scan by its own robust range (``backscatter.inference.preprocess``), so their detections do not
depend on the rescale; the fixed-window 1.x models read bits stored.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from backscatter.scan import Scan

_KEYS = (
    "name",
    "manufacturer",
    "model",
    "bits_stored",
    "rescale_slope",
    "rescale_intercept",
    "pixel_spacing_mm",
)


class DeviceProfileError(ValueError):
    """A device profile that cannot be used; names the file and the reason."""


@dataclass(frozen=True)
class DeviceProfile:
    name: str
    manufacturer: str | None = None
    model: str | None = None
    bits_stored: int | None = None
    rescale_slope: float = 1.0
    rescale_intercept: float = 0.0
    pixel_spacing_mm: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("name: expected a non-empty string")
        if self.bits_stored is not None and not 1 <= self.bits_stored <= 64:
            raise ValueError(f"bits_stored: expected 1..64, got {self.bits_stored}")
        if not (math.isfinite(self.rescale_slope) and self.rescale_slope != 0):
            raise ValueError(
                f"rescale_slope: expected a finite non-zero number, got {self.rescale_slope}"
            )
        if not math.isfinite(self.rescale_intercept):
            raise ValueError(
                f"rescale_intercept: expected a finite number, got {self.rescale_intercept}"
            )
        sp = self.pixel_spacing_mm
        if sp is not None and (len(sp) != 2 or not all(math.isfinite(v) and v > 0 for v in sp)):
            raise ValueError(f"pixel_spacing_mm: expected two positive numbers, got {sp!r}")

    def apply(self, scan: Scan) -> Scan:
        """``scan`` with what this profile knows filled in where the file said nothing.

        Raises DeviceProfileError (the reason, without the input's name) when the scan cannot
        be this device's."""
        extras = dict(scan.extras)
        extras["device_profile"] = self.name
        if extras.get("rescale") is None:
            extras["rescale"] = {"slope": self.rescale_slope, "intercept": self.rescale_intercept}
        changes: dict[str, Any] = {"extras": extras}
        from_header = scan.object_type not in ("PNG", "TIFF", "RAW", "VIDEO", "unknown")
        limit = scan.pixels.dtype.itemsize * 8
        if self.bits_stored is not None and not from_header and scan.pixels.dtype.kind in "ui":
            if self.bits_stored > limit:
                raise DeviceProfileError(
                    f"device profile {self.name!r} says {self.bits_stored} bits stored, the "
                    f"file holds {scan.pixels.dtype} ({limit} bits)"
                )
            high = int(scan.pixels.max(initial=0))
            if high > 2**self.bits_stored - 1:
                raise DeviceProfileError(
                    f"device profile {self.name!r} says {self.bits_stored} bits stored, the "
                    f"file holds the value {high}: not this device's scan?"
                )
            changes["bits_stored"] = self.bits_stored
        if scan.pixel_spacing_mm is None and self.pixel_spacing_mm is not None:
            changes["pixel_spacing_mm"] = self.pixel_spacing_mm
        meta = scan.metadata
        fill = {k: getattr(self, k) for k in ("manufacturer", "model") if getattr(meta, k) is None}
        if any(v is not None for v in fill.values()):
            changes["metadata"] = dataclasses.replace(
                meta, **{k: v for k, v in fill.items() if v is not None}
            )
        return dataclasses.replace(scan, **changes)


def load_device_profile(path: str | os.PathLike[str]) -> DeviceProfile:
    """Read and validate ``configs/devices/NAME.yaml``."""
    p = Path(path)
    try:
        doc = yaml.safe_load(p.read_text())
    except OSError as exc:
        raise DeviceProfileError(
            f"{p}: cannot read device profile ({exc.strerror or exc})"
        ) from exc
    except yaml.YAMLError as exc:
        raise DeviceProfileError(f"{p}: not valid YAML ({exc})") from exc
    if not isinstance(doc, dict):
        raise DeviceProfileError(f"{p}: expected a mapping, got {type(doc).__name__}")
    unknown = sorted(set(doc) - set(_KEYS))
    if unknown:
        raise DeviceProfileError(f"{p}: unknown key(s) {unknown}; expected some of {list(_KEYS)}")
    if not isinstance(doc.get("name"), str):
        raise DeviceProfileError(f"{p}: name: expected a string")
    try:
        spacing = doc.get("pixel_spacing_mm")
        return DeviceProfile(
            name=doc["name"],
            manufacturer=_opt_str(doc, "manufacturer"),
            model=_opt_str(doc, "model"),
            bits_stored=None if doc.get("bits_stored") is None else int(doc["bits_stored"]),
            rescale_slope=float(doc.get("rescale_slope", 1.0)),
            rescale_intercept=float(doc.get("rescale_intercept", 0.0)),
            pixel_spacing_mm=None if spacing is None else (float(spacing[0]), float(spacing[1])),
        )
    except (TypeError, ValueError, IndexError) as exc:
        raise DeviceProfileError(f"{p}: {exc}") from exc


def _opt_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key}: expected a string, got {value!r}")
    return value
