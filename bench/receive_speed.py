"""Receive throughput of the DICOS network receiver, fed by dcmtk's storescu (a real peer).

    .venv/bin/python bench/receive_speed.py [--count 100] [--size 512]

Generates COUNT SIZE x SIZE uint16 DICOS DX files, sends them over one association with
``storescu`` to a receiver on a loopback port, and prints images/s from the first byte sent until
every image is stored (and, with a detector, its TDR written). Two runs: store only, and with
the detector hook (the shipped model from models/ when there is one, else a numpy threshold
stand-in, which the output says).
"""

from __future__ import annotations

import argparse
import logging
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from backscatter.detections import Detections
from backscatter.dicos.dx import write_dx
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.scan import Scan


def make_files(folder: Path, count: int, size: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        px = rng.integers(0, 1024, size=(size, size), dtype=np.uint16)
        r, c = rng.integers(0, size - 64, 2)
        px[r : r + 40, c : c + 60] = 4095
        path = folder / f"{i:04d}.dcm"
        write_dx(Scan(pixels=px, bits_stored=12, scan_id=f"bench-{i}"), path)
        paths.append(path)
    return paths


def threshold_stand_in(scan: Scan) -> Detections:
    hot = scan.pixels >= 0.9 * scan.full_scale
    if not hot.any():
        return Detections.empty()
    rows, cols = np.nonzero(hot)
    box = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
    return Detections(boxes=[box], scores=[0.9], labels=[2])


def load_detector(model: str | None) -> tuple[Callable[[Scan], Detections], str]:
    try:
        from backscatter.inference.detector import Detector
        from backscatter.inference.models import default_model_path

        det = Detector.load(model or default_model_path())
    except (OSError, ValueError, ImportError) as exc:
        if model is not None:
            raise
        return threshold_stand_in, f"numpy threshold stand-in: no usable model in models/ ({exc})"
    return det, f"real detector {det.model_id} on {det.provider}"


def run(files: list[Path], out: Path, detect: Callable[[Scan], Detections] | None) -> float:
    cfg = ServerConfig(out_dir=out, port=0, detect=detect, model_id="bench")
    with DicosServer(cfg) as srv:
        started = time.perf_counter()
        res = subprocess.run(
            ["storescu", "-R", "-aec", "BACKSCATTER", "127.0.0.1", str(srv.port)]
            + [str(f) for f in files],
            capture_output=True,
            text=True,
        )
        if res.returncode != 0:
            raise SystemExit(f"storescu failed: {res.stderr[-500:]}")
        if not srv.wait_idle(3600):
            raise SystemExit("receiver did not finish")
        elapsed = time.perf_counter() - started
        stored = len(list(out.glob("DX_*[0-9].dcm")))
        tdrs = len(list(out.glob("*.tdr.dcm")))
    if stored != len(files) or (detect is not None and tdrs != len(files)):
        raise SystemExit(f"expected {len(files)} images (and TDRs), got {stored} / {tdrs}")
    return len(files) / elapsed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=100)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--model", default=None, help="ONNX model (default: the shipped one)")
    args = p.parse_args()
    if shutil.which("storescu") is None:
        print("storescu (dcmtk) is not installed", file=sys.stderr)
        return 1
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    detect, what = load_detector(args.model)
    with tempfile.TemporaryDirectory(prefix="receive-speed-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        files = make_files(root / "src", args.count, args.size)
        plain = run(files, root / "plain", None)
        with_det = run(files, root / "detect", detect)
    print(f"{args.count} DX images of {args.size}x{args.size} uint16 via storescu, one association")
    print(f"store only:      {plain:7.1f} images/s")
    print(f"with detector:   {with_det:7.1f} images/s  ({what})")
    print(f"detector/store:  {with_det / plain:7.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
