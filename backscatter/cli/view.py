"""``backscatter view``: the officer's review window over files, results or a live source."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

HELP = "review scans in a window: decide CLEAR / ALARM / INSPECT, every decision audited"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "sources",
        nargs="+",
        metavar="SOURCE",
        help="scan file, folder, `detect` results folder, or live URI (sim://..., dicom://:11112)",
    )
    p.add_argument("--operator", required=True, metavar="ID", help="the signed-in officer's id")
    p.add_argument(
        "--audit",
        default=None,
        metavar="DB",
        help="audit log (SQLite; default: audit.db in the reviewed folder, OUT/audit.db for a "
        "`detect` results folder, ./audit.db for a live source only)",
    )
    p.add_argument(
        "--audit-key",
        metavar="KEY",
        help="signing key (default: `key:` of /etc/backscatter/audit.yaml or "
        "$BACKSCATTER_AUDIT_CONFIG; make one with `backscatter audit keygen`)",
    )
    p.add_argument("--audit-config", metavar="YAML", help="audit config file (key, witness)")
    p.add_argument(
        "--tdr-dir", metavar="DIR", help="operator TDRs (default: operator_tdr/ beside the DB)"
    )
    p.add_argument("--no-tdr", action="store_true", help="write no operator TDRs")
    p.add_argument("--model", default=None, help="ONNX model or card (default: shipped)")
    p.add_argument("--provider", default=None, help="auto, tensorrt, cuda or cpu")
    p.add_argument("--no-detect", action="store_true", help="run no detector on raw scans")
    p.add_argument("--threshold", type=float, default=None, help="flags shown from this score")
    p.add_argument("--size", default="1280x760", metavar="WxH", help="window size in pixels")
    p.add_argument(
        "--anomaly",
        default=None,
        metavar="MODEL",
        help="also run this anomaly map on raw scans (key k blends its heat map on and off)",
    )


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ValueError(f"--size: expected WIDTHxHEIGHT such as 1280x760, got {text!r}") from None
    if w < 200 or h < 150:
        raise ValueError(f"--size: expected at least 200x150, got {text!r}")
    return (h, w)


def _detector(args: argparse.Namespace) -> tuple[object | None, str]:
    if args.no_detect:
        return None, "detection off (--no-detect)"
    try:
        from backscatter.inference.detector import Detector

        det = Detector.load(args.model, args.provider)
    except (ImportError, ValueError, OSError) as exc:
        log.warning("no detector: %s", exc)
        return None, "detection off (no model)"
    return det, ""


def default_audit(sources: list[str]) -> Path:
    """``audit.db`` in the first reviewed folder (a file's folder); ./audit.db for live only."""
    for src in sources:
        p = Path(src)
        if p.is_dir():
            return p / "audit.db"
        if p.is_file():
            return p.parent / "audit.db"
    return Path("audit.db")


def run(args: argparse.Namespace) -> int:
    from backscatter.audit import AuditLog, load_config
    from backscatter.audit.keys import signing_key
    from backscatter.viewer.display import display_problem
    from backscatter.viewer.review import ReviewSession, expand_sources
    from backscatter.viewer.state import ViewState
    from backscatter.viewer.window import Viewer

    size = _size(args.size)
    items, live = expand_sources(args.sources)
    if not items and not live:
        print("backscatter view: no scans found in the given sources", file=sys.stderr)
        return 1
    problem = display_problem()
    if problem:  # before any window: Qt would abort the process with its own message
        print(f"backscatter view: cannot open a window: {problem}", file=sys.stderr)
        return 2
    config = load_config(args.audit_config)
    key = signing_key(args.audit_key, config=config)
    needs_detector = any(it.detections is None for it in items) or bool(live)
    detector, note = _detector(args) if needs_detector else (None, "")
    if args.anomaly is not None and needs_detector:
        from backscatter.inference.anomaly import AnomalyModel, find_anomaly_model
        from backscatter.inference.anomaly_flags import WithAnomaly

        anomaly = AnomalyModel.load(find_anomaly_model(args.anomaly), provider=args.provider)
        detector = WithAnomaly(detector, anomaly)
    audit_path = Path(args.audit) if args.audit else default_audit(args.sources)
    tdr_dir = None if args.no_tdr else Path(args.tdr_dir or audit_path.parent / "operator_tdr")
    state = ViewState()
    if args.threshold is not None:
        state.threshold = args.threshold
    elif items and items[0].detections is not None:
        state.threshold = items[0].threshold
    elif detector is not None:
        state.threshold = float(getattr(detector, "threshold", 0.5))
    with AuditLog(audit_path, key=key, witness=config.witness or True) as audit:
        session = ReviewSession(
            items,
            operator=args.operator,
            audit=audit,
            tdr_dir=tdr_dir,
            detector=detector,  # type: ignore[arg-type]
            detector_note=note,
        )
        Viewer(session, size=size, live=live, state=state).run()
        print(
            f"{session.decided} of {len(session.items)} scans decided by {session.operator}; "
            f"audit log {audit_path}"
        )
    return 0
