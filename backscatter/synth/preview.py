"""8-bit previews of simulated scans for documentation (not model input).

The display window is the 0.5-99.5 percentile range of each scan: fine for a picture in the docs,
never for the detector (that normalises by bits stored). Boxes: green = recognisable threat,
red = hidden beyond recognition (COCO iscrowd).

    python -m backscatter.synth.preview docs/images [--per-family 3] [--size 272]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from backscatter.synth.render import SceneResult, render_scene
from backscatter.synth.scenes import FAMILIES


def preview(result: SceneResult, *, size: int = 272, boxes: bool = True) -> np.ndarray:
    """BGR uint8 ``(size, size * cols / rows, 3)`` picture of a rendered scene."""
    px = result.pixels.astype(np.float32)
    lo, hi = np.percentile(px, [0.5, 99.5])
    gray = np.clip((px - lo) / max(hi - lo, 1.0) * 255.0, 0, 255).astype(np.uint8)
    rows, cols = gray.shape
    scale = size / rows
    small = cv2.resize(gray, (round(cols * scale), size), interpolation=cv2.INTER_AREA)
    img = cv2.cvtColor(small, cv2.COLOR_GRAY2BGR)
    if boxes:
        for a in result.annotations:
            x0, y0, x1, y1 = (round(v * scale) for v in a.box)
            color = (0, 0, 255) if a.hidden else (0, 200, 0)
            cv2.rectangle(img, (x0, y0), (max(x1 - 1, x0), max(y1 - 1, y0)), color, 1)
            cv2.putText(img, a.class_name, (x0 + 2, max(y0 - 3, 9)), cv2.FONT_HERSHEY_SIMPLEX,
                        0.33, color, 1, cv2.LINE_AA)  # fmt: skip
    return img


def write_previews(
    out_dir: Path, *, per_family: int = 3, size: int = 272, seed: int = 2026
) -> list[Path]:
    """``per_family`` previews of each scene family (512 x 512 handheld scans)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for f, family in enumerate(FAMILIES):
        for k in range(per_family):
            result = render_scene(seed + 100 * f + k, family=family, classes=None)
            path = out_dir / f"{family}_{k + 1}.png"
            cv2.imwrite(str(path), preview(result, size=size), [cv2.IMWRITE_PNG_COMPRESSION, 9])
            paths.append(path)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description="write documentation previews of each scene family")
    ap.add_argument("out", type=Path)
    ap.add_argument("--per-family", type=int, default=3)
    ap.add_argument("--size", type=int, default=272)
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()
    for p in write_previews(args.out, per_family=args.per_family, size=args.size, seed=args.seed):
        print(p, p.stat().st_size)


if __name__ == "__main__":
    main()
