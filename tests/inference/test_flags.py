"""The flag stage: one object, one flag, in every output of `detect`."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from backscatter.cli.main import main
from backscatter.detections import Detections
from backscatter.inference.flags import pair_overlap, record_flags, to_flags
from backscatter.inference.sinks import read_results

from .blob_model import write_blob_model
from .conftest import blob_scan


def _dets(boxes: list[list[float]], scores: list[float], labels: list[int]) -> Detections:
    return Detections(boxes=boxes, scores=scores, labels=labels)


def test_boxes_of_different_classes_on_one_object_become_one_flag() -> None:
    dets = _dets(
        [[10, 10, 60, 60], [11, 10, 60, 61], [12, 11, 59, 60], [200, 200, 240, 240]],
        [0.44, 0.67, 0.2, 0.5],
        [1, 4, 3, 2],  # currency, liquid, blade on one bag; a firearm elsewhere
    )
    flags = to_flags(dets)
    assert flags.label_names == ["liquid", "firearm"]
    np.testing.assert_allclose(flags.scores, [0.67, 0.5])
    np.testing.assert_array_equal(flags.boxes[0], [11, 10, 60, 61])  # the top class keeps its box
    assert flags.alternatives(0) == pytest.approx({"currency": 0.44, "blade": 0.2})
    assert flags.alternatives(1) == {}
    assert flags.class_scores is not None and flags.class_scores.shape == (2, 5)


def test_a_small_object_inside_a_larger_one_stays_its_own_flag() -> None:
    # a blade inside a package: containment 1.0, IoU 0.04 -> two objects, two flags
    dets = _dets([[0, 0, 100, 100], [40, 40, 60, 60]], [0.8, 0.6], [0, 3])
    iou, contain = pair_overlap(dets.boxes)
    assert contain[0, 1] == pytest.approx(1.0) and iou[0, 1] == pytest.approx(0.04)
    assert to_flags(dets).label_names == ["organic_package", "blade"]


def test_boxes_of_one_class_are_never_joined() -> None:
    dets = _dets([[0, 0, 50, 50], [5, 0, 55, 50]], [0.9, 0.7], [3, 3])
    assert len(to_flags(dets)) == 2


def test_records_round_trip_with_alternatives_and_old_records_are_joined() -> None:
    flags = to_flags(_dets([[0, 0, 50, 50], [0, 0, 50, 50]], [0.6, 0.3], [4, 1]))
    back = Detections.from_records(flags.to_records())
    assert back.alternatives(0) == pytest.approx({"currency": 0.3})
    old = {"detections": _dets([[0, 0, 50, 50], [0, 0, 50, 50]], [0.6, 0.3], [4, 1]).to_records()}
    assert len(record_flags(old)) == 1
    new = {"flags": flags.to_records(), "candidates": []}
    assert record_flags(new).alternatives(0) == pytest.approx({"currency": 0.3})


@pytest.fixture(scope="module")
def twin_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The blob model proposing every blob twice: its class at 0.9, the next class at 0.6."""
    return write_blob_model(tmp_path_factory.mktemp("twin"), "twin", twin_score=0.6)


