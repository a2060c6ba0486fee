"""Synthetic scans and results for the viewer tests (seeded; written as 16-bit PNG with cv2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np

from backscatter.detections import Detections
from backscatter.scan import Scan

#: the bright object every synthetic scan holds, and the firearm flag drawn around it
OBJECT_BOX = (300, 100, 520, 220)


def make_pixels(seed: int, shape: tuple[int, int] = (512, 1024)) -> np.ndarray:
    rng = np.random.default_rng(seed)
    px = rng.normal(15000, 2500, shape).clip(0, 65535).astype(np.uint16)
    x0, y0, x1, y1 = OBJECT_BOX
    px[y0:y1, x0:x1] = 42000
    return px


def make_scan(seed: int = 0, shape: tuple[int, int] = (512, 1024)) -> Scan:
    return Scan(make_pixels(seed, shape), 16, f"test-{seed}")


def make_dets() -> Detections:
    return Detections(
        boxes=np.array([OBJECT_BOX, (700, 300, 800, 400)], np.float32),
        scores=np.array([0.91, 0.55], np.float32),
        labels=np.array([2, 1]),
    )


def write_results_dir(out: Path, n: int, *, seed: int = 0) -> list[Path]:
    """``n`` 16-bit PNG scans and a results.jsonl flagging each with :func:`make_dets`."""
    out.mkdir(parents=True, exist_ok=True)
    lines, paths = [], []
    for i in range(n):
        p = out / f"scan_{i:03d}.png"
        cv2.imwrite(str(p), make_pixels(seed + i))
        paths.append(p)
        rec = {
            "scan_id": p.stem,
            "source": str(p),
            "source_sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
            "rows": 512,
            "columns": 1024,
            "detections": make_dets().to_records(),
            "alarm": "ALARM",
            "threshold": 0.5,
            "model_id": "test-model-1",
            "provider": "cpu",
            "timings_ms": {},
            "outputs": {"overlay": None, "tdr": None, "dx": None},
        }
        lines.append(json.dumps(rec) + "\n")
    (out / "results.jsonl").write_text("".join(lines))
    return paths
