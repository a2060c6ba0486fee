"""A seeded mutation-fuzz campaign over ``open_scan`` and ``read_tdr``, run in child processes.

:func:`run_campaign` writes ``n`` mutated copies of the seeds into ``work`` (a raw scan gets its
mutated sidecar beside it), then feeds them to ``fuzz_child.py``. A child that dies (signal,
abort) or stops answering for ``hard_timeout_s`` is recorded against the input in hand and a
fresh child goes on with the next one, so one campaign survives any crash.
"""

from __future__ import annotations

import json
import os
import random
import select
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .mutate import deep_sequence, mutate, yaml_sidecar
from .seeds import Seed

CHILD = Path(__file__).with_name("fuzz_child.py")
REPO = Path(__file__).resolve().parents[3]


@dataclass
class Campaign:
    """What a campaign ran and found; ``findings`` are the non-typed outcomes with inputs."""

    executions: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    findings: list[dict[str, Any]] = field(default_factory=list)
    max_ms: float = 0.0
    slowest: str = ""
    peak_rss_kb: int = 0
    restarts: int = 0
    wall_s: float = 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.outcomes.items()))
        return (
            f"{self.executions} executions in {self.wall_s:.1f} s ({kinds}); slowest input "
            f"{self.max_ms:.0f} ms ({self.slowest}), "
            f"child peak RSS {self.peak_rss_kb / 1024:.0f} MiB, "
            f"{self.restarts} child restarts, {len(self.findings)} findings"
        )


def write_inputs(seeds: list[Seed], n: int, work: Path, seed: int) -> list[tuple[str, str]]:
    """``n`` mutated inputs (plus a few deep-sequence files) as (path, target) pairs."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    items: list[tuple[str, str]] = []
    for depth in (50, 3000):
        for target in ("scan", "tdr"):
            p = work / f"deep{depth}-{target}.dcm"
            p.write_bytes(deep_sequence(depth))
            items.append((str(p), target))
    # our own seeds cover PNG, TIFF, raw, RLE and JPEG: weight them up against the 26 samples
    weights = [3.0 if s.name.startswith("own-") else 1.0 for s in seeds]
    for k in range(n):
        s = rng.choices(seeds, weights)[0]
        name = work / f"{k:06d}-{s.name}{s.suffix}"
        if s.sidecar is not None:
            side = s.sidecar
            data = s.data
            if rng.random() < 0.6:
                side = yaml_sidecar(side, rng)
            else:
                data = mutate(data, s.suffix, rng)
            name.with_suffix(".yaml").write_text(side, encoding="latin-1")
        else:
            data = mutate(s.data, s.suffix, rng)
        name.write_bytes(data)
        items.append((str(name), s.target))
    return items


def run_inputs(
    items: list[tuple[str, str]],
    work: Path,
    *,
    timeout_s: float = 5.0,
    memory_mb: int = 768,
    hard_timeout_s: float = 30.0,
) -> Campaign:
    """Feed ``items`` to child processes; see the module docstring."""
    manifest = work / "manifest.json"
    manifest.write_text(json.dumps(items))
    result = Campaign()
    started = time.monotonic()
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    start = 0
    while start < len(items):
        proc = subprocess.Popen(
            [sys.executable, str(CHILD), str(manifest), str(start), str(timeout_s), str(memory_mb)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=REPO,
            env=env,
        )
        assert proc.stdout is not None
        next_i = start
        first = True
        while next_i < len(items):
            wait = hard_timeout_s * (4 if first else 1)  # the first line includes the imports
            ready, _, _ = select.select([proc.stdout], [], [], wait)
            line = proc.stdout.readline() if ready else b""
            if not line:
                break
            first = False
            rec = json.loads(line)
            next_i = rec["i"] + 1
            _record(result, rec, items)
        if next_i < len(items):  # the child died or hung on items[next_i]
            proc.kill()
            proc.wait()
            outcome = "hang" if proc.returncode == -9 else f"died (status {proc.returncode})"
            rec = {"i": next_i, "outcome": "crash", "error": outcome, "ms": 0.0, "maxrss_kb": 0}
            _record(result, rec, items)
            result.restarts += 1
            next_i += 1
        else:
            proc.wait()
        proc.stdout.close()
        start = next_i
    result.wall_s = time.monotonic() - started
    return result


def _record(result: Campaign, rec: dict[str, Any], items: list[tuple[str, str]]) -> None:
    result.executions += 1
    result.outcomes[rec["outcome"]] += 1
    if float(rec.get("ms", 0.0)) > result.max_ms:
        result.max_ms = float(rec["ms"])
        result.slowest = Path(items[rec["i"]][0]).name
    result.peak_rss_kb = max(result.peak_rss_kb, int(rec.get("maxrss_kb", 0)))
    if rec["outcome"] not in ("ok", "typed"):
        path, target = items[rec["i"]]
        result.findings.append({**rec, "path": path, "target": target})
