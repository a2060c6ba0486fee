"""Model cards: sha256 refusal, default model lookup, card/metadata fallbacks."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from backscatter.inference import models
from backscatter.inference.detector import Detector
from backscatter.inference.models import (
    ModelError,
    ModelIntegrityError,
    ModelNotFoundError,
    default_model_path,
    load_card,
)

from .blob_model import write_blob_model


def test_card_sha256_matches_and_model_id_carries_it(blob_model: Path) -> None:
    card = load_card(blob_model)
    assert card.sha256 == models.sha256_file(blob_model)
    assert card.model_id == f"blob:1:{card.sha256[:12]}"
    assert card.preprocess is not None and card.preprocess.input_size == (128, 128)


def test_loading_by_card_path_finds_the_onnx(blob_model: Path) -> None:
    card = load_card(blob_model.with_suffix(".json"))
    assert card.onnx_path == blob_model


def test_tampered_model_is_refused_naming_file_and_card(tmp_path: Path) -> None:
    path = write_blob_model(tmp_path, "m")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # flip bits in the last byte: still a file, different contents
    path.write_bytes(bytes(data))
    with pytest.raises(
        ModelIntegrityError, match=r"m\.onnx: sha256 .* does not match the card m\.json"
    ):
        Detector.load(path)


def test_card_without_sha256_is_a_model_error(tmp_path: Path) -> None:
    path = write_blob_model(tmp_path, "m")
    card = json.loads(path.with_suffix(".json").read_text())
    del card["sha256"]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="expected a 64-hex 'sha256'"):
        load_card(path)


def test_unreadable_card_names_the_card(tmp_path: Path) -> None:
    path = write_blob_model(tmp_path, "m")
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ModelError, match=r"m\.json: model card is not readable JSON"):
        load_card(path)


def test_model_without_card_loads_from_onnx_metadata_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_blob_model(tmp_path, "bare", card=False)
    with caplog.at_level(logging.WARNING):
        det = Detector.load(path, "cpu")
    assert "no model card" in caplog.text
    assert det.class_names[2] == "firearm"
    assert det.spec.input_size == (128, 128)
    assert det.model_id.startswith("blob:1:")  # name and version from the ONNX metadata


def test_missing_model_file_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="model file not found"):
        load_card(tmp_path / "nope.onnx")


def test_default_model_prefers_env_then_the_card_marked_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    a = write_blob_model(tmp_path, "a")
    b = write_blob_model(tmp_path, "b")
    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    assert default_model_path() == b  # last by name
    card = json.loads(a.with_suffix(".json").read_text())
    card["default"] = True
    a.with_suffix(".json").write_text(json.dumps(card))
    assert default_model_path() == a
    monkeypatch.setenv(models.MODEL_ENV, str(b))
    assert default_model_path() == b


def test_no_shipped_model_says_where_it_looked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(models, "models_dir", lambda: tmp_path)
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    with pytest.raises(ModelNotFoundError, match="no shipped model"):
        default_model_path()


def test_card_and_onnx_metadata_must_agree_on_preprocessing(tmp_path: Path) -> None:
    path = write_blob_model(tmp_path, "m")
    card = json.loads(path.with_suffix(".json").read_text())
    card["preprocess"]["window_high"] = 0.5
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="card preprocess .* disagrees with the ONNX metadata"):
        Detector.load(path, "cpu")


def test_card_and_onnx_metadata_must_agree_on_classes(tmp_path: Path) -> None:
    path = write_blob_model(tmp_path, "m")
    card = json.loads(path.with_suffix(".json").read_text())
    card["classes"] = ["a", "b"]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match=r"card classes \('a', 'b'\) disagree"):
        Detector.load(path, "cpu")
