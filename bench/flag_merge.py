"""Flag merging: which overlap rule joins boxes of different classes on one object?

Runs the detector over a ``backscatter synth`` folder (COCO ground truth beside the images),
takes every pair of raw detections with different classes (score >= ``--min-score``), and
calls a pair "same object" when both boxes' best ground-truth match (IoU >= 0.3) is the same
object, "different objects" when they match two different objects. For IoU and for
containment (intersection / smaller area) at several cut-offs it prints how many same-object
pairs a rule joins (want all) and how many different-object pairs it wrongly joins (want none),
then the flags per scan that the chosen rule leaves. Figures printed, nothing asserted.

    .venv/bin/python bench/flag_merge.py --data /tmp/synth [--min-score 0.05] [--limit 150]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from backscatter.acquisition import open_scan
from backscatter.inference.detector import Detector
from backscatter.inference.flags import pair_overlap, to_flags


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    aa = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    ab = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return np.asarray(inter / np.maximum(aa[:, None] + ab[None, :] - inter, 1e-9))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="backscatter synth output folder")
    ap.add_argument("--model", default=None)
    ap.add_argument("--min-score", type=float, default=0.05)
    ap.add_argument("--limit", type=int, default=150)
    args = ap.parse_args()
    root = Path(args.data)
    images: dict[int, dict[str, object]] = {}
    gt: dict[int, list[list[float]]] = {}
    for split in ("train", "val", "test"):
        path = root / f"{split}.json"
        if not path.is_file():
            continue
        coco = json.loads(path.read_text())
        for im in coco["images"]:
            images[int(im["id"])] = im
        for a in coco["annotations"]:
            x, y, w, h = a["bbox"]
            gt.setdefault(int(a["image_id"]), []).append([x, y, x + w, y + h])
    det = Detector.load(args.model, threads=2)
    cuts = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8)
    same = {("iou", c): 0 for c in cuts} | {("contain", c): 0 for c in cuts}
    diff = dict.fromkeys(same, 0)
    n_same = n_diff = 0
    raw_counts, above_raw = [], []
    rules = (("iou", 0.5), ("iou", 0.3), ("contain", 0.6))
    flag_counts: dict[tuple[str, float], list[int]] = {r: [] for r in rules}
    above_flags: dict[tuple[str, float], list[int]] = {r: [] for r in rules}
    for image_id in sorted(images)[: args.limit]:
        im = images[image_id]
        scan = open_scan(str(root / str(im["file_name"])))
        dets = det(scan)
        dets = dets[dets.scores >= args.min_score]
        raw_counts.append(len(dets))
        above_raw.append(int(np.sum(dets.scores >= det.threshold)))
        for rule, cut in rules:
            flags = to_flags(dets, rule=rule, cut=cut)
            flag_counts[(rule, cut)].append(len(flags))
            above_flags[(rule, cut)].append(int(np.sum(flags.scores >= det.threshold)))
        g = np.array(gt.get(image_id, []), np.float32).reshape(-1, 4)
        if len(dets) < 2 or len(g) == 0:
            continue
        iou_gt = _iou(dets.boxes, g)
        best = np.where(iou_gt.max(axis=1) >= 0.3, iou_gt.argmax(axis=1), -1)
        iou, contain = pair_overlap(dets.boxes)
        for i in range(len(dets)):
            for j in range(i + 1, len(dets)):
                if dets.labels[i] == dets.labels[j] or best[i] < 0 or best[j] < 0:
                    continue
                is_same = best[i] == best[j]
                n_same += is_same
                n_diff += not is_same
                for c in cuts:
                    for rule, value in (("iou", iou[i, j]), ("contain", contain[i, j])):
                        if value >= c:
                            (same if is_same else diff)[(rule, c)] += 1
    print(f"scans {len(raw_counts)}, model {det.model_id}, min score {args.min_score}")
    print(f"cross-class pairs on one object: {n_same}; on two different objects: {n_diff}")
    print("rule      cut  joins-same  joins-different")
    for key in same:
        print(f"{key[0]:8s} {key[1]:4.1f}  {same[key]:5d}/{n_same:<5d} {diff[key]:5d}/{n_diff}")
    print(
        f"per scan: raw detections mean {np.mean(raw_counts):.1f} (max {max(raw_counts)}), "
        f"above the threshold {det.threshold:.3f} {np.mean(above_raw):.2f} (max {max(above_raw)})"
    )
    for r in rules:
        n, a = flag_counts[r], above_flags[r]
        print(
            f"flags by {r[0]} >= {r[1]}: mean {np.mean(n):.1f} (max {max(n)}), above the "
            f"threshold {np.mean(a):.2f} (max {max(a)})"
        )


if __name__ == "__main__":
    main()
