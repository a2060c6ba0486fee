"""``backscatter serve``: receive DICOS/DICOM images over the network, detect, store TDRs."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

HELP = "DICOM C-STORE/C-ECHO receiver: store DICOS/DX/CR/SC images, detect, write TDRs"

EPILOG = """\
Time-outs are enforced on each connection and logged with the peer's address when they fire.
Peers: storescu -aec BACKSCATTER -R HOST PORT FILES... proposes the files' own SOP classes
(DICOS included); storescu -xf CONFIG Backscatter ... uses the profile --storescu-config writes.
"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.epilog = EPILOG
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.add_argument("--port", type=int, default=11112, help="TCP port (default 11112; 0 = any)")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="bind address (default 127.0.0.1, this machine only; 0.0.0.0 = all interfaces, "
        "which warns on start unless --allow is given)",
    )
    p.add_argument("--out", default=None, help="folder received files and TDRs go to (required)")
    p.add_argument("--ae-title", default="BACKSCATTER", help="our AE title (default BACKSCATTER)")
    p.add_argument(
        "--allow", nargs="+", default=None, metavar="AE", help="calling AE titles accepted"
    )
    p.add_argument(
        "--accept-any-called-ae",
        action="store_true",
        help="accept associations whatever called AE title they name (default: ours only)",
    )
    p.add_argument(
        "--forward",
        default=None,
        metavar="HOST:PORT:AE",
        help="copy images and TDRs there through a durable queue in OUT/.forward "
        "(retried with back-off, kept across restarts)",
    )
    p.add_argument(
        "--status",
        action="store_true",
        help="print the forward backlog of --out and exit",
    )
    p.add_argument(
        "--storescu-config",
        default=None,
        metavar="PATH",
        help="write a dcmtk storescu profile proposing every class we accept, then exit",
    )
    group = p.add_mutually_exclusive_group()
    group.add_argument("--model", default=None, help="ONNX model or card (default: shipped)")
    group.add_argument("--no-detect", action="store_true", help="store only, no detector/TDRs")
    p.add_argument("--provider", default=None, help="auto, tensorrt, cuda or cpu")
    p.add_argument("--threshold", type=float, default=None, help="alarm threshold (card's)")
    p.add_argument(
        "--max-dataset-mb",
        type=float,
        default=256.0,
        help="refuse larger data sets, as sent and as decoded (Deflate, pixels) (MiB; 256)",
    )
    p.add_argument("--tls-cert", default=None, help="PEM certificate: serve over TLS")
    p.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    p.add_argument(
        "--tls-ca",
        default=None,
        metavar="PEM",
        help="require client certificates signed by these CAs (off by default)",
    )
    t = p.add_argument_group("time-outs (seconds, per connection)")
    t.add_argument(
        "--handshake-timeout",
        type=float,
        default=10.0,
        help="TCP accept to a complete association request, TLS handshake included (10)",
    )
    t.add_argument(
        "--pdu-timeout",
        type=float,
        default=10.0,
        help="first to last byte of one PDU; also a peer that stops reading (10)",
    )
    t.add_argument(
        "--idle-timeout",
        type=float,
        default=60.0,
        help="an association with nothing received is aborted (60)",
    )
    t.add_argument(
        "--dimse-timeout",
        type=float,
        default=120.0,
        help="one DIMSE message, command and data set, from first to last fragment (120)",
    )


def _quiet_dependencies(debug: bool) -> None:
    import warnings

    if not debug:  # peers' files are often slightly off: our server logs one line per event
        logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
        logging.getLogger("pydicom").setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="pydicom")


def _tls_context(args: argparse.Namespace) -> Any:
    import ssl

    if (args.tls_cert is None) != (args.tls_key is None):
        raise ValueError("--tls-cert and --tls-key: expected both or neither")
    if args.tls_ca and not args.tls_cert:
        raise ValueError("--tls-ca: expected --tls-cert and --tls-key too")
    if not args.tls_cert:
        return None
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(args.tls_cert, args.tls_key)
    if args.tls_ca:
        ctx.load_verify_locations(cafile=args.tls_ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
    return ctx


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    if args.storescu_config:
        from backscatter.dicos.peers import PROFILE, write_storescu_config

        path = write_storescu_config(args.storescu_config)
        print(f"wrote {path}: storescu -aec {args.ae_title} -xf {path} {PROFILE} HOST PORT FILES")
        return 0
    if args.out is None:
        raise ValueError("--out: expected the folder received files go to")
    if args.status:
        from backscatter.dicos.forwarding import backlog

        print(backlog(args.out).line())
        return 0

    from backscatter.dicos.guard import Timeouts
    from backscatter.dicos.received import ForwardTarget
    from backscatter.dicos.server import DicosServer, ServerConfig

    _quiet_dependencies(bool(getattr(args, "debug", False)))
    if not 0 <= args.port < 65536:
        raise ValueError(f"--port: expected 0..65535, got {args.port}")
    if args.allow is not None and any(len(a) > 16 or not a.strip() for a in args.allow):
        raise ValueError(f"--allow: expected AE titles of 1..16 characters, got {args.allow}")
    timeouts = Timeouts(
        handshake_s=args.handshake_timeout,
        pdu_s=args.pdu_timeout,
        idle_s=args.idle_timeout,
        dimse_s=args.dimse_timeout,
    )
    config = ServerConfig(
        out_dir=Path(args.out),
        port=args.port,
        host=args.host,
        ae_title=args.ae_title,
        allow=frozenset(args.allow) if args.allow else None,
        accept_any_called_ae=args.accept_any_called_ae,
        forward=ForwardTarget.parse(args.forward) if args.forward else None,
        max_dataset_bytes=int(args.max_dataset_mb * 1024 * 1024),
        timeouts=timeouts,
        ssl_context=_tls_context(args),
    )
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
