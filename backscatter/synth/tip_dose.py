"""The dose of a host scan (counts per unit signal) and the device estimate pooled over hosts.

Photon transfer (:func:`~backscatter.synth.tip_host.photon_transfer`) turns a host's pixels into
detected photons. Photons per *unit signal* (the layer model's Compton photons per incident
photon) also need what the scene is: the same dose gives 4x fewer photons through a steel door
skin than through a tyre sidewall. The scan alone gives it through a scene prior: the median
photons over the object region against the median signal the layer model gives for that kind of
scene (:data:`SCENE_SIGNAL`, measured over the simulator's scene families, with its spread
between scenes). One device has one dose, so an exercise pools the estimate over all its hosts
(the median over hosts; the standard error falls as ``1 / sqrt(hosts)``). Metadata that names a
known device profile gives the dose outright; the estimate is then reported beside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from backscatter.scan import Scan
from backscatter.synth.physics import PROFILES, Profile
from backscatter.synth.tip_host import (
    HostNoise,
    Raster,
    TipError,
    edge_spread,
    photon_transfer,
    plausible_region,
    raster,
)

#: median signal (photons / counts per signal) over the object region of a scene family, and the
#: standard deviation of its log between scenes; measured by :func:`scene_signal` (40 scenes per
#: family, hand-held profile, 256 px, seeds 9000+)
SCENE_SIGNAL: dict[str, tuple[float, float]] = {
    "door": (0.0388, 0.06),
    "tyre": (0.176, 0.08),
    "wall": (0.187, 0.25),
    "luggage": (0.0825, 0.37),
    "crate": (0.151, 0.32),
    # the simulator's own mix of families (60 scenes, seeds 300+)
    "any": (0.131, 0.70),
}


@dataclass(frozen=True)
class HostFacts:
    """Everything TIP measures on one host, once."""

    name: str
    noise: HostNoise
    #: ``(rows, cols)`` bool, where something is in the beam
    region: np.ndarray
    raster: Raster
    #: blur sigma (px) from the host's edges; None when it has too few strong edges
    blur_px: float | None
    #: median detected photons over the object region
    median_counts: float


def host_facts(scan: Scan, *, name: str | None = None, gain: HostNoise | None = None) -> HostFacts:
    """Measure ``scan`` (raises :class:`TipError` naming it when its noise is not Poisson-like);
    ``gain``: the device's pooled gain (:func:`device_gain`), used when the scan agrees."""
    label = name or scan.source_uri or scan.scan_id
    px = np.asarray(scan.pixels, np.float64)
    noise = photon_transfer(px, name=label, gain=gain)
    region = plausible_region(px, noise=noise)
    if not region.any():
        raise TipError(f"{label}: no object region (nothing in the beam?)")
    counts = noise.counts(px)
    blur = edge_spread(px, noise=noise, default=None)
    return HostFacts(
        name=label,
        noise=noise,
        region=region,
        raster=raster(px, noise=noise, region=region),
        blur_px=blur,
        median_counts=float(np.median(counts[region])),
    )


def device_gain(noises: Sequence[HostNoise]) -> HostNoise:
    """The device's gain (DN per photon) pooled over its scans' photon transfer: the median,
    its standard error from the scans' spread (1.25 x sd / sqrt(n)); offsets stay per scan."""
    if not noises:
        raise TipError("gain: expected at least one host")
    gains = np.array([n.gain for n in noises])
    se = float(1.2533 * gains.std() / np.sqrt(gains.size)) if gains.size > 1 else noises[0].gain_se
    first = noises[0]
    return HostNoise(float(np.median(gains)), first.dark, first.floor_var, se, first.n_tiles)


@dataclass(frozen=True)
class Dose:
    """Counts per unit signal of a device, with where it came from."""

    counts_per_signal: float
    #: relative standard error (log scale)
    rel_se: float
    #: "metadata" (a known device profile) or "scan" (photon transfer + scene prior)
    source: str
    family: str
    n_hosts: int
    #: the scan estimate beside a metadata value (None when the source is the scan itself)
    estimate: float | None = None
    estimate_rel_se: float | None = None
    #: the device's blur sigma (px), median over hosts with enough edges
    blur_px: float = 0.8

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def device_profile(scan: Scan) -> Profile | None:
    """The simulator profile the scan's metadata names (simulated scans, their DICOS files)."""
    meta = scan.metadata
    if (meta.manufacturer or "") == "backscatter-sim" and (meta.model or "") in PROFILES:
        return PROFILES[str(meta.model)]
    return None


def estimate_dose(
    facts: Sequence[HostFacts], *, family: str | None = None, profile: Profile | None = None
) -> Dose:
    """Pool the dose over hosts of one device. ``family`` picks the scene prior (``"any"`` when
    None); ``profile`` (from metadata) gives the dose outright, the estimate is kept beside it."""
    if not facts:
        raise TipError("dose: expected at least one host")
    fam = family or "any"
    if fam not in SCENE_SIGNAL:
        raise TipError(f"family: expected one of {sorted(SCENE_SIGNAL)}, got {fam!r}")
    signal, spread = SCENE_SIGNAL[fam]
    logs = np.log([max(f.median_counts, 1e-9) / signal for f in facts])
    k_est = float(np.exp(np.median(logs)))
    se = float(1.2533 * spread / np.sqrt(len(facts)))
    blurs = [f.blur_px for f in facts if f.blur_px is not None]
    blur = float(np.median(blurs)) if blurs else (profile.spot_sigma_px if profile else 0.8)
    if profile is not None:
        return Dose(
            profile.counts_per_signal, 0.0, "metadata", fam, len(facts), k_est, se, blur_px=blur
        )
    return Dose(k_est, se, "scan", fam, len(facts), blur_px=blur)


def infer_family(facts: HostFacts, dose: Dose) -> str:
    """The scene family whose median signal (:data:`SCENE_SIGNAL`) is nearest, on a log scale,
    to this host's (its median photons over the device's dose): a host behind a steel skin
    scatters 4x less than one behind plywood or rubber, whatever the dose."""
    signal = max(facts.median_counts, 1e-9) / dose.counts_per_signal
    fams = [f for f in SCENE_SIGNAL if f != "any"]
    return min(fams, key=lambda f: abs(np.log(signal / SCENE_SIGNAL[f][0])))


def scene_signal(family: str, *, scenes: int = 40, seed: int = 9000) -> tuple[float, float]:
    """Measure :data:`SCENE_SIGNAL` for ``family`` on the simulator (median, sd of log)."""
    from backscatter.synth.device import simulate_scan

    prof = PROFILES["handheld"]
    vals = []
    for i in range(scenes):
        scan = simulate_scan(seed + i, size=(256, 256), clean=True, family=family)
        noise = HostNoise(prof.gain_dn, prof.dark_dn, prof.read_noise_dn**2)
        px = scan.pixels.astype(np.float64)
        region = plausible_region(px, noise=noise)
        vals.append(np.log(np.median(noise.counts(px)[region]) / prof.counts_per_signal))
    return float(np.exp(np.median(vals))), float(np.std(vals))
