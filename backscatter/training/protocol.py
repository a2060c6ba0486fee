"""The generalisation protocol of a detector (issue "Detector 2.0", item 5).

- :func:`gain_sweep`: the same split with every scan's counts multiplied by a gain and shifted by
  an offset (a fraction of full scale), as another device, tube or setting would record it.
- :func:`recall_by_subtype`: recall at one threshold per threat sub-type (jerrycan, steel-frame
  pistol, multi-bundle currency...), from the sub-type the simulator records with each object.
- The held-out slice and the dose sweep are COCO splits of their own (``backscatter synth
  --profile compact --domain``, ``--dose N``), evaluated like any split; ``bench/generalisation.py``
  runs the whole protocol and writes the plots.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from backscatter.detections import Detections
from backscatter.inference.preprocess import full_scale
from backscatter.training.data import CocoDetection
from backscatter.training.evaluate import evaluate_detections, match_objects, predict_dataset

#: the issue's sweep: x0.25 .. x4, and an offset of 10 % of full scale
GAINS: tuple[float, ...] = (0.25, 0.5, 1.0, 2.0, 4.0)
OFFSET = 0.10


class GainOffset:
    """``coco`` seen through another device: pixels ``gain * v / full_scale + offset`` as float32
    fractions of full scale (no clipping or rounding: the sweep measures the model's dependence
    on gain, not the loss of saturated or quantised pixels)."""

    def __init__(self, coco: CocoDetection, *, gain: float, offset: float = 0.0) -> None:
        self.coco, self.gain, self.offset = coco, float(gain), float(offset)

    def __len__(self) -> int:
        return len(self.coco)

    def pixels(self, index: int) -> tuple[np.ndarray, int]:
        px, bits = self.coco.pixels(index)
        scale = np.float32(self.gain / full_scale(px.dtype, bits))
        return px.astype(np.float32) * scale + np.float32(self.offset), bits


def gain_sweep(
    predict: Callable[..., Detections],
    coco: CocoDetection,
    *,
    gains: Sequence[float] = GAINS,
    offset: float = OFFSET,
) -> dict[str, dict[str, Any]]:
    """map50, Pd at 0.1 FA/image and AUROC per ``"x{gain}"``, plus ``"x1+offset"``."""
    runs = [(f"x{g:g}", g, 0.0) for g in gains] + [(f"x1+{offset:g}FS", 1.0, offset)]
    out: dict[str, dict[str, Any]] = {}
    for name, g, o in runs:
        dets = predict_dataset(predict, GainOffset(coco, gain=g, offset=o))  # type: ignore[arg-type]
        r = evaluate_detections(coco, dets)
        out[name] = {
            "gain": g,
            "offset": o,
            "map50": r["map50"],
            "pd_at_0.1": r["pd_at_fapi"]["0.1"],
            "image_auroc": r["image_auroc"],
        }
    return out


def subtype_of(class_name: str, params: dict[str, Any]) -> str:
    """The object's sub-type: ``params["subtype"]`` when the simulator recorded one, else derived
    from the parameters of the 1.x threat library (same names)."""
    if "subtype" in params:
        return str(params["subtype"])
    if class_name == "firearm":
        return "pistol_steel" if params.get("steel_frame") else "pistol_polymer"
    if class_name == "blade":
        if params.get("dagger"):
            return "dagger"
        return "steel_handle" if params.get("handle") == "steel" else "kitchen"
    if class_name == "currency":
        return "multi_bundle" if int(params.get("count", 1)) >= 2 else "single_bundle"
    if class_name == "organic_package":
        return "multi_brick" if int(params.get("count", 1)) >= 2 else "single_brick"
    if class_name == "liquid":
        return str(params.get("kind", "unknown"))
    return "unknown"


def object_subtypes(coco: CocoDetection, index: int) -> list[str]:
    """``class/sub-type`` of each labelled object of image ``index``, in the order of
    :meth:`CocoDetection.labels`'s boxes."""
    image_id = int(coco.images[index]["id"])
    out = []
    for ann in coco._anns.get(image_id, []):
        _, _, w, h = (float(v) for v in ann["bbox"])
        if w <= 0 or h <= 0 or ann.get("iscrowd", 0):
            continue
        name = coco.classes[coco.cat_to_label[int(ann["category_id"])]]
        params = (ann.get("attributes") or {}).get("params") or {}
        out.append(f"{name}/{subtype_of(name, params)}")
    return out


def recall_by_subtype(
    coco: CocoDetection, dets: Sequence[Detections], *, threshold: float
) -> dict[str, dict[str, float]]:
    """Per ``class/sub-type``: objects, found (same class, IoU >= 0.5, score >= threshold) and
    recall, sorted by name."""
    found: dict[str, list[int]] = {}
    for i, d in enumerate(dets):
        boxes, labels, ignore = coco.labels(i)
        _, taken = match_objects(d.above(threshold), boxes, labels, ignore)
        for name, hit in zip(object_subtypes(coco, i), taken, strict=True):
            found.setdefault(name, []).append(int(hit))
    return {
        name: {"n": len(v), "found": int(sum(v)), "recall": float(np.mean(v))}
        for name, v in sorted(found.items())
    }
