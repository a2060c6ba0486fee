"""``backscatter detect``: screen files, folders, globs or live sources into an output folder."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "run the threat detector over scans and write results, overlays and DICOS TDRs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files, folders, globs or sim://...")
    p.add_argument("--out", required=True, help="output folder (re-running resumes there)")
    p.add_argument("--model", default=None, help="ONNX model or its card (default: shipped)")
    p.add_argument(
        "--provider", default=None, help="auto (TensorRT > CUDA > CPU), tensorrt, cuda or cpu"
    )
    p.add_argument(
        "--threshold", type=float, default=None, help="alarm threshold 0..1 (default: card's)"
    )
    p.add_argument("--tile", choices=("auto", "off"), default="auto", help="tile large scans")
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="detector workers (threads or Ray; default: 2 on a CPU with 2+ cores, else 1)",
    )
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads per detector (default: CPUs/workers)"
    )
    p.add_argument(
        "--outputs",
        default="coco,overlay,tdr,dx",
        help="comma list of extra outputs: coco, overlay, tdr, dx ('' for results.jsonl only)",
    )
    p.add_argument(
        "--count",
        type=int,
        default=None,
        help="at most N scans from each URI source (default: all it gives; sim://...&count=N)",
    )
    p.add_argument(
        "--tdr-candidates",
        action="store_true",
        help="also write flags below the threshold into the machine TDRs (as NO_THREAT PTOs)",
    )
    p.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    p.add_argument("--engine", choices=("local", "ray"), default="local")
    p.add_argument("--address", default=None, help="Ray cluster address (default: local Ray)")
    p.add_argument(
        "--anomaly",
        default=None,
        metavar="MODEL",
        help="also run this anomaly map (anomaly fit): scan score and regions in results.jsonl, "
        "regions no threat flag points at become 'anomaly' flags and TDR PTOs (local engine)",
    )


def _outputs(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from backscatter.inference.detector import Detector, TileOptions
    from backscatter.inference.pipeline import Item

    outputs = _outputs(args.outputs)
    if args.workers is None:
        from backscatter.inference.providers import default_workers

        args.workers = default_workers(args.provider) if args.engine == "local" else 1
    if args.workers < 1:
        raise ValueError(f"--workers: expected >= 1, got {args.workers}")
    tile = TileOptions(mode=args.tile)
    if args.threads is None and args.workers > 1 and args.engine == "local":
        from backscatter.inference.providers import cpu_count

        args.threads = max(1, cpu_count() // args.workers)  # share the CPUs, do not oversubscribe
    bars: list[tqdm[Any]] = []

    def on_skip(exc: Exception) -> None:
        line = f"backscatter detect: {exc} (skipped)"
        if bars:
            bars[0].write(line, file=sys.stderr)
        else:
            print(line, file=sys.stderr)

    def on_item(item: Item) -> None:
        if not bars:  # created on the first result, after the model and any logging
            bars.append(tqdm(unit="scan", desc="detect", disable=None))
        if item.error is not None:
            bars[0].write(f"backscatter detect: {item.error}", file=sys.stderr)
        bars[0].update(1)

    try:
        anomaly = None
        if args.anomaly is not None:
            if args.engine == "ray":
                raise ValueError("--anomaly: runs with the local engine only, not --engine ray")
            from backscatter.inference.anomaly import AnomalyModel, find_anomaly_model

            anomaly = AnomalyModel.load(find_anomaly_model(args.anomaly), threads=args.threads)
        if args.engine == "ray":
            from backscatter.inference.ray_engine import screen_ray

            summary, info = screen_ray(
                args.inputs,
                args.out,
                model=args.model,
                provider=args.provider,
                threshold=args.threshold,
                outputs=outputs,
                workers=args.workers,
                threads=args.threads,
                tile=tile,
                per_uri=args.count,
                address=args.address,
                on_item=on_item,
                tdr_candidates=args.tdr_candidates,
            )
        else:
            from backscatter.inference.screening import check_inputs, screen

            check_inputs(args.inputs)  # a mistyped folder: one line, no output folder created
            det = Detector.load(args.model, args.provider, threads=args.threads, tile=tile)
            info = det.describe()
            if not args.json:
                print(
                    f"backscatter detect: model {det.model_id} on {det.provider}",
                    file=sys.stderr,
                )
            summary = screen(
                args.inputs,
                args.out,
                detector=det,
                threshold=args.threshold,
                outputs=outputs,
                workers=args.workers,
                per_uri=args.count,
                on_item=on_item,
                tdr_candidates=args.tdr_candidates,
                on_skip=on_skip,
                anomaly=anomaly,
            )
            if anomaly is not None:
                info.update(anomaly.describe())
    finally:
        for bar in bars:
            bar.close()
    for kind, why in summary.unavailable.items():
        print(f"backscatter detect: {kind} outputs skipped: {why}", file=sys.stderr)
    report: dict[str, Any] = {
        **info,
        "engine": args.engine,
        "out": str(args.out),
        "done": summary.done,
        "failed": summary.failed,
        "skipped": summary.skipped,
        "not_images": len(summary.not_images),
        "wall_s": round(summary.wall_s, 3),
        "scans_per_s": round(summary.done / summary.wall_s, 2) if summary.wall_s else 0.0,
        "stage_ms": {k: round(v, 1) for k, v in summary.stage_ms.items()},
        "failures": summary.failures,
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(
            f"backscatter detect: {summary.done} screened, {summary.failed} failed, "
            f"{summary.skipped} already done, {len(summary.not_images)} skipped (not a 2-D "
            f"image) -> {args.out}/results.jsonl "
            f"({report['scans_per_s']} scans/s)",
            file=sys.stderr,
        )
    return 2 if summary.failed else 0
