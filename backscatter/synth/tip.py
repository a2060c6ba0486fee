"""Threat image projection (TIP): a fictional threat composed into a real or simulated clean scan.

Composition follows the backscatter layer model of :mod:`backscatter.synth.physics`, not alpha
blending. The host's photon counts ``lam_h`` (from its pixels through photon transfer, see
:mod:`backscatter.synth.tip_host`) are split into what lies in front of the threat scatters
(``front``: a cover such as a door skin or bag shell, then a partly filled space of clothes or
packing down to the threat's depth) and what comes from behind it (``back``); the threat from
the simulator's library, placed at that depth, then gives::

    lam_new = front + T_cover * k * R * S_threat + T_threat * back

``S_threat`` is the threat's own scatter signal (with its depth geometry), ``T_threat`` its
two-way transmission (a steel object casts a dark shadow over what lies behind it; an organic
one adds bright scatter, dimmed by the cover), both blurred with the host's measured edge
spread; ``k`` the device's counts per unit signal (:mod:`backscatter.synth.tip_dose`) and ``R``
the host's line and column gain there. Each host pixel is scaled by
``m = (front + T_threat * back) / lam_h <= 1`` (its structure, line artefacts and noise are
attenuated together, as the real ones would be), the threat's own counts are added, and fresh
noise tops the variance up to what the host's fitted noise model gives at the new mean. The
projected area so carries the host's dose, raster and texture, with no smooth patch or seam.
Where the threat goes and what covers it follow its scene family's rules
(:mod:`backscatter.synth.tip_place`). Threats cut from labelled scans by their mask:
:mod:`backscatter.synth.tip_cut`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.synth.materials import material_id
from backscatter.synth.physics import PROFILES, Layer, Profile, scatter_signal
from backscatter.synth.render import FEATURE_CM, MIN_VISIBLE_FRACTION, VISIBLE_SNR
from backscatter.synth.shapes import smooth_noise
from backscatter.synth.tip_dose import (
    Dose,
    HostFacts,
    device_profile,
    estimate_dose,
    host_facts,
    infer_family,
)
from backscatter.synth.tip_host import (
    HostNoise,
    TipError,
    edge_spread,
    photon_transfer,
    plausible_region,
    raster,
)
from backscatter.synth.tip_place import members, place, rules_for

__all__ = ["TipError", "TipResult", "project_threat"]

#: what fills the space between cover and threat (clothes, packing)
FILLER = "textile"
#: size steps tried when a threat of the library's size finds no place (a natural scene has
#: no such bias: keep it short)
SHRINK = (1.0, 0.85)
#: relative unevenness of the packing in front of a threat (smooth, ~10 cells a scan)
UNEVEN = 0.4
#: share of a threat's full outline that must lie in the plausible region
MIN_INSIDE = 0.97
#: smoothing (px) of the host's local mean (photon counts the layer model works on)
MEAN_SIGMA_PX = 2.0


@dataclass
class TipResult:
    """A host scan with a projected threat, and that threat's ground truth."""

    scan: Scan
    #: one detection (score 1.0) with the mask ``(1, rows, cols)`` and box of its visible part
    #: (judged as the simulator judges its own threats; the full outline when too little shows)
    detections: Detections
    params: dict[str, Any] = field(default_factory=dict)


def profile_for(scan: Scan) -> Profile:
    """The simulator profile matching the host: by model name for simulated scans, else the
    profile of the nearest tube voltage (hand-held when unknown)."""
    name = (scan.metadata.model or "").lower()
    if name in PROFILES:
        return PROFILES[name]
    kvp = scan.metadata.kvp
    if kvp is None:
        return PROFILES["handheld"]
    return min(PROFILES.values(), key=lambda p: abs(p.kvp - kvp))


def pixels_per_cm(scan: Scan, prof: Profile) -> float:
    if scan.pixel_spacing_mm is not None:
        return 10.0 / float(np.mean(scan.pixel_spacing_mm))
    return min(scan.rows / prof.fov_cm[0], scan.cols / prof.fov_cm[1])


def class_id(threat: str | int) -> int:
    if isinstance(threat, int | np.integer):
        if not 0 <= int(threat) < len(THREAT_CLASSES):
            raise TipError(
                f"threat: expected a class id 0..{len(THREAT_CLASSES) - 1}, got {threat}"
            )
        return int(threat)
    if threat not in THREAT_CLASSES:
        raise TipError(f"threat: expected one of {THREAT_CLASSES}, got {threat!r}")
    return THREAT_CLASSES.index(threat)


