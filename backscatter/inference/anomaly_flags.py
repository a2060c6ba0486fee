"""``detect --anomaly``: the anomaly map's regions in a scan's outputs (JSONL, TDR, overlay).

One entry point, :func:`add_anomaly`, called by the screening sink after the detector's outputs
are written and before the JSONL line: it adds ``record["anomaly"]``, appends one PTO per
anomaly flag to the machine TDR (ThreatCategory ``ANOMALY``, description ``anomaly``, flag
THREAT, probability ``clip(0.5 * peak / region_threshold, 0, 1)``, the region as its bitmap) and
outlines the regions on the overlay PNG. A region becomes a flag (kind ``anomaly``) only when no
threat flag (a detection at or above the alarm threshold) points at it
(:func:`~backscatter.inference.anomaly.box_hits`); a flag makes the scan an ALARM.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.detections import Detections
from backscatter.inference.anomaly import AnomalyModel, AnomalyResult, box_hits
from backscatter.scan import Scan

log = logging.getLogger(__name__)

#: key of the result in ``Detections.extras`` between the detection and the sink stages
EXTRA_KEY = "anomaly"
KIND = "anomaly"


def score_anomaly(scan: Scan, detections: Detections, model: AnomalyModel) -> dict[str, float]:
    """Run ``model`` on ``scan``, keep the result in ``detections.extras``; returns its timings
    (ms)."""
    result = model(scan)
    detections.extras[EXTRA_KEY] = result
    return dict(result.timings_ms)


def anomaly_flags(result: AnomalyResult, detections: Detections, threshold: float) -> np.ndarray:
    """``(N,)`` bool per region: True when no detection >= ``threshold`` points at it."""
    threat = np.asarray(detections.boxes)[np.asarray(detections.scores) >= threshold]
    if len(result.boxes) == 0:
        return np.zeros(0, bool)
    if len(threat) == 0:
        return np.ones(len(result.boxes), bool)
    return np.asarray(~box_hits(result.boxes, threat).any(axis=1), bool)


def anomaly_record(
    result: AnomalyResult, flags: np.ndarray, *, model: AnomalyModel
) -> dict[str, Any]:
    """The ``anomaly`` object of a results-JSONL line."""
    probs = result.probabilities()
    return {
        "model_id": model.model_id,
        "score": round(float(result.score), 4),
        "scan_anomalous": bool(result.score >= model.image_threshold),
        "region_threshold": model.region_threshold,
        "regions": [
            {
                "box": [round(float(v), 2) for v in result.boxes[k]],
                "peak": round(float(result.peaks[k]), 4),
                "probability": round(float(probs[k]), 4),
                "area_px": int(np.count_nonzero(result.mask(k))),
                "flag": bool(flags[k]),
                "kind": KIND,
            }
            for k in range(len(result.peaks))
        ],
    }


def add_anomaly(
    scan: Scan,
    detections: Detections,
    record: dict[str, Any],
    *,
    model: AnomalyModel,
    out_dir: Path,
    threshold: float,
) -> None:
    """Add the anomaly opinion to ``record`` and to the TDR/overlay it names (see module doc)."""
    result = detections.extras.get(EXTRA_KEY)
    if not isinstance(result, AnomalyResult):
        return
    flags = anomaly_flags(result, detections, threshold)
    record["anomaly"] = anomaly_record(result, flags, model=model)
    if flags.any():
        record["alarm"] = "ALARM"
    outputs = record.get("outputs") or {}
    tdr = outputs.get("tdr")
    if tdr and flags.any():
        append_anomaly_ptos(out_dir / tdr, scan, result, flags, algorithm=model.model_id)
    overlay = outputs.get("overlay")
    if overlay and len(result.boxes):
        _outline(out_dir / overlay, result, flags)


def append_anomaly_ptos(
    path: Path, scan: Scan, result: AnomalyResult, flags: np.ndarray, *, algorithm: str
) -> None:
    """Append a PTO per flagged region to the machine TDR at ``path`` (rewritten atomically)."""
    import pydicom
    from pydicom.sequence import Sequence as DicomSequence

    from backscatter.dicos.content import image_ref, lo, save_atomic
    from backscatter.dicos.enum import AlarmDecision, AssessmentFlag, ThreatCategory
    from backscatter.dicos.tdr import pto_item

    ds = pydicom.dcmread(path)
    items = list(ds.get("ThreatSequence", []))
    next_id = max((int(i.PotentialThreatObjectID) for i in items), default=-1) + 1
    ref = _image_ref_of(items) or image_ref(scan)
    probs = result.probabilities()
    added = 0
    for k in np.flatnonzero(flags):
        items.append(
            pto_item(
                next_id + added,
                result.boxes[k],
                ref=ref,
                class_name=KIND,
                flag=AssessmentFlag.THREAT,
                probability=float(probs[k]),
                mask=result.mask(int(k)),
                category=ThreatCategory.ANOMALY,
            )
        )
        added += 1
    ds.ThreatSequence = DicomSequence(items)
    ds.NumberOfTotalObjects = len(items)
    ds.NumberOfAlarmObjects = int(ds.get("NumberOfAlarmObjects", 0)) + added
    ds.AlarmDecision = str(AlarmDecision.ALARM)
    algo = [str(a) for a in (ds.get("ThreatDetectionAlgorithmAndVersion") or [])]
    ds.ThreatDetectionAlgorithmAndVersion = [*algo, lo(algorithm)]
    save_atomic(ds, path)


def _image_ref_of(items: list[Any]) -> Any:
    from backscatter.dicos.content import ImageRef

    for item in items:
        for rep in item.get("PTORepresentationSequence", []):
            for r in rep.get("ReferencedInstanceSequence", []):
                return ImageRef(str(r.ReferencedSOPClassUID), str(r.ReferencedSOPInstanceUID))
    return None


def _outline(path: Path, result: AnomalyResult, flags: np.ndarray) -> None:
    import cv2

    from backscatter.inference.sinks import atomic_write_bytes
    from backscatter.viewer.anomaly_overlay import draw_regions

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        log.warning("%s: overlay not readable; anomaly regions not drawn", path)
        return
    rows, cols = result.map.shape
    scale = image.shape[1] / cols if image.shape[0] * cols == image.shape[1] * rows else 1.0
    labels = [f"anomaly {p:.2f}" if f else "anomaly (on a flag)" for p, f in
              zip(result.probabilities(), flags, strict=True)]  # fmt: skip
    out = draw_regions(image, result.boxes, labels=labels, scale=scale)
    ok, buf = cv2.imencode(".png", out)
    if ok:
        atomic_write_bytes(path, buf.tobytes())


class WithAnomaly:
    """A detector (``scan -> Detections``) that also runs an anomaly model: its Detections carry
    ``extras["anomaly"]`` (:class:`AnomalyResult`) and ``extras["anomaly_map"]`` (the map in
    [0, 1], what the viewer blends on its heat-map key). ``detector`` None: no detections."""

    def __init__(self, detector: Any | None, model: AnomalyModel) -> None:
        self.detector = detector
        self.model = model
        self.model_id = str(getattr(detector, "model_id", "")) or model.model_id
        self.provider = str(getattr(detector, "provider", model.provider))
        self.threshold = float(getattr(detector, "threshold", 0.5))

    def __call__(self, scan: Scan) -> Detections:
        dets = self.detector(scan) if self.detector is not None else Detections.empty()
        result = self.model(scan)
        dets.extras[EXTRA_KEY] = result
        dets.extras["anomaly_map"] = result.heat()
        return dets
