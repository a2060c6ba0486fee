"""What threat image projection needs to know about a host scan, measured from its pixels.

**Photon transfer.** A counting detector gives a pixel variance that is affine in its mean:
``var = gain * (mean - dark) + floor``, ``gain`` in DN per detected photon. The scan is cut into
tiles; in each, the noise variance is measured with second differences along rows less their
product with the next row's (white noise stays, structure that continues across rows cancels),
and a tile is *flat* when its plain variance (less each line's level and slope) is no more than
1.6x that noise (nothing but noise
in it). The line is fitted to the flat tiles' (mean, noise) pairs by iteratively reweighted least
squares (Huber); its slope's standard error comes from a bootstrap over tiles. A host is refused
(:class:`TipError`, one line) when the slope is not clearly positive or the line does not
explain the tiles' noise: its noise is then not Poisson-like and its dose cannot be read.

**Raster.** Per-line (and per-column) gain: each line's counts against the lines around it (the
median ratio over the object's pixels), the slow drift along and across the sweep from a
quadratic fit of the log counts. **Blur**: the edge spread of the host's sharp edges (second
moment of the derivative across them, less the pixel's own 1/12).

The plausible region (where something is in the beam, not air) is the bright class of an Otsu
threshold on the smoothed scan, cleaned with morphology.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

#: an edge counts for the blur when its step is this many noise sigmas
MIN_EDGE_SNR = 8.0
#: the objects' own edge softness (px^2) in the edge spread, less before it is called blur:
#: measured as 1.25^2 - 0.85^2 on simulator scans (0.8 px spot plus the sweep's resampling)
EDGE_OWN_VAR = 0.84
#: measure line gains only where the scene does not change from line to line
LINE_STRUCTURE_CUT = True
#: tile size (px) of the photon-transfer fit
TILE = 16
#: a tile is flat when its plain variance is at most this many times its white-noise variance
FLAT_RATIO = 1.6
#: refuse a host whose gain is known worse than this (relative standard error)
MAX_GAIN_RSE = 0.4
#: ... or whose tiles scatter around the fitted line by more than this (median |log ratio|)
MAX_MISFIT = 0.35


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
    #: standard error of ``gain`` (bootstrap over flat tiles); 0 when given, not measured
    gain_se: float = 0.0
    #: flat tiles the fit used
    n_tiles: int = 0

    def variance(self, mean_dn: np.ndarray) -> np.ndarray:
        """Expected pixel variance (DN^2) at a mean level (DN)."""
        return np.maximum(self.gain * (mean_dn - self.dark), 0.0) + self.floor_var

    def counts(self, mean_dn: np.ndarray) -> np.ndarray:
        """Mean detected photons at a mean level (DN), never negative."""
        return np.maximum((mean_dn - self.dark) / self.gain, 0.0)


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


def _tiles(px: np.ndarray, tile: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per tile: mean, white-noise variance, plain variance (each ``(n_tiles,)``)."""
    rows, cols = (px.shape[0] // tile) * tile, (px.shape[1] // tile) * tile
    power = _noise_power(px)[:rows, :cols]
    sub = px[:rows, :cols]

    def per_tile(a: np.ndarray) -> np.ndarray:
        return a.reshape(rows // tile, tile, cols // tile, tile).swapaxes(1, 2).reshape(-1, tile**2)

    t = per_tile(sub)
    # the plain variance of each tile after each of its lines' own level and slope are removed
    # (a line gain or a structure along the line is not noise; the noise estimate ignores both)
    xx = np.tile(np.arange(tile, dtype=np.float64), tile)
    blocks = np.kron(np.eye(tile), np.ones((tile, 1)))
    design = np.c_[blocks, blocks * (xx - xx.mean())[:, None]]
    resid = t - t @ (design @ np.linalg.pinv(design)).T
    plain = resid.var(axis=1) * tile / (tile - 2)
    noise = per_tile(power)[:, tile:-tile].mean(axis=1)  # rows next to a tile edge left out
    return t.mean(axis=1), noise, plain


def _wls(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares slope and intercept of ``y = a x + b``."""
    sw = w.sum()
    mx, my = (w * x).sum() / sw, (w * y).sum() / sw
    sxx = (w * (x - mx) ** 2).sum()
    a = float((w * (x - mx) * (y - my)).sum() / sxx) if sxx > 0 else 0.0
    return a, float(my - a * mx)


def _huber_line(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Slope and intercept of ``y = a x + b``, reweighted (Huber, 1.5 MAD) 5 times."""
    weights = w.copy()
    a, b = 0.0, float(np.median(y))
    for _ in range(5):
        a, b = _wls(x, y, weights)
        r = (y - (a * x + b)) * np.sqrt(w)
        s = 1.4826 * float(np.median(np.abs(r))) + 1e-12
        weights = w * np.minimum(1.0, 1.5 * s / np.maximum(np.abs(r), 1e-12))
    return float(a), float(b)


def _masked_median(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Median along axis 1 of ``values`` where ``valid``; rows with nothing valid give 1."""
    v = np.where(valid, values, np.inf)
    v.sort(axis=1)
    n = np.count_nonzero(valid, axis=1)
    lo = np.clip((n - 1) // 2, 0, None)
    hi = np.clip(n // 2, 0, None)
    idx = np.arange(v.shape[0])
    out = 0.5 * (v[idx, lo] + v[idx, hi])
    return np.where(n > 0, out, 1.0)


def photon_transfer(
    pixels: np.ndarray,
    *,
    tile: int = TILE,
    name: str = "host",
    seed: int = 0,
    gain: HostNoise | None = None,
) -> HostNoise:
    """Fit the affine Poisson noise model of ``pixels`` ``(rows, cols)`` (any dtype) over its
    flat tiles. Raises :class:`TipError` (one line naming ``name``) when the noise is not
    Poisson-like enough to estimate.

    ``gain`` (the device's, pooled over its scans: one detector has one gain) fixes the slope;
    only the offset is fitted then, unless the scan's tiles do not follow that slope (another
    device), when its own fit stands."""
    px = np.asarray(pixels, np.float64)
    if px.ndim != 2 or min(px.shape) < 4 * tile:
        raise TipError(f"{name}: expected a 2-D scan of at least {4 * tile} px, got {px.shape}")
    mean, noise, plain = _tiles(px, tile)
    flat = (plain <= FLAT_RATIO * noise) & (noise > 0)
    if np.ptp(px) == 0 or np.count_nonzero(flat) < 12 or np.ptp(mean[flat]) <= 0:
        raise TipError(
            f"{name}: too uniform or too structured to measure its noise "
            f"({int(np.count_nonzero(flat))} flat tiles of {mean.size}; is it a blank image?)"
        )
    m, v = mean[flat], noise[flat]
    # each tile's noise estimate has a relative error of about sqrt(2 / n): weight by 1/var^2
    w = 1.0 / np.maximum(v, 1e-9) ** 2
    w /= w.mean()
    a, b = _huber_line(m, v, w)
    rng = np.random.default_rng(seed)
    boot = []
    for _ in range(12):
        i = rng.integers(m.size, size=m.size)
        if np.ptp(m[i]) > 0:
            boot.append(_huber_line(m[i], v[i], w[i])[0])
    se = float(np.std(boot)) if boot else float("inf")
    predicted = a * m + b
    misfit = (
        float(np.median(np.abs(np.log(v / predicted)))) if np.all(predicted > 0) else float("inf")
    )
    if not a > 0 or se > MAX_GAIN_RSE * abs(a) or misfit > MAX_MISFIT:
        raise TipError(
            f"{name}: noise is not Poisson-like (variance against mean over {m.size} flat tiles: "
            f"slope {a:.3g} +- {se:.2g} DN/photon, misfit {misfit:.2f}); its dose cannot be "
            "estimated"
        )
    if gain is not None:
        b_dev = float(np.median(v - gain.gain * m))
        pred = gain.gain * m + b_dev
        if np.all(pred > 0) and np.median(np.abs(np.log(v / pred))) <= max(misfit, 0.05) * 1.25:
            a, b, se = gain.gain, b_dev, gain.gain_se
    lo = float(np.quantile(px, 0.001))
    dark = float(np.clip(-b / a, lo - 0.5 * np.ptp(px), lo))
    floor = float(max(b + a * dark, 1.0 / 12.0))
    return HostNoise(gain=a, dark=dark, floor_var=floor, gain_se=se, n_tiles=int(m.size))


def estimate_noise(pixels: np.ndarray, *, name: str = "host") -> HostNoise:
    """The host's noise model (:func:`photon_transfer`)."""
    return photon_transfer(pixels, name=name)


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


@dataclass(frozen=True)
class Raster:
    """The host's gain pattern: per-line ``(rows,)`` and per-column ``(cols,)`` factors (mean 1
    over the object), the product of which scales the dose at each pixel."""

    rows: np.ndarray
    cols: np.ndarray

    def map(self, box: tuple[slice, slice]) -> np.ndarray:
        return np.asarray(self.rows[box[0]][:, None] * self.cols[box[1]][None, :])


def _line_ratio(counts: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Per row: median over weighted pixels of the row against the mean of the 2 rows above and
    2 below (structure continues across rows, a line's gain does not)."""
    c = counts
    ref = np.empty_like(c)
    ref[2:-2] = 0.3 * (c[1:-3] + c[3:-1]) + 0.2 * (c[:-4] + c[4:])
    ref[:2], ref[-2:] = c[:2], c[-2:]
    ratio = c / np.maximum(ref, 1e-9)
    if LINE_STRUCTURE_CUT:
        # leave out where the scene itself changes from line to line (a horizontal edge): seen
        # along 9 px of the line, more than the noise (3.5 sigma) or 5 % away from the lines
        # around it; a line gain of a few % stays in
        ch = cv2.blur(c, (9, 1), borderType=cv2.BORDER_REFLECT)
        rh = cv2.blur(ref, (9, 1), borderType=cv2.BORDER_REFLECT)
        dev_h = np.abs(ch / np.maximum(rh, 1e-9) - 1.0)
        weight = weight & (dev_h <= np.maximum(0.05, 3.5 / np.sqrt(np.maximum(ch, 1.0) * 9.0)))
    enough = np.count_nonzero(weight, axis=1) >= 16
    enough[:2] = enough[-2:] = False
    out = np.ones(c.shape[0])
    if not enough.any():
        return out
    out[enough] = _masked_median(ratio[enough], weight[enough])
    # noise of each line's median ratio: pi/2 * 1.26 / (photons * pixels); shrink each line's
    # deviation by the share of its variance that is a real gain (else the line's own noise is
    # copied onto the projected counts)
    n_sel = np.maximum(np.count_nonzero(weight, axis=1), 1)
    inv = np.where(weight, 1.0 / np.maximum(c, 1.0), 0.0).sum(axis=1) / n_sel
    var_noise = np.full(c.shape[0], np.inf)
    var_noise[enough] = 1.5708 * 1.26 * inv[enough] / n_sel[enough]
    dev = out - 1.0
    var_gain = max(float(np.var(dev[enough]) - np.mean(var_noise[enough])), 0.0)
    shrink = var_gain / (var_gain + var_noise)
    # for a white line jitter e: var(ratio - 1) = 1.26 var(e), cov = var(e): regress back
    return np.asarray(1.0 + shrink * dev / 1.26)


def _smooth_trend(counts: np.ndarray, weight: np.ndarray, axis: int) -> np.ndarray:
    """exp of a quadratic fit of the log median counts along ``axis`` (drift, fall-off)."""
    c = counts if axis == 0 else counts.T
    sel = weight if axis == 0 else weight.T
    n = c.shape[1]
    enough = np.count_nonzero(sel, axis=0) >= 16
    pos = np.flatnonzero(enough)
    if pos.size < n // 3:
        return np.ones(n)
    med = _masked_median(c[:, pos].T, sel[:, pos].T)
    vals = np.log(np.maximum(med, 1e-9))
    x = np.linspace(-1.0, 1.0, n)
    coef = np.polyfit(x[pos], vals, 2)
    coef[0] = float(np.clip(coef[0], -0.6, 0.0))  # a fall-off towards the ends, never a bulge
    coef[1] = float(np.clip(coef[1], -0.15, 0.15))
    trend = np.exp(np.polyval(coef[:2].tolist() + [0.0], x))
    return np.asarray(trend / trend[pos].mean())


def raster(pixels: np.ndarray, *, noise: HostNoise, region: np.ndarray) -> Raster:
    """Measure the host's per-line and per-column gain over its object ``region``."""
    counts = noise.counts(np.asarray(pixels, np.float64))
    ok = region & (counts > 4.0)
    rows = _line_ratio(counts, ok) * _smooth_trend(counts, ok, axis=1)
    cols = _line_ratio(counts.T, ok.T) * _smooth_trend(counts, ok, axis=0)
    return Raster(rows=rows / rows.mean(), cols=cols / cols.mean())


def edge_spread(
    pixels: np.ndarray, *, noise: HostNoise, max_edges: int = 800, default: float | None = 0.8
) -> float | None:
    """Gaussian sigma (px) of the host's blur, from the edge spread across its strong edges.

    Candidate edges are local maxima of the horizontal (then vertical) gradient of the lightly
    smoothed scan whose step is at least 12 noise sigmas and runs mostly across the line; across
    each, the second moment of the raw derivative over +-4 px, less 1/12 for the pixel's own
    width. The median over edges, weighted by their squared step-to-noise ratio, less the
    objects' own softness :data:`EDGE_OWN_VAR`, is taken.
    Returns ``default`` when the host has fewer than 20 such edges.
    """
    px = np.asarray(pixels, np.float64)
    offs = np.arange(-4, 5)
    vals, weights = [], []
    for img in (px, px.T):
        d = np.diff(img, axis=1)
        sm = cv2.GaussianBlur(img, (0, 0), 1.0)
        g = np.abs(np.diff(sm, axis=1))
        across = np.zeros_like(g)
        across[:-1] = np.abs(np.diff(sm, axis=0))[:, :-1]
        sd = np.sqrt(2.0 * noise.variance(0.5 * (img[:, 1:] + img[:, :-1])))
        peak = np.zeros_like(g, bool)
        peak[:, 5:-5] = (g[:, 5:-5] >= g[:, 4:-6]) & (g[:, 5:-5] > g[:, 6:-4])
        strong = peak & (g > 2.0 * sd) & (across < 0.3 * g)
        rr, cc = np.nonzero(strong)
        if rr.size > max_edges:
            pick = np.random.default_rng(0).choice(rr.size, max_edges, replace=False)
            rr, cc = rr[pick], cc[pick]
        if rr.size == 0:
            continue
        prof = d[rr[:, None], cc[:, None] + offs[None, :]]
        total = prof.sum(axis=1)
        prof *= np.sign(total)[:, None]
        total = np.abs(total)
        snr = total / sd[rr, cc]
        ok = snr >= MIN_EDGE_SNR
        xbar = (prof * offs).sum(axis=1) / np.maximum(total, 1e-9)
        m2 = (prof * (offs[None, :] - xbar[:, None]) ** 2).sum(axis=1) / np.maximum(total, 1e-9)
        ok &= np.abs(xbar) < 1.0
        vals.append(m2[ok] - 1.0 / 12.0)
        weights.append(snr[ok] ** 2)
    v = np.concatenate(vals) if vals else np.zeros(0)
    if v.size < 20:
        return default
    w = np.concatenate(weights)
    order = np.argsort(v)
    cum = np.cumsum(w[order])
    med = float(v[order][np.searchsorted(cum, 0.5 * cum[-1])])
    return float(np.sqrt(max(med - EDGE_OWN_VAR, 0.09)))
