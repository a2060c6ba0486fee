"""Exercise mode without a window: no machine flags unless a detector is given, the time
limit records CLEAR with a note, and the answer key is never among the items."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest

from backscatter.audit import AuditLog, read_rows
from backscatter.exercise.build import build_exercise
from backscatter.viewer.exercise import TIME_LIMIT_NOTE, ExerciseViewer, exercise_session

from .helpers import make_clean

BLOB = Path(__file__).resolve().parents[1] / "inference" / "blob_model.py"


@pytest.fixture(scope="module")
def exercise(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("exs")
    make_clean(root / "clean", 3, seed=50)
    build_exercise(root / "clean", root / "EX", scans=4, threat_ratio=0.5, seed=4)
    return root / "EX"


def test_no_machine_flags_by_default(exercise: Path, tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db") as audit:
        session = exercise_session(exercise, "tr", audit)
        assert all("/key/" not in it.source for it in session.items)
        item = session.go(0)
        assert item is not None and item.scan is not None
        assert item.detections is not None and len(item.detections) == 0
        assert item.machine_alarm == "NO MODEL"
        session.close()


def test_machine_flags_when_asked(exercise: Path, tmp_path: Path) -> None:
    if not BLOB.is_file():
        pytest.skip("tests/inference/blob_model.py is not there")
    from backscatter.inference.detector import Detector

    spec = importlib.util.spec_from_file_location("exercise_blob_model", BLOB)
    assert spec is not None and spec.loader is not None
    blob = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(blob)
    det = Detector.load(blob.write_blob_model(tmp_path / "models", "blob"), "cpu", threads=1)
    with AuditLog(tmp_path / "a.db") as audit:
        session = exercise_session(exercise, "tr", audit, detector=det)
        item = session.go(0)
        assert item is not None and item.detections is not None
        assert item.machine_alarm in ("ALARM", "CLEAR") and item.model_id == det.model_id
        session.close()


def test_time_limit_records_clear_with_a_note(exercise: Path, tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db") as audit:
        session = exercise_session(exercise, "tr", audit)
        viewer = ExerciseViewer(session, time_limit_s=0.3, size=(300, 400))
        viewer._show(0)
        assert viewer.check_time_limit() is False  # not yet
        status = viewer._status(session.current)
        assert any(p.startswith("EXERCISE") and "/ 0.3 s" in p for p in status.parts())
        time.sleep(0.35)
        assert viewer.check_time_limit() is True
        assert session.index == 1 and session.items[0].decision is not None
        session.close()
    rows = list(read_rows(tmp_path / "a.db"))
    assert [r["decision"] for r in rows] == ["CLEAR"]
    assert TIME_LIMIT_NOTE in rows[0]["note"]
    assert np.isfinite(float(rows[0]["threshold"]))


def test_time_limit_must_be_positive(exercise: Path, tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.db") as audit:
        session = exercise_session(exercise, "tr", audit)
        with pytest.raises(ValueError, match="time limit"):
            ExerciseViewer(session, time_limit_s=0.0)
        session.close()
