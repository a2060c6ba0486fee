from pathlib import Path

import pytest

from backscatter.training.config import TrainConfig, config_from_dict

from .synthetic import make_coco

TINY = {
    "seed": 0,
    "threads": 1,
    "data": {"crop": 64, "cache": True},
    "augment": {"scale": [0.9, 1.1]},
    "model": {"widths": [8, 8, 16, 16], "depths": [1, 1, 1, 1], "neck": 8, "top_k": 20},
    "optim": {"epochs": 2, "batch_size": 4, "lr": 0.002, "warmup_iters": 2},
}


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("coco")
    return make_coco(root, n=12, seed=1, crowd=True), make_coco(root, n=6, seed=2, name="val")


def tiny_config(train: Path, val: Path | None = None, **changes: object) -> TrainConfig:
    """The tiny CI config pointed at ``train``/``val``; ``changes`` replace top-level keys."""
    data = {**TINY, **changes}
    data["data"] = {**TINY["data"], "train": str(train), "val": str(val or "")}
    return config_from_dict(data)
