"""Fixtures: small real ONNX models honouring the detector contract (see blob_model.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backscatter.inference.detector import Detector
from backscatter.scan import Scan

from .blob_model import write_blob_model


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def blob_model(model_dir: Path) -> Path:
    return write_blob_model(model_dir, "blob")


@pytest.fixture(scope="session")
def detector(blob_model: Path) -> Detector:
    return Detector.load(blob_model, "cpu", threads=1)


def blob_scan(
    shape: tuple[int, int],
    boxes: list[tuple[int, int, int, int]],
    *,
    value: float = 0.95,
    dtype: str = "uint16",
    scan_id: str = "s",
    seed: int = 0,
) -> Scan:
    """Dark noisy scan (< 0.4 of full scale) with bright rectangles ``(x0, y0, x1, y1)``."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.4, size=shape)
    for x0, y0, x1, y1 in boxes:
        x[y0:y1, x0:x1] = value
    if dtype == "float32":
        return Scan(x.astype(np.float32), bits_stored=32, scan_id=scan_id)
    bits = 8 if dtype == "uint8" else 16
    px = np.round(x * (2**bits - 1)).astype(dtype)
    return Scan(px, bits_stored=bits, scan_id=scan_id)
