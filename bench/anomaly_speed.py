"""What the anomaly map adds to the detector's time per scan (target: at most +50 %).

Same process, same scans, CPU execution provider with ``--threads`` intra-op threads for both,
interleaved runs (so a load change on the machine hits both alike). Times the whole per-scan call
of each: ``Detector(scan)`` (normalise, infer, decode) and ``AnomalyModel(scan)`` (robust range,
normalise, infer, upsample, regions). Prints medians, p90 and the ratio anomaly / detector.

    python bench/anomaly_speed.py --anomaly models/handheld-anomaly.onnx \
        [--detector models/bsnet-handheld.onnx] [--threads 2] [--size 512] [--runs 40]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import numpy as np

from backscatter.inference.anomaly import AnomalyModel
from backscatter.inference.detector import Detector
from backscatter.scan import Scan
from backscatter.synth.render import render_scene


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--anomaly", required=True)
    ap.add_argument("--detector", default="models/bsnet-handheld.onnx")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--json", default=None, help="also write the figures here")
    args = ap.parse_args()
    det = Detector.load(args.detector, threads=args.threads)
    anomaly = AnomalyModel.load(args.anomaly, threads=args.threads)
    scans = []
    for seed in range(4):
        r = render_scene(900 + seed, size=(args.size, args.size), novel=1)
        scans.append(Scan(r.pixels, r.bits_stored, f"bench-{seed}"))
    for s in scans:  # warm-up
        det(s)
        anomaly(s)
    t_det, t_ano = [], []
    for k in range(args.runs):
        s = scans[k % len(scans)]
        t0 = time.perf_counter()
        det(s)
        t1 = time.perf_counter()
        anomaly(s)
        t2 = time.perf_counter()
        t_det.append((t1 - t0) * 1e3)
        t_ano.append((t2 - t1) * 1e3)
    md, ma = statistics.median(t_det), statistics.median(t_ano)
    out = {
        "size": args.size,
        "threads": args.threads,
        "runs": args.runs,
        "detector": det.model_id,
        "anomaly": anomaly.model_id,
        "detector_ms_median": round(md, 2),
        "detector_ms_p90": round(float(np.percentile(t_det, 90)), 2),
        "anomaly_ms_median": round(ma, 2),
        "anomaly_ms_p90": round(float(np.percentile(t_ano, 90)), 2),
        "ratio": round(ma / md, 3),
        "target_ratio_max": 0.5,
        "cpu": platform.processor() or platform.machine(),
    }
    print(json.dumps(out, indent=2))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return 0 if out["ratio"] <= 0.5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
