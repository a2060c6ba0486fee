"""``backscatter anomaly``: fit an anomaly map on clean scans, evaluate it on a labelled split."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "fit (clean scans only) and evaluate the anomaly map that flags what no class describes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    f = sub.add_parser(
        "fit", help="fit on clean scans (folders, files or COCO json: its clean images)"
    )
    f.add_argument(
        "clean", nargs="+", metavar="CLEAN", help="folders/files of clean scans or COCO json"
    )
    f.add_argument("--out", required=True, help="ONNX file to write, e.g. models/door-anomaly.onnx")
    f.add_argument("--components", type=int, default=12, help="mixture components (12)")
    f.add_argument("--cells", type=int, default=400, help="feature cells sampled per scan (400)")
    f.add_argument("--max-scans", type=int, default=None, help="use at most N clean scans")
    f.add_argument("--family", default=None, help="only COCO images of this scene family")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads (2)")
    f.add_argument("--quiet", action="store_true", help="no progress bar")
    e = sub.add_parser(
        "eval", help="image AUROC, pixel AUPRO, Pd beside the detector (report.json)"
    )
    e.add_argument("--model", required=True, help="anomaly ONNX model or its card")
    e.add_argument("--data", required=True, help="COCO json (e.g. from synth --novel)")
    e.add_argument("--out", required=True, help="output folder (report.json, roc.png, examples/)")
    e.add_argument(
        "--detector",
        default=None,
        help="detector model for the combined Pd (default: the shipped one; 'none' to skip)",
    )
    e.add_argument("--limit", type=int, default=None, help="first N images only")
    e.add_argument("--family", default=None, help="only images of this scene family")
    e.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads per model (2)")
    e.add_argument(
        "--update-card",
        action="store_true",
        help="write the metrics and the region threshold at 0.3 false alarms/image into the card",
    )
    e.add_argument("--quiet", action="store_true", help="no progress bar")


def _fit(args: argparse.Namespace) -> int:
    from backscatter.training.anomaly_fit import FitOptions, fit

    opts = FitOptions(
        components=args.components,
        cells_per_scan=args.cells,
        seed=args.seed,
        max_scans=args.max_scans,
        threads=args.threads,
        family=args.family,
    )
    card = fit(args.clean, args.out, options=opts, progress=not args.quiet)
    fitted = card["fitted_on"]
    print(
        f"backscatter anomaly: fitted {args.out} on {fitted['n_scans']} clean scans "
        f"({fitted['n_holdout']} held out for calibration) in {fitted['seconds']['total']} s; "
        f"sha256 {card['sha256'][:16]}...",
        file=sys.stderr,
    )
    for line in fitted["skipped"]:
        print(f"backscatter anomaly: skipped {line}", file=sys.stderr)
    return 0


def _eval(args: argparse.Namespace) -> int:
    from backscatter.inference.anomaly import AnomalyModel
    from backscatter.training.anomaly_eval import evaluate, write_outputs

    model = AnomalyModel.load(args.model, threads=args.threads)
    detector = None
    if (args.detector or "").lower() != "none":
        from backscatter.inference.detector import Detector

        detector = Detector.load(args.detector, threads=args.threads)
    report, extra = evaluate(model, args.data, detector=detector, limit=args.limit,
                             family=args.family, progress=not args.quiet)  # fmt: skip
    path = write_outputs(report, extra, args.out)
    if args.update_card:
        _update_card(model, report)
    brief = {k: report[k] for k in ("image_auroc", "pixel_aupro", "image_auroc_min_family",
                                    "pixel_aupro_min_family", "pd_novel_at_0.3_fapi",
                                    "region_threshold_at_0.3_fapi")}  # fmt: skip
    print(json.dumps(brief))
    print(f"backscatter anomaly: report -> {path}", file=sys.stderr)
    return 0


def _update_card(model: object, report: dict[str, object]) -> None:
    from backscatter.inference.anomaly import AnomalyModel
    from backscatter.training.anomaly_fit import save_card

    assert isinstance(model, AnomalyModel)
    card = dict(model.card.raw)
    keep = (
        *("data", "detector", "n_images", "n_clean", "image_auroc", "pixel_aupro"),
        *("per_family", "per_kind", "pd_novel_at_0.3_fapi", "operating_point", "detector_only"),
    )
    card["metrics"] = {k: report.get(k) for k in keep}
    thr = report.get("region_threshold_at_0.3_fapi")
    if isinstance(thr, int | float):
        card["region_threshold"] = float(thr)
    save_card(model.card.onnx_path, card)


def run(args: argparse.Namespace) -> int:
    from backscatter.inference.models import ModelError
    from backscatter.training.anomaly_eval import AnomalyEvalError
    from backscatter.training.anomaly_fit import AnomalyFitError

    try:
        return _fit(args) if args.action == "fit" else _eval(args)
    except (AnomalyFitError, AnomalyEvalError, ModelError, OSError) as exc:
        print(f"backscatter anomaly {args.action}: {exc}", file=sys.stderr)
        return 2
