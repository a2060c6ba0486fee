"""Training resumed from an exported ONNX file: the BatchNorms come back, the network does not
change, and ``init_weights: MODEL.onnx`` starts a run from it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from backscatter.inference.preprocess import normalise
from backscatter.training.checkpoint import load_checkpoint
from backscatter.training.config import ConfigError
from backscatter.training.engine import train
from backscatter.training.export import export_onnx, parity_scan
from backscatter.training.model import DetectorGraph, build_model
from backscatter.training.predict import preprocess_spec
from backscatter.training.warm_start import bsnet_from_onnx

from .conftest import tiny_config


@pytest.fixture(scope="module")
def trained(tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ws-run")
    cfg = tiny_config(tiny_data[0], **{"optim": {"epochs": 2, "batch_size": 4}})
    train(cfg, out, progress=False)
    return out / "last.pt"


def _images(cfg: object, n: int, seed: int) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    spec = preprocess_spec(cfg)  # type: ignore[arg-type]
    scans = [normalise(parity_scan(rng, (96, 128)), bits_stored=16, spec=spec) for _ in range(n)]
    return torch.from_numpy(np.stack(scans)[:, None])


def test_unfolded_network_equals_the_checkpoint_it_was_exported_from(
    trained: Path, tmp_path: Path
) -> None:
    ckpt = load_checkpoint(trained)
    onnx_path = tmp_path / "m.onnx"
    export_onnx(trained, onnx_path, parity_images=0)
    net = bsnet_from_onnx(onnx_path, ckpt.config, _images(ckpt.config, 8, seed=1))
    ref = build_model(len(ckpt.config.classes), ckpt.config.model)
    ref.load_state_dict(ckpt.model_state)
    x = _images(ckpt.config, 3, seed=2)  # not the images the statistics came from
    with torch.no_grad():
        heat_ref, dist_ref = ref.eval()(x)
        heat, dist = net.eval()(x)
    torch.testing.assert_close(heat, heat_ref, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(dist, dist_ref, atol=1e-3, rtol=1e-4)
    # BatchNorm is back and trainable: the folded conv has no bias of its own
    bns = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.weight.requires_grad for m in bns)
    assert all(float(m.running_var.min()) > 0 for m in bns)


def test_training_mode_starts_from_the_exported_behaviour(trained: Path, tmp_path: Path) -> None:
    """On the measuring batch, batch statistics equal the stored ones: train == eval output."""
    cfg = load_checkpoint(trained).config
    onnx_path = tmp_path / "m.onnx"
    export_onnx(trained, onnx_path, parity_images=0)
    images = _images(cfg, 6, seed=3)
    net = bsnet_from_onnx(onnx_path, cfg, images)
    graph = DetectorGraph(net, cfg.model.top_k)
    with torch.no_grad():
        _, eval_scores, _ = graph.eval()(images)
        net.train()
        heat, dist = net(images)
        _, train_scores, _ = graph.decode(heat, dist)
    torch.testing.assert_close(train_scores, eval_scores, atol=1e-4, rtol=1e-3)


def test_wrong_architecture_is_one_clear_error(trained: Path, tmp_path: Path) -> None:
    cfg = load_checkpoint(trained).config
    onnx_path = tmp_path / "m.onnx"
    export_onnx(trained, onnx_path, parity_images=0)
    model = {"widths": [8, 8, 16, 24], "depths": [1, 1, 1, 1], "neck": 8, "top_k": 20}
    other = tiny_config(Path(cfg.data.train), model=model)
    with pytest.raises(ValueError, match="does not fit"):
        bsnet_from_onnx(onnx_path, other, _images(cfg, 2, seed=4))


def test_init_weights_onnx_starts_a_run_from_the_export(
    trained: Path, tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    onnx_path = tmp_path / "m.onnx"
    export_onnx(trained, onnx_path, parity_images=0)
    cfg = tiny_config(
        tiny_data[0],
        init_weights=str(onnx_path),
        optim={"epochs": 1, "batch_size": 4, "lr": 1e-9, "warmup_iters": 1},
    )
    result = train(cfg, tmp_path / "run", progress=False)
    exported = bsnet_from_onnx(onnx_path, cfg, _images(cfg, 2, seed=5)).state_dict()
    fresh = build_model(len(cfg.classes), cfg.model).state_dict()
    # with a vanishing learning rate the (folded) convolution weights are the exported ones
    for conv in ("stem.0.0.weight", "hm_head.1.weight", "stages.1.0.1.0.weight"):
        got = result.state[conv].contiguous()
        torch.testing.assert_close(got, exported[conv], atol=1e-6, rtol=0)
        assert not torch.allclose(got, fresh[conv].contiguous(), atol=1e-3)


def test_card_of_a_stage_started_from_an_export_lists_the_earlier_stages(
    trained: Path, tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    from backscatter.cli.export import training_info
    from backscatter.training.card import write_card

    first = tmp_path / "first.onnx"
    export_onnx(trained, first, parity_images=0)
    write_card(first, training=training_info(trained))
    cfg = tiny_config(tiny_data[0], init_weights=str(first), optim={"epochs": 1, "batch_size": 4})
    train(cfg, tmp_path / "second", progress=False)
    info = training_info(tmp_path / "second" / "last.pt")
    assert [s["epochs"] for s in info["stages"]] == [2, 1]
    assert info["epochs"] == 3
    assert info["stages"][0]["exported_as"] == str(first)
    assert info["stages"][0]["onnx_sha256"] is not None


def test_init_weights_with_another_sha256_is_refused(
    trained: Path, tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    good = hashlib.sha256(trained.read_bytes()).hexdigest()
    cfg = tiny_config(tiny_data[0], init_weights=str(trained), init_sha256="0" * 64)
    with pytest.raises(ConfigError, match="sha256 .* the config expects 0000"):
        train(cfg, tmp_path / "run", progress=False)
    assert not (tmp_path / "run" / "last.pt").exists()
    ok = tiny_config(tiny_data[0], init_weights=str(trained), init_sha256=good,
                     optim={"epochs": 1, "batch_size": 4})  # fmt: skip
    train(ok, tmp_path / "ok", progress=False)
    assert (tmp_path / "ok" / "last.pt").is_file()
    with pytest.raises(ConfigError, match="init_sha256"):
        tiny_config(tiny_data[0], init_sha256="not-a-hash")
