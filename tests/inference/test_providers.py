"""Provider choice and honest reporting, with the real ONNX Runtime of this machine."""

from __future__ import annotations

import logging
from pathlib import Path

import onnxruntime as ort
import pytest

from backscatter.inference import providers
from backscatter.inference.detector import Detector

HAS_CUDA = "CUDAExecutionProvider" in ort.get_available_providers()


def test_auto_order_is_tensorrt_cuda_cpu_filtered_by_build() -> None:
    chain = providers.resolve(None)
    have = ort.get_available_providers()
    assert chain == [p for p in providers.AUTO_ORDER if p in have]
    assert chain[-1] == providers.CPU


@pytest.mark.parametrize(
    ("name", "chain"),
    [
        ("cpu", [providers.CPU]),
        ("CUDA", [providers.CUDA, providers.CPU]),
        ("trt", [providers.TENSORRT, providers.CUDA, providers.CPU]),
    ],
)
def test_named_provider_chains(name: str, chain: list[str]) -> None:
    assert providers.resolve(name) == chain


def test_unknown_provider_lists_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"provider: expected one of auto, cpu, cuda.*got 'rocm'"):
        providers.resolve("rocm")


def test_cpu_session_reports_cpu_and_its_thread_count(blob_model: Path) -> None:
    det = Detector.load(blob_model, "cpu", threads=1)
    assert det.provider == "cpu"
    assert det.info.threads == 1
    assert det.info.warnings == []
    assert det.describe()["provider"] == "cpu"


@pytest.mark.skipif(HAS_CUDA, reason="checks the CPU fallback warning on a CPU-only build")
@pytest.mark.parametrize("name", ["cuda", "tensorrt"])
def test_requested_gpu_on_cpu_build_warns_and_reports_cpu(
    blob_model: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        det = Detector.load(blob_model, name)
    assert det.provider == "cpu"
    assert len(det.info.warnings) == 1
    assert f"requested provider {name!r}" in det.info.warnings[0]
    assert "onnxruntime-gpu" in caplog.text


@pytest.mark.skipif(not HAS_CUDA, reason="needs onnxruntime-gpu and a GPU")
def test_cuda_provider_runs_on_gpu(blob_model: Path) -> None:  # pragma: no cover - GPU only
    det = Detector.load(blob_model, "cuda")
    assert det.provider in ("cuda", "tensorrt")
    assert det.info.on_gpu


def test_default_workers_two_streams_on_a_multicore_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(providers, "cpu_count", lambda: 2)
    assert providers.default_workers("cpu") == 2
    monkeypatch.setattr(providers, "cpu_count", lambda: 1)
    assert providers.default_workers("cpu") == 1
    monkeypatch.setattr(providers, "cpu_count", lambda: 16)
    # a GPU request on a CPU-only build runs on the CPU, so it gets the CPU's streams
    expected = 1 if HAS_CUDA else 2
    assert providers.default_workers("cuda") == expected


def test_zero_threads_is_refused(blob_model: Path) -> None:
    with pytest.raises(ValueError, match="threads: expected >= 1, got 0"):
        providers.create_session(blob_model, provider="cpu", threads=0)
