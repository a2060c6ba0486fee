"""Display enhancement: pure array functions from native scan pixels to 8-bit display images.

Every function takes the image first and options keyword-only, returns a new array and never
modifies its input. Windows are ``(center, width)`` in the input's stored-value units: values
at or below ``center - width/2`` show as 0, at or above ``center + width/2`` as 255.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

#: OpenCV colour map ids by name (``"gray"`` is handled without a map)
_CV_COLORMAPS: dict[str, int] = {
    "bone": cv2.COLORMAP_BONE,
    "hot": cv2.COLORMAP_HOT,
    "jet": cv2.COLORMAP_JET,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
}


def auto_window(
    pixels: np.ndarray, *, low_pct: float = 0.5, high_pct: float = 99.5, max_samples: int = 250_000
) -> tuple[float, float]:
    """Robust ``(center, width)`` from the ``low_pct``..``high_pct`` percentiles of the pixels.

    Large images are sampled on a regular grid (at most ``max_samples`` pixels), so the result is
    deterministic. A flat image gets width 1.
    """
    if not 0.0 <= low_pct < high_pct <= 100.0:
        raise ValueError(f"percentiles: expected 0 <= low < high <= 100, got {low_pct}, {high_pct}")
    step = max(1, int(np.sqrt(pixels.size / max_samples)))
    sample = pixels[::step, ::step]
    if sample.dtype in (np.dtype(np.uint8), np.dtype(np.uint16)):
        lo, hi = _int_percentiles(sample, (low_pct, high_pct))
    else:
        finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample.ravel()
        if finite.size == 0:
            return (0.5, 1.0)
        lo, hi = np.percentile(finite, [low_pct, high_pct])
    width = float(hi - lo)
    if width <= 0:
        width = 1.0 if pixels.dtype.kind != "f" else 1e-3
    return (float(lo) + width / 2.0, width)


def _int_percentiles(values: np.ndarray, pcts: tuple[float, ...]) -> list[float]:
    """``np.percentile(values, pcts)`` (linear method) of uint8/uint16 values, from a histogram:
    one counting pass instead of a partition (4x faster on a 512 x 512 scan)."""
    counts = np.bincount(values.ravel(), minlength=1 << (8 * values.dtype.itemsize))
    cum = np.cumsum(counts)
    n = int(cum[-1])
    out = []
    for p in pcts:
        pos = p / 100.0 * (n - 1)
        k = int(np.floor(pos))
        frac = pos - k
        # the k-th smallest value (0-based): the first bin whose cumulative count exceeds k
        lo = int(np.searchsorted(cum, k, side="right"))
        hi = int(np.searchsorted(cum, min(k + 1, n - 1), side="right"))
        out.append(lo + frac * (hi - lo))
    return out


def display_lut(
    dtype: np.dtype[Any],
    *,
    window: tuple[float, float],
    gamma: float = 1.0,
    negative: bool = False,
) -> np.ndarray | None:
    """A 1-D uint8 look-up table indexed by stored value, for uint8/uint16 pixels; else None."""
    dt = np.dtype(dtype)
    if dt not in (np.dtype(np.uint8), np.dtype(np.uint16)):
        return None
    values = np.arange(2 ** (8 * dt.itemsize), dtype=np.float32)
    return _to_8bit(values, window=window, gamma=gamma, negative=negative)


def _to_8bit(
    values: np.ndarray, *, window: tuple[float, float], gamma: float, negative: bool
) -> np.ndarray:
    center, width = float(window[0]), float(window[1])
    if not width > 0:
        raise ValueError(f"window: expected width > 0, got {width}")
    x = (values.astype(np.float32) - np.float32(center - width / 2.0)) * np.float32(1.0 / width)
    np.clip(x, 0.0, 1.0, out=x)
    if gamma != 1.0:
        np.power(x, np.float32(1.0 / gamma), out=x)
    out = np.rint(x * 255.0).astype(np.uint8)
    return 255 - out if negative else out


def window_level(
    pixels: np.ndarray,
    *,
    window: tuple[float, float] | None = None,
    gamma: float = 1.0,
    negative: bool = False,
) -> np.ndarray:
    """``(rows, cols)`` native pixels -> ``(rows, cols)`` uint8 through window, gamma, negative.

    ``window=None`` uses :func:`auto_window`. Gamma > 1 brightens the mid-tones
    (``out = x ** (1/gamma)``); negative inverts after gamma.
    """
    if pixels.ndim != 2:
        raise ValueError(f"pixels: expected shape (rows, cols), got {pixels.shape}")
    win = auto_window(pixels) if window is None else window
    if not gamma > 0:
        raise ValueError(f"gamma: expected > 0, got {gamma}")
    lut = display_lut(pixels.dtype, window=win, gamma=gamma, negative=negative)
    if lut is not None:
        if pixels.dtype == np.uint8:
            return cv2.LUT(pixels, lut)
        return lut[pixels]
    return _to_8bit(np.nan_to_num(pixels), window=win, gamma=gamma, negative=negative)


def gamma_correct(image: np.ndarray, *, gamma: float) -> np.ndarray:
    """uint8 image -> uint8 with ``out = 255 * (in/255) ** (1/gamma)``."""
    if not gamma > 0:
        raise ValueError(f"gamma: expected > 0, got {gamma}")
    lut = np.rint(255.0 * (np.arange(256) / 255.0) ** (1.0 / gamma)).astype(np.uint8)
    return cv2.LUT(_as_u8(image), lut)


def negative(image: np.ndarray) -> np.ndarray:
    """uint8 image -> ``255 - image``."""
    return 255 - _as_u8(image)


def clahe(image: np.ndarray, *, clip_limit: float = 2.0, tiles: int = 8) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation of a ``(rows, cols)`` uint8 image."""
    if clip_limit <= 0 or tiles < 1:
        raise ValueError(
            f"clahe: expected clip_limit > 0 and tiles >= 1, got {clip_limit}, {tiles}"
        )
    op = cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(int(tiles), int(tiles)))
    return op.apply(_as_u8(image))


