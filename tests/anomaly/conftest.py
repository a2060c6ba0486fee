"""A tiny anomaly model fitted once per session on simulated clean scans (128 x 128)."""

from __future__ import annotations

from pathlib import Path

import pytest

from backscatter.synth.dataset import build_dataset
from backscatter.training.anomaly_fit import FitOptions, fit


@pytest.fixture(scope="session")
def clean_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("clean")
    build_dataset(out, scenes=10, seed=21, size=(128, 128), clean_fraction=1.0, workers=1,
                  progress=False, only_split="train")  # fmt: skip
    return out


@pytest.fixture(scope="session")
def novel_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("novel")
    build_dataset(out, scenes=8, seed=22, size=(128, 128), clean_fraction=0.5, workers=1,
                  progress=False, only_split="test", novel=2)  # fmt: skip
    return out


@pytest.fixture(scope="session")
def tiny_model(clean_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("model") / "tiny-anomaly.onnx"
    fit([clean_dir / "train.json"], out, options=FitOptions(components=2, cells_per_scan=200))
    return out
