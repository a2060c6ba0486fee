"""Clean scans and answer sets for exercise tests, built here with the simulator."""

from __future__ import annotations

from pathlib import Path

from backscatter.dicos import write_dx
from backscatter.synth.device import simulate_scan

SIZE = (256, 256)


def make_clean(folder: Path, n: int, *, seed: int = 0) -> Path:
    """``n`` clean simulated scans (256 x 256) as DICOS DX files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    families = ("luggage", "crate", "door")
    for i in range(n):
        scan = simulate_scan(seed + i, size=SIZE, clean=True, family=families[i % 3])
        write_dx(scan, folder / f"clean_{i:03d}.dcm")
    return folder