def _folder(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    folder.mkdir()
    for i, boxes in enumerate([[(20, 30, 60, 70)], []]):
        scan = blob_scan((100, 120), boxes, seed=i)
        assert cv2.imwrite(str(folder / f"scan_{i}.png"), scan.pixels)
    return folder


def test_detect_writes_one_flag_per_object_in_every_output(
    tmp_path: Path, twin_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    code = main(["detect", str(_folder(tmp_path)), "--out", str(out), "--model", str(twin_model)])
    capsys.readouterr()
    assert code == 0
    alarm, clear = read_results(out / "results.jsonl")
    assert "detections" not in alarm
    assert len(alarm["flags"]) == 1 and alarm["candidates"] == []
    flag = alarm["flags"][0]
    assert flag["box"] == [20.0, 30.0, 60.0, 70.0] and flag["score"] == pytest.approx(0.9)
    assert flag["alternatives"] == {
        ["organic_package", "currency", "firearm", "blade", "liquid"][(flag["label"] + 1) % 5]: (
            pytest.approx(0.6)
        )
    }
    assert alarm["alarm"] == "ALARM" and clear["alarm"] == "CLEAR" and clear["flags"] == []
    tdr = pydicom.dcmread(out / alarm["outputs"]["tdr"])
    assert int(tdr.NumberOfTotalObjects) == 1 and int(tdr.NumberOfAlarmObjects) == 1
    assessments = tdr.ThreatSequence[0].ATDAssessmentSequence
    assert [a.ThreatCategoryDescription for a in assessments] == [
        flag["class_name"],
        *flag["alternatives"],
    ]
    assert float(assessments[1].ATDAssessmentProbability) == pytest.approx(0.6)
    coco = json.loads((out / "coco_results.json").read_text())
    assert [(c["image_id"], c["category_id"]) for c in coco] == [(1, flag["label"] + 1)]


def test_flags_below_the_threshold_are_candidates_and_reach_a_tdr_only_when_asked(
    tmp_path: Path, twin_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _folder(tmp_path)
    base = [str(folder), "--model", str(twin_model), "--threshold", "0.95"]
    assert main(["detect", *base, "--out", str(tmp_path / "a")]) == 0
    assert main(["detect", *base, "--out", str(tmp_path / "b"), "--tdr-candidates"]) == 0
    capsys.readouterr()
    rec = read_results(tmp_path / "a" / "results.jsonl")[0]
    assert rec["alarm"] == "CLEAR" and rec["flags"] == []
    assert [c["score"] for c in rec["candidates"]] == [pytest.approx(0.9)]
    plain = pydicom.dcmread(tmp_path / "a" / rec["outputs"]["tdr"])
    assert int(plain.NumberOfTotalObjects) == 0 and plain.AlarmDecision == "CLEAR"
    asked = pydicom.dcmread(tmp_path / "b" / rec["outputs"]["tdr"])
    assert int(asked.NumberOfTotalObjects) == 1 and int(asked.NumberOfAlarmObjects) == 0
    assert asked.ThreatSequence[0].ATDAssessmentSequence[0].ATDAssessmentFlag == "NO_THREAT"
    assert json.loads((tmp_path / "a" / "coco_results.json").read_text()) == []


def test_a_live_scan_has_one_id_in_results_file_names_viewer_and_audit(
    tmp_path: Path, twin_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from backscatter.audit import AuditLog, read_rows
    from backscatter.viewer.review import ReviewSession, items_from_results

    out = tmp_path / "out"
    uri = "sim://handheld?seed=3&count=2&size=128x128&realtime=0"
    assert main(["detect", uri, "--out", str(out), "--model", str(twin_model)]) == 0
    capsys.readouterr()
    records = read_results(out / "results.jsonl")
    items = items_from_results(out)
    with AuditLog(tmp_path / "audit.db") as audit:
        session = ReviewSession(items, operator="op", audit=audit, tdr_dir=tmp_path / "tdr")
        for k, rec in enumerate(records):
            dx = pydicom.dcmread(out / rec["outputs"]["dx"])
            assert rec["scan_id"] == dx.SOPInstanceUID
            assert all(rec["scan_id"] in Path(p).name for p in rec["outputs"].values())
            item = session.go(k)
            assert item is not None and item.scan is not None
            assert item.label == item.scan.scan_id == rec["scan_id"]
            session.decide("CLEAR")
        session.close()
    rows = list(read_rows(tmp_path / "audit.db"))
    assert [r["scan_id"] for r in rows] == [r["scan_id"] for r in records]
    assert all(Path(r["tdr_path"]).name.startswith(r["scan_id"]) for r in rows)


def test_a_box_the_officer_draws_on_a_clear_scan_reaches_the_operator_tdr(
    tmp_path: Path, twin_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a CLEAR scan's machine TDR has no PTO (flags below the threshold are candidates), so the
    # operator TDR takes the image reference from the scan itself
    from backscatter.audit import AuditLog, read_rows
    from backscatter.dicos.tdr import read_tdr
    from backscatter.viewer.review import ReviewSession, items_from_results

    out = tmp_path / "out"
    args = [str(_folder(tmp_path)), "--out", str(out), "--model", str(twin_model)]
    assert main(["detect", *args]) == 0
    capsys.readouterr()
    items = items_from_results(out)
    clear = [k for k, it in enumerate(items) if it.machine_alarm == "CLEAR"]
    with AuditLog(tmp_path / "audit.db") as audit:
        session = ReviewSession(items, operator="op", audit=audit, tdr_dir=tmp_path / "tdr")
        session.go(clear[0])
        session.add_mark((10, 10, 40, 40), "blade")
        session.decide("ALARM")
        session.close()
    row = next(iter(read_rows(tmp_path / "audit.db")))
    assert row["note"] is None and row["tdr_path"]
    tdr = read_tdr(str(row["tdr_path"]))
    machine = pydicom.dcmread(out / read_results(out / "results.jsonl")[clear[0]]["outputs"]["tdr"])
    assert int(machine.NumberOfTotalObjects) == 0
    assert tdr.detections.label_names == ["blade"]
    assert tdr.references[0] and tdr.references[0][0].sop_instance_uid
