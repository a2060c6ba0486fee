"""Tiny synthetic COCO datasets of 16-bit scans with drawn shapes, built by the tests."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES


def draw_scene(
    rng: np.random.Generator, size: int, n_objects: int
) -> tuple[np.ndarray, list[tuple[int, list[float], int]]]:
    """A 12-bit-in-16 scan ``(size, size)`` and ``[(class, [x, y, w, h], iscrowd)]``."""
    img = np.full((size, size), 900.0, np.float32)
    anns = []
    for _ in range(n_objects):
        label = int(rng.integers(0, len(THREAT_CLASSES)))
        w, h = (int(v) for v in rng.integers(12, size // 3, size=2))
        x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
        level = 2400.0 + 300.0 * label
        if label % 2 == 0:
            img[y : y + h, x : x + w] = level
        else:
            cv2.ellipse(img, (x + w // 2, y + h // 2), (w // 2, h // 2), 0, 0, 360, level, -1)
        anns.append((label, [float(x), float(y), float(w), float(h)], 0))
    img += rng.normal(0.0, 40.0, img.shape).astype(np.float32)
    return np.clip(img, 0, 4095).astype(np.uint16), anns


def make_coco(
    root: Path, *, n: int, seed: int, size: int = 96, crowd: bool = False, name: str = "train"
) -> Path:
    """Write ``root/NAME.json`` and PNGs; one clean image in five. Returns the json path."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images, annotations = [], []
    for i in range(n):
        k = 0 if i % 5 == 4 else int(rng.integers(1, 3))
        px, anns = draw_scene(rng, size, k)
        fname = f"{name}_{i:04d}.png"
        cv2.imwrite(str(root / fname), px)
        images.append(
            {"id": i + 1, "file_name": fname, "width": size, "height": size, "bits_stored": 12}
        )
        for j, (label, bbox, _) in enumerate(anns):
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": label + 1,
                    "bbox": bbox,
                    "area": bbox[2] * bbox[3],
                    "iscrowd": int(crowd and j == 1),
                }
            )
    cats = [{"id": i + 1, "name": c} for i, c in enumerate(THREAT_CLASSES)]
    path = root / f"{name}.json"
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": cats}))
    return path
