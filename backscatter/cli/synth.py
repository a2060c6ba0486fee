"""``backscatter synth``: build a simulated backscatter dataset (images, COCO json, masks)."""

from __future__ import annotations

import argparse
import sys

HELP = "simulate backscatter scans with labelled threats (COCO dataset)"


def _size(text: str) -> tuple[int, int]:
    parts = text.lower().split("x")
    try:
        rows, cols = (int(parts[0]), int(parts[1])) if len(parts) == 2 else (int(text), int(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected ROWSxCOLS such as 512x512, got {text!r}"
        ) from None
    return rows, cols


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from backscatter.synth.physics import PROFILES

    parser.add_argument("--scenes", type=int, required=True, help="number of scans to simulate")
    parser.add_argument("--out", required=True, help="output directory")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument("--size", type=_size, default=(512, 512), help="ROWSxCOLS (512x512)")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="handheld")
    parser.add_argument(
        "--clean-fraction", type=float, default=0.2, help="share of scans with no threat (0.2)"
    )
    parser.add_argument("--format", choices=["png16", "dicos"], default="png16", dest="fmt")
    parser.add_argument("--workers", type=int, default=None, help="processes (default: CPUs)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from backscatter.synth.dataset import build_dataset

    manifest = build_dataset(
        args.out,
        scenes=args.scenes,
        seed=args.seed,
        size=args.size,
        profile=args.profile,
        clean_fraction=args.clean_fraction,
        fmt=args.fmt,
        workers=args.workers,
        progress=not args.quiet,
    )
    print(manifest, file=sys.stdout)
    return 0
