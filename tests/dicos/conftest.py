"""Fixtures for the DICOS tests: synthetic scans, a real thresholding detector, a live server."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from backscatter.detections import Detections
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.scan import Scan

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "interop" / "dicos-samples"


def make_scan(seed: int = 0, shape: tuple[int, int] = (96, 128), dtype: str = "uint16") -> Scan:
    """Noise plus one bright rectangle (the 'threat') at a seeded place."""
    rng = np.random.default_rng(seed)
    info = np.iinfo(dtype)
    hi = min(int(info.max), 4095)
    lo = max(int(info.min), 0)
    px = rng.integers(lo, hi // 4, size=shape).astype(dtype)
    r, c = rng.integers(5, shape[0] - 30), rng.integers(5, shape[1] - 40)
    px[r : r + 20, c : c + 30] = hi
    bits = 12 if np.dtype(dtype).itemsize >= 2 else 8
    return Scan(pixels=px, bits_stored=bits, scan_id=f"test-{seed}", source_uri=f"test://{seed}")


def threshold_detector(level: float = 0.9) -> Callable[[Scan], Detections]:
    """A real (simple) detector: one box around pixels >= level * full scale, score = fill."""

    def detect(scan: Scan) -> Detections:
        hot = scan.pixels.astype(np.float64) >= level * scan.full_scale
        if not hot.any():
            return Detections.empty()
        rows, cols = np.nonzero(hot)
        box = [cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]
        area = (box[2] - box[0]) * (box[3] - box[1])
        return Detections(
            boxes=[box], scores=[min(1.0, hot.sum() / area)], labels=[2], masks=hot[None]
        )

    return detect


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("shared DICOS samples not present (../shared/interop/dicos-samples)")
    return SAMPLES.resolve()


def need(tool: str) -> str:
    """The Debian (dcmtk, dicom3tools) program ``tool``: an activated venv puts pynetdicom's
    same-named apps (storescu, echoscu...) first on PATH, so the venv's bin is passed over."""
    venv_bin = (Path(sys.prefix) / "bin").resolve()
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    path = shutil.which(
        tool, path=os.pathsep.join(d for d in dirs if Path(d).resolve() != venv_bin)
    )
    if path is None:
        pytest.skip(f"{tool} not installed")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DicosServer]:
    """A receiver on a free loopback port with the thresholding detector."""
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    config = ServerConfig(
        out_dir=tmp_path / "in",
        port=0,
        detect=threshold_detector(),
        model_id="threshold-test",
        alarm_threshold=0.5,
    )
    with DicosServer(config) as srv:
        yield srv
