"""Long fuzz campaign over open_scan (DICOM/DICOS, raw+sidecar, TIFF, PNG) and read_tdr.

    .venv/bin/python -m bench.reliability.fuzz [--executions 50000] [--seed 1] [--batch 5000]

Mutates the seeds (our writers' files and ../shared/interop/dicos-samples), runs each input in
a child process with an address-space cap and a watchdog (tests/reliability/harness), and
prints executions, outcomes, the slowest input, the child's peak RSS and every finding with the
input kept under --keep. Exit status 1 when anything but a typed error or a valid scan escaped.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from tests.reliability.harness.fuzz import Campaign, run_inputs, write_inputs
from tests.reliability.harness.seeds import own_seeds, sample_seeds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--executions", type=int, default=50_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--batch", type=int, default=5_000, help="inputs written to disk at a time")
    p.add_argument("--timeout", type=float, default=5.0, help="seconds per input")
    p.add_argument("--memory-mb", type=int, default=768, help="address-space headroom")
    p.add_argument("--keep", default="/tmp/backscatter-fuzz-findings", help="findings folder")
    args = p.parse_args(argv)
    keep = Path(args.keep)
    total = Campaign()
    with tempfile.TemporaryDirectory(prefix="fuzz-") as tmp:
        seeds = own_seeds(Path(tmp) / "seeds") + sample_seeds()
        print(f"{len(seeds)} seeds ({sum(s.name.startswith('sample') for s in seeds)} shared)")
        done, batch_no = 0, 0
        while done < args.executions:
            n = min(args.batch, args.executions - done)
            work = Path(tmp) / f"b{batch_no}"
            items = write_inputs(seeds, n, work, seed=args.seed * 1_000_003 + batch_no)
            result = run_inputs(items, work, timeout_s=args.timeout, memory_mb=args.memory_mb)
            print(f"batch {batch_no}: {result.summary()}", flush=True)
            for f in result.findings:
                keep.mkdir(parents=True, exist_ok=True)
                src = Path(f["path"])
                shutil.copy(src, keep / src.name)
                if src.with_suffix(".yaml").exists():
                    shutil.copy(src.with_suffix(".yaml"), keep / (src.stem + ".yaml"))
                print(f"  FINDING {f['target']} {src.name}: {f['outcome']} {f.get('error')}")
            total.executions += result.executions
            total.outcomes.update(result.outcomes)
            total.findings += result.findings
            if result.max_ms > total.max_ms:
                total.max_ms, total.slowest = result.max_ms, result.slowest
            total.peak_rss_kb = max(total.peak_rss_kb, result.peak_rss_kb)
            total.restarts += result.restarts
            total.wall_s += result.wall_s
            shutil.rmtree(work)
            done += n
            batch_no += 1
    print(f"total: {total.summary()}")
    return 1 if total.findings else 0


if __name__ == "__main__":
    sys.exit(main())
