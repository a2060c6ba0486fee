"""``backscatter broadcast``: stream a source's live annotated view as MJPEG over HTTP."""

from __future__ import annotations

import argparse
import sys
import time

HELP = "stream the live annotated view of a source (MJPEG over HTTP) for remote trainees"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("source", metavar="SOURCE", help="live URI (sim://handheld?...) or scan file")
    p.add_argument("--port", type=int, default=8765, metavar="P", help="TCP port (0: any free)")
    p.add_argument(
        "--bind", default="127.0.0.1", metavar="ADDR", help="address to listen on (loopback)"
    )
    p.add_argument("--model", default=None, help="ONNX model or card (default: shipped)")
    p.add_argument("--no-detect", action="store_true", help="show the scan without detections")
    p.add_argument("--fps", type=float, default=10.0, help="frames per second at most")
    p.add_argument("--size", default="960x600", metavar="WxH", help="frame size in pixels")
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")


def run(args: argparse.Namespace) -> int:
    from backscatter.cli.view import _size
    from backscatter.viewer.broadcast import Broadcaster

    detector = None
    if not args.no_detect:
        try:
            from backscatter.inference.detector import Detector

            detector = Detector.load(args.model)
        except (ImportError, ValueError, OSError) as exc:
            print(f"backscatter broadcast: no detections: {exc}", file=sys.stderr)
    caster = Broadcaster(
        args.source,
        host=args.bind,
        port=args.port,
        detector=detector,
        fps=args.fps,
        size=_size(args.size),
    )
    caster.start()
    print(f"broadcasting {args.source} at {caster.url}", flush=True)
    try:
        start = time.monotonic()
        while args.seconds is None or time.monotonic() - start < args.seconds:
            time.sleep(0.2)
            if caster.error:
                print(f"backscatter broadcast: source: {caster.error}", file=sys.stderr)
                caster.error = ""
    finally:
        caster.stop()
    return 0
