"""Latency of the shipped detector vs torchvision's SSDLite (MobileNetV3) in ONNX Runtime.

Both run on the same machine in the same process, CPU execution provider, ``--threads`` intra-op
threads, one 512 x 512 scan per call; prints medians and the ratio. The baseline is
``ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None)`` (random weights, nothing
downloaded) exported to ONNX with a 512 x 512 input (it resizes to 320 inside its graph).

    .venv/bin/python bench/latency.py [--model models/NAME.onnx] [--threads 2] [--json out.json]
        [--reference OLD.onnx]

``--reference`` times another detector in the same runs (e.g. the 1.2.0 release:
``git show c642cd4:models/bsnet-handheld.onnx > /tmp/bsnet-1.2.0.onnx``) and prints ours /
reference: the 2.0 budget is at most 2.2x the 1.2.0 model at 512 x 512.
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
    ap.add_argument("--reference", help="another ONNX detector timed in the same process")
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
    ref_ms = None
    if args.reference:
        ref = session(Path(args.reference), args.threads)
        ref_spec = PreprocessSpec.from_json(ref.get_modelmeta().custom_metadata_map["preprocess"])
        xr = pad_to_stride(normalise(scan, bits_stored=16, spec=ref_spec), stride=ref_spec.stride)
        # alternate, so that a busy spell of the shared machine hits both
        ours_r, ref_r = [], []
        for _ in range(3):
            ours_r.append(median_ms(lambda: sess.run(None, {"image": x}), args.runs)[0])
            ref_r.append(median_ms(lambda: ref.run(None, {"image": xr[None, None]}), args.runs)[0])
        ours, ref_ms = statistics.median(ours_r), statistics.median(ref_r)
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
        **(
            {
                "reference": Path(args.reference).name,
                "reference_median_ms": round(ref_ms, 2),
                "ratio_ours_over_reference": round(ours / ref_ms, 2),
            }
            if ref_ms is not None and args.reference
            else {}
        ),
        "onnxruntime": ort.__version__,
        "cpu": platform.processor() or platform.machine(),
    }
    print(
        f"{model.name}: median {ours:.2f} ms (p90 {ours_p90:.2f}; with preprocessing "
        f"{ours_e2e:.2f}) | ssdlite320_mobilenet_v3_large: median {base:.2f} ms "
        f"(p90 {base_p90:.2f}) | ratio ssdlite/ours {base / ours:.2f}x | {args.threads} threads"
    )
    if ref_ms is not None:
        print(
            f"reference {Path(args.reference).name}: median {ref_ms:.2f} ms | ratio ours/reference "
            f"{ours / ref_ms:.2f}x (alternating rounds)"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
