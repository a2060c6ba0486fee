"""Domain randomisation: every parameter that differs between real devices and scenes, drawn
per scene from a documented range (docs/physics.md, section "Domain randomisation").

:func:`draw_domain` turns a base :class:`~backscatter.synth.physics.Profile` into a
:class:`Domain`: a device variant (beam energy, stand-off, dose, beam spot, scatter floor) plus the
artefacts applied after transport (scatter fog, row and column non-uniformity, raster jitter,
dropped lines, gain/offset and quantisation). A detector trained on these scenes cannot lean on
one simulated device's numbers. Draws come from their own generator, so a scene's content (its
layout, clutter and threats) is the same with and without randomisation.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from backscatter.synth.physics import Profile
from backscatter.synth.shapes import smooth_noise


@dataclass(frozen=True)
class DomainRanges:
    """Ranges of the per-scene draws; ``(low, high)``, log-uniform where marked."""

    #: effective (mean) energy of the filtered spectrum, keV: 50 kVp compact units (~30 keV)
    #: to 225 kVp vehicle systems (~100 keV); the material table covers 20-100 keV
    energy_kev: tuple[float, float] = (30.0, 100.0)
    #: effective stand-off, cm: a handheld pressed on a panel (5) to a van 1 m away (100)
    standoff_cm: tuple[float, float] = (5.0, 100.0)
    #: detected photons per unit signal (dose x detector efficiency), log-uniform
    counts_per_signal: tuple[float, float] = (250.0, 6000.0)
    #: beam-spot Gaussian sigma, pixels
    spot_sigma_px: tuple[float, float] = (0.4, 2.2)
    #: room / ground scatter floor, signal units
    ambient: tuple[float, float] = (0.0, 0.01)
    #: smooth scatter fog: extra signal up to this share of the scene's median signal
    fog: tuple[float, float] = (0.0, 0.35)
    #: per-line gain sigma (tube current / detector ripple), fraction
    row_gain_sigma: tuple[float, float] = (0.0, 0.03)
    #: per-column gain (fan fall-off and detector response along the sweep): smooth amplitude
    #: plus pixel-to-pixel sigma, fractions
    col_gain_smooth: tuple[float, float] = (0.0, 0.15)
    col_gain_sigma: tuple[float, float] = (0.0, 0.02)
    #: line-to-line raster jitter sigma (random walk step), pixels
    jitter_step_px: tuple[float, float] = (0.0, 0.6)
    #: share of lines dropped (read out as the dark level) or repeated
    dropped_lines: tuple[float, float] = (0.0, 0.01)
    #: where the 99th percentile of the counts lands, as a fraction of full scale (the
    #: device's gain setting: from under-driven to a few percent saturated), log-uniform
    p99_full_scale: tuple[float, float] = (0.06, 1.0)
    #: dark offset, fraction of full scale
    offset_full_scale: tuple[float, float] = (0.0, 0.10)
    #: read noise, DN at 16 bits (scaled to the drawn bit depth)
    read_noise_dn: tuple[float, float] = (5.0, 120.0)
    #: bits stored and their draw weights
    bits: tuple[int, ...] = (8, 10, 12, 14, 16)
    bits_weights: tuple[float, ...] = (0.15, 0.15, 0.25, 0.15, 0.30)

    def __post_init__(self) -> None:
        if len(self.bits) != len(self.bits_weights) or not self.bits:
            raise ValueError("bits/bits_weights: expected lists of the same, non-zero length")
        if any(b < 8 or b > 16 for b in self.bits):
            raise ValueError(f"bits: expected 8..16, got {list(self.bits)}")


@dataclass(frozen=True)
class Domain:
    """One scene's drawn device and artefacts (see :class:`DomainRanges` for units)."""

    profile: Profile
    fog: float
    row_gain_sigma: float
    col_gain_smooth: float
    col_gain_sigma: float
    jitter_step_px: float
    dropped_lines: float
    p99_full_scale: float
    offset_full_scale: float

    def as_dict(self) -> dict[str, float | int]:
        p = self.profile
        return {
            "energy_kev": round(p.energy_kev, 2),
            "standoff_cm": round(p.standoff_cm, 2),
            "counts_per_signal": round(p.counts_per_signal, 1),
            "spot_sigma_px": round(p.spot_sigma_px, 3),
            "ambient": round(p.ambient, 5),
            "read_noise_dn": round(p.read_noise_dn, 2),
            "bits_stored": p.bits_stored,
            "fog": round(self.fog, 4),
            "row_gain_sigma": round(self.row_gain_sigma, 4),
            "col_gain_smooth": round(self.col_gain_smooth, 4),
            "col_gain_sigma": round(self.col_gain_sigma, 4),
            "jitter_step_px": round(self.jitter_step_px, 3),
            "dropped_lines": round(self.dropped_lines, 4),
            "p99_full_scale": round(self.p99_full_scale, 4),
            "offset_full_scale": round(self.offset_full_scale, 4),
        }


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def draw_domain(base: Profile, rng: np.random.Generator, ranges: DomainRanges) -> Domain:
    """A device variant of ``base`` and one scene's artefacts, drawn from ``ranges``."""
    u = rng.uniform
    bits = int(
        rng.choice(ranges.bits, p=np.asarray(ranges.bits_weights) / sum(ranges.bits_weights))
    )
    profile = dataclasses.replace(
        base,
        energy_kev=float(u(*ranges.energy_kev)),
        standoff_cm=_log_uniform(rng, *ranges.standoff_cm),
        counts_per_signal=_log_uniform(rng, *ranges.counts_per_signal),
        spot_sigma_px=float(u(*ranges.spot_sigma_px)),
        ambient=float(u(*ranges.ambient)),
        read_noise_dn=float(u(*ranges.read_noise_dn)) / 2 ** (16 - bits),
        bits_stored=bits,
    )
    return Domain(
        profile=profile,
        fog=float(u(*ranges.fog)),
        row_gain_sigma=float(u(*ranges.row_gain_sigma)),
        col_gain_smooth=float(u(*ranges.col_gain_smooth)),
        col_gain_sigma=float(u(*ranges.col_gain_sigma)),
        jitter_step_px=float(u(*ranges.jitter_step_px)),
        dropped_lines=float(u(*ranges.dropped_lines)),
        p99_full_scale=_log_uniform(rng, *ranges.p99_full_scale),
        offset_full_scale=float(u(*ranges.offset_full_scale)),
    )


