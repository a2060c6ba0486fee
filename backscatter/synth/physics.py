"""Layer transport of a flying-spot pencil beam and the counting detector.

Conventions: images are ``(rows, cols)``; row 0 is the first line swept. Thicknesses are in cm,
depths in cm behind the front face of the scene. ``signal`` is the expected number of Compton
photons reaching the detector per incident photon, before the dose and the detector gain.

Layer model (one beam per pixel, layers sorted front to back)::

    S = sum_i G(z_i) * T_i * (mu_s,i / mu_eff,i) * (1 - exp(-mu_eff,i * t_i))
    T_{i+1} = T_i * exp(-mu_eff,i * t_i),  T_0 = 1

with ``mu_eff = mu(E) + k * mu(E')`` the two-way attenuation (in at E, out obliquely at the
Compton energy E'), and ``G(z) = (d / (d + z))**2`` the solid angle of the detector seen from
depth ``z`` at stand-off ``d``. Low-Z layers scatter strongly (bright), high-Z absorb (dark), and
each layer's own signal saturates at ``mu_s / mu_eff`` as it thickens.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from backscatter.synth.materials import coefficient_table, compton_energy_kev


@dataclass(frozen=True)
class Profile:
    """A device: tube, beam, geometry and detector constants."""

    name: str
    kvp: float
    tube_current_ma: float
    #: effective (mean) energy of the filtered spectrum, keV
    energy_kev: float
    #: mean scatter angle seen by the detectors, degrees
    scatter_angle_deg: float
    #: exit path length / depth (1/cos of the mean exit obliquity)
    exit_path_factor: float
    #: effective stand-off (beam port to front face, plus the detector's own extent), cm
    standoff_cm: float
    #: field of view (rows, cols) in cm; pixel spacing = fov / image size
    fov_cm: tuple[float, float]
    #: detected counts per unit signal at nominal stand-off (dose x detector efficiency)
    counts_per_signal: float
    #: ADC gain, DN per detected photon
    gain_dn: float
    dark_dn: float
    read_noise_dn: float
    bits_stored: int
    #: beam spot Gaussian sigma in pixels
    spot_sigma_px: float
    #: lines per second of the flying-spot raster
    line_rate_hz: float
    #: room/ground scatter floor (signal units)
    ambient: float
    handheld: bool

    @property
    def exit_energy_kev(self) -> float:
        return compton_energy_kev(self.energy_kev, self.scatter_angle_deg)

    @property
    def full_scale(self) -> int:
        return 2**self.bits_stored - 1

    def coefficients(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-material ``(mu_eff, mu_s)`` in 1/cm for this profile's energies."""
        return coefficient_table(self.energy_kev, self.exit_energy_kev, self.exit_path_factor)


PROFILES: dict[str, Profile] = {
    "handheld": Profile(
        name="handheld",
        kvp=120.0,
        tube_current_ma=0.5,
        energy_kev=60.0,
        scatter_angle_deg=155.0,
        exit_path_factor=1.15,
        standoff_cm=15.0,
        fov_cm=(100.0, 100.0),
        counts_per_signal=1500.0,
        gain_dn=64.0,
        dark_dn=1200.0,
        read_noise_dn=40.0,
        bits_stored=16,
        spot_sigma_px=0.8,
        line_rate_hz=60.0,
        ambient=0.002,
        handheld=True,
    ),
    "van": Profile(
        name="van",
        kvp=225.0,
        tube_current_ma=10.0,
        energy_kev=100.0,
        scatter_angle_deg=150.0,
        exit_path_factor=1.2,
        standoff_cm=80.0,
        fov_cm=(200.0, 200.0),
        counts_per_signal=2500.0,
        gain_dn=40.0,
        dark_dn=1500.0,
        read_noise_dn=50.0,
        bits_stored=16,
        spot_sigma_px=1.1,
        line_rate_hz=200.0,
        ambient=0.004,
        handheld=False,
    ),
    "compact": Profile(
        name="compact",
        kvp=50.0,
        tube_current_ma=1.0,
        energy_kev=30.0,
        scatter_angle_deg=155.0,
        exit_path_factor=1.15,
        standoff_cm=20.0,
        fov_cm=(80.0, 80.0),
        counts_per_signal=1800.0,
        gain_dn=60.0,
        dark_dn=1200.0,
        read_noise_dn=40.0,
        bits_stored=16,
        spot_sigma_px=0.9,
        line_rate_hz=100.0,
        ambient=0.002,
        handheld=False,
    ),
}


