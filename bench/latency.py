"""Latency of the shipped detector vs torchvision's SSDLite (MobileNetV3) in ONNX Runtime.

Both run on the same machine in the same process, CPU execution provider, ``--threads`` intra-op
threads, one 512 x 512 scan per call; prints medians and the ratio. The baseline is
``ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)`` (random weights, nothing
downloaded) exported to ONNX with a 512 x 512 input (it resizes to 320 inside its graph).

    .venv/bin/python bench/latency.py [--model models/NAME.onnx] [--threads 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort


def session(path: Path, threads: int) -> ort.InferenceSession:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def median_ms(fn: Callable[[], object], runs: int, warmup: int = 5) -> tuple[float, float]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times), float(np.percentile(times, 90))


def export_ssdlite(path: Path, size: int) -> None:
    import torch
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large

    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model,
            ([torch.rand(3, size, size)],),
            str(path),
            input_names=["image"],
            opset_version=17,
            dynamo=False,
        )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="ONNX detector (default: the shipped default model)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args()
    if args.model:
        model = Path(args.model)
    else:
        from backscatter.inference.models import default_model_path

        model = default_model_path()
    from backscatter.inference.preprocess import PreprocessSpec, normalise, pad_to_stride

    sess = session(model, args.threads)
    meta = sess.get_modelmeta().custom_metadata_map
    spec = PreprocessSpec.from_json(meta["preprocess"])
    rng = np.random.default_rng(0)
    scan = rng.integers(1000, 30000, size=(args.size, args.size), dtype=np.uint16)
    x = pad_to_stride(normalise(scan, bits_stored=16, spec=spec), stride=spec.stride)[None, None]
    ours, ours_p90 = median_ms(lambda: sess.run(None, {"image": x}), args.runs)

    def end_to_end() -> object:
        y = pad_to_stride(normalise(scan, bits_stored=16, spec=spec), stride=spec.stride)
        return sess.run(None, {"image": y[None, None]})

    ours_e2e, _ = median_ms(end_to_end, args.runs)
    with tempfile.TemporaryDirectory() as tmp:
        ssd_path = Path(tmp) / "ssdlite.onnx"
        export_ssdlite(ssd_path, args.size)
        ssd = session(ssd_path, args.threads)
        name = ssd.get_inputs()[0].name
        img = rng.random((3, args.size, args.size), dtype=np.float32)
        base, base_p90 = median_ms(lambda: ssd.run(None, {name: img}), args.runs)
    result = {
        "model": model.name,
        "input": f"1x1x{args.size}x{args.size}",
        "threads": args.threads,
        "runs": args.runs,
        "median_ms": round(ours, 2),
        "p90_ms": round(ours_p90, 2),
        "median_ms_with_preprocess": round(ours_e2e, 2),
        "ssdlite320_mobilenet_v3_large_median_ms": round(base, 2),
        "ssdlite_p90_ms": round(base_p90, 2),
        "ratio_ssdlite_over_ours": round(base / ours, 2),
        "onnxruntime": ort.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    print(
        f"{model.name}: median {ours:.2f} ms (p90 {ours_p90:.2f}; with preprocessing "
        f"{ours_e2e:.2f}) | ssdlite320_mobilenet_v3_large: median {base:.2f} ms "
        f"(p90 {base_p90:.2f}) | ratio ssdlite/ours {base / ours:.2f}x | {args.threads} threads"
    )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