def add_fog(signal: np.ndarray, *, domain: Domain, rng: np.random.Generator) -> np.ndarray:
    """``signal`` plus smooth, positive scatter fog (air and room scatter; new array)."""
    if domain.fog <= 0:
        return signal.copy()
    field = np.clip(0.5 * (1.0 + smooth_noise(signal.shape, rng, cells=3)), 0.0, 1.0)
    level = np.float32(domain.fog * float(np.median(signal)))
    return (signal + level * field.astype(np.float32)).astype(np.float32)


def line_column_gain(
    shape: tuple[int, int], *, domain: Domain, rng: np.random.Generator
) -> np.ndarray:
    """``(rows, cols)`` float32 multiplicative gain: per-line jitter x per-column response."""
    rows, cols = shape
    row = 1.0 + rng.normal(0.0, domain.row_gain_sigma, rows)
    smooth = smooth_noise((1, cols), rng, cells=4)[0]
    col = 1.0 + domain.col_gain_smooth * smooth + rng.normal(0.0, domain.col_gain_sigma, cols)
    return np.clip(np.outer(row, col), 0.2, None).astype(np.float32)


def raster_shift(rows: int, *, domain: Domain, rng: np.random.Generator) -> np.ndarray:
    """Per-line sideways shift, pixels ``(rows,)``: a detrended random walk (beam wobble)."""
    if domain.jitter_step_px <= 0:
        return np.zeros(rows, np.float32)
    walk = np.cumsum(rng.normal(0.0, domain.jitter_step_px, rows))
    walk -= np.linspace(walk[0], walk[-1], rows)
    return np.clip(walk, -6.0, 6.0).astype(np.float32)


def digitiser_gain(counts_mean: np.ndarray, *, domain: Domain) -> tuple[float, float]:
    """``(gain_dn, dark_dn)`` that put the counts' 99th percentile at the drawn share of full
    scale above the drawn offset (a device's gain and offset settings)."""
    fs = float(2**domain.profile.bits_stored - 1)
    dark = domain.offset_full_scale * fs
    p99 = float(np.percentile(counts_mean[::4, ::4], 99.0))
    gain = max(domain.p99_full_scale * fs / max(p99, 1e-3), 1e-4)
    return gain, dark


def drop_lines(pixels: np.ndarray, *, domain: Domain, rng: np.random.Generator) -> np.ndarray:
    """Lines lost in readout: each dropped line reads the dark level or repeats the line before
    (new array)."""
    out = pixels.copy()
    n = int(rng.binomial(pixels.shape[0], domain.dropped_lines))
    if n == 0:
        return out
    dark = int(round(domain.offset_full_scale * (2**domain.profile.bits_stored - 1)))
    for r in rng.choice(pixels.shape[0], n, replace=False):
        out[r] = out[r - 1] if (r > 0 and rng.random() < 0.5) else dark
    return out
