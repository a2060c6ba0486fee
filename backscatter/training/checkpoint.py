"""Checkpoints: model, optimiser, scheduler, epoch, RNG states and the resolved config."""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backscatter.training.config import ConfigError, TrainConfig, config_from_dict

FORMAT = "backscatter-checkpoint-1"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used; names the file and the reason."""


@dataclass
class Checkpoint:
    config: TrainConfig
    model_state: dict[str, Any]
    #: epochs completed
    epoch: int
    optimizer_state: dict[str, Any] | None = None
    scheduler_state: dict[str, Any] | None = None
    rng_state: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    best: float = -1.0
    dataset_manifest_sha256: str = ""
    wall_time_s: float = 0.0


def rng_state() -> dict[str, Any]:
    return {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def save_checkpoint(ckpt: Checkpoint, path: str | Path) -> None:
    """Write atomically (temp file + rename), so an interruption never leaves half a file."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "config": ckpt.config.to_dict(),
        "model": ckpt.model_state,
        "epoch": ckpt.epoch,
        "optimizer": ckpt.optimizer_state,
        "scheduler": ckpt.scheduler_state,
        "rng": ckpt.rng_state,
        "metrics": ckpt.metrics,
        "best": ckpt.best,
        "dataset_manifest_sha256": ckpt.dataset_manifest_sha256,
        "wall_time_s": ckpt.wall_time_s,
    }
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: str | Path) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: checkpoint not found")
    try:
        data = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a bad file
        raise CheckpointError(f"{path}: not a readable checkpoint ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError(f"{path}: expected a {FORMAT} file")
    try:
        cfg = config_from_dict(data["config"])
    except ConfigError as exc:
        raise CheckpointError(f"{path}: stored config is invalid ({exc})") from exc
    return Checkpoint(
        config=cfg,
        model_state=data["model"],
        epoch=int(data["epoch"]),
        optimizer_state=data.get("optimizer"),
        scheduler_state=data.get("scheduler"),
        rng_state=data.get("rng"),
        metrics=data.get("metrics"),
        best=float(data.get("best", -1.0)),
        dataset_manifest_sha256=str(data.get("dataset_manifest_sha256", "")),
        wall_time_s=float(data.get("wall_time_s", 0.0)),
    )
