"""Long runs with memory tracking: N simulated scans through ``backscatter detect`` and N
images through ``backscatter serve``, peak RSS (VmHWM) sampled from ``/proc`` as they go.

Both return a :class:`LongRun`: how many went in and came out, the child's peak RSS when
``mark`` items were done and at the end, and a thinned RSS series for the report.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .procs import Serve, count_lines, start_detect, store, wait_for


@dataclass
class LongRun:
    sent: int
    done: int = 0
    lost: int = 0
    mark: int = 0
    hwm_at_mark_kb: int = 0
    hwm_end_kb: int = 0
    rss_series: list[tuple[int, int]] = field(default_factory=list)  # (done, VmRSS KiB)
    wall_s: float = 0.0

    @property
    def growth(self) -> float:
        """End peak RSS over the peak after ``mark`` items, minus 1 (0.05 = 5 % more)."""
        return self.hwm_end_kb / self.hwm_at_mark_kb - 1.0 if self.hwm_at_mark_kb else 0.0

    def summary(self, what: str) -> str:
        return (
            f"{what}: {self.done}/{self.sent} done, {self.lost} lost, {self.wall_s:.0f} s; "
            f"peak RSS {self.hwm_at_mark_kb / 1024:.1f} MiB after {self.mark}, "
            f"{self.hwm_end_kb / 1024:.1f} MiB at the end ({self.growth * 100:+.1f} %)"
        )


def _status(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB; (0, 0) once the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return rss, hwm


class _Sampler:
    def __init__(self, pid: int, run: LongRun, progress: Callable[[], int]) -> None:
        self.pid, self.run, self.progress = pid, run, progress
        self.step = max(1, run.sent // 200)
        self.next_point = 0

    def sample(self) -> None:
        rss, hwm = _status(self.pid)
        if not hwm:
            return
        done = self.progress()
        if done >= self.run.mark and not self.run.hwm_at_mark_kb:
            self.run.hwm_at_mark_kb = hwm
        self.run.hwm_end_kb = max(self.run.hwm_end_kb, hwm)
        if done >= self.next_point:
            self.run.rss_series.append((done, rss))
            self.next_point = done + self.step


def pipeline_run(model: Path, out: Path, n: int, *, mark: int, size: int = 64) -> LongRun:
    """``backscatter detect sim://handheld?count=N`` (results only), sampled every 0.2 s."""
    run = LongRun(sent=n, mark=mark)
    uri = f"sim://handheld?seed=3&count={n}&size={size}x{size}&realtime=0"
    started = time.monotonic()
    proc = start_detect([uri], out, "--model", str(model), "--outputs", "")
    results = out / "results.jsonl"
    sampler = _Sampler(proc.pid, run, lambda: count_lines(results))
    try:
        while proc.poll() is None:
            sampler.sample()
            time.sleep(0.2)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run.wall_s = time.monotonic() - started
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.read().decode() if proc.stderr else "detect failed")
    lines = results.read_text().splitlines()
    run.done = len({line.split('"input":"', 1)[1].split('"', 1)[0] for line in lines})
    run.lost = n - run.done
    return run


def receiver_run(
    out: Path, n: int, *, mark: int, model: Path | None, per_association: int = 100
) -> LongRun:
    """N small DX images to ``backscatter serve`` (with the detector when ``model`` is given),
    ``per_association`` images per association; lost = acknowledged but not stored/TDR'd."""
    import pydicom

    from backscatter.dicos.dx import write_dx
    from backscatter.scan import Scan

    run = LongRun(sent=n, mark=mark)
    extra = ["--model", str(model), "--provider", "cpu"] if model else ["--no-detect"]
    serve = Serve(out, *extra)
    src = out.parent / "long-src"
    src.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    base = rng.integers(0, 20000, (64, 64), dtype=np.uint16)
    write_dx(Scan(base, bits_stored=16, scan_id="long-template"), src / "t.dcm")
    template = pydicom.dcmread(src / "t.dcm")
    acked: list[str] = []
    sampler = _Sampler(serve.pid, run, lambda: len(acked))
    started = time.monotonic()
    try:
        for first in range(0, n, per_association):
            batch = []
            for k in range(first, min(n, first + per_association)):
                ds = copy.deepcopy(template)
                ds.SOPInstanceUID = f"1.2.826.0.1.3680043.10.1234.{k + 1}"
                px = base.copy()
                px[k % 48 : k % 48 + 12, 10:30] = 62000
                ds.PixelData = px.tobytes()
                batch.append(ds)
            statuses = store(
                serve.port, batch, on_ack=lambda ds: acked.append(str(ds.SOPInstanceUID))
            )
            sampler.sample()
            if any(s != 0 for s in statuses):
                raise RuntimeError(f"statuses {set(statuses)}: {serve.log()[-2000:]}")
        want = n if model else 0
        wait_for(lambda: len(list(out.glob("*.tdr.dcm"))) >= want, 30 + n * 0.2, step=0.5)
        sampler.sample()
    finally:
        run.wall_s = time.monotonic() - started
        serve.stop()
    stored = {p.name for p in out.glob("DX_*.dcm")}
    missing = [u for u in acked if f"DX_{u}.dcm" not in stored]
    if model:
        missing += [u for u in acked if f"DX_{u}.tdr.dcm" not in stored]
    run.done = len(acked)
    run.lost = len(missing) + (n - len(acked))
    return run
