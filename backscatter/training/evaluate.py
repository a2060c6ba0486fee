"""Detection metrics on a COCO split: COCO mAP (faster-coco-eval), FROC, image-level AUROC.

- ``map50``, ``map``, ``per_class`` (AP50 per class): faster-coco-eval's COCOeval, crowd (hidden)
  objects ignored as COCO does.
- ``pd_at_fapi``: probability of detection (recall at IoU >= 0.5, same class) at 0.1, 0.3 and 1.0
  false alarms per image, from one score threshold swept over the whole split; detections on
  crowd regions count neither way.
- ``image_auroc``: scan-level alarm (max detection score) against "has a visible threat".
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backscatter.detections import Detections
from backscatter.training.data import CocoDetection

FAPI_POINTS: tuple[str, ...] = ("0.1", "0.3", "1.0")
IOU = 0.5


def predict_dataset(
    predict: Callable[..., Detections],
    coco: CocoDetection,
    *,
    progress: bool = False,
) -> list[Detections]:
    """Run ``predict(pixels, bits_stored=...)`` over every image, in dataset order."""
    from tqdm import tqdm

    out = []
    for i in tqdm(range(len(coco)), desc="eval", disable=not progress, leave=False):
        px, bits = coco.pixels(i)
        out.append(predict(px, bits_stored=bits))
    return out


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix ``(len(a), len(b))`` of x0, y0, x1, y1 boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area_a = np.prod(a[:, 2:] - a[:, :2], axis=1)
    area_b = np.prod(b[:, 2:] - b[:, :2], axis=1)
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def box_ioa(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over the area of each ``a`` box, ``(len(a), len(b))``."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    return inter / np.maximum(np.prod(a[:, 2:] - a[:, :2], axis=1)[:, None], 1e-9)


def match_image(
    dets: Detections, gt_boxes: np.ndarray, gt_labels: np.ndarray, ignore: np.ndarray
) -> np.ndarray:
    """Per detection: 1 true positive, 0 false alarm, -1 ignored (on a crowd region/duplicate
    of nothing countable). Greedy by score, same class, IoU >= 0.5, each object matched once."""
    return match_objects(dets, gt_boxes, gt_labels, ignore)[0]


def match_objects(
    dets: Detections, gt_boxes: np.ndarray, gt_labels: np.ndarray, ignore: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match_image`'s per-detection result and, per object, whether it was found."""
    order = np.argsort(-dets.scores, kind="stable")
    result = np.zeros(len(dets), np.int8)
    taken = np.zeros(len(gt_boxes), bool)
    ious = box_iou(dets.boxes, gt_boxes) if len(gt_boxes) else np.zeros((len(dets), 0))
    ioa = box_ioa(dets.boxes, ignore) if len(ignore) else np.zeros((len(dets), 0))
    for d in order:
        cand = np.where((gt_labels == dets.labels[d]) & ~taken & (ious[d] >= IOU))[0]
        if cand.size:
            best = cand[np.argmax(ious[d, cand])]
            taken[best] = True
            result[d] = 1
        elif ioa.shape[1] and ioa[d].max() >= IOU:
            result[d] = -1
    return result, taken


