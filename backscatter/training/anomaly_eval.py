"""``anomaly eval``: the anomaly map on a labelled split, alone and beside the detector.

Ground truth is every annotation of the COCO file: threats and novel concealments (``synth
--novel``) alike, a concealment either way. Hidden ones (``iscrowd``) are ignored: neither a
region to find nor normal pixels. Image AUROC compares scans with a visible concealment against
scans with no annotation at all; pixel AUPRO is computed on the map's own 8 x 8 px cells (a cell
belongs to a region when at least half of it does). Per family and per kind.

Beside the detector (its card threshold): flags are its detections plus the anomaly regions no
detection points at; the region threshold is swept, and ``pd_novel_at_0.3_fapi`` is the share of
visible novel objects a flag points at (:func:`~backscatter.training.anomaly_metrics.box_hits`)
at the lowest threshold with at most 0.3 false flags per image.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.inference.anomaly import STRIDE, AnomalyModel, scan_regions, upsample
from backscatter.training.anomaly_metrics import aupro, auroc, box_hits, roc_curve

#: region thresholds swept for the operating point (calibrated units)
SWEEP = (0.25, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0)
TARGET_FAPI = 0.3


class AnomalyEvalError(ValueError):
    """The evaluation data cannot be used (not COCO, no clean scans, no concealments)."""


@dataclass
class _Image:
    family: str
    score: float
    kinds: set[str]
    clean: bool
    normal: np.ndarray  # scores of normal cells
    regions: list[tuple[str, np.ndarray]]  # (kind, cell scores) per visible object
    objects: list[tuple[str, np.ndarray, bool]]  # (kind, box, hidden)
    det_boxes: np.ndarray
    flags_at: list[np.ndarray] = field(default_factory=list)  # anomaly boxes per SWEEP value


def _rle_decode(seg: dict[str, Any]) -> np.ndarray:
    rows, cols = (int(v) for v in seg["size"])
    counts = seg["counts"]
    if isinstance(counts, str):
        raise AnomalyEvalError("compressed RLE masks are not supported (use synth's output)")
    flat = np.zeros(rows * cols, bool)
    pos, val = 0, False
    for c in counts:
        if val:
            flat[pos : pos + int(c)] = True
        pos += int(c)
        val = not val
    return flat.reshape((rows, cols), order="F")


def _cells(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Share of each 8 x 8 map cell covered by ``mask`` (rows, cols), (h, w) float32."""
    rows, cols = mask.shape
    h, w = shape
    m = np.zeros((h * STRIDE, w * STRIDE), np.float32)
    m[:rows, :cols] = mask
    return m.reshape(h, STRIDE, w, STRIDE).mean(axis=(1, 3))


def _category_names(coco: dict[str, Any]) -> dict[int, str]:
    return {int(c["id"]): str(c["name"]) for c in coco.get("categories", [])}