def edge_enhance(image: np.ndarray, *, amount: float = 1.5, sigma: float = 2.0) -> np.ndarray:
    """Unsharp mask of a uint8 image: ``in + amount * (in - blur(in, sigma px))``, clipped."""
    if amount < 0 or sigma <= 0:
        raise ValueError(f"edge_enhance: expected amount >= 0 and sigma > 0, got {amount}, {sigma}")
    img = _as_u8(image)
    blur = cv2.GaussianBlur(img, (0, 0), sigmaX=float(sigma))
    return cv2.addWeighted(img, 1.0 + amount, blur, -amount, 0.0)


def pseudo_colour(image: np.ndarray, *, colormap: str = "gray") -> np.ndarray:
    """``(rows, cols)`` uint8 -> ``(rows, cols, 3)`` BGR uint8 through a named colour map."""
    img = _as_u8(image)
    if colormap == "gray":
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if colormap not in _CV_COLORMAPS:
        known = ", ".join(["gray", *_CV_COLORMAPS])
        raise ValueError(f"colormap: expected one of {known}, got {colormap!r}")
    return cv2.applyColorMap(img, _CV_COLORMAPS[colormap])


def heatmap_colour(heat: np.ndarray, *, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Anomaly map (any size, values in [0, 1]) -> (BGR jet image, alpha (rows, cols) float32).

    The map is resized to ``shape`` ``(rows, cols)``; alpha is ``0.5 * heat`` so cold areas
    leave the scan untouched.
    """
    if heat.ndim != 2:
        raise ValueError(f"heatmap: expected shape (rows, cols), got {heat.shape}")
    h: np.ndarray = np.clip(np.nan_to_num(heat.astype(np.float32)), 0.0, 1.0)
    if h.shape != shape:
        h = cv2.resize(h, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    colour = cv2.applyColorMap(np.rint(h * 255).astype(np.uint8), cv2.COLORMAP_JET)
    return colour, h * np.float32(0.5)


def _as_u8(image: np.ndarray) -> np.ndarray:
    if image.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 display pixels, got {image.dtype}")
    return image
