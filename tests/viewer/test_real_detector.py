"""The review session over the real ONNX Runtime Detector (the inference tests' blob model)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
import pytest

from backscatter.audit import AuditLog, read_rows
from backscatter.viewer.review import ReviewSession, expand_sources

BLOB = Path(__file__).resolve().parents[1] / "inference" / "blob_model.py"


def blob_module() -> ModuleType:
    if not BLOB.is_file():
        pytest.skip("tests/inference/blob_model.py is not there")
    spec = importlib.util.spec_from_file_location("viewer_blob_model", BLOB)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_scans_without_results_are_detected_by_the_real_detector(tmp_path: Path) -> None:
    from backscatter.inference.detector import Detector

    model = blob_module().write_blob_model(tmp_path / "models", "blob")
    det = Detector.load(model, "cpu", threads=1)
    rng = np.random.default_rng(0)
    folder = tmp_path / "scans"
    folder.mkdir()
    for k in range(2):
        px = rng.uniform(0, 0.4 * 65535, (128, 256)).astype(np.uint16)
        if k == 0:
            px[40:80, 100:180] = int(0.95 * 65535)  # one bright object in the first scan
        cv2.imwrite(str(folder / f"s{k}.png"), px)
    items, _ = expand_sources([str(folder)])
    session = ReviewSession(
        items, operator="op", audit=AuditLog(tmp_path / "a.db"), tdr_dir=tmp_path / "tdr",
        detector=det,
    )  # fmt: skip
    first = session.go(0)
    assert first is not None and first.detections is not None
    assert first.machine_alarm == "ALARM" and first.provider == "cpu"
    assert first.model_id == det.model_id
    top = int(np.argmax(first.detections.scores))
    assert np.allclose(first.detections.boxes[top], [100, 40, 180, 80], atol=1)
    session.set_verdict(top, True)
    session.decide("INSPECT")
    second = session.next()
    assert second is not None and second.machine_alarm == "CLEAR"
    session.decide("CLEAR")
    rows = list(read_rows(tmp_path / "a.db"))
    assert [r["machine_alarm"] for r in rows] == ["ALARM", "CLEAR"]
    assert rows[0]["model_id"] == det.model_id and rows[0]["provider"] == "cpu"
    assert json.loads(rows[0]["verdicts"]) == {str(top): "CONFIRMED"}
    assert len(list((tmp_path / "tdr").glob("*_machine_tdr.dcm"))) == 2
    session.close()
