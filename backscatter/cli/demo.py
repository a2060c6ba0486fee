"""``backscatter demo``: the main job of ``make run``.

Simulated hand-held device -> shipped detector -> results JSONL, overlay PNGs, DICOS TDR + DX;
then, with a display, the officer's viewer on the results. Any part that is not there yet is
named in one line and the rest still runs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

HELP = "simulated device -> detector -> results, overlays and TDRs (and the viewer if a display)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="demo-out", help="output folder (default demo-out)")
    p.add_argument("--count", type=int, default=8, help="simulated scans (default 8)")
    p.add_argument("--seed", type=int, default=0, help="simulator seed (default 0)")
    p.add_argument("--profile", default="handheld", help="simulated device: handheld or van")
    p.add_argument("--model", default=None, help="ONNX model or card (default: shipped)")
    p.add_argument("--provider", default=None, help="auto, tensorrt, cuda or cpu")
    show = p.add_mutually_exclusive_group()
    show.add_argument(
        "--show",
        dest="show",
        action="store_true",
        default=None,
        help="open the viewer on the results (default when $DISPLAY is set)",
    )
    show.add_argument("--no-show", dest="show", action="store_false", help="never open a window")


def _say(text: str) -> None:
    print(f"backscatter demo: {text}", file=sys.stderr, flush=True)


def _sim_uri(args: argparse.Namespace) -> str:
    return f"sim://{args.profile}?seed={args.seed}&count={args.count}&realtime=0"


def _load_detector(args: argparse.Namespace) -> Any:
    from backscatter.inference.detector import Detector

    try:
        return Detector.load(args.model, args.provider)
    except (ValueError, OSError) as exc:
        _say(f"no detector ({exc}); writing the simulated scans without detections")
        return None


def _scans_only(uri: str, out: Path, count: int) -> int:
    """No model yet: simulated scans -> DICOS DX + plain overlay PNGs, whatever exists."""
    from backscatter.inference.screening import iter_uri
    from backscatter.inference.sinks import OutputWriter, safe_name

    writer = OutputWriter(out, ("overlay", "dx"), model_id="none")
    for kind, why in writer.unavailable.items():
        _say(f"{kind} outputs skipped: {why}")
    from backscatter.detections import Detections

    n = 0
    for item in iter_uri(uri, lambda _s: False, count, None):
        if item.error is not None or item.scan is None:
            _say(str(item.error))
            return 2
        writer.write(
            item.scan, Detections.empty(), name=safe_name(item.scan.scan_id), threshold=1.0
        )
        n += 1
    _say(f"{n} simulated scans written to {out} (no detections: no model)")
    return 0


def _demo_key(out: Path) -> Path | None:
    """The configured audit key, else a demo key made in OUT (it signs the demo's rows, but a
    key beside its log protects nothing: a station uses `backscatter audit keygen`)."""
    from backscatter.audit.keys import keygen, load_config

    if load_config().key is not None:
        return None
    key = out / "demo-audit.key"
    if not key.exists():
        keygen(key)
        _say(f"made a demo audit key {key} (for a station: `backscatter audit keygen`, README)")
    return key


def _show(out: Path) -> None:
    try:
        from backscatter.cli import view
    except ImportError as exc:
        _say(f"viewer not available ({exc}); results are in {out}")
        return
    p = argparse.ArgumentParser(prog="backscatter view")
    view.add_arguments(p)
    argv = [str(out), "--operator", "demo", "--audit", str(out / "audit.db")]
    key = _demo_key(out)
    if key is not None:
        argv += ["--audit-key", str(key)]
    vargs = p.parse_args(argv)
    vargs.debug = False
    _say("opening the viewer on the results (q quits)")
    view.run(vargs)


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        raise ValueError(f"--count: expected >= 1, got {args.count}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    uri = _sim_uri(args)
    show = args.show if args.show is not None else bool(os.environ.get("DISPLAY"))
    try:
        from backscatter.acquisition.sources import open_source

        open_source(uri).close()
    except (ImportError, ValueError, OSError) as exc:
        _say(f"simulated device not available ({exc}); nothing to screen")
        return 1
    det = _load_detector(args)
    code = _scans_only(uri, out, args.count) if det is None else _screen(det, uri, out, args.count)
    if show and code == 0:
        from backscatter.viewer.display import display_problem

        problem = display_problem()
        if problem:
            _say(f"no viewer window: {problem}; the results are on disk in {out}")
        else:
            _show(out)
    return code


def _screen(det: Any, uri: str, out: Path, count: int) -> int:
    from backscatter.inference.pipeline import Item
    from backscatter.inference.screening import screen

    _say(f"{uri} -> model {det.model_id} on {det.provider} -> {out}")
    t0 = time.perf_counter()
    alarms = 0

    def on_item(item: Item) -> None:
        nonlocal alarms
        if item.error is not None:
            _say(f"failed: {item.error}")
            return
        rec = item.record or {}
        flags = [
            f"{d['class_name']} {d['score']:.2f}"
            + "".join(f" ({k} {v:.2f})" for k, v in list(d.get("alternatives", {}).items())[:1])
            for d in rec.get("flags", [])
        ]
        alarms += rec.get("alarm") == "ALARM"
        _say(f"{rec.get('scan_id')}: {rec.get('alarm')} {', '.join(flags)}".rstrip())

    summary = screen([uri], out, detector=det, per_uri=count, on_item=on_item)
    for kind, why in summary.unavailable.items():
        _say(f"{kind} outputs skipped: {why}")
    wall = time.perf_counter() - t0
    _say(
        f"{summary.done} scans ({summary.skipped} already done), {alarms} alarms, "
        f"{summary.failed} failed in {wall:.1f} s -> {out / 'results.jsonl'}"
    )
    return 2 if summary.failed else 0
