"""Threat signatures cut from labelled scans by their mask, for threat image projection.

A threat in a labelled scan is turned into two maps over its box, in the layer model's terms:
the *transmission* ``t = counts / background`` where the threat darkens what lies behind it
(``<= 1``), and its *own scatter* ``(counts - background) / k_source`` (signal units) where it
brightens it. The background under the threat is inpainted from the surrounding counts
(``cv2.inpaint``, Telea). Projected into a host, the maps are rotated and scaled, then give
``lam_new = t * lam_h + k_host * scatter``; the host's noise is handled by
:func:`backscatter.synth.tip.compose` as for library threats.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.scan import Scan
from backscatter.synth.tip import (
    MIN_INSIDE,
    TipResult,
    class_id,
    compose,
    pixels_per_cm,
    profile_for,
    threat_box,
    tip_scan,
)
from backscatter.synth.tip_dose import Dose, device_profile, estimate_dose, host_facts
from backscatter.synth.tip_host import (
    HostNoise,
    TipError,
    estimate_noise,
    plausible_region,
)


def _dose(scan: Scan) -> Dose:
    family = scan.extras.get("scene_family")
    fam = str(family) if family else None
    return estimate_dose([host_facts(scan)], family=fam, profile=device_profile(scan))


#: pixels of background ring around the mask used by the inpainting
RING_PX = 4


@dataclass(frozen=True)
class Signature:
    """A cut threat: maps ``(h, w)`` over its box, at the source's pixel size."""

    class_id: int
    #: fraction of the background that still reaches the detector, in [0, 1]
    transmission: np.ndarray
    #: own scatter in signal units (counts / source counts per signal), >= 0
    scatter: np.ndarray
    mask: np.ndarray
    #: source pixels per cm
    ppc: float

    @property
    def class_name(self) -> str:
        return THREAT_CLASSES[self.class_id]


def cut_signature(scan: Scan, mask: np.ndarray, threat: str | int) -> Signature:
    """Cut the threat under ``mask`` ``(rows, cols)`` bool from labelled ``scan``."""
    cid = class_id(threat)
    mask = np.asarray(mask, bool)
    if mask.shape != scan.shape:
        raise TipError(f"mask: expected shape {scan.shape}, got {mask.shape}")
    if mask.sum() < 20:
        raise TipError(f"mask: expected a threat of at least 20 px, got {int(mask.sum())}")
    px = scan.pixels.astype(np.float64)
    noise = estimate_noise(px)
    prof = profile_for(scan)
    counts = noise.counts(cv2.GaussianBlur(px, (0, 0), 1.0)).astype(np.float32)
    box = threat_box(mask, scan.shape, pad=RING_PX + 4)
    sub = counts[box]
    hole = cv2.dilate(mask[box].astype(np.uint8), np.ones((5, 5), np.uint8))
    background = cv2.inpaint(sub, hole, RING_PX, cv2.INPAINT_TELEA).astype(np.float64)
    background = np.maximum(background, 1.0)
    k = _dose(scan).counts_per_signal
    inside = hole > 0
    trans = np.where(inside, np.clip(sub / background, 0.0, 1.0), 1.0)
    scatter = np.where(inside, np.maximum(sub - background, 0.0) / k, 0.0)
    return Signature(cid, trans, scatter, mask[box].copy(), pixels_per_cm(scan, prof))


def _warp(sig: Signature, scale: float, angle_deg: float) -> tuple[np.ndarray, ...]:
    h, w = sig.mask.shape
    rot = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle_deg, scale)
    cos, sin = abs(rot[0, 0]), abs(rot[0, 1])
    out_w, out_h = int(np.ceil(h * sin + w * cos)) + 2, int(np.ceil(h * cos + w * sin)) + 2
    rot[0, 2] += out_w / 2.0 - w / 2.0
    rot[1, 2] += out_h / 2.0 - h / 2.0
    size = (out_w, out_h)
    lin, near = cv2.INTER_LINEAR, cv2.INTER_NEAREST
    t = cv2.warpAffine(sig.transmission, rot, size, flags=lin, borderValue=1.0)
    s = cv2.warpAffine(sig.scatter, rot, size, flags=lin, borderValue=0.0)
    m = cv2.warpAffine(sig.mask.astype(np.uint8), rot, size, flags=near, borderValue=0) > 0
    return t, s, m


def project_signature(
    host: Scan,
    signature: Signature,
    *,
    rng: np.random.Generator,
    scale: float | None = None,
    angle_deg: float | None = None,
    noise: HostNoise | None = None,
    region: np.ndarray | None = None,
    dose: Dose | None = None,
) -> TipResult:
    """Project a cut threat into ``host`` at a random plausible place, rotated and scaled.

    ``scale`` multiplies the size after matching the host's pixel size (0.85..1.15 when None);
    ``angle_deg`` is drawn in 0..360 when None; ``dose`` is the device's (estimated from the
    host alone when None).
    """
    px = host.pixels.astype(np.float64)
    noise = noise if noise is not None else estimate_noise(px)
    region = region if region is not None else plausible_region(px, noise=noise)
    prof = profile_for(host)
    ppc = pixels_per_cm(host, prof)
    scale = float(rng.uniform(0.85, 1.15)) if scale is None else float(scale)
    angle = float(rng.uniform(0.0, 360.0)) if angle_deg is None else float(angle_deg)
    t_map, s_map, m_map = _warp(signature, scale * ppc / signature.ppc, angle)
    h, w = m_map.shape
    ys, xs = np.nonzero(region)
    full = None
    for _ in range(40):
        if ys.size == 0 or h >= host.rows or w >= host.cols:
            break
        i = int(rng.integers(ys.size))
        r0, c0 = int(ys[i]) - h // 2, int(xs[i]) - w // 2
        if r0 < 0 or c0 < 0 or r0 + h > host.rows or c0 + w > host.cols:
            continue
        cand = np.zeros(host.shape, bool)
        cand[r0 : r0 + h, c0 : c0 + w] = m_map
        if np.count_nonzero(cand & region) >= MIN_INSIDE * cand.sum():
            full = cand
            break
    if full is None:
        raise TipError(
            f"host {host.scan_id}: no plausible region holds the cut {signature.class_name}"
        )
    trans = np.ones(host.shape)
    scat = np.zeros(host.shape)
    trans[r0 : r0 + h, c0 : c0 + w] = t_map
    scat[r0 : r0 + h, c0 : c0 + w] = s_map
    box = threat_box(full, host.shape)
    mean_dn = cv2.GaussianBlur(px, (0, 0), 2.0, borderType=cv2.BORDER_REFLECT)[box]
    lam_h = noise.counts(mean_dn)
    k = (dose if dose is not None else _dose(host)).counts_per_signal
    lam_new = trans[box] * lam_h + k * scat[box]
    pixels, det, frac = compose(
        host, px, noise, box, full, signature.class_id, m=trans[box], lam_h=lam_h,
        lam_new=lam_new, rng=rng, ppc=ppc,
    )  # fmt: skip
    params = {
        "class_name": signature.class_name,
        "source": "cut",
        "scale": scale,
        "angle_deg": angle,
        "counts_per_signal": k,
        "visible_fraction": frac,
        "hidden": frac < 0.5,
    }
    return TipResult(scan=tip_scan(host, pixels, params, det), detections=det, params=params)
