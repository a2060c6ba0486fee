"""``backscatter eval``: run a model (ONNX or checkpoint) over a COCO split, write the report.

Writes ``OUT/report.json`` and ``pr_per_class.png``, ``froc.png``, ``confusion_matrix.png``.
Both model kinds go through the same :class:`~backscatter.training.predict.Predictor`.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from backscatter.training.data import CocoDetection
from backscatter.training.evaluate import (
    confusion,
    evaluate_detections,
    per_group,
    predict_dataset,
)
from backscatter.training.plots import plot_confusion, plot_froc, plot_pr
from backscatter.training.predict import load_predictor

#: image fields used for the per-scene-family breakdown, first present wins
GROUP_KEYS: tuple[str, ...] = ("scene_family", "family", "scene", "profile")


def _clean(value: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> float."""
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def evaluate_model(
    model: str | Path,
    data: str | Path,
    out_dir: str | Path,
    *,
    image_root: str | Path | None = None,
    bits_stored: int | None = None,
    min_score: float = 0.01,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate ``model`` on COCO json ``data``; returns the report written to ``report.json``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    predictor = load_predictor(model, min_score=min_score)
    coco = CocoDetection(
        data, classes=predictor.class_names, image_root=image_root, bits_stored=bits_stored
    )
    t0 = time.perf_counter()
    dets = predict_dataset(predictor, coco, progress=progress)
    seconds = time.perf_counter() - t0
    report = evaluate_detections(coco, dets)
    curves = report.pop("_curves")
    thr = report["threshold_at_fapi"]["0.1"]
    thr = 0.5 if thr is None else float(thr)
    matrix = confusion(coco, dets, threshold=thr)
    report["confusion_threshold"] = thr
    report["confusion_matrix"] = {
        "rows_true": [*coco.classes, "background"],
        "cols_predicted": [*coco.classes, "missed"],
        "counts": matrix.tolist(),
    }
    key = next((k for k in GROUP_KEYS if coco.images and k in coco.images[0]), None)
    if key is not None:
        report["per_group"] = {"key": key, **per_group(coco, dets, key=key, threshold=thr)}
    report["model"] = str(model)
    report["data"] = str(data)
    report["min_score"] = min_score
    report["seconds_per_image"] = seconds / max(len(coco), 1)
    report = _clean(report)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    plot_pr(curves["precision50"], coco.classes, out / "pr_per_class.png")
    plot_froc(curves["fapi"], curves["pd"], out / "froc.png")
    plot_confusion(matrix, coco.classes, thr, out / "confusion_matrix.png")
    return report
