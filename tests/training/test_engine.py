import math
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch

from backscatter.training.checkpoint import load_checkpoint
from backscatter.training.engine import NonFiniteLossError, train

from .conftest import tiny_config


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path).model_state


def test_resume_after_interruption_equals_uninterrupted(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    train_json, _ = tiny_data
    cfg = tiny_config(train_json, **{"optim": {"epochs": 3, "batch_size": 4, "warmup_iters": 2}})
    train(cfg, tmp_path / "a", progress=False)
    train(cfg, tmp_path / "b", progress=False, stop_after_epoch=1)
    assert load_checkpoint(tmp_path / "b" / "last.pt").epoch == 1
    train(cfg, tmp_path / "b", progress=False, resume=True)
    wa, wb = _weights(tmp_path / "a" / "last.pt"), _weights(tmp_path / "b" / "last.pt")
    assert wa.keys() == wb.keys()
    for k in wa:
        assert torch.equal(wa[k], wb[k]), k
    ckpt = load_checkpoint(tmp_path / "b" / "last.pt")
    assert ckpt.epoch == 3 and ckpt.config == cfg
    assert ckpt.optimizer_state and ckpt.scheduler_state and ckpt.rng_state
    first = load_checkpoint(tmp_path / "a" / "best.pt").model_state
    assert not torch.equal(first["stem.0.0.weight"], torch.zeros_like(first["stem.0.0.weight"]))


def test_resume_with_other_config_is_refused(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    train_json, _ = tiny_data
    cfg = tiny_config(train_json, **{"optim": {"epochs": 1, "batch_size": 4}})
    train(cfg, tmp_path, progress=False)
    other = tiny_config(train_json, seed=5, **{"optim": {"epochs": 1, "batch_size": 4}})
    with pytest.raises(ValueError, match="resume needs the same config"):
        train(other, tmp_path, progress=False, resume=True)


def test_non_finite_loss_stops_with_clear_message(tmp_path: Path) -> None:
    import json

    img = np.full((64, 64), 0.5, np.float32)
    img[10:20, 10:20] = np.nan
    tifffile.imwrite(tmp_path / "nan.tif", img)
    coco = {
        "images": [{"id": 1, "file_name": "nan.tif", "width": 64, "height": 64}],
        "annotations": [
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [8, 8, 20, 20], "iscrowd": 0}
        ],
        "categories": [{"id": 1, "name": "firearm"}],
    }
    (tmp_path / "c.json").write_text(json.dumps(coco))
    cfg = tiny_config(tmp_path / "c.json", **{"optim": {"epochs": 1, "batch_size": 1}})
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at epoch 1, iter"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()


def test_validation_metrics_are_logged(tiny_data: tuple[Path, Path], tmp_path: Path) -> None:
    train_json, val_json = tiny_data
    cfg = tiny_config(train_json, val_json, **{"optim": {"epochs": 1, "batch_size": 4}})
    res = train(cfg, tmp_path, progress=False)
    assert res.metrics is not None
    val = res.metrics["val"]
    assert set(val) >= {"map50", "map", "per_class", "pd_at_fapi", "image_auroc", "n_images"}
    assert val["n_images"] == 6 and 0.0 <= val["map50"] <= 1.0
    assert math.isfinite(res.metrics["loss"])
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "metrics.jsonl").is_file()
