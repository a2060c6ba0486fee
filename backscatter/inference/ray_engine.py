"""``detect --engine ray``: the same per-scan function as a Ray Data job (extra ``cluster``).

The driver expands the inputs, skips what ``results.jsonl`` already holds, and builds one row
per scan: files travel as paths (workers read them: the cluster shares the filesystem), scans
from URI sources travel pickled. ``map_batches`` runs :class:`ScreenWorker` actors, one
detector each, which call :func:`~backscatter.inference.screening.screen_scan` and return the
JSONL records; only the driver appends to ``results.jsonl`` and writes the COCO file.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.inference.detector import Detector, TileOptions
from backscatter.inference.models import default_model_path, load_card
from backscatter.inference.pipeline import Item
from backscatter.inference.screening import (
    ScreenSummary,
    check_inputs,
    expand_inputs,
    iter_uri,
    read_file,
    screen_scan,
)
from backscatter.inference.sinks import OutputWriter, ResultsLog, write_coco

INSTALL_HINT = "pip install 'backscatter[cluster]' (Ray Data)"


class RayUnavailableError(ValueError):
    """``--engine ray`` was asked for but Ray is not installed."""


def is_available() -> bool:
    try:
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


class ScreenWorker:
    """A Ray actor holding one detector; turns a batch of rows into JSONL records."""

    def __init__(
        self,
        *,
        model: str,
        provider: str | None,
        threads: int | None,
        tile: TileOptions,
        out_dir: str,
        outputs: Sequence[str],
        threshold: float,
        taken: dict[str, str],
        tdr_candidates: bool = False,
    ) -> None:
        self.det = Detector.load(model, provider, threads=threads, tile=tile)
        self.writer = OutputWriter(
            Path(out_dir),
            outputs,
            model_id=self.det.model_id,
            card=self.det.card,
            tdr_candidates=tdr_candidates,
        )
        self.threshold = threshold
        self.taken = dict(taken)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        records: list[str] = []
        errors: list[str] = []
        for source, payload in zip(batch["source"], batch["payload"], strict=True):
            item = Item(str(source))
            t0 = time.perf_counter()
            try:
                item.scan = pickle.loads(payload) if len(payload) else read_file(item.source)
                item.timings["read"] = (time.perf_counter() - t0) * 1000
                record = screen_scan(
                    item,
                    detector=self.det,
                    writer=self.writer,
                    threshold=self.threshold,
                    taken=self.taken,
                )
            except (ValueError, OSError) as exc:
                records.append("")
                errors.append(str(exc))
                continue
            records.append(json.dumps(record, separators=(",", ":")))
            errors.append("")
        return {
            "source": np.asarray(batch["source"], dtype=object),
            "record": np.asarray(records, dtype=object),
            "error": np.asarray(errors, dtype=object),
        }


def screen_ray(
    inputs: Sequence[str],
    out_dir: str | os.PathLike[str],
    *,
    model: str | os.PathLike[str] | None = None,
    provider: str | None = None,
    threshold: float | None = None,
    outputs: Sequence[str] = ("coco", "overlay", "tdr", "dx"),
    workers: int = 1,
    threads: int | None = None,
    tile: TileOptions | None = None,
    per_uri: int | None = None,
    address: str | None = None,
    batch_size: int = 8,
    on_item: Callable[[Item], None] | None = None,
    tdr_candidates: bool = False,
) -> tuple[ScreenSummary, dict[str, Any]]:
    """Screen ``inputs`` into ``out_dir`` on Ray; returns the summary and runtime info.

    Uses the running Ray instance if there is one, else connects to ``address`` (or starts a
    local instance).
    """
    if not is_available():
        raise RayUnavailableError(f"--engine ray needs Ray: {INSTALL_HINT}")
    import ray

    t_start = time.perf_counter()
    check_inputs(inputs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    card = load_card(model if model is not None else default_model_path())
    thr = float(threshold) if threshold is not None else (card.threshold or 0.5)
    if not 0.0 <= thr <= 1.0:
        raise ValueError(f"threshold: expected 0..1, got {thr}")
    results = ResultsLog(out)
    summary = ScreenSummary()
    rows: list[dict[str, Any]] = []

    def fail(item: Item) -> None:
        summary.failed += 1
        summary.failures.append(str(item.error))
        if on_item is not None:
            on_item(item)

    for ref in expand_inputs(inputs):
        if isinstance(ref, Exception):
            fail(Item(source=ref.source, error=ref))
        elif not ref.uri:
            if results.is_done(ref.ref):
                summary.skipped += 1
            else:
                rows.append({"source": ref.ref, "payload": b""})
        else:
            skipped: list[str] = []
            for item in iter_uri(ref.ref, results.is_done, per_uri, skipped):
                if item.error is not None:
                    fail(item)
                else:
                    rows.append({"source": item.source, "payload": pickle.dumps(item.scan)})
            summary.skipped += len(skipped)

    info: dict[str, Any] = {"model_id": card.model_id, "model": str(card.onnx_path)}
    try:
        if rows:
            if not ray.is_initialized():
                ray.init(address=address, include_dashboard=False, log_to_driver=False)
            ctx = ray.data.DataContext.get_current()
            ctx.execution_options.preserve_order = True
            ctx.enable_progress_bars = False
            blocks = max(1, min(len(rows), workers * 4))
            ds = ray.data.from_items(rows, override_num_blocks=blocks).map_batches(
                ScreenWorker,
                batch_size=batch_size,
                batch_format="numpy",
                concurrency=workers,
                num_cpus=threads or 1,
                fn_constructor_kwargs={
                    "model": str(card.onnx_path),
                    "provider": provider,
                    "threads": threads,
                    "tile": tile or TileOptions(),
                    "out_dir": str(out.resolve()),
                    "outputs": list(outputs),
                    "threshold": thr,
                    "taken": dict(results.names),
                    "tdr_candidates": tdr_candidates,
                },
            )
            for row in ds.iter_rows():
                item = Item(str(row["source"]))
                if row["error"]:
                    item.error = OSError(str(row["error"]))
                    fail(item)
                    continue
                record = json.loads(row["record"])
                results.append(record)
                item.record = record
                summary.done += 1
                info.setdefault("provider", record["provider"])
                if on_item is not None:
                    on_item(item)
    finally:
        results.close()
        if "coco" in outputs:
            write_coco(out)
    summary.wall_s = time.perf_counter() - t_start
    return summary, info