def evaluate(
    model: AnomalyModel,
    data: str | os.PathLike[str],
    *,
    detector: Any | None = None,
    limit: int | None = None,
    family: str | None = None,
    examples: int = 6,
    progress: bool = False,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``model`` (and ``detector``, a loaded Detector) over ``data`` (its images of
    ``family`` only, when given); returns (report, extra: curves and example maps for plots)."""
    from backscatter.acquisition import open_scan

    path = Path(data)
    try:
        coco = json.loads(path.read_text())
        images, anns = coco["images"], coco["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnomalyEvalError(f"{path}: not a readable COCO file ({exc})") from exc
    names = _category_names(coco)
    by_image: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for a in anns:
        by_image[int(a["image_id"])].append(a)
    if family is not None:
        images = [im for im in images if im.get("scene_family") == family]
        if not images:
            raise AnomalyEvalError(f"{path}: no image of family {family!r}")
    if limit is not None:
        images = images[:limit]
    t0 = time.perf_counter()
    done: list[_Image] = []
    shown: list[dict[str, Any]] = []
    it: Any = images
    if progress:
        from tqdm import tqdm

        it = tqdm(images, desc="anomaly eval", unit="scan")
    ms_anomaly: list[float] = []
    for im in it:
        scan = open_scan(path.parent / str(im["file_name"]))
        ta = time.perf_counter()
        small = model.raw_map(scan.pixels, bits_stored=scan.bits_stored)
        ms_anomaly.append((time.perf_counter() - ta) * 1000)
        gt = np.zeros(small.shape, bool)
        ignore = np.zeros(small.shape, bool)
        regs, objs, kinds = [], [], set()
        for a in by_image.get(int(im["id"]), []):
            kind = names.get(int(a["category_id"]), str(a["category_id"]))
            x, y, w, h = (float(v) for v in a["bbox"])
            hidden = bool(a.get("iscrowd", 0))
            objs.append((kind, np.array([x, y, x + w, y + h]), hidden))
            cells = _cells(_rle_decode(a["segmentation"]), small.shape)
            if hidden:
                ignore |= cells > 0
                continue
            inside = cells >= 0.5
            if not inside.any():
                inside = cells >= cells.max()
            regs.append((kind, small[inside]))
            gt |= inside
            ignore |= cells > 0
            kinds.add(kind)
        det_boxes = np.zeros((0, 4), np.float32)
        if detector is not None:
            dets = detector(scan)
            keep = dets.scores >= detector.threshold
            det_boxes = np.asarray(dets.boxes[keep], np.float32).reshape(-1, 4)
        rec = _Image(str(im.get("scene_family", "unknown")), float(small.max()), kinds,
                     not by_image.get(int(im["id"])), small[~(gt | ignore)], regs, objs,
                     det_boxes)  # fmt: skip
        for t in SWEEP:
            boxes, _, _ = scan_regions(small, scan.shape, threshold=t, min_px=model.min_region_px)
            if det_boxes.size and boxes.size:
                boxes = boxes[~box_hits(boxes, det_boxes).any(axis=1)]
            rec.flags_at.append(boxes)
        done.append(rec)
        # examples: one scan with a novel concealment per family, then one clean scan
        fams_shown = {ex["family"] for ex in shown if ex["kinds"]}
        novel = any(k.startswith("novel/") for k in kinds)
        want = (novel and rec.family not in fams_shown) or (rec.clean and not any(
            not ex["kinds"] for ex in shown))  # fmt: skip
        if len(shown) < examples and want:
            shown.append({"file": str(im["file_name"]), "family": rec.family, "pixels": scan.pixels,
                          "map": small, "objects": objs, "kinds": sorted(kinds)})  # fmt: skip
    report = _report(done, model, path)
    report["seconds"] = round(time.perf_counter() - t0, 1)
    report["anomaly_ms_per_scan"] = round(float(np.median(ms_anomaly)), 2) if ms_anomaly else None
    report["detector"] = None if detector is None else detector.model_id
    extra = {"roc": _curves(done), "examples": shown}
    return report, extra


def _auroc_of(recs: list[_Image], kind: str | None = None) -> float | None:
    neg = [r.score for r in recs if r.clean]
    pos = [r.score for r in recs if r.kinds and (kind is None or kind in r.kinds)]
    return _round(auroc(pos, neg))


def _aupro_of(
    recs: list[_Image], kind: str | None = None, normal_from: list[_Image] | None = None
) -> float | None:
    normal = [r.normal for r in (normal_from or recs)]
    regs = [s for r in recs for k, s in r.regions if kind is None or k == kind]
    if not normal:
        return None
    return _round(aupro(np.concatenate(normal), regs))


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 4)


def _operating_point(recs: list[_Image]) -> dict[str, Any]:
    n = max(len(recs), 1)
    rows: list[dict[str, Any]] = []
    for j, t in enumerate((*SWEEP, float("inf"))):
        false = 0
        hit_kind: dict[str, int] = defaultdict(int)
        seen_kind: dict[str, int] = defaultdict(int)
        for r in recs:
            anomaly = r.flags_at[j] if j < len(SWEEP) else np.zeros((0, 4), np.float32)
            flags = np.concatenate([r.det_boxes, anomaly])
            boxes = np.array([b for _, b, _ in r.objects]).reshape(-1, 4)
            hits = box_hits(flags, boxes)
            false += int((~hits.any(axis=1)).sum())
            found_any = (
                np.asarray(hits.any(axis=0), bool).tolist() if len(flags) else [False] * len(boxes)
            )
            for (kind, _, hidden), found in zip(r.objects, found_any, strict=True):
                if hidden:
                    continue
                seen_kind[kind] += 1
                hit_kind[kind] += int(found)
        novel = [k for k in seen_kind if k.startswith("novel/")]
        n_novel = sum(seen_kind[k] for k in novel)
        row: dict[str, Any] = {
            "region_threshold": t if np.isfinite(t) else None,
            "fapi": round(false / n, 4),
            "pd_novel": _round(sum(hit_kind[k] for k in novel) / n_novel) if n_novel else None,
            "pd_all": _round(sum(hit_kind.values()) / max(sum(seen_kind.values()), 1)),
            "pd_per_kind": {k: _round(hit_kind[k] / seen_kind[k]) for k in sorted(seen_kind)},
        }
        rows.append(row)
    ok = [r for r in rows if r["fapi"] <= TARGET_FAPI]
    best = ok[0] if ok else rows[-1]
    return {"sweep": rows, "at_target": best, "detector_only": rows[-1]}


def _report(recs: list[_Image], model: AnomalyModel, data: Path) -> dict[str, Any]:
    if not any(r.clean for r in recs):
        raise AnomalyEvalError(f"{data}: no clean scan (no annotation) to compare against")
    families = sorted({r.family for r in recs})
    kinds = sorted({k for r in recs for k in r.kinds})
    per_family = {}
    for fam in families:
        sub = [r for r in recs if r.family == fam]
        per_family[fam] = {
            "n_images": len(sub),
            "n_clean": sum(r.clean for r in sub),
            "image_auroc": _auroc_of(sub),
            "pixel_aupro": _aupro_of(sub),
        }
    per_kind = {
        k: {
            "n_objects": sum(1 for r in recs for kk, _ in r.regions if kk == k),
            "image_auroc": _auroc_of(recs, k),
            "pixel_aupro": _aupro_of(recs, k, normal_from=recs),
        }
        for k in kinds
    }
    op = _operating_point(recs)
    return {
        "data": str(data),
        "model_id": model.model_id,
        "min_region_px": model.min_region_px,
        "n_images": len(recs),
        "n_clean": sum(r.clean for r in recs),
        "image_auroc": _auroc_of(recs),
        "pixel_aupro": _aupro_of(recs),
        "aupro_max_fpr": 0.3,
        "per_family": per_family,
        "per_kind": per_kind,
        "image_auroc_min_family": min(
            (v["image_auroc"] for v in per_family.values() if v["image_auroc"] is not None),
            default=None,
        ),  # fmt: skip
        "pixel_aupro_min_family": min(
            (v["pixel_aupro"] for v in per_family.values() if v["pixel_aupro"] is not None),
            default=None,
        ),  # fmt: skip
        "region_threshold_at_0.3_fapi": op["at_target"]["region_threshold"],
        "pd_novel_at_0.3_fapi": op["at_target"]["pd_novel"],
        "operating_point": op["at_target"],
        "detector_only": op["detector_only"],
        "sweep": op["sweep"],
    }


def _curves(recs: list[_Image]) -> dict[str, tuple[list[float], list[float]]]:
    out = {}
    for fam in ["all", *sorted({r.family for r in recs})]:
        sub = [r for r in recs if fam == "all" or r.family == fam]
        pos = [r.score for r in sub if r.kinds]
        neg = [r.score for r in sub if r.clean]
        if pos and neg:
            fpr, tpr = roc_curve(pos, neg)
            out[fam] = (fpr.tolist(), tpr.tolist())
    return out


def write_outputs(
    report: dict[str, Any], extra: dict[str, Any], out: str | os.PathLike[str]
) -> Path:
    """``report.json``, ``roc.png`` and ``examples/*.png`` into ``out``; returns report.json."""
    import cv2

    from backscatter.training.plots import _plt
    from backscatter.viewer.anomaly_overlay import blend_heatmap, draw_regions

    root = Path(out)
    (root / "examples").mkdir(parents=True, exist_ok=True)
    path = root / "report.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (fpr, tpr) in extra["roc"].items():
        ax.plot(fpr, tpr, lw=2.0 if name == "all" else 1.0, label=name)
    ax.plot([0, 1], [0, 1], "k:", lw=0.8)
    ax.set_xlabel("false positive rate (clean scans)")
    ax.set_ylabel("true positive rate (scans with a concealment)")
    ax.set_title(f"image ROC, AUROC {report['image_auroc']}")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(root / "roc.png", dpi=100)
    plt.close(fig)
    for k, ex in enumerate(extra["examples"]):
        px = ex["pixels"].astype(np.float32)
        lo, hi = np.percentile(px, [1, 99])
        gray = np.clip((px - lo) / max(hi - lo, 1e-6) * 255, 0, 255).astype(np.uint8)
        img = blend_heatmap(gray, upsample(ex["map"], ex["pixels"].shape))
        thr = report["region_threshold_at_0.3_fapi"]
        if thr is not None:
            boxes = scan_regions(ex["map"], ex["pixels"].shape, threshold=float(thr),
                                 min_px=int(report["min_region_px"]))[0]  # fmt: skip
            img = draw_regions(img, boxes)
        for kind, box, hidden in ex["objects"]:
            x0, y0, x1, y1 = (int(v) for v in box)
            colour = (128, 128, 128) if hidden else (0, 255, 0)
            cv2.rectangle(img, (x0, y0), (x1 - 1, y1 - 1), colour, 1)
            cv2.putText(img, kind, (x0 + 2, min(y1 - 4, img.shape[0] - 2)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1, cv2.LINE_AA)  # fmt: skip
        tag = "clean" if not ex["kinds"] else "novel"
        cv2.imwrite(str(root / "examples" / f"{k:02d}_{ex['family']}_{tag}.png"), img)
    return path
