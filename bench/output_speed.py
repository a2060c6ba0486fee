"""Output speed: `detect` with every output against results.jsonl only, in one process.

Figures printed, nothing asserted. N simulated 512 x 512 scans are written once as DICOS DX;
then ``screen()`` (what `backscatter detect` runs, default workers) screens them into a fresh
folder with ``--outputs ''`` and with the default outputs (coco, overlay, tdr, dx), alternating
rounds because the machine is shared. Printed: scans/s of each, the ratio all / results-only
(target >= 0.5), the process CPU time per scan of each (its ratio is what the rate ratio tends
to when the CPUs are the limit, and does not depend on what else runs on a shared host), and the
mean milliseconds of each output per scan (from the records' timings).

    .venv/bin/python bench/output_speed.py [--scans 200] [--rounds 2]
"""

from __future__ import annotations

import argparse
import collections
import statistics
import tempfile
import time
from pathlib import Path

from backscatter.inference.detector import Detector
from backscatter.inference.providers import cpu_count, default_workers
from backscatter.inference.screening import screen
from backscatter.inference.sinks import read_results

ALL = ("coco", "overlay", "tdr", "dx")


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pipeline_speed import write_scans

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--scans", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    workers = default_workers(None)
    det = Detector.load(args.model, threads=max(1, cpu_count() // workers))
    rates: dict[str, list[float]] = {"results-only": [], "all outputs": []}
    cpu: dict[str, list[float]] = {"results-only": [], "all outputs": []}
    per_output: dict[str, list[float]] = collections.defaultdict(list)
    with tempfile.TemporaryDirectory(prefix="bs-out-speed-") as tmp:
        scans = Path(tmp) / "scans"
        scans.mkdir()
        write_scans(scans, args.scans, 20, seed=5)
        for r in range(args.rounds):
            for label, outputs in (("results-only", ()), ("all outputs", ALL)):
                out = Path(tmp) / f"out-{r}-{len(outputs)}"
                c0 = time.process_time()
                summary = screen([str(scans)], out, detector=det, outputs=outputs, workers=workers)
                cpu[label].append((time.process_time() - c0) * 1000 / max(summary.done, 1))
                rates[label].append(summary.done / summary.wall_s)
                if outputs:
                    for rec in read_results(out / "results.jsonl"):
                        for kind in ("overlay", "tdr", "dx", "infer"):
                            if kind in rec["timings_ms"]:
                                per_output[kind].append(rec["timings_ms"][kind])
    only, every = (statistics.median(rates[k]) for k in ("results-only", "all outputs"))
    print(f"{args.scans} scans 512 x 512 (DICOS DX), {workers} workers, model {det.model_id}")
    print(f"results.jsonl only: {only:.1f} scans/s   (rounds: {_fmt(rates['results-only'])})")
    print(f"all outputs:        {every:.1f} scans/s   (rounds: {_fmt(rates['all outputs'])})")
    print(f"ratio all / results-only: {every / only:.2f} (target >= 0.5)")
    c_only, c_all = (statistics.median(cpu[k]) for k in ("results-only", "all outputs"))
    print(
        f"CPU ms per scan (all threads of this process): results-only {c_only:.1f}, all outputs "
        f"{c_all:.1f}; ratio {c_only / c_all:.2f} = the rate ratio on a CPU-bound, unshared host"
    )
    print(
        "mean ms per scan with all outputs: "
        + ", ".join(f"{k} {statistics.mean(v):.1f}" for k, v in per_output.items())
    )


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.1f}" for v in values)


if __name__ == "__main__":
    main()