def froc(
    coco: CocoDetection, dets: Sequence[Detections]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(fapi, pd, thresholds, n_objects)`` curves over descending score thresholds."""
    scores, hits = [], []
    n_obj = 0
    for i, d in enumerate(dets):
        boxes, labels, ignore = coco.labels(i)
        n_obj += len(boxes)
        m = match_image(d, boxes, labels, ignore)
        keep = m >= 0
        scores.append(d.scores[keep])
        hits.append(m[keep])
    s = np.concatenate(scores) if scores else np.zeros(0, np.float32)
    h = np.concatenate(hits) if hits else np.zeros(0, np.int8)
    order = np.argsort(-s, kind="stable")
    s, h = s[order], h[order]
    tp, fp = np.cumsum(h == 1), np.cumsum(h == 0)
    n_img = max(len(dets), 1)
    fapi = np.concatenate([[0.0], fp / n_img])
    pd = np.concatenate([[0.0], tp / max(n_obj, 1)])
    thr = np.concatenate([[np.inf], s])
    return fapi, pd, thr, n_obj


def pd_at(fapi: np.ndarray, pd: np.ndarray, thr: np.ndarray, f: float) -> tuple[float, float]:
    """Best Pd with at most ``f`` false alarms per image, and the score threshold giving it."""
    ok = np.where(fapi <= f + 1e-12)[0]
    best = ok[np.argmax(pd[ok])]
    return float(pd[best]), float(thr[best])


def coco_eval(coco: CocoDetection, dets: Sequence[Detections]) -> dict[str, Any]:
    """COCO bbox evaluation; returns map, map50, per_class AP50 and the precision array."""
    from faster_coco_eval import COCO, COCOeval_faster

    data = coco.coco
    gt_dict = {
        "images": [{k: v for k, v in im.items()} for im in data["images"]],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(coco.classes)],
        "annotations": [],
    }
    label_of = coco.cat_to_label
    for j, ann in enumerate(data["annotations"]):
        x, y, w, h = (float(v) for v in ann["bbox"])
        gt_dict["annotations"].append(
            {
                "id": j + 1,
                "image_id": int(ann["image_id"]),
                "category_id": label_of[int(ann["category_id"])] + 1,
                "bbox": [x, y, w, h],
                "area": float(ann.get("area", w * h)),
                "iscrowd": int(ann.get("iscrowd", 0)),
            }
        )
    results = []
    for im, d in zip(coco.images, dets, strict=True):
        for b, s, lab in zip(d.boxes, d.scores, d.labels, strict=True):
            results.append(
                {
                    "image_id": int(im["id"]),
                    "category_id": int(lab) + 1,
                    "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]), float(b[3] - b[1])],
                    "score": float(s),
                }
            )
    logging.getLogger("faster_coco_eval").setLevel(logging.WARNING)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(gt_dict)
        dt = gt.loadRes(results) if results else COCO()
        ev = COCOeval_faster(gt, dt, iouType="bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = np.asarray(ev.eval["precision"])  # (T, R, K, A, M)
    per_class: dict[str, float] = {}
    for k, name in enumerate(coco.classes):
        p = precision[0, :, k, 0, -1]
        per_class[name] = float(p[p > -1].mean()) if np.any(p > -1) else float("nan")
    stats = np.asarray(ev.stats)
    return {
        "map": max(float(stats[0]), 0.0),
        "map50": max(float(stats[1]), 0.0),
        "per_class": per_class,
        "precision50": precision[0, :, :, 0, -1],
    }


def image_auroc(coco: CocoDetection, dets: Sequence[Detections]) -> float | None:
    """AUROC of max detection score for "scan has a visible threat"; None if one class only."""
    from sklearn.metrics import roc_auc_score

    y = np.array([len(coco.labels(i)[0]) > 0 for i in range(len(coco))], bool)
    s = np.array([float(d.scores.max()) if len(d) else 0.0 for d in dets])
    if y.all() or not y.any():
        return None
    return float(roc_auc_score(y, s))


def evaluate_detections(coco: CocoDetection, dets: Sequence[Detections]) -> dict[str, Any]:
    """The report dict (JSON-ready except ``_curves``, which the plots use)."""
    ce = coco_eval(coco, dets)
    fapi, pd, thr, n_obj = froc(coco, dets)
    pd_points, thresholds = {}, {}
    for key in FAPI_POINTS:
        pd_points[key], thresholds[key] = pd_at(fapi, pd, thr, float(key))
    return {
        "map50": ce["map50"],
        "map": ce["map"],
        "per_class": ce["per_class"],
        "pd_at_fapi": pd_points,
        "threshold_at_fapi": {k: (v if np.isfinite(v) else None) for k, v in thresholds.items()},
        "image_auroc": image_auroc(coco, dets),
        "n_images": len(coco),
        "n_objects": n_obj,
        "_curves": {"fapi": fapi, "pd": pd, "precision50": ce["precision50"]},
    }


def confusion(coco: CocoDetection, dets: Sequence[Detections], *, threshold: float) -> np.ndarray:
    """``(C+1, C+1)`` counts at ``threshold``: rows true class (last = background, i.e. false
    alarms), columns predicted class (last = missed). Class-agnostic IoU >= 0.5 matching."""
    c = len(coco.classes)
    mat = np.zeros((c + 1, c + 1), np.int64)
    for i, d in enumerate(dets):
        boxes, labels, ignore = coco.labels(i)
        d = d.above(threshold)
        order = np.argsort(-d.scores, kind="stable")
        ious = box_iou(d.boxes, boxes) if len(boxes) else np.zeros((len(d), 0))
        ioa = box_ioa(d.boxes, ignore) if len(ignore) else np.zeros((len(d), 0))
        taken = np.zeros(len(boxes), bool)
        for k in order:
            cand = np.where(~taken & (ious[k] >= IOU))[0]
            if cand.size:
                g = cand[np.argmax(ious[k, cand])]
                taken[g] = True
                mat[labels[g], d.labels[k]] += 1
            elif not (ioa.shape[1] and ioa[k].max() >= IOU):
                mat[c, d.labels[k]] += 1
        for g in np.where(~taken)[0]:
            mat[labels[g], c] += 1
    return mat


def per_group(
    coco: CocoDetection, dets: Sequence[Detections], *, key: str, threshold: float
) -> dict[str, dict[str, float]]:
    """Pd and false alarms per image at ``threshold`` for each value of image field ``key``."""
    groups: dict[str, list[int]] = {}
    for i, im in enumerate(coco.images):
        if key in im:
            groups.setdefault(str(im[key]), []).append(i)
    out = {}
    for name, idx in sorted(groups.items()):
        tp = fp = n_obj = 0
        for i in idx:
            boxes, labels, ignore = coco.labels(i)
            m = match_image(dets[i].above(threshold), boxes, labels, ignore)
            tp, fp, n_obj = tp + int((m == 1).sum()), fp + int((m == 0).sum()), n_obj + len(boxes)
        out[name] = {
            "n_images": len(idx),
            "n_objects": n_obj,
            "pd": tp / n_obj if n_obj else float("nan"),
            "fapi": fp / len(idx),
        }
    return out
