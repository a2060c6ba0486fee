"""Model input preprocessing, shared by training, evaluation and runtime so they cannot drift.

Two intensity modes, named by the model card (``PreprocessSpec.norm``):

- ``"window"`` (the 1.x models): the scale comes from the scan's ``bits_stored`` and the card's
  window: ``x = clip((v / full_scale - window_low) / (window_high - window_low), 0, 1)``.
  Ties a model to one device's gain: a fleet's counts differ by device, tube and setting.
- ``"robust"`` (from 2.0): the scan's own robust range. ``lo``/``hi`` are the ``robust_low`` and
  ``robust_high`` percentiles of the whole scan (every 4th pixel of every 4th row), and
  ``x = clip((v - lo) / (hi - lo), clip_low, clip_high)``. Exactly invariant to a device's gain
  and offset (``v -> g * v + o``), while the order the physics gives (organics bright, metals
  dark) stays; the clip keeps detail past the percentiles. A large scan is normalised as a
  whole before tiling, so every tile of it sees the same range.

Then ``(x - mean) / std`` in both modes. Float pixels are taken as already in [0, 1].
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class PreprocessSpec:
    """What a model expects; stored in the ONNX ``metadata_props`` and the model card."""

    #: nominal tile size ``(rows, cols)``; larger scans are tiled, smaller ones padded
    input_size: tuple[int, int] = (512, 512)
    #: network stride: inputs are zero-padded (after normalisation) to a multiple of it
    stride: int = 32
    #: window as fractions of full scale (``2**bits_stored - 1``)
    window_low: float = 0.0
    window_high: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    #: "window" (fixed fraction of full scale) or "robust" (the scan's percentile range)
    norm: str = "window"
    #: robust mode: percentiles (0-100) of the scan mapped to 0 and 1, and the clip range
    robust_low: float = 1.0
    robust_high: float = 99.0
    clip_low: float = -0.25
    clip_high: float = 1.5

    def __post_init__(self) -> None:
        if self.norm not in NORM_MODES:
            raise ValueError(f"norm: expected one of {NORM_MODES}, got {self.norm!r}")
        if not (0.0 <= self.robust_low < self.robust_high <= 100.0):
            raise ValueError(
                f"robust percentiles: expected 0 <= low < high <= 100, got "
                f"{self.robust_low}, {self.robust_high}"
            )
        if not self.clip_low < self.clip_high:
            raise ValueError(f"clip: expected low < high, got {self.clip_low}, {self.clip_high}")
        if not (0.0 <= self.window_low < self.window_high):
            raise ValueError(
                f"window: expected 0 <= low < high, got {self.window_low}, {self.window_high}"
            )
        if self.std <= 0:
            raise ValueError(f"std: expected > 0, got {self.std}")
        if self.stride < 1 or any(s < self.stride for s in self.input_size):
            raise ValueError(f"input_size/stride: got {self.input_size} / {self.stride}")

    def to_json(self) -> str:
        data = asdict(self)
        if self.norm == "window":  # the 1.x form, so their metadata and cards read unchanged
            for key in _ROBUST_KEYS:
                data.pop(key)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> PreprocessSpec:
        data = json.loads(text) if isinstance(text, str) else dict(text)
        data["input_size"] = tuple(int(v) for v in data["input_size"])
        return cls(**data)


NORM_MODES = ("window", "robust")
_ROBUST_KEYS = ("norm", "robust_low", "robust_high", "clip_low", "clip_high")
#: robust statistics are taken on every n-th pixel of every n-th row (16k values at 512 x 512)
_ROBUST_STEP = 4


def robust_range(pixels: np.ndarray, *, spec: PreprocessSpec) -> tuple[float, float]:
    """The ``(lo, hi)`` percentiles of ``(rows, cols)`` pixels, in their native units.

    ``hi > lo`` always: a flat scan gets a range of one stored unit (float: 1e-6)."""
    step = _ROBUST_STEP if min(pixels.shape[:2]) >= 8 * _ROBUST_STEP else 1
    sample = np.asarray(pixels[::step, ::step], dtype=np.float32).reshape(-1)
    lo, hi = np.percentile(sample, [spec.robust_low, spec.robust_high])
    floor = 1e-6 if np.dtype(pixels.dtype).kind == "f" else 1.0
    return float(lo), float(max(hi, lo + floor))


def full_scale(dtype: np.dtype[Any], bits_stored: int) -> float:
    """Largest stored value for integer pixels; 1.0 for float pixels."""
    if np.dtype(dtype).kind == "f":
        return 1.0
    return float(2**bits_stored - 1)


def normalise(
    pixels: np.ndarray,
    *,
    bits_stored: int,
    spec: PreprocessSpec,
    value_range: tuple[float, float] | None = None,
) -> np.ndarray:
    """``(rows, cols)`` native pixels -> ``(rows, cols)`` float32 model intensities.

    Robust mode: ``value_range`` is the ``(lo, hi)`` of the whole scan these pixels come from
    (:func:`robust_range`); None takes it from ``pixels`` themselves."""
    if spec.norm == "robust":
        lo, hi = value_range if value_range is not None else robust_range(pixels, spec=spec)
        x = pixels.astype(np.float32) * np.float32(1.0 / (hi - lo))
        x -= np.float32(lo / (hi - lo))
        np.clip(x, spec.clip_low, spec.clip_high, out=x)
        if spec.mean != 0.0 or spec.std != 1.0:
            x -= np.float32(spec.mean)
            x *= np.float32(1.0 / spec.std)
        return x
    scale = full_scale(pixels.dtype, bits_stored)
    lo, hi = spec.window_low, spec.window_high
    x = pixels.astype(np.float32) * np.float32(1.0 / (scale * (hi - lo)))
    x -= np.float32(lo / (hi - lo))
    np.clip(x, 0.0, 1.0, out=x)
    if spec.mean != 0.0 or spec.std != 1.0:
        x -= np.float32(spec.mean)
        x *= np.float32(1.0 / spec.std)
    return x


def pad_to_stride(image: np.ndarray, *, stride: int, value: float = 0.0) -> np.ndarray:
    """Pad ``(rows, cols)`` at the bottom/right to multiples of ``stride``; returns a new array."""
    rows, cols = image.shape[:2]
    pr = (-rows) % stride
    pc = (-cols) % stride
    if pr == 0 and pc == 0:
        return image.copy()
    return np.pad(image, ((0, pr), (0, pc)), mode="constant", constant_values=value)


#: integer dtypes small enough for a full lookup table (one entry per possible stored value)
_LUT_DTYPES = (np.dtype("uint8"), np.dtype("uint16"))
_LUT_CACHE: dict[tuple[str, int, PreprocessSpec], np.ndarray] = {}


def normalise_lut(
    dtype: np.dtype[Any], *, bits_stored: int, spec: PreprocessSpec
) -> np.ndarray | None:
    """:func:`normalise` as a table for uint8/uint16 pixels (None for other dtypes and for the
    robust mode, whose range is the scan's own).

    ``lut[pixels]`` is bit-for-bit ``normalise(pixels, ...)``: the table *is* normalise applied to
    every possible stored value, so runtime and training cannot drift; it is one gather instead
    of several float passes over a large scan.
    """
    dt = np.dtype(dtype)
    if dt not in _LUT_DTYPES or spec.norm != "window":
        return None
    key = (dt.str, int(bits_stored), spec)
    lut = _LUT_CACHE.get(key)
    if lut is None:
        values = np.arange(2 ** (8 * dt.itemsize), dtype=dt)
        lut = normalise(values.reshape(1, -1), bits_stored=bits_stored, spec=spec).reshape(-1)
        lut.setflags(write=False)
        _LUT_CACHE[key] = lut
    return lut