def _transmission(layers: list[Layer], prof: Profile, region: tuple[slice, slice]) -> np.ndarray:
    """Two-way transmission ``exp(-sum mu_eff * t)`` of ``layers`` over ``region``."""
    mu_eff, _ = prof.coefficients()
    rr, cc = region
    att = np.zeros((rr.stop - rr.start, cc.stop - cc.start), np.float32)
    for lay in layers:
        hit = lay.overlap(region)
        if hit is not None:
            sub, t, _ = hit
            att[sub] += t * np.float32(mu_eff[lay.material])
    return np.exp(-att)


def _facts(host: Scan, noise: HostNoise | None, region: np.ndarray | None) -> HostFacts:
    """The host's measured facts; ``noise`` / ``region`` when given replace the measured ones."""
    if noise is None and region is None:
        return host_facts(host)
    px = host.pixels.astype(np.float64)
    noise = noise if noise is not None else photon_transfer(px, name=host.scan_id)
    region = region if region is not None else plausible_region(px, noise=noise)
    if region.shape != host.shape:
        raise TipError(f"region: expected shape {host.shape}, got {region.shape}")
    counts = noise.counts(px)
    return HostFacts(
        name=host.scan_id,
        noise=noise,
        region=region,
        raster=raster(px, noise=noise, region=region),
        blur_px=edge_spread(px, noise=noise, default=None),
        median_counts=float(np.median(counts[region])) if region.any() else 0.0,
    )


