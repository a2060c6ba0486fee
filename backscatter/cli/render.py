"""``backscatter render``: draw a scan with its detections to a PNG, headless."""

from __future__ import annotations

import argparse
import sys
from typing import Any

HELP = "render a scan (with detections from a results file) to a PNG"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from backscatter.viewer.state import COLORMAPS

    p.add_argument("scan", metavar="SCAN", help="scan file (any format `info` reads)")
    p.add_argument("--out", required=True, metavar="PNG", help="output image")
    p.add_argument(
        "--results",
        metavar="R",
        help="results.jsonl (or its folder) from `detect`; the record of this scan is drawn",
    )
    p.add_argument("--threshold", type=float, default=None, help="draw flags >= this (0..1)")
    p.add_argument(
        "--window", type=float, nargs=2, metavar=("CENTER", "WIDTH"), help="stored-value window"
    )
    p.add_argument("--gamma", type=float, default=1.0)
    p.add_argument("--negative", action="store_true")
    p.add_argument("--clahe", action="store_true", help="local contrast")
    p.add_argument("--edge", action="store_true", help="edge enhancement")
    p.add_argument("--colormap", choices=COLORMAPS, default="gray")
    p.add_argument("--no-overlays", action="store_true")
    p.add_argument("--status", action="store_true", help="add the status bar")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2

    from backscatter.acquisition.open import open_scan
    from backscatter.inference.flags import record_flags
    from backscatter.viewer.render import render
    from backscatter.viewer.review import RESULTS_NAME
    from backscatter.viewer.state import StatusInfo, ViewState

    scan = open_scan(args.scan)
    dets, threshold, status = None, 0.5, None
    record = None
    if args.results:
        path = Path(args.results)
        path = path / RESULTS_NAME if path.is_dir() else path
        if not path.is_file():
            print(
                f"backscatter render: {args.results}: no results file there (expected the "
                "results.jsonl of `backscatter detect`, or its folder)",
                file=sys.stderr,
            )
            return 2
        record = find_record(path, args.scan, scan.scan_id, scan.source_sha256)
        if record is None:
            print(f"backscatter render: {path}: no record for {args.scan}", file=sys.stderr)
            return 1
        dets = record_flags(record)
        threshold = float(record.get("threshold", 0.5))
    if args.threshold is not None:
        threshold = args.threshold
    state = ViewState(
        window=tuple(args.window) if args.window else None,
        gamma=args.gamma,
        negative=args.negative,
        clahe=args.clahe,
        edge=args.edge,
        colormap=args.colormap,
        threshold=threshold,
        overlays=not args.no_overlays,
    )
    if args.status:
        status = StatusInfo(
            scan_id=scan.scan_id,
            model=str(record.get("model_id", "")) if record else "",
            provider=str(record.get("provider", "")) if record else "",
            alarm=str(record.get("alarm", "")) if record else "",
        )
    image = render(scan, dets, state, status=status)
    ok, buf = cv2.imencode(".png", image)
    if not ok:
        raise OSError(f"{args.out}: PNG encoding failed")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_bytes(buf.tobytes())
    n = len(dets.above(threshold)) if dets is not None else 0
    print(f"{args.out}: {scan.cols}x{scan.rows}, {n} flags drawn")
    return 0


def find_record(
    path: object, source: str, scan_id: str, sha256: str | None
) -> dict[str, Any] | None:
    """The results record whose source hash, source path or scan id matches (in that order)."""
    import json
    from pathlib import Path

    records = []
    for line in Path(str(path)).read_text(encoding="utf-8").splitlines():
        try:
            records.append(json.loads(line))
        except ValueError:
            continue
    for key, want in (("source_sha256", sha256), ("source", source), ("scan_id", scan_id)):
        if want is None:
            continue
        for rec in records:
            if rec.get(key) == want or (
                key == "source" and Path(str(rec.get(key))).resolve() == Path(want).resolve()
            ):
                return dict(rec)
    return None
