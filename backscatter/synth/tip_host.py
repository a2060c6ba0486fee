"""What threat image projection needs to know about a host scan, estimated from its pixels.

A counting detector gives a pixel variance that is affine in its mean: ``var = a * mean + b``
with ``a`` the ADC gain (DN per detected photon) and ``b = read_var - a * dark``. The local noise
is measured with second differences along rows, less their product with the next row's (noise
is white, structure continues across rows and cancels), and the line is fitted to the median
noise of mean-value bins. ``dark = -b / a`` then absorbs the (small) read noise.

The plausible region (where something is in the beam, not air) is the bright class of an Otsu
threshold on the smoothed scan, cleaned with morphology.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: median over mean of the 7x7-window noise estimates for pure Gaussian noise (measured, seed 0)
NOISE_MEDIAN_BIAS = 0.97


class TipError(ValueError):
    """A host scan or a projection request TIP cannot work with; the message says why."""


@dataclass(frozen=True)
class HostNoise:
    """Affine noise model of a host scan, in stored-value (DN) units."""

    #: DN per detected photon (slope of variance against mean)
    gain: float
    #: DN at zero photons
    dark: float
    #: variance at the dark level, DN^2 (read noise)
    floor_var: float

    def variance(self, mean_dn: np.ndarray) -> np.ndarray:
        """Expected pixel variance (DN^2) at a mean level (DN)."""
        return np.maximum(self.gain * (mean_dn - self.dark), 0.0) + self.floor_var

    def counts(self, mean_dn: np.ndarray) -> np.ndarray:
        """Mean detected photons at a mean level (DN), never negative."""
        return np.maximum((mean_dn - self.dark) / self.gain, 0.0)


def estimate_noise(pixels: np.ndarray, *, window: int = 7, bins: int = 24) -> HostNoise:
    """Fit the affine Poisson noise model of ``pixels`` ``(rows, cols)`` (any dtype)."""
    px = np.asarray(pixels, np.float64)
    if px.ndim != 2 or min(px.shape) < 2 * window:
        raise TipError(f"host: expected a 2-D scan of at least {2 * window} px, got {px.shape}")
    k = (window, window)
    mean = cv2.blur(px, k, borderType=cv2.BORDER_REFLECT)
    var = cv2.blur(_noise_power(px), k, borderType=cv2.BORDER_REFLECT) / NOISE_MEDIAN_BIAS
    m, v = mean[::3, ::3].ravel(), var[::3, ::3].ravel()
    edges = np.unique(np.quantile(m, np.linspace(0.02, 0.98, bins + 1)))
    xs, ys, ws = [], [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        sel = (m >= lo) & (m < hi)
        if np.count_nonzero(sel) < 20:
            continue
        xs.append(float(np.median(m[sel])))
        ys.append(float(np.median(v[sel])))
        ws.append(1.0)
    if len(xs) < 3 or max(xs) - min(xs) <= 0:
        raise TipError("host: too uniform to estimate its noise (is it a blank image?)")
    a, b = np.polyfit(np.array(xs), np.array(ys), 1, w=np.array(ws))
    if not a > 0:
        raise TipError(
            f"host: noise does not grow with signal (slope {a:.3g}); not a photon-counting scan?"
        )
    dark = float(np.clip(-b / a, 0.0, np.quantile(px, 0.001)))
    floor = float(max(b + a * dark, 0.25))
    return HostNoise(gain=float(a), dark=dark, floor_var=floor)


def _noise_power(px: np.ndarray) -> np.ndarray:
    """Per-pixel noise variance estimate (DN^2), unbiased for white noise: with ``d`` the
    second difference along a row, ``(d[r]**2 - d[r] * d[r+1]) / 1.5``. Structure that
    continues from one row to the next (edges, ramps, texture) cancels in the product."""
    d = np.zeros_like(px)
    d[:, 1:-1] = px[:, 1:-1] - 0.5 * (px[:, :-2] + px[:, 2:])
    p = np.zeros_like(px)
    p[:-1] = d[:-1] ** 2 - d[:-1] * d[1:]
    p[-1] = p[-2]
    return p / 1.5


def plausible_region(pixels: np.ndarray, *, noise: HostNoise, min_frac: float = 0.02) -> np.ndarray:
    """``(rows, cols)`` bool: where the scan shows an object rather than air.

    Otsu threshold of the smoothed photon counts (square-root scale, which equalises Poisson
    noise), then opening and closing at about 2 % of the image size.
    """
    counts = noise.counts(cv2.GaussianBlur(np.asarray(pixels, np.float64), (0, 0), 3.0))
    root = np.sqrt(counts)
    lo, hi = np.quantile(root, [0.005, 0.995])
    if hi <= lo:
        return np.zeros(root.shape, bool)
    img8 = np.clip((root - lo) / (hi - lo) * 255.0, 0, 255).astype(np.uint8)
    _, fg = cv2.threshold(img8, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    r = max(2, int(round(min_frac * min(root.shape))))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    fg = cv2.morphologyEx(fg, cv2.MORPH_OPEN, kernel)
    fg = cv2.morphologyEx(fg, cv2.MORPH_CLOSE, kernel)
    return fg > 0


def local_gain(pixels: np.ndarray, *, noise: HostNoise) -> float:
    """DN per photon measured on ``pixels`` (a crop) alone: its mean noise power over its mean
    signal above the dark level. Falls back to ``noise.gain`` on a crop too small or too dark."""
    px = np.asarray(pixels, np.float64)
    if px.shape[1] < 8 or px.shape[0] < 4:
        return noise.gain
    mean = cv2.GaussianBlur(px, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)
    power = _noise_power(px)
    signal = mean - noise.dark
    ok = signal > 4.0 * np.sqrt(noise.floor_var + 1.0)
    ok[:, [0, -1]] = False
    if np.count_nonzero(ok) < 50:
        return noise.gain
    ratio = float(np.mean(power[ok] - noise.floor_var) / np.mean(signal[ok]))
    return float(np.clip(ratio, 0.5 * noise.gain, 2.0 * noise.gain))
