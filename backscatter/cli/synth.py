"""``backscatter synth``: build a simulated backscatter dataset (images, COCO json, masks)."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from backscatter.synth.domain import DomainRanges

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
    parser.add_argument(
        "--domain",
        action="store_true",
        help="domain randomisation: each scene's device (energy, stand-off, dose, gain, offset, "
        "bits stored) and artefacts drawn per scene (docs/physics.md)",
    )
    parser.add_argument(
        "--split",
        choices=["train", "val", "test"],
        help="put every scene in this split (evaluation sets) instead of 80/10/10",
    )
    parser.add_argument(
        "--dose",
        type=float,
        metavar="COUNTS",
        help="with --domain: detected photons per unit signal fixed at COUNTS (a dose sweep)",
    )
    parser.add_argument(
        "--subtypes",
        action="append",
        default=[],
        metavar="CLASS=SUB[,SUB]",
        help="draw only these threat sub-types of CLASS (repeatable), e.g. firearm=revolver",
    )
    parser.add_argument(
        "--novel",
        type=int,
        default=0,
        metavar="N",
        help="also place N novel concealments (cigarettes, gold, ammunition, electronics, drug "
        "packages) in each non-clean scan, as categories 101+ 'novel/KIND' (anomaly test sets; "
        "every other such scan has no threats)",
    )


def _domain(args: argparse.Namespace) -> DomainRanges | bool:
    from backscatter.synth.domain import DomainRanges

    if args.dose is None:
        return bool(args.domain)
    return DomainRanges(counts_per_signal=(args.dose, args.dose))


def _subtypes(items: list[str]) -> dict[str, list[str]] | None:
    from backscatter.classes import THREAT_CLASSES

    out: dict[str, list[str]] = {}
    for item in items:
        name, sep, subs = item.partition("=")
        if not sep or name not in THREAT_CLASSES or not subs:
            raise ValueError(
                f"--subtypes {item!r}: expected CLASS=SUB[,SUB] with CLASS one of "
                f"{list(THREAT_CLASSES)}"
            )
        out.setdefault(name, []).extend(s for s in subs.split(",") if s)
    return out or None


def run(args: argparse.Namespace) -> int:
    from backscatter.synth.dataset import build_dataset

    try:
        subtypes = _subtypes(args.subtypes)
    except ValueError as exc:
        print(f"backscatter synth: {exc}", file=sys.stderr)
        return 2
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
        domain=_domain(args),
        subtypes=subtypes,
        only_split=args.split,
        novel=args.novel,
    )
    print(manifest, file=sys.stdout)
    return 0
