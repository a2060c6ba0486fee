"""Model input preprocessing, shared by training, evaluation and runtime so they cannot drift.

The intensity scale comes from the scan's ``bits_stored`` and the model card's window, never
from the image's own min/max: ``x = clip((v / full_scale - window_low) / (window_high -
window_low), 0, 1)``, then ``(x - mean) / std``. Float pixels are taken as already in [0, 1].
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

    def __post_init__(self) -> None:
        if not (0.0 <= self.window_low < self.window_high):
            raise ValueError(
                f"window: expected 0 <= low < high, got {self.window_low}, {self.window_high}"
            )
        if self.std <= 0:
            raise ValueError(f"std: expected > 0, got {self.std}")
        if self.stride < 1 or any(s < self.stride for s in self.input_size):
            raise ValueError(f"input_size/stride: got {self.input_size} / {self.stride}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | dict[str, Any]) -> PreprocessSpec:
        data = json.loads(text) if isinstance(text, str) else dict(text)
        data["input_size"] = tuple(int(v) for v in data["input_size"])
        return cls(**data)


def full_scale(dtype: np.dtype[Any], bits_stored: int) -> float:
    """Largest stored value for integer pixels; 1.0 for float pixels."""
    if np.dtype(dtype).kind == "f":
        return 1.0
    return float(2**bits_stored - 1)


def normalise(pixels: np.ndarray, *, bits_stored: int, spec: PreprocessSpec) -> np.ndarray:
    """``(rows, cols)`` native pixels -> ``(rows, cols)`` float32 model intensities."""
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
    """:func:`normalise` as a table for uint8/uint16 pixels (None for other dtypes).

    ``lut[pixels]`` is bit-for-bit ``normalise(pixels, ...)``: the table *is* normalise applied to
    every possible stored value, so runtime and training cannot drift; it is one gather instead
    of several float passes over a large scan.
    """
    dt = np.dtype(dtype)
    if dt not in _LUT_DTYPES:
        return None
    key = (dt.str, int(bits_stored), spec)
    lut = _LUT_CACHE.get(key)
    if lut is None:
        values = np.arange(2 ** (8 * dt.itemsize), dtype=dt)
        lut = normalise(values.reshape(1, -1), bits_stored=bits_stored, spec=spec).reshape(-1)
        lut.setflags(write=False)
        _LUT_CACHE[key] = lut
    return lut
