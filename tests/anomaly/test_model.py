"""The anomaly graph: ONNX Runtime against the numpy reference, gain/offset invariance."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from backscatter.inference.anomaly import AnomalyModel, regions, upsample
from backscatter.inference.models import ModelError, ModelIntegrityError
from backscatter.training.anomaly_model import (
    N_FEATURES,
    Mixture,
    build_onnx,
    reference_features,
    reference_map,
)


def _mixture(seed: int, k: int = 3) -> Mixture:
    rng = np.random.default_rng(seed)
    chol = np.tril(rng.normal(size=(k, N_FEATURES, N_FEATURES)) * 0.2) + np.eye(N_FEATURES) * 2
    return Mixture(rng.normal(size=(k, N_FEATURES)) * 0.3, chol, rng.normal(size=k),
                   offset=0.5, scale=4.0)  # fmt: skip


@pytest.mark.parametrize("shape", [(64, 96), (128, 128), (40, 200)])
def test_onnx_matches_the_numpy_reference_on_unseen_inputs(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(shape))
    x = (rng.random(shape) + np.linspace(0, 1, shape[1])[None]).astype(np.float32)
    mix = _mixture(1)
    sess = ort.InferenceSession(build_onnx(mix), providers=["CPUExecutionProvider"])
    amap, score = sess.run(None, {"image": x[None, None]})
    ref = reference_map(x, mix)
    assert amap.shape == (1, 1, shape[0] // 8, shape[1] // 8)
    np.testing.assert_allclose(amap[0, 0], ref, rtol=1e-4, atol=1e-4 * float(np.abs(ref).max()))
    assert score[0] == pytest.approx(float(ref.max()), rel=1e-4)
    feats = ort.InferenceSession(build_onnx(None), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(feats.run(None, {"image": x[None, None]})[0][0],
                               reference_features(x), rtol=1e-4, atol=1e-4)  # fmt: skip


def test_reference_refuses_a_shape_off_the_stride() -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        reference_features(np.zeros((36, 32), np.float32))


def test_mixture_checks_its_shapes() -> None:
    with pytest.raises(ValueError, match="expected chol"):
        Mixture(np.zeros((2, N_FEATURES)), np.zeros((3, N_FEATURES, N_FEATURES)), np.zeros(2))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_map_is_gain_and_offset_invariant(tiny_model: Path, dtype: type) -> None:
    model = AnomalyModel.load(tiny_model, threads=1)
    rng = np.random.default_rng(3)
    base = 20 + 30 * rng.random((96, 120))
    base[30:60, 40:90] += 60  # a bright block
    lo, hi = (0.0, 1.0) if dtype is np.float32 else (0, np.iinfo(dtype).max)
    a = (
        np.clip(base, lo, hi).astype(dtype)
        if dtype is not np.float32
        else (base / 200).astype(dtype)
    )
    b = (a.astype(np.float64) * 2 + (5 if dtype is not np.float32 else 0.01)).astype(dtype)
    ma, mb = model(a, bits_stored=16).map, model(b, bits_stored=16).map
    assert ma.shape == (96, 120)
    np.testing.assert_allclose(ma, mb, atol=0.05 * max(1.0, float(np.abs(ma).max())))


def test_regions_are_connected_parts_above_the_threshold() -> None:
    m = np.zeros((100, 100), np.float32)
    m[10:30, 10:40] = 2.0
    m[60:62, 60:62] = 5.0  # too small
    m[70:90, 50:80] = 3.0
    boxes, peaks, labels = regions(m, threshold=1.0, min_px=50)
    assert boxes.tolist() == [[50, 70, 80, 90], [10, 10, 40, 30]]
    assert peaks.tolist() == [3.0, 2.0]
    assert (labels == 2).sum() == 600 and labels[61, 61] == 0


def test_upsample_keeps_the_scan_shape() -> None:
    assert upsample(np.ones((5, 7), np.float32), (18, 27)).shape == (18, 27)


def test_card_guards_the_model(tiny_model: Path, tmp_path: Path) -> None:
    bad = tmp_path / "tiny-anomaly.onnx"
    bad.write_bytes(tiny_model.read_bytes() + b"\0")
    (tmp_path / "tiny-anomaly.json").write_text(tiny_model.with_suffix(".json").read_text())
    with pytest.raises(ModelIntegrityError):
        AnomalyModel.load(bad)
    with pytest.raises(ModelError, match="task"):
        AnomalyModel.load(Path(__file__).parents[2] / "models" / "bsnet-handheld.onnx")


def test_an_anomaly_card_is_never_the_default_detector(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from backscatter.inference import models

    root = Path(__file__).parents[2] / "models"
    for src in (root / "bsnet-handheld.onnx", tiny_model):
        for suffix in (".onnx", ".json"):
            (tmp_path / src.with_suffix(suffix).name).write_bytes(
                src.with_suffix(suffix).read_bytes()
            )
    card = json.loads((tmp_path / "bsnet-handheld.json").read_text())
    card["default"] = False  # no card marked: the last by name would be tiny-anomaly
    (tmp_path / "bsnet-handheld.json").write_text(json.dumps(card))
    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    assert models.default_model_path() == tmp_path / "bsnet-handheld.onnx"


def test_shipped_anomaly_maps_load_by_name() -> None:
    from backscatter.inference.anomaly import find_anomaly_model

    for family in ("door", "tyre", "wall"):
        path = find_anomaly_model(f"handheld-{family}-anomaly")
        model = AnomalyModel.load(path, threads=1)  # sha256 checked against the card
        assert model.card.raw["fitted_on"]["families"] == {family: 80}
        assert model.card.raw["metrics"]["pixel_aupro"] > 0.5
