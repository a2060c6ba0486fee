"""``backscatter eval --model MODEL --data COCO.json --out REPORT_DIR``: evaluate a detector."""

from __future__ import annotations

import argparse

HELP = "evaluate an ONNX model or a training checkpoint on a COCO split (report.json + plots)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="MODEL.onnx or a training checkpoint")
    parser.add_argument("--data", required=True, help="COCO detection json")
    parser.add_argument("--out", required=True, help="report directory")
    parser.add_argument("--image-root", help="image folder (default: the json's folder)")
    parser.add_argument(
        "--bits-stored", type=int, help="bits stored when neither COCO entry nor file says"
    )
    parser.add_argument("--min-score", type=float, default=0.01, help="lowest score kept")
    parser.add_argument("--no-progress", action="store_true")


def run(args: argparse.Namespace) -> int:
    from backscatter.training.report import evaluate_model

    r = evaluate_model(
        args.model,
        args.data,
        args.out,
        image_root=args.image_root,
        bits_stored=args.bits_stored,
        min_score=args.min_score,
        progress=not args.no_progress,
    )
    pd = r["pd_at_fapi"]
    auroc = r["image_auroc"]
    print(
        f"map50 {r['map50']:.4f}  map {r['map']:.4f}  Pd@0.1FA {pd['0.1']:.4f}  "
        f"Pd@0.3FA {pd['0.3']:.4f}  Pd@1FA {pd['1.0']:.4f}  image AUROC "
        f"{'n/a' if auroc is None else f'{auroc:.4f}'}  ({r['n_images']} images) -> {args.out}"
    )
    return 0
