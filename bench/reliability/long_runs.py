"""Long runs: simulated scans through ``backscatter detect`` and images through
``backscatter serve``, with the child's peak RSS (VmHWM) after the first MARK and at the end.

    .venv/bin/python -m bench.reliability.long_runs [--scans 10000] [--images 2000] [--mark 500]

Uses the tiny blob ONNX model (tests/inference/blob_model.py; a real ONNX Runtime session) so
the figures are about the pipeline and the receiver, not the network. Scans are 64 x 64 (sim
``size``); images 64 x 64 uint16 DICOS DX, 100 per association, each detected and given a TDR.
Prints done/lost and the memory growth; exit status 1 if anything was lost or the end peak is
more than 10 % above the peak after MARK.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tests"))

from inference.blob_model import write_blob_model

from tests.reliability.harness.longrun import LongRun, pipeline_run, receiver_run


def _series(run: LongRun) -> str:
    pts = run.rss_series[:: max(1, len(run.rss_series) // 8)]
    return ", ".join(f"{done}: {rss / 1024:.0f}" for done, rss in pts)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scans", type=int, default=10_000)
    p.add_argument("--images", type=int, default=2_000)
    p.add_argument("--mark", type=int, default=500)
    p.add_argument("--limit", type=float, default=0.10, help="allowed peak RSS growth")
    args = p.parse_args(argv)
    bad = False
    with tempfile.TemporaryDirectory(prefix="longrun-") as tmp:
        model = write_blob_model(Path(tmp) / "model", "blob")
        for what, n, job in (
            ("pipeline", args.scans, lambda: pipeline_run(model, Path(tmp) / "p", args.scans,
                                                          mark=args.mark)),
            ("receiver", args.images, lambda: receiver_run(Path(tmp) / "r" / "in", args.images,
                                                           mark=args.mark, model=model)),
        ):  # fmt: skip
            if n <= 0:
                continue
            (Path(tmp) / "r").mkdir(exist_ok=True)
            run = job()
            print(run.summary(what))
            print(f"  RSS MiB by items done: {_series(run)}", flush=True)
            bad |= run.lost > 0 or run.growth > args.limit
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