def get_profile(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"profile: expected one of {sorted(PROFILES)}, got {name!r}") from None


@dataclass
class Layer:
    """One material slab on a rectangle of the image.

    ``thickness`` is ``(h, w)`` float32 cm (0 = absent) placed at ``(row0, col0)``; ``depth_cm``
    is the distance of its front face behind the scene's front face.
    """

    material: int
    thickness: np.ndarray
    row0: int
    col0: int
    depth_cm: float

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.thickness.shape
        return slice(self.row0, self.row0 + h), slice(self.col0, self.col0 + w)

    def overlap(
        self, region: tuple[slice, slice]
    ) -> tuple[tuple[slice, slice], np.ndarray, slice] | None:
        """Where this layer meets ``region`` (image coordinates, unit steps): the sub-slices in
        region coordinates, the layer's thickness there, and the image rows; None if disjoint."""
        (lr, lc), (rr, cc) = self.slices, region
        r0, r1 = max(lr.start, rr.start), min(lr.stop, rr.stop)
        c0, c1 = max(lc.start, cc.start), min(lc.stop, cc.stop)
        if r1 <= r0 or c1 <= c0:
            return None
        t = self.thickness[r0 - lr.start : r1 - lr.start, c0 - lc.start : c1 - lc.start]
        sub = (slice(r0 - rr.start, r1 - rr.start), slice(c0 - cc.start, c1 - cc.start))
        return sub, t, slice(r0, r1)


