"""Review session: queue, verdicts, marks, and decisions written to the audit log and a TDR."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.audit import AuditLog, read_rows, verify
from backscatter.detections import Detections
from backscatter.dicos.tdr import read_tdr
from backscatter.scan import Scan
from backscatter.viewer.keys import BINDINGS, KEYMAP
from backscatter.viewer.review import Decision, ReviewSession, expand_sources
from backscatter.viewer.window import Viewer

from .helpers import OBJECT_BOX, make_pixels, write_results_dir


def session_for(tmp_path: Path, n: int = 3, **kw: object) -> ReviewSession:
    write_results_dir(tmp_path / "res", n)
    items, live = expand_sources([str(tmp_path / "res")])
    assert live == []
    audit = AuditLog(tmp_path / "audit.db")
    return ReviewSession(items, operator="op7", audit=audit, tdr_dir=tmp_path / "tdr", **kw)  # type: ignore[arg-type]


def test_results_dir_items_carry_the_machine_results(tmp_path: Path) -> None:
    s = session_for(tmp_path)
    assert len(s.items) == 3
    item = s.go(0)
    assert item is not None and item.scan is not None
    assert item.scan.shape == (512, 1024) and item.model_id == "test-model-1"
    assert item.machine_alarm == "ALARM" and len(item.detections or []) == 2
    assert item.note == ""  # hash matches the results record
    s.close()


def test_decision_writes_audit_row_and_operator_tdr(tmp_path: Path) -> None:
    s = session_for(tmp_path)
    s.go(0)
    s.set_verdict(0, True)
    s.set_verdict(1, False)
    s.add_mark((10, 20, 60, 90), "blade")
    row = s.decide(Decision.INSPECT)
    assert row["seq"] == 1 and s.items[0].decision is Decision.INSPECT
    stored = next(iter(read_rows(tmp_path / "audit.db")))
    assert stored["operator"] == "op7" and stored["decision"] == "INSPECT"
    assert stored["model_id"] == "test-model-1"
    assert json.loads(stored["verdicts"]) == {"0": "CONFIRMED", "1": "REJECTED"}
    assert json.loads(stored["marks"]) == [{"box": [10.0, 20.0, 60.0, 90.0], "class_name": "blade"}]
    assert len(stored["source_sha256"]) == 64
    assert stored["ts_shown"] <= stored["ts_decided"]
    tdr = read_tdr(stored["tdr_path"])
    assert tdr.tdr_type == "OPERATOR" and tdr.operator_id == "op7"
    assert tdr.alarm_decision == "ALARM"  # INSPECT sends the object for search
    assert "blade" in tdr.detections.label_names
    assert verify(tmp_path / "audit.db").ok
    s.close()


def test_next_undecided_walks_the_queue(tmp_path: Path) -> None:
    s = session_for(tmp_path, 4)
    s.go(0)
    s.decide("CLEAR")
    s.next_undecided()
    assert s.index == 1
    s.go(3)
    s.decide("ALARM")
    s.next_undecided()
    assert s.index == 1  # wraps to the first undecided
    assert s.decided == 2 and s.position() == "2/4 (2 decided)"
    s.close()


def test_without_a_model_scans_show_no_model(tmp_path: Path) -> None:
    p = tmp_path / "scans"
    p.mkdir()
    cv2.imwrite(str(p / "a.png"), make_pixels(1))
    cv2.imwrite(str(p / "b.png"), make_pixels(2))
    (p / "notes.txt").write_text("not a scan")
    items, _ = expand_sources([str(p)])
    assert [Path(i.source).name for i in items] == ["a.png", "b.png"]
    s = ReviewSession(items, operator="op", audit=AuditLog(tmp_path / "a.db"), tdr_dir=None)
    item = s.go(0)
    assert item is not None and item.machine_alarm == "NO MODEL" and len(item.detections or []) == 0
    row = s.decide("CLEAR")
    assert row["model_id"] is None and row["machine_alarm"] == "NO MODEL"
    s.close()


class FakeDetector:
    """A stand-in with the Detector attributes (the real one needs a trained ONNX model)."""

    model_id = "fake-1"
    provider = "cpu"
    threshold = 0.5

    def __call__(self, scan: Scan) -> Detections:
        return Detections(np.array([OBJECT_BOX], np.float32), np.array([0.8]), np.array([3]))


def test_raw_scans_are_detected_when_a_detector_is_given(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), make_pixels(1))
    items, _ = expand_sources([str(p)])
    s = ReviewSession(
        items, operator="op", audit=AuditLog(tmp_path / "a.db"), detector=FakeDetector()
    )
    item = s.go(0)
    assert item is not None and item.machine_alarm == "ALARM" and item.model_id == "fake-1"
    assert item.detections is not None and item.detections.label_names == ["blade"]
    s.close()


def test_unreadable_scan_can_still_be_decided(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    items, _ = expand_sources([str(bad)])
    s = ReviewSession(items, operator="op", audit=AuditLog(tmp_path / "a.db"), tdr_dir=tmp_path)
    item = s.go(0)
    assert item is not None and item.scan is None and "bad.png" in item.error
    row = s.decide("INSPECT")
    assert row["note"] and "bad.png" in row["note"]
    s.close()


def test_bad_sources_and_operator(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere.png"):
        expand_sources([str(tmp_path / "nowhere.png")])
    with pytest.raises(ValueError, match="operator"):
        ReviewSession([], operator=" ", audit=AuditLog(tmp_path / "a.db"))
    s = ReviewSession([], operator="op", audit=AuditLog(tmp_path / "b.db"))
    with pytest.raises(IndexError, match="empty"):
        s.decide("CLEAR")
    with pytest.raises(ValueError, match="MAYBE"):
        Decision("MAYBE")


def test_every_bound_key_is_in_the_help_and_has_a_handler() -> None:
    helped = {action for _keys, action, _text in KEYMAP}
    for code, (action, _arg) in BINDINGS.items():
        assert action in helped, f"key {code} ({action}) missing from the help"
        if action != "quit":
            assert hasattr(Viewer, f"_do_{action}"), action
    assert all(action in {a for a, _ in BINDINGS.values()} for action in helped)


class HeatDetector(FakeDetector):
    def __call__(self, scan: Scan) -> Detections:
        dets = super().__call__(scan)
        heat = np.zeros((32, 64), np.float32)
        heat[4:8, 10:20] = 1.0
        return Detections(dets.boxes, dets.scores, dets.labels, extras={"anomaly_map": heat})


def test_an_anomaly_map_from_the_model_is_kept_for_display(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    cv2.imwrite(str(p), make_pixels(1))
    items, _ = expand_sources([str(p)])
    s = ReviewSession(
        items, operator="op", audit=AuditLog(tmp_path / "a.db"), detector=HeatDetector()
    )
    item = s.go(0)
    assert item is not None and item.heatmap is not None and item.heatmap.shape == (32, 64)
    s.close()


def test_a_live_scan_without_stored_pixels_is_not_reopened(tmp_path: Path) -> None:
    res = tmp_path / "res"
    write_results_dir(res, 1)
    rec = json.loads((res / "results.jsonl").read_text())
    rec["source"] = "sim://handheld?seed=1#3"  # detect wrote no DX for it
    (res / "results.jsonl").write_text(json.dumps(rec) + "\n")
    items, _ = expand_sources([str(res)])
    s = ReviewSession(items, operator="op", audit=AuditLog(tmp_path / "a.db"))
    item = s.go(0)
    assert item is not None and item.scan is None and "live scan not stored" in item.error
    s.close()


def test_view_cli_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backscatter.cli.main import main

    db = str(tmp_path / "a.db")
    assert main(["view", str(tmp_path / "nope"), "--operator", "x", "--audit", db]) == 2
    err = capsys.readouterr().err
    assert "nope: no such file, folder or source URI" in err and len(err.splitlines()) == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["view", str(empty), "--operator", "x", "--audit", db]) == 1
    assert "no scans found" in capsys.readouterr().err
    assert main(["view", str(empty), "--operator", "x", "--size", "big"]) == 2
    assert "--size: expected WIDTHxHEIGHT" in capsys.readouterr().err
