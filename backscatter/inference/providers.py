"""Choosing ONNX Runtime execution providers and saying which one really runs.

Order unless the user names one: TensorRT, then CUDA, then CPU. A requested GPU provider that
ends up on CPU is logged as a warning (and kept in :attr:`SessionInfo.warnings`), never hidden.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

log = logging.getLogger(__name__)

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

#: user-facing names -> ONNX Runtime provider names
ALIASES: dict[str, str] = {
    "tensorrt": TENSORRT,
    "trt": TENSORRT,
    "cuda": CUDA,
    "gpu": CUDA,
    "cpu": CPU,
}
#: short names reported to users (results JSONL "provider", `detect --json`)
SHORT: dict[str, str] = {TENSORRT: "tensorrt", CUDA: "cuda", CPU: "cpu"}
AUTO_ORDER: tuple[str, ...] = (TENSORRT, CUDA, CPU)
GPU_PROVIDERS = frozenset({TENSORRT, CUDA})


@dataclass
class SessionInfo:
    """What was asked for and what ONNX Runtime actually registered."""

    requested: str
    provider: str
    threads: int | None
    warnings: list[str] = field(default_factory=list)

    @property
    def short(self) -> str:
        return SHORT.get(self.provider, self.provider)

    @property
    def on_gpu(self) -> bool:
        return self.provider in GPU_PROVIDERS


def available() -> list[str]:
    return list(ort.get_available_providers())


def cpu_count() -> int:
    """CPUs this process may use (affinity-aware)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - non-Linux
        return max(1, os.cpu_count() or 1)


def default_workers(provider: str | None) -> int:
    """Detector workers for a local run when the user names none.

    On the CPU, two single-threaded streams beat one two-threaded stream for a small model:
    ONNX Runtime's intra-op pool scales poorly on it (bench/pipeline_speed.py on 2 cores:
    1 thread 117-127 runs/s, 2 threads 145, two 1-thread sessions side by side 181-202), and
    while one stream reads or writes the other keeps a core busy. A GPU gets one worker.
    """
    have = set(available())
    runs = next((p for p in resolve(provider) if p in have), CPU)
    if runs != CPU:
        return 1
    return 2 if cpu_count() >= 2 else 1


def resolve(provider: str | None) -> list[str]:
    """Provider chain to try, best first; ``None``/``"auto"`` means TensorRT > CUDA > CPU."""
    if provider is None or provider.lower() == "auto":
        have = set(available())
        return [p for p in AUTO_ORDER if p in have] or [CPU]
    name = ALIASES.get(provider.lower(), provider)
    if name not in SHORT:
        known = ", ".join(["auto", *sorted(set(ALIASES))])
        raise ValueError(f"provider: expected one of {known}, got {provider!r}")
    if name == TENSORRT:
        return [TENSORRT, CUDA, CPU]
    if name == CUDA:
        return [CUDA, CPU]
    return [CPU]


def _preload_cuda() -> None:
    """Load pip-installed CUDA/cuDNN libraries (onnxruntime-gpu >= 1.21), if any."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    try:
        preload()
    except Exception as exc:  # missing wheels are reported by the fallback check below
        log.debug("onnxruntime.preload_dlls() failed: %s", exc)


def _with_options(chain: list[str]) -> list[Any]:
    """TensorRT builds an engine on first use: cache it so later sessions start fast."""
    out: list[Any] = []
    for p in chain:
        if p == TENSORRT:
            cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
            cache = cache / "backscatter" / "tensorrt"
            cache.mkdir(parents=True, exist_ok=True)
            out.append((p, {"trt_engine_cache_enable": True, "trt_engine_cache_path": str(cache)}))
        else:
            out.append(p)
    return out


def create_session(
    model: str | os.PathLike[str] | bytes,
    *,
    provider: str | None = None,
    threads: int | None = None,
    spin: bool = False,
) -> tuple[ort.InferenceSession, SessionInfo]:
    """An InferenceSession on the best allowed provider, and what actually runs.

    ``threads`` sets intra-op threads on CPU (default: all CPUs this process may use);
    inter-op parallelism stays at 1 so several sessions/workers do not oversubscribe.
    ``spin=False`` stops idle ONNX Runtime threads from busy-waiting between runs: in a
    pipeline (reader and writer threads beside the detector) or on a shared machine, the
    spinning threads steal the CPU the other stages need (measured in bench/pipeline_speed.py).
    """
    chain = resolve(provider)
    requested = "auto" if provider is None else provider.lower()
    have = set(available())
    warnings: list[str] = []
    usable = [p for p in chain if p in have or p == CPU]
    missing = [p for p in chain if p not in usable]
    if provider is not None and missing and chain[0] in GPU_PROVIDERS:
        warnings.append(
            f"requested provider {provider!r} but this onnxruntime build has no "
            f"{', '.join(missing)} (install backscatter[gpu]: onnxruntime-gpu)"
        )
    if any(p in GPU_PROVIDERS for p in usable):
        _preload_cuda()
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.inter_op_num_threads = 1
    n_threads = threads if threads is not None else cpu_count()
    if n_threads < 1:
        raise ValueError(f"threads: expected >= 1, got {n_threads}")
    opts.intra_op_num_threads = n_threads
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    opts.add_session_config_entry("session.inter_op.allow_spinning", "1" if spin else "0")
    source: Any = str(model) if isinstance(model, str | Path) else model
    session = ort.InferenceSession(source, sess_options=opts, providers=_with_options(usable))
    actual = session.get_providers()[0]
    wanted_gpu = chain[0] in GPU_PROVIDERS and (provider is not None or len(usable) > 1)
    if wanted_gpu and actual == CPU and not warnings:
        warnings.append(
            f"GPU provider {SHORT[chain[0]]} requested but ONNX Runtime runs on CPU "
            "(the GPU provider failed to initialise; check CUDA/cuDNN libraries)"
        )
    elif provider is not None and actual != chain[0] and actual in GPU_PROVIDERS:
        warnings.append(f"requested {SHORT[chain[0]]} but running on {SHORT[actual]}")
    for w in warnings:
        log.warning("%s", w)
    info = SessionInfo(
        requested=requested,
        provider=actual,
        threads=n_threads if actual == CPU else None,
        warnings=warnings,
    )
    log.info("onnxruntime provider: %s (requested %s)", info.short, requested)
    return session, info
