"""Side-by-side montage of native and projected threats (docs/images/tip_montage.png).

Six threats the simulator rendered into its own scenes and six TIP projected into clean scenes of
the same kind written as PNG files (no metadata: the dose and blur are pooled from those scans
alone), same classes, shuffled with a fixed seed, each crop windowed on its own 0.5-99.5
percentiles as a viewer's auto-contrast would. Prints which crops are projected.

    .venv/bin/python bench/tip_montage.py [--out docs/images/tip_montage.png] [--seed 4]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backscatter.acquisition.open import open_scan  # noqa: E402
from backscatter.scan import Scan  # noqa: E402
from backscatter.synth.device import simulate_scan  # noqa: E402
from backscatter.synth.tip import project_threat  # noqa: E402
from backscatter.synth.tip_dose import estimate_dose, host_facts  # noqa: E402
from backscatter.synth.tip_host import TipError  # noqa: E402

SIZE = (512, 512)
CROP = 136


def _crop(scan: Scan, mask: np.ndarray) -> np.ndarray:
    rows, cols = np.nonzero(mask)
    cy, cx = int(np.mean(rows)), int(np.mean(cols))
    r0 = int(np.clip(cy - CROP // 2, 0, scan.rows - CROP))
    c0 = int(np.clip(cx - CROP // 2, 0, scan.cols - CROP))
    px = scan.pixels[r0 : r0 + CROP, c0 : c0 + CROP].astype(np.float64)
    lo, hi = np.percentile(px, [0.5, 99.5])
    return np.clip((px - lo) / max(hi - lo, 1.0) * 255.0, 0, 255).astype(np.uint8)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(ROOT / "docs" / "images" / "tip_montage.png"))
    p.add_argument("--seed", type=int, default=4)
    p.add_argument("--per-side", type=int, default=6)
    args = p.parse_args()
    n = args.per_side
    natives: list[tuple[int, np.ndarray]] = []
    seed = 7000 + args.seed
    while len(natives) < n:
        scan = simulate_scan(seed, size=SIZE)
        seed += 1
        gt = scan.extras["ground_truth"]
        for i in range(len(gt)):
            big = gt.masks is not None and gt.masks[i].sum() >= 400
            if big and len(natives) < n and int(gt.labels[i]) not in [c for c, _ in natives[-2:]]:
                natives.append((int(gt.labels[i]), _crop(scan, gt.masks[i])))
    with tempfile.TemporaryDirectory() as tmp:
        hosts = []
        for i in range(24):
            path = Path(tmp) / f"clean{i:02d}.png"
            cv2.imwrite(str(path), simulate_scan(90000 + i, size=SIZE, clean=True).pixels)
            hosts.append(open_scan(path))
    facts = [host_facts(h) for h in hosts]
    dose = estimate_dose(facts)
    rng = np.random.default_rng(args.seed)
    projected: list[tuple[int, np.ndarray]] = []
    j = 0
    for cid, _ in natives:
        while True:
            h = j % len(hosts)
            j += 1
            try:
                tip = project_threat(hosts[h], cid, rng=rng, dose=dose, facts=facts[h])
            except TipError:
                continue
            if not tip.params["hidden"] and tip.detections.masks is not None:
                projected.append((cid, _crop(tip.scan, tip.detections.masks[0])))
                break
    tiles = [(False, c) for _, c in natives] + [(True, c) for _, c in projected]
    order = np.random.default_rng(args.seed).permutation(len(tiles))
    gap = 4
    cols = n
    canvas = np.full((2 * CROP + 3 * gap, cols * CROP + (cols + 1) * gap), 255, np.uint8)
    key = []
    for k, idx in enumerate(order):
        is_tip, crop = tiles[idx]
        r, c = divmod(k, cols)
        y, x = gap + r * (CROP + gap), gap + c * (CROP + gap)
        canvas[y : y + CROP, x : x + CROP] = crop
        cv2.putText(canvas, str(k + 1), (x + 4, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 2)
        cv2.putText(canvas, str(k + 1), (x + 4, y + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1)
        if is_tip:
            key.append(k + 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(args.out, canvas, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(
        f"{args.out}: {len(tiles)} crops of {CROP} px; projected: {key}; dose "
        f"{dose.counts_per_signal:.0f} +- {dose.rel_se:.0%} (scan), blur {dose.blur_px:.2f} px"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
