"""The flag stage: one object, one flag.

The detector proposes boxes per class, so one object often comes back several times, once
under each class it resembles ("liquid 0.67" and "currency 0.44" on the same bag). This stage
joins boxes of *different* classes that lie on one object into one flag: the best-scoring box
keeps its box, class and score, and ``class_scores`` records the best score of every other
class joined into it (its alternatives). Boxes of the same class are never joined here (the
detector's per-class suppression already handled them: two same-class boxes that survive it
are two objects).

Two boxes are on one object when their IoU is at least :data:`IOU_CUT`. ``bench/flag_merge.py``
measured IoU against containment (intersection / smaller area) on the shipped model's raw
output (1.2.0, scores >= 0.05) on 150 simulated handheld scans with ground truth (seed 77):
of 750 cross-class pairs on one object and 498 on two different objects, IoU >= 0.5 joined
617 and 0, IoU >= 0.3 717 and 7, containment >= 0.6 735 and 19, containment >= 0.3 748 and 25.
Containment joins a small threat to the larger object it lies in (a blade in a package), which
would hide it under the package's flag; IoU >= 0.5 never joined two objects.

Evaluation (map50) stays on the raw per-class detections; flags are what officers see.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.scan import Scan

#: IoU from which two boxes of different classes are one object (measured: module docstring)
IOU_CUT = 0.5


def pair_overlap(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(iou, containment)``, each ``(N, N)``, of ``boxes`` ``(N, 4)`` x0, y0, x1, y1.

    Containment is intersection over the smaller of the two areas (1.0 when one box lies
    inside the other). Degenerate (zero-area) boxes overlap nothing.
    """
    b = np.asarray(boxes, np.float64).reshape(-1, 4)
    x0 = np.maximum(b[:, None, 0], b[None, :, 0])
    y0 = np.maximum(b[:, None, 1], b[None, :, 1])
    x1 = np.minimum(b[:, None, 2], b[None, :, 2])
    y1 = np.minimum(b[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area[:, None] + area[None, :] - inter
    smaller = np.minimum(area[:, None], area[None, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
        contain = np.where(smaller > 0, inter / smaller, 0.0)
    return iou, contain


def to_flags(detections: Detections, *, cut: float = IOU_CUT, rule: str = "iou") -> Detections:
    """One flag per object: ``detections`` (raw, per class) joined across classes.

    Greedy, best score first: each box not yet taken starts a flag and takes every untaken box
    of another class whose overlap with it (``rule`` "iou", or "contain" for intersection over
    the smaller area) is at least ``cut``. Returns flags
    sorted best first, with ``class_scores`` ``(N, C)`` set (see
    :class:`~backscatter.detections.Detections`); masks and extras of the heads are kept.
    """
    if not 0.0 < cut <= 1.0:
        raise ValueError(f"cut: expected 0 < cut <= 1, got {cut}")
    if rule not in ("iou", "contain"):
        raise ValueError(f"rule: expected 'iou' or 'contain', got {rule!r}")
    n = len(detections)
    n_classes = len(detections.class_names)
    if n == 0:
        out = detections[np.zeros(0, np.int64)]
        return _with_scores(out, np.zeros((0, n_classes), np.float32))
    order = np.argsort(-detections.scores, kind="stable")
    iou, contain = pair_overlap(detections.boxes)
    overlap = iou if rule == "iou" else contain
    labels = detections.labels
    taken = np.zeros(n, bool)
    heads: list[int] = []
    rows: list[np.ndarray] = []
    for i in order:
        if taken[i]:
            continue
        taken[i] = True
        row = np.zeros(n_classes, np.float32)
        row[labels[i]] = detections.scores[i]
        joined = (~taken) & (labels != labels[i]) & (overlap[i] >= cut)
        for j in np.flatnonzero(joined):
            row[labels[j]] = max(row[labels[j]], detections.scores[j])
        taken |= joined
        heads.append(int(i))
        rows.append(row)
    return _with_scores(detections[np.array(heads, np.int64)], np.stack(rows))


def _with_scores(dets: Detections, class_scores: np.ndarray) -> Detections:
    return Detections(
        boxes=dets.boxes,
        scores=dets.scores,
        labels=dets.labels,
        class_names=dets.class_names,
        masks=dets.masks,
        class_scores=class_scores,
        extras=dict(dets.extras),
    )


def split_flags(flags: Detections, threshold: float) -> tuple[Detections, Detections]:
    """``(flags at or above threshold, candidates below it)``, each best first."""
    keep = flags.scores >= threshold
    return flags[keep], flags[~keep]


def record_flags(
    record: Mapping[str, Any], class_names: Sequence[str] = THREAT_CLASSES
) -> Detections:
    """Every flag of a ``results.jsonl`` record: ``flags`` then ``candidates``, best first.

    A record written before the flag stage has raw per-class ``detections`` instead; they are
    joined into flags here, so old results read the same way.
    """
    if "flags" in record or "candidates" in record:
        recs = list(record.get("flags") or []) + list(record.get("candidates") or [])
        dets = Detections.from_records(recs, class_names)
        if dets.class_scores is None:  # records without alternatives: flags of one class
            dets = to_flags(dets)
        order = np.argsort(-dets.scores, kind="stable")
        return dets[order]
    return to_flags(Detections.from_records(record.get("detections") or [], class_names))


def flagging(
    detect: Callable[[Scan], Detections], *, threshold: float | None = None
) -> Callable[[Scan], Detections]:
    """``detect`` (scan -> raw detections) followed by the flag stage; with ``threshold``,
    only the flags at or above it (what a machine TDR of the network receiver reports)."""

    def run(scan: Scan) -> Detections:
        flags = to_flags(detect(scan))
        return flags if threshold is None else flags[flags.scores >= threshold]

    return run
