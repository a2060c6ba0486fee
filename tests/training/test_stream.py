"""Scenes rendered while training, the stride-8 model and the robust input range, end to end."""

from pathlib import Path

import numpy as np
import pytest

from backscatter.inference.preprocess import robust_range
from backscatter.training.config import config_from_dict
from backscatter.training.engine import train
from backscatter.training.export import export_onnx
from backscatter.training.predict import OnnxBackend, load_predictor, preprocess_spec
from backscatter.training.stream import StreamDataset, StreamSampler

STREAM = {
    "seed": 4,
    "threads": 1,
    "data": {
        "crop": 64,
        "stream": {"scenes_per_epoch": 8, "crops_per_scene": 2, "size": 128},
    },
    "augment": {"scale": [0.9, 1.1], "range_jitter": 0.05},
    "model": {
        "widths": [8, 8, 16, 16],
        "depths": [1, 1, 1, 1],
        "neck": 8,
        "top_k": 20,
        "out_stride": 8,
    },
    "preprocess": {"norm": "robust", "mean": 0.3, "std": 0.3},
    "optim": {"epochs": 2, "batch_size": 4, "lr": 0.002, "warmup_iters": 2},
}


def test_sampler_gives_each_rank_distinct_scenes_and_batches_of_distinct_scenes() -> None:
    ranks = [list(StreamSampler(10, 3, rank=r, world=2, group=4)) for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == 15
    scenes = [{i // 3 for i in items} for items in ranks]
    assert not scenes[0] & scenes[1]
    first_batch = ranks[0][:4]
    assert len({i // 3 for i in first_batch}) == 4  # four scenes in one batch of four
    assert sorted(ranks[0]) == sorted(set(ranks[0]))  # every crop once


def test_every_epoch_renders_new_scenes_and_is_reproducible() -> None:
    cfg = config_from_dict(STREAM)
    spec = preprocess_spec(cfg)
    ds = StreamDataset(cfg, spec)
    a = ds[0][0]
    np.testing.assert_array_equal(a, StreamDataset(cfg, spec)[0][0])
    ds.set_epoch(1)
    assert not np.array_equal(a, ds[0][0])
    assert ds[0][0].shape == (64, 64) and ds[0][0].dtype == np.float32


def test_crops_are_normalised_with_their_scene_range() -> None:
    cfg = config_from_dict(
        {
            **STREAM,
            "augment": {"scale": [1.0, 1.0], "hflip": 0, "vflip": 0, "noise": 0, "line_jitter": 0},
        }
    )
    spec = preprocess_spec(cfg)
    ds = StreamDataset(cfg, spec)
    unit, *_ = ds.scene(0)
    lo, hi = robust_range(unit, spec=spec)
    image = ds[0][0]
    # every crop value is (unit - lo) / (hi - lo) clipped, then standardised
    raw = image * spec.std + spec.mean
    assert raw.min() >= spec.clip_low - 1e-5 and raw.max() <= spec.clip_high + 1e-5
    assert ds.scene(0)[4] == pytest.approx((lo, hi))


def test_stream_trains_a_stride8_robust_model_that_exports(tmp_path: Path) -> None:
    cfg = config_from_dict(STREAM)
    result = train(cfg, tmp_path / "run", progress=False)
    assert result.epochs == 2 and np.isfinite(result.metrics["loss"])
    onnx_path = tmp_path / "s8.onnx"
    export_onnx(tmp_path / "run" / "last.pt", onnx_path, parity_images=2)
    backend = OnnxBackend(onnx_path)
    assert backend.spec.norm == "robust"
    boxes, scores, _ = backend.run(np.zeros((1, 1, 96, 128), np.float32))
    assert boxes.shape == (1, 20, 4)
    # gain and offset do not change what the exported model sees
    rng = np.random.default_rng(1)
    px = rng.uniform(800, 9000, (128, 160))
    p = load_predictor(onnx_path, min_score=0.0)
    a = p(px.astype(np.uint16), bits_stored=16)
    b = p(np.clip(px * 3 + 5000, 0, 65535).astype(np.uint16), bits_stored=16)
    np.testing.assert_allclose(a.scores, b.scores, atol=2e-3)
