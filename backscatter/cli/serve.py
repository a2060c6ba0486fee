"""``backscatter serve``: receive DICOS/DICOM images over the network, detect, store TDRs."""

from __future__ import annotations

import argparse
import logging
import sys

HELP = "DICOM C-STORE/C-ECHO receiver: store DICOS/DX/CR/SC images, detect, write TDRs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--port", type=int, default=11112, help="TCP port (default 11112; 0 = any)")
    p.add_argument("--host", default="0.0.0.0", help="bind address (default all interfaces)")
    p.add_argument("--out", required=True, help="folder received files and TDRs go to")
    p.add_argument("--ae-title", default="BACKSCATTER", help="our AE title (default BACKSCATTER)")
    p.add_argument(
        "--allow", nargs="+", default=None, metavar="AE", help="calling AE titles accepted"
    )
    p.add_argument("--forward", default=None, metavar="HOST:PORT:AE", help="copy images and TDRs")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--model", default=None, help="ONNX model or card (default: shipped)")
    group.add_argument("--no-detect", action="store_true", help="store only, no detector/TDRs")
    p.add_argument("--provider", default=None, help="auto, tensorrt, cuda or cpu")
    p.add_argument("--threshold", type=float, default=None, help="alarm threshold (card's)")
    p.add_argument(
        "--max-dataset-mb", type=float, default=256.0, help="refuse larger datasets (MiB)"
    )
    p.add_argument("--tls-cert", default=None, help="PEM certificate: serve over TLS")
    p.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")


def _quiet_dependencies(debug: bool) -> None:
    import warnings

    if not debug:  # peers' files are often slightly off: our server logs one line per event
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        logging.getLogger("pydicom").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="pydicom")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from backscatter.dicos.received import ForwardTarget
    from backscatter.dicos.server import DicosServer, ServerConfig

    _quiet_dependencies(bool(getattr(args, "debug", False)))
    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key: expected both or neither")
    if not 0 <= args.port < 65536:
        raise ValueError(f"--port: expected 0..65535, got {args.port}")
    if args.allow is not None and any(len(a) > 16 or not a.strip() for a in args.allow):
        raise ValueError(f"--allow: expected AE titles of 1..16 characters, got {args.allow}")
    config = ServerConfig(
        out_dir=Path(args.out),
        port=args.port,
        host=args.host,
        ae_title=args.ae_title,
        allow=frozenset(args.allow) if args.allow else None,
        forward=ForwardTarget.parse(args.forward) if args.forward else None,
        max_dataset_bytes=int(args.max_dataset_mb * 1024 * 1024),
    )
    if args.tls_cert:
        import ssl

        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        config.ssl_context = ctx
    if not args.no_detect:
        from backscatter.inference.detector import Detector
        from backscatter.inference.models import ModelNotFoundError

        try:
            det = Detector.load(args.model, provider=args.provider)
        except ModelNotFoundError as exc:
            if args.model is not None:
                raise
            print(f"backscatter serve: no detector ({exc}); storing only", file=sys.stderr)
        else:
            from backscatter.inference.flags import flagging

            config.model_id = det.model_id
            config.model_version = det.card.version or ""
            config.model_sha256 = det.card.sha256 or ""
            config.alarm_threshold = args.threshold if args.threshold is not None else det.threshold
            config.detect = flagging(det, threshold=config.alarm_threshold)  # one PTO per flag
            print(f"backscatter serve: detector {det.model_id} on {det.provider}", file=sys.stderr)
    import signal

    def _terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # stop cleanly: finish the file in hand, drain the queue

    signal.signal(signal.SIGTERM, _terminate)
    server = DicosServer(config).start()  # logs "listening on HOST:PORT as AE ..."
    server.serve_forever()
    return 0