def clip_layer(layer: Layer, shape: tuple[int, int]) -> Layer | None:
    """The part of ``layer`` inside an image of ``shape``, cut to where its thickness is not
    zero (a zero-thickness pixel adds exactly nothing); None when nothing is left."""
    h, w = layer.thickness.shape
    r0, c0 = max(layer.row0, 0), max(layer.col0, 0)
    r1, c1 = min(layer.row0 + h, shape[0]), min(layer.col0 + w, shape[1])
    if r1 <= r0 or c1 <= c0:
        return None
    t = layer.thickness[r0 - layer.row0 : r1 - layer.row0, c0 - layer.col0 : c1 - layer.col0]
    nz = t != 0
    rows = np.flatnonzero(nz.any(axis=1))
    if rows.size == 0:
        return None
    cols = np.flatnonzero(nz[rows[0] : rows[-1] + 1].any(axis=0))
    t = t[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return Layer(layer.material, t, r0 + int(rows[0]), c0 + int(cols[0]), layer.depth_cm)


def scatter_signal(
    layers: Sequence[Layer],
    shape: tuple[int, int],
    profile: Profile,
    *,
    standoff_rows: np.ndarray | None = None,
    region: tuple[slice, slice] | None = None,
    exclude: frozenset[int] = frozenset(),
) -> np.ndarray:
    """Expected backscatter signal, float32 ``shape`` (or the ``region`` crop of it).

    ``standoff_rows`` (rows,) gives the stand-off in cm per line (hand-held wobble); layers whose
    index is in ``exclude`` are left out (used to measure a threat's own contrast).
    """
    mu_eff, mu_s = profile.coefficients()
    sat = (mu_s / mu_eff).astype(np.float32)
    rows = np.arange(shape[0])
    if standoff_rows is None:
        standoff_rows = np.full(shape[0], profile.standoff_cm, np.float32)
    if region is None:
        region = (slice(0, shape[0]), slice(0, shape[1]))
    rr, cc = region
    out_shape = (rr.stop - rr.start, cc.stop - cc.start)
    signal = np.zeros(out_shape, np.float32)
    trans = np.ones(out_shape, np.float32)
    order = sorted(range(len(layers)), key=lambda i: layers[i].depth_cm)
    for i in order:
        if i in exclude:
            continue
        lay = layers[i]
        hit = lay.overlap(region)
        if hit is None:
            continue
        sub, t, image_rows = hit
        d = standoff_rows[rows[image_rows]].astype(np.float32)[:, None]
        geom = (np.float32(profile.standoff_cm) / (d + np.float32(lay.depth_cm))) ** 2
        e = np.exp(t * np.float32(-mu_eff[lay.material]))
        tr = trans[sub]
        signal[sub] += geom * tr * sat[lay.material] * (1.0 - e)
        tr *= e
    return signal


@dataclass(frozen=True)
class DetectorState:
    """Per-scan detector fluctuations, each ``(rows,)`` float32."""

    gain_rows: np.ndarray
    line_jitter: np.ndarray


def detector_state(rows: int, profile: Profile, rng: np.random.Generator) -> DetectorState:
    """Slow gain drift along the scan (a few %) and per-line gain jitter (~1 %)."""
    t = np.linspace(0.0, 1.0, rows, dtype=np.float32)
    drift = (
        1.0
        + rng.uniform(-0.05, 0.05) * t
        + rng.uniform(0.0, 0.03)
        * np.sin(2 * np.pi * (rng.uniform(0.5, 2.0) * t + rng.uniform(0, 1)))
    )
    jitter = 1.0 + rng.normal(0.0, 0.012 if profile.handheld else 0.006, rows)
    return DetectorState(drift.astype(np.float32), jitter.astype(np.float32))


def edge_falloff(shape: tuple[int, int], *, half_angle_deg: float = 28.0) -> np.ndarray:
    """``(rows, cols)`` float32 fall-off of a fan-swept spot: cos^3 of the sweep angle along
    columns (longer, obliquer path at the ends of each line) and a mild cos along rows."""
    rows, cols = shape
    ax = np.linspace(-1.0, 1.0, cols, dtype=np.float32) * np.float32(np.radians(half_angle_deg))
    ay = np.linspace(-1.0, 1.0, rows, dtype=np.float32) * np.float32(np.radians(12.0))
    return (np.cos(ay)[:, None] * np.cos(ax)[None, :] ** 3).astype(np.float32)


def blur_spot(signal: np.ndarray, *, sigma_px: float) -> np.ndarray:
    """Convolve with the Gaussian beam spot (new array)."""
    if sigma_px <= 0:
        return signal.copy()
    return cv2.GaussianBlur(signal, (0, 0), sigma_px, borderType=cv2.BORDER_REFLECT)


def expected_counts(
    signal: np.ndarray, *, profile: Profile, state: DetectorState, falloff: np.ndarray
) -> np.ndarray:
    """Mean detected photons per pixel, float32 ``(rows, cols)``."""
    scale = (state.gain_rows * state.line_jitter)[:, None] * np.float32(profile.counts_per_signal)
    return (signal + np.float32(profile.ambient)) * falloff * scale


def count_and_digitise(
    counts_mean: np.ndarray, *, profile: Profile, rng: np.random.Generator
) -> np.ndarray:
    """Poisson counting noise, dark offset, read noise and saturation -> uint16 DN.

    Pixels with a mean under 30 photons are drawn from the exact Poisson law; brighter ones from
    its Gaussian limit ``N(lam, lam)`` (indistinguishable there, 5x cheaper).
    """
    lam = np.ascontiguousarray(counts_mean, dtype=np.float32)
    z = rng.standard_normal(lam.shape, dtype=np.float32)
    n = np.sqrt(lam)
    n *= z
    n += lam
    low = np.flatnonzero(lam < 30.0)
    if low.size:
        n.ravel()[low] = rng.poisson(lam.ravel()[low]).astype(np.float32)
    np.maximum(n, 0.0, out=n)
    dn = n
    dn *= np.float32(profile.gain_dn)
    dn += np.float32(profile.dark_dn)
    read = rng.standard_normal(lam.shape, dtype=np.float32)
    read *= np.float32(profile.read_noise_dn)
    dn += read
    np.clip(dn, 0.0, float(profile.full_scale), out=dn)
    return np.rint(dn).astype(np.uint16)