def project_threat(
    host: Scan,
    threat: str | int,
    *,
    rng: np.random.Generator,
    dose: Dose | None = None,
    facts: HostFacts | None = None,
    family: str | None = None,
    placement: str = "scene",
    scale: float | None = None,
    cover: tuple[str, float] | None = None,
    depth_cm: float | None = None,
    filler: float | None = None,
    noise: HostNoise | None = None,
    region: np.ndarray | None = None,
) -> TipResult:
    """Project one threat of class ``threat`` (name or id) into ``host``; the host is unchanged.

    ``dose`` is the device's (pooled over an exercise's hosts, :func:`estimate_dose`); when None
    it is estimated from this host alone (metadata naming a device profile first). ``facts``
    (:func:`host_facts`) are measured when None; ``noise`` and ``region`` replace the measured
    noise model and object region. ``family`` (the host's scene kind; its ``scene_family``
    extra when None, else ``"auto"``: the family whose scenes scatter as much as the host,
    :func:`infer_family`) picks the rules of :mod:`backscatter.synth.tip_place`;
    ``placement="anywhere"`` keeps only the object region. ``scale`` multiplies the library's
    sizes (drawn in 0.85..1.15 when None; reduced down to half when nothing fits); ``cover`` is
    the ``(material, cm)`` in front of the threat, ``depth_cm`` its depth behind the cover,
    ``filler`` the share of that space filled with :data:`FILLER` (drawn from the family's rules
    when None). Raises :class:`TipError` when no place fits.
    """
    cid = class_id(threat)
    if host.pixels.dtype.kind not in "uif":
        raise TipError(f"host {host.scan_id}: expected numeric pixels, got {host.pixels.dtype}")
    if placement not in ("scene", "anywhere"):
        raise TipError(f"placement: expected 'scene' or 'anywhere', got {placement!r}")
    px = host.pixels.astype(np.float64)
    facts = facts if facts is not None else _facts(host, noise, region)
    fam = family or str(host.extras.get("scene_family") or "auto")
    prof = profile_for(host)
    if dose is None:
        prior = None if fam == "auto" else fam
        dose = estimate_dose([facts], family=prior, profile=device_profile(host))
    if fam == "auto":  # unknown kind: the family whose scenes scatter as much as this host
        fam = infer_family(facts, dose)
    try:
        rules = rules_for(fam)
    except ValueError as exc:
        raise TipError(str(exc)) from None
    ppc = pixels_per_cm(host, prof)
    scale = 1.0 if scale is None else float(scale)
    if cover is None:
        cover = rules.covers[int(rng.integers(len(rules.covers)))]
    cover_mat, cover_cm = cover
    depth = float(rng.uniform(*rules.depth_cm)) if depth_cm is None else float(depth_cm)
    fill = float(rng.uniform(*rules.fill)) if filler is None else float(filler)
    member_map = members(px, noise=facts.noise, ppc=ppc) if placement == "scene" else None

    placed = None
    for shrink in SHRINK:  # a region too small for the drawn size: smaller
        placed = place(
            cid, facts.region, rng, ppc=ppc * scale * shrink, depth_cm=depth + cover_cm,
            member_map=member_map, rules=rules, min_inside=MIN_INSIDE,
        )  # fmt: skip
        if placed is not None:
            scale *= shrink
            break
    if placed is None:
        raise TipError(
            f"host {facts.name}: no plausible place holds a {THREAT_CLASSES[cid]} "
            f"(object region {facts.region.mean():.0%} of the scan, family {fam})"
        )
    layers, full, params = placed
    box = threat_box(full, host.shape)

    mean_dn = cv2.GaussianBlur(px, (0, 0), MEAN_SIGMA_PX, borderType=cv2.BORDER_REFLECT)[box]
    # the scan-wide photon transfer (a gain measured on the threat's box alone reads the box's
    # fine texture as noise, and the projected noise came out ~4 % too strong)
    noise = facts.noise
    lam_h = noise.counts(mean_dn)
    k = dose.counts_per_signal * facts.raster.map(box)  # the host's line and column gain
    mu_eff, mu_s = prof.coefficients()
    m, f = material_id(cover_mat), material_id(FILLER)
    t_skin = float(np.exp(-mu_eff[m] * cover_cm))
    cells = max(2, round(10 * max(lam_h.shape) / max(host.shape)))
    uneven = np.clip(1.0 + UNEVEN * smooth_noise(lam_h.shape, rng, cells=cells), 0.0, 2.0)
    t_fill = np.exp(-mu_eff[f] * fill * depth * uneven)
    geom_fill = (prof.standoff_cm / (prof.standoff_cm + cover_cm + depth / 2)) ** 2
    s_front = mu_s[m] / mu_eff[m] * (1.0 - t_skin)
    s_front = s_front + t_skin * geom_fill * mu_s[f] / mu_eff[f] * (1.0 - t_fill)
    t_cover = t_skin * t_fill
    front = np.minimum(k * s_front, 0.9 * lam_h)
    back = lam_h - front
    sigma = dose.blur_px
    s_raw = scatter_signal(layers, host.shape, prof, region=box).astype(np.float64)
    t_raw = _transmission(layers, prof, box).astype(np.float64)
    s_threat = cv2.GaussianBlur(s_raw, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    t_threat = cv2.GaussianBlur(t_raw, (0, 0), sigma, borderType=cv2.BORDER_REFLECT)
    lam_new = front + t_cover * k * s_threat + t_threat * back

    m = (front + t_threat * back) / np.maximum(lam_h, 1e-6)
    pixels, det, frac = compose(
        host, px, noise, box, full, cid, m=m, lam_h=lam_h, lam_new=lam_new, rng=rng, ppc=ppc
    )
    params.update(
        {
            "class_name": THREAT_CLASSES[cid],
            "scale": scale,
            "family": fam,
            "placement": placement,
            "cover": [cover_mat, cover_cm],
            "depth_cm": depth,
            "filler": [FILLER, fill * depth],
            "profile": prof.name,
            "counts_per_signal": dose.counts_per_signal,
            "dose_source": dose.source,
            "blur_px": sigma,
            "host_gain_dn": noise.gain,
            "host_dark_dn": noise.dark,
            "visible_fraction": frac,
            "hidden": frac < MIN_VISIBLE_FRACTION,
        }
    )
    return TipResult(scan=tip_scan(host, pixels, params, det), detections=det, params=params)


def threat_box(full: np.ndarray, shape: tuple[int, int], pad: int = 6) -> tuple[slice, slice]:
    """Rows and columns around the mask ``full``, ``pad`` px wider, clipped to ``shape``."""
    rows = np.flatnonzero(full.any(axis=1))
    cols = np.flatnonzero(full.any(axis=0))
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + 1 + pad, shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + 1 + pad, shape[1])
    return slice(int(r0), int(r1)), slice(int(c0), int(c1))


