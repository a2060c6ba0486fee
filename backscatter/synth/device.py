"""The simulated device: simulated scenes as :class:`~backscatter.scan.Scan` objects.

A simulated Scan has ``object_type == "SIM"``, metadata from the profile (kVp, tube current,
manufacturer ``backscatter-sim``, model = profile name), and in ``extras``: ``ground_truth`` (a
:class:`~backscatter.detections.Detections` of the recognisable threats, scores 1.0, visible
masks), ``hidden_threats`` (the ones hidden beyond recognition, same form), ``scene_family`` and
``seed``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from backscatter.detections import Detections
from backscatter.scan import AcquisitionMetadata, Scan
from backscatter.synth.domain import DomainRanges
from backscatter.synth.physics import get_profile
from backscatter.synth.render import Annotation, SceneResult, render_scene

#: fixed epoch of simulated acquisition times, so that scans are reproducible
SIM_EPOCH = datetime(2026, 1, 1, 8, 0, 0, tzinfo=UTC)


def _detections(anns: list[Annotation], shape: tuple[int, int]) -> Detections:
    if not anns:
        d = Detections.empty()
        return Detections(d.boxes, d.scores, d.labels, masks=np.zeros((0, *shape), bool))
    return Detections(
        boxes=np.array([a.box for a in anns], np.float32),
        scores=np.ones(len(anns), np.float32),
        labels=np.array([a.class_id for a in anns], np.int64),
        masks=np.stack([a.mask for a in anns]),
    )


def auto_window(pixels: np.ndarray) -> tuple[float, float]:
    """The device's display window ``(center, width)``: its 0.5-99.5 percentile range, as a
    scanner's auto-contrast would set it. For display only; models normalise by bits stored."""
    lo, hi = np.percentile(pixels, [0.5, 99.5])
    width = max(float(hi - lo), 1.0)
    return float(lo) + width / 2, width


def scan_uid(profile: str, seed: int) -> str:
    """A DICOM UID that depends only on the profile and the seed."""
    from pydicom.uid import generate_uid

    return str(generate_uid(entropy_srcs=["backscatter-sim", profile, str(int(seed))]))


def scan_from_result(result: SceneResult, *, source_uri: str = "") -> Scan:
    """Wrap a rendered scene as a Scan with metadata and ground truth."""
    prof = get_profile(result.profile)
    shape = (int(result.pixels.shape[0]), int(result.pixels.shape[1]))
    visible = [a for a in result.annotations if not a.hidden]
    hidden = [a for a in result.annotations if a.hidden]
    meta = AcquisitionMetadata(
        manufacturer="backscatter-sim",
        model=prof.name,
        serial=f"SIM-{prof.name.upper()}-0001",
        kvp=prof.kvp,
        tube_current_ma=prof.tube_current_ma,
        acquisition_time=SIM_EPOCH + timedelta(seconds=int(result.seed) % (365 * 86400)),
        scan_direction="top-to-bottom lines, left-to-right sweep",
    )
    return Scan(
        pixels=result.pixels,
        bits_stored=result.bits_stored,
        scan_id=scan_uid(prof.name, result.seed),
        source_uri=source_uri or f"sim://{prof.name}?seed={result.seed}",
        pixel_spacing_mm=result.pixel_spacing_mm,
        window=auto_window(result.pixels),
        metadata=meta,
        object_type="SIM",
        extras={
            "ground_truth": _detections(visible, shape),
            "hidden_threats": _detections(hidden, shape),
            "scene_family": result.family,
            "seed": int(result.seed),
            "line_rate_hz": prof.line_rate_hz,
            **({"domain": result.params["domain"]} if "domain" in result.params else {}),
        },
    )


def simulate_scan(
    seed: int,
    *,
    profile: str = "handheld",
    size: tuple[int, int] = (512, 512),
    family: str | None = None,
    clean: bool = False,
    source_uri: str = "",
    domain: DomainRanges | None = None,
) -> Scan:
    """Render one scene and return it as a Scan (deterministic in ``seed``); ``domain`` draws
    the device per scene (:mod:`backscatter.synth.domain`)."""
    result = render_scene(
        seed, profile=profile, size=size, family=family, clean=clean, domain=domain
    )
    return scan_from_result(result, source_uri=source_uri)
