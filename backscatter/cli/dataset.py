"""``backscatter dataset INPUT... --out COCO.json``: a COCO dataset from DICOS images + TDRs."""

from __future__ import annotations

import argparse
import sys

HELP = "make a COCO training/evaluation dataset from DICOS images and their labelling TDRs"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs", nargs="+", metavar="INPUT", help="DICOS image and TDR files or folders"
    )
    parser.add_argument("--out", required=True, help="COCO json to write (file names relative)")
    parser.add_argument(
        "--accept",
        default="ground_truth,operator",
        help="comma list of TDR types used as labels: ground_truth, operator, machine "
        "(default: ground_truth,operator; an operator TDR labels the flags the officer "
        "confirmed and the objects drawn by hand)",
    )
    parser.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=CLASS",
        help="map a class name the TDRs use onto one of the five classes (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from backscatter.dicos.coco import build_coco

    mapping: dict[str, str] = {}
    for item in args.map:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise ValueError(f"--map {item!r}: expected NAME=CLASS")
        mapping[name] = target
    accept = [t.strip() for t in args.accept.split(",") if t.strip()]
    report = build_coco(args.inputs, args.out, accept=accept, class_map=mapping)
    for line in report.errors:
        print(f"backscatter dataset: error: {line}", file=sys.stderr)
    for line in report.notes:
        print(f"backscatter dataset: note: {line}", file=sys.stderr)
    used = ", ".join(f"{n} {k}" for k, n in sorted(report.tdrs_used.items())) or "none"
    skipped = ", ".join(f"{n} {k}" for k, n in sorted(report.tdrs_skipped.items()))
    print(
        f"{report.out}: {report.images} images, {report.objects} objects; TDRs used: {used}"
        + (f"; skipped (type not accepted): {skipped}" if skipped else "")
        + (f"; {len(report.errors)} inputs failed" if report.errors else "")
    )
    if not report.images:
        print("backscatter dataset: error: no labelled image found", file=sys.stderr)
        return 1
    return 1 if report.errors else 0