def compose(
    host: Scan,
    px: np.ndarray,
    noise: HostNoise,
    box: tuple[slice, slice],
    full: np.ndarray,
    cid: int,
    *,
    m: np.ndarray,
    lam_h: np.ndarray,
    lam_new: np.ndarray,
    rng: np.random.Generator,
    ppc: float,
) -> tuple[np.ndarray, Detections, float]:
    """New host pixels, ground truth and visible fraction, given the threat's effect on ``box``.

    Each host pixel is scaled by ``m`` (what reaches the detector from behind, ``<= 1``: its
    structure, line artefacts and noise alike) plus the threat's own counts
    ``lam_new - m * lam_h``; fresh noise then tops the variance up to the host noise model's
    variance at the new mean (the scaled host noise is always below it).
    """
    mean_dn = noise.dark + noise.gain * lam_h
    new_mean = noise.dark + noise.gain * lam_new
    extra = noise.variance(new_mean) - m**2 * noise.variance(mean_dn)
    out = px.copy()
    out[box] = noise.dark + m * (px[box] - noise.dark) + noise.gain * (lam_new - m * lam_h)
    out[box] += rng.standard_normal(m.shape) * np.sqrt(np.maximum(extra, 0.0))
    pixels = _quantise(out, host)
    visible = np.zeros(host.shape, bool)
    visible[box] = full[box] & _visible(new_mean - mean_dn, noise.variance(mean_dn), ppc)
    frac = float(visible.sum()) / max(int(full.sum()), 1)
    mask = visible if visible.sum() >= 20 else full
    det = Detections(
        boxes=np.array([_box(mask)], np.float32),
        scores=np.ones(1, np.float32),
        labels=np.array([cid], np.int64),
        masks=mask[None],
    )
    return pixels, det, frac


def _visible(delta_dn: np.ndarray, var_dn: np.ndarray, ppc: float) -> np.ndarray:
    """Where the threat's own contrast is visible, judged as the simulator labels its threats:
    at the ~8 mm feature scale, ``k * mean(delta) / sigma >= VISIBLE_SNR``."""
    k = max(3, round(FEATURE_CM * ppc))
    mean_delta = cv2.blur(delta_dn, (k, k), borderType=cv2.BORDER_REFLECT)
    mean_var = cv2.blur(var_dn, (k, k), borderType=cv2.BORDER_REFLECT)
    return np.asarray(np.abs(mean_delta) * k / np.sqrt(np.maximum(mean_var, 1e-9)) >= VISIBLE_SNR)


def _quantise(values: np.ndarray, host: Scan) -> np.ndarray:
    dtype = host.pixels.dtype
    if dtype.kind == "f":
        return values.astype(dtype)
    info = np.iinfo(dtype)
    hi = min(float(info.max), host.full_scale) if dtype.kind == "u" else float(info.max)
    return np.clip(np.rint(values), float(info.min), hi).astype(dtype)


def _box(mask: np.ndarray) -> tuple[float, float, float, float]:
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def tip_scan(host: Scan, pixels: np.ndarray, params: dict[str, Any], det: Detections) -> Scan:
    """A new Scan: new id (a UID, so DICOS writers give it its own instance), no file identity;
    ``extras["ground_truth"]`` holds the host's ground truth plus the projected threat."""
    import hashlib

    from pydicom.uid import generate_uid

    digest = hashlib.sha256(pixels.tobytes()).hexdigest()
    uid = str(generate_uid(entropy_srcs=["backscatter-tip", host.scan_id, digest]))
    extras = {
        k: v
        for k, v in host.extras.items()
        if k not in ("sop_instance_uid", "series_instance_uid", "study_instance_uid")
    }
    extras["tip"] = [*host.extras.get("tip", []), params]
    extras["tip_host"] = host.extras.get("tip_host", host.scan_id)
    prior = host.extras.get("ground_truth")
    if isinstance(prior, Detections) and len(prior):
        if prior.masks is None:
            det = Detections(det.boxes, det.scores, det.labels)
        det = Detections.concatenate([prior, det])
    extras["ground_truth"] = det
    return host.with_pixels(
        pixels,
        scan_id=uid,
        source_uri="",
        sop_class_uid=None,
        source_sha256=None,
        object_type="DX" if host.object_type != "SIM" else "SIM",
        extras=extras,
    )
