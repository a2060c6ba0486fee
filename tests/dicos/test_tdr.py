"""Round trips of our own TDRs: Scan + Detections -> DX + TDR -> read back equal."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pydicom
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.dicos.content import DicosWriteError, ImageRef
from backscatter.dicos.dx import write_dx
from backscatter.dicos.enum import AlarmDecision, OperatorVerdict, ThreatCategory
from backscatter.dicos.tdr import (
    read_tdr,
    write_ground_truth_tdr,
    write_machine_tdr,
    write_operator_tdr,
)
from backscatter.dicos.uids import DICOS_DX_PROCESSING, DICOS_TDR

from .conftest import make_scan


def random_detections(seed: int, shape: tuple[int, int], n: int = 6) -> Detections:
    rng = np.random.default_rng(seed)
    rows, cols = shape
    x0 = rng.uniform(0, cols - 20, n)
    y0 = rng.uniform(0, rows - 20, n)
    boxes = np.stack([x0, y0, x0 + rng.uniform(1, 19, n), y0 + rng.uniform(1, 19, n)], 1)
    masks = np.zeros((n, rows, cols), bool)
    for i, (a, b, c, d) in enumerate(boxes):
        r0, r1, c0, c1 = int(np.floor(b)), int(np.ceil(d)), int(np.floor(a)), int(np.ceil(c))
        masks[i, r0:r1, c0:c1] = rng.random((r1 - r0, c1 - c0)) > 0.4
    return Detections(
        boxes=boxes,
        scores=rng.uniform(0, 1, n),
        labels=rng.integers(0, len(THREAT_CLASSES), n),
        masks=masks,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_machine_tdr_round_trip_is_exact(tmp_path: Path, seed: int) -> None:
    scan = make_scan(seed)
    dets = random_detections(seed, scan.shape)
    dx_uid = write_dx(scan, tmp_path / "dx.dcm")
    uid = write_machine_tdr(scan, dets, tmp_path / "tdr.dcm", model_id="m:1", alarm_threshold=0.5)
    tdr = read_tdr(tmp_path / "tdr.dcm", image_shape=scan.shape)
    back = tdr.detections
    np.testing.assert_array_equal(back.boxes, dets.boxes)
    np.testing.assert_array_equal(back.scores, dets.scores)
    np.testing.assert_array_equal(back.labels, dets.labels)
    assert back.class_names == THREAT_CLASSES
    assert back.masks is not None and dets.masks is not None
    np.testing.assert_array_equal(back.masks, dets.masks)
    assert tdr.sop_instance_uid == uid
    assert tdr.image_refs == [ImageRef(DICOS_DX_PROCESSING, dx_uid)]
    assert tdr.pto_ids == tuple(range(len(dets)))
    expected = "ALARM" if (dets.scores >= 0.5).any() else "CLEAR"
    assert tdr.alarm_decision == expected
    assert tdr.flags == tuple("THREAT" if s >= 0.5 else "NO_THREAT" for s in dets.scores)
    assert tdr.study_instance_uid == pydicom.dcmread(tmp_path / "dx.dcm").StudyInstanceUID


def test_machine_tdr_header(tmp_path: Path) -> None:
    scan = make_scan(3)
    dets = Detections(
        boxes=[[1, 2, 10, 12], [20, 20, 30, 40], [5, 5, 6, 6]],
        scores=[0.95, 0.3, 0.7],
        labels=[THREAT_CLASSES.index(n) for n in ("firearm", "currency", "liquid")],
    )
    write_machine_tdr(
        scan,
        dets,
        tmp_path / "t.dcm",
        model_id="det",
        model_version="2.1",
        model_sha256="ab" * 32,
        alarm_threshold=0.6,
        processing_time_ms=12.5,
    )
    ds = pydicom.dcmread(tmp_path / "t.dcm")
    assert ds.SOPClassUID == DICOS_TDR
    assert ds.TDRType == "MACHINE"
    assert ds.AlarmDecision == "ALARM"
    assert ds.NumberOfTotalObjects == 3
    assert ds.NumberOfAlarmObjects == 2
    assert list(ds.ThreatDetectionAlgorithmAndVersion) == ["det", "2.1", "ab" * 32]
    assert ds.TotalProcessingTime == pytest.approx(12.5)
    cats = [it.ATDAssessmentSequence[0].ThreatCategory for it in ds.ThreatSequence]
    assert cats == [ThreatCategory.PI, ThreatCategory.CONTRABAND, ThreatCategory.OTHER]
    first = ds.ThreatSequence[0]
    assert first.ATDAssessmentSequence[0].ThreatCategoryDescription == "firearm"
    assert first.ATDAssessmentSequence[0].ATDAssessmentProbability == pytest.approx(0.95)
    rep = first.PTORepresentationSequence[0]
    assert list(rep.BoundingPolygon) == [1, 2, 10, 2, 10, 12, 1, 12]
    assert list(rep.ThreatROIVoxelSequence[0].ThreatROIBase) == [1, 2, 0]
    assert list(rep.ThreatROIVoxelSequence[0].ThreatROIExtents) == [9, 10, 1]


def test_clear_when_nothing_passes_threshold(tmp_path: Path) -> None:
    scan = make_scan(4)
    dets = Detections(boxes=[[0, 0, 4, 4]], scores=[0.49], labels=[0])
    write_machine_tdr(scan, dets, tmp_path / "t.dcm", model_id="m", alarm_threshold=0.5)
    tdr = read_tdr(tmp_path / "t.dcm")
    assert tdr.alarm_decision == AlarmDecision.CLEAR
    assert tdr.detections.masks is None
    write_machine_tdr(
        scan, Detections.empty(), tmp_path / "e.dcm", model_id="m", alarm_threshold=0.5
    )
    empty = read_tdr(tmp_path / "e.dcm")
    assert (empty.alarm_decision, len(empty.detections)) == ("CLEAR", 0)


def test_ground_truth_tdr(tmp_path: Path) -> None:
    scan = make_scan(5)
    dets = random_detections(5, scan.shape, n=3)
    gt = Detections(dets.boxes, np.ones(3), dets.labels, masks=dets.masks)
    write_ground_truth_tdr(scan, gt, tmp_path / "gt.dcm", annotator="exercise key 7")
    tdr = read_tdr(tmp_path / "gt.dcm", image_shape=scan.shape)
    assert tdr.tdr_type == "GROUND_TRUTH"
    assert tdr.algorithm == ("exercise key 7",)
    assert tdr.flags == ("THREAT",) * 3
    np.testing.assert_array_equal(tdr.detections.boxes, gt.boxes)
    np.testing.assert_array_equal(tdr.detections.masks, gt.masks)


def test_operator_tdr_references_machine_tdr(tmp_path: Path) -> None:
    scan = make_scan(6)
    dets = Detections(
        boxes=[[1, 1, 9, 9], [20, 20, 40, 30], [50, 5, 60, 15]],
        scores=[0.9, 0.8, 0.2],
        labels=[2, 3, 0],
    )
    machine = tmp_path / "machine.dcm"
    machine_uid = write_machine_tdr(scan, dets, machine, model_id="m", alarm_threshold=0.5)
    added = Detections(boxes=[[70, 40, 90, 60]], scores=[1.0], labels=[1])
    uid = write_operator_tdr(
        machine,
        tmp_path / "op.dcm",
        operator_id="officer-42",
        operator_name="Jane Roe",
        decision="ALARM",
        confirmed=[0],
        rejected=[1, 2],
        added=added,
    )
    op = read_tdr(tmp_path / "op.dcm")
    assert op.sop_instance_uid == uid != machine_uid
    assert op.tdr_type == "OPERATOR"
    assert op.alarm_decision == "ALARM"
    assert op.operator_id == "officer-42"
    assert op.referenced_tdr_uids == (machine_uid,)
    assert op.referenced_pto_ids == (0, 1, 2, None)
    assert op.verdicts == (
        OperatorVerdict.CONFIRMED,
        OperatorVerdict.REJECTED,
        OperatorVerdict.REJECTED,
        OperatorVerdict.ADDED,
    )
    np.testing.assert_array_equal(op.detections.boxes[:3], dets.boxes)
    np.testing.assert_array_equal(op.detections.boxes[3], added.boxes[0])
    assert op.detections.label_names == ["firearm", "blade", "organic_package", "currency"]
    assert op.image_refs == read_tdr(machine).image_refs
    ds = pydicom.dcmread(tmp_path / "op.dcm")
    assert ds.NumberOfAlarmObjects == 2
    ref = ds.ThreatSequence[0].ReferencedPTOSequence[0]
    assert ref.ReferencedTDRInstanceSequence[0].ReferencedSOPInstanceUID == machine_uid
    code = ds.OperatorIdentificationSequence[0].PersonIdentificationCodeSequence[0]
    assert (code.CodeValue, code.CodeMeaning) == ("officer-42", "Jane Roe")


def test_operator_tdr_refuses_unknown_pto(tmp_path: Path) -> None:
    scan = make_scan(7)
    dets = Detections(boxes=[[1, 1, 9, 9]], scores=[0.9], labels=[2])
    write_machine_tdr(scan, dets, tmp_path / "m.dcm", model_id="m", alarm_threshold=0.5)
    with pytest.raises(DicosWriteError, match=r"PTO ids \[5\]"):
        write_operator_tdr(
            tmp_path / "m.dcm", tmp_path / "o.dcm", operator_id="x", decision="CLEAR", rejected=[5]
        )
    with pytest.raises(DicosWriteError, match="both confirmed and rejected"):
        write_operator_tdr(
            tmp_path / "m.dcm",
            tmp_path / "o.dcm",
            operator_id="x",
            decision="CLEAR",
            confirmed=[0],
            rejected=[0],
        )
    with pytest.raises(DicosWriteError, match="decision: expected one of ALARM, CLEAR"):
        write_operator_tdr(
            tmp_path / "m.dcm", tmp_path / "o.dcm", operator_id="x", decision="MAYBE"
        )
    assert not (tmp_path / "o.dcm").exists()


def test_mask_shape_must_match_scan(tmp_path: Path) -> None:
    scan = make_scan(8)
    dets = Detections([[0, 0, 2, 2]], [0.9], [0], masks=np.ones((1, 5, 5), bool))
    with pytest.raises(DicosWriteError, match=r"masks: expected shape \(N, 96, 128\)"):
        write_machine_tdr(scan, dets, tmp_path / "t.dcm", model_id="m", alarm_threshold=0.5)
    assert list(tmp_path.iterdir()) == []


def test_read_tdr_rejects_a_non_tdr(tmp_path: Path) -> None:
    from backscatter.dicos.tdr_read import TDRReadError

    write_dx(make_scan(9), tmp_path / "dx.dcm")
    with pytest.raises(TDRReadError, match="expected a DICOS TDR"):
        read_tdr(tmp_path / "dx.dcm")
    (tmp_path / "junk.dcm").write_bytes(b"not dicom at all")
    with pytest.raises(TDRReadError, match="junk.dcm"):
        read_tdr(tmp_path / "junk.dcm")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 4000, width=32),
            st.floats(0, 4000, width=32),
            st.floats(0, 500, width=32),
            st.floats(0, 500, width=32),
        ),
        min_size=1,
        max_size=4,
    )
)
def test_any_float32_box_round_trips_exactly(raw: list[tuple[float, float, float, float]]) -> None:
    """ROI base + extents are float32: the writer picks extents so base + extent == x1."""
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in raw], np.float32)
    dets = Detections(boxes, np.full(len(boxes), 0.5), np.zeros(len(boxes)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "t.dcm"
        write_machine_tdr(make_scan(0), dets, path, model_id="m", alarm_threshold=0.5)
        np.testing.assert_array_equal(read_tdr(path).detections.boxes, dets.boxes)
