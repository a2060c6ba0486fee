"""`backscatter dataset`: DICOS images + labelling TDRs -> a COCO json that training reads."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.cli.main import main
from backscatter.detections import Detections
from backscatter.dicos import scan_uids, write_dx, write_ground_truth_tdr, write_machine_tdr
from backscatter.dicos.tdr import write_operator_tdr
from backscatter.training.data import CocoDetection

from .conftest import make_scan


def labelled_folder(root: Path) -> dict[str, np.ndarray]:
    """Four DX images: A with a ground-truth TDR (2 objects) and an older operator TDR that the
    ground truth outranks, B with a machine TDR (3 flags) and an officer's decision on it
    (confirmed 0, rejected 1 and 2, one drawn), C with an empty ground truth (clean), D with
    nothing. Returns the boxes each labelled image should get."""
    scans = {name: make_scan(seed, shape=(96, 128)) for seed, name in enumerate("ABCD")}
    for name, scan in scans.items():
        write_dx(scan, root / f"{name}.dcs")
    gt_a = Detections(boxes=[[10, 12, 40, 30], [60, 50, 90, 70]], scores=[1, 1], labels=[2, 3])
    write_ground_truth_tdr(scans["A"], gt_a, root / "A_gt.dcs")
    flags_a = Detections(boxes=[[0, 0, 9, 9]], scores=[0.8], labels=[0])
    write_machine_tdr(scans["A"], flags_a, root / "A_m.dcs", model_id="m", alarm_threshold=0.5)
    write_operator_tdr(root / "A_m.dcs", root / "A_op.dcs", operator_id="o1", decision="ALARM",
                       confirmed=[0])  # fmt: skip
    flags = Detections(
        boxes=[[5, 5, 25, 25], [30, 30, 50, 50], [70, 10, 100, 40]],
        scores=[0.9, 0.7, 0.6],
        labels=[4, 1, 0],
    )
    write_machine_tdr(scans["B"], flags, root / "B_m.dcs", model_id="m", alarm_threshold=0.5)
    drawn = Detections(boxes=[[100, 60, 140, 90]], scores=[1.0], labels=[1])  # past the edge
    write_operator_tdr(root / "B_m.dcs", root / "B_op.dcs", operator_id="o2", decision="ALARM",
                       confirmed=[0], rejected=[1, 2], added=drawn)  # fmt: skip
    write_ground_truth_tdr(scans["C"], Detections.empty(), root / "C_gt.dcs")
    (root / "notes.txt").write_text("not a scan")
    return {
        "A.dcs": gt_a.boxes,
        "B.dcs": np.array([[5, 5, 25, 25], [100, 60, 128, 90]], np.float32),
        "C.dcs": np.zeros((0, 4), np.float32),
    }


def test_dataset_from_ground_truth_and_operator_tdrs_trains_as_coco(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "field"
    src.mkdir()
    expected = labelled_folder(src)
    out = tmp_path / "ds" / "labels.json"
    assert main(["dataset", str(src), "--out", str(out)]) == 0
    summary = capsys.readouterr()
    assert "3 images, 4 objects" in summary.out
    assert "skipped (type not accepted): 2 MACHINE" in summary.out
    assert "A_op.dcs: labels of" in summary.err and "kept from" in summary.err

    coco = CocoDetection(out, classes=THREAT_CLASSES)
    by_name = {Path(im["file_name"]).name: i for i, im in enumerate(coco.images)}
    assert sorted(by_name) == sorted(expected)
    for name, boxes in expected.items():
        sample = coco[by_name[name]]
        np.testing.assert_allclose(sample.boxes, boxes, atol=1e-3)
        assert sample.pixels.shape == (96, 128) and sample.bits_stored == 12
    a = coco[by_name["A.dcs"]]
    assert [THREAT_CLASSES[i] for i in a.labels] == ["firearm", "blade"]
    b = coco[by_name["B.dcs"]]
    assert [THREAT_CLASSES[i] for i in b.labels] == ["liquid", "currency"]
    entry = coco.images[by_name["B.dcs"]]
    assert entry["tdr_type"] == "OPERATOR" and entry["tdr_file"].endswith("B_op.dcs")


def test_bad_tdrs_are_named_and_the_rest_still_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "field"
    src.mkdir()
    labelled_folder(src)
    data = (src / "C_gt.dcs").read_bytes()
    (src / "C_gt.dcs").write_bytes(data[: len(data) // 2])  # truncated
    stray = make_scan(9, shape=(96, 128))  # labels an image that is not among the inputs
    write_ground_truth_tdr(stray, Detections.empty(), src / "stray_gt.dcs")
    out = tmp_path / "labels.json"
    assert main(["dataset", str(src), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ": error: " in ln]
    assert len(lines) == 2
    assert any("C_gt.dcs" in ln for ln in lines)
    # an empty TDR references its image at the top level: the error names that image
    stray_ref = f"references image {scan_uids(stray).instance}, which is not among the inputs"
    assert any("stray_gt.dcs" in ln and stray_ref in ln for ln in lines)
    assert any("C_gt.dcs" in ln and "truncated" in ln for ln in lines)
    names = {Path(im["file_name"]).name for im in json.loads(out.read_text())["images"]}
    assert names == {"A.dcs", "B.dcs"}


def test_another_vendors_sample_with_its_class_mapped(
    samples: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = samples / "V03_Data" / "DXwithTDR"  # a MACHINE TDR, class "PI"
    out = tmp_path / "dx.json"
    assert main(["dataset", str(folder), "--accept", "machine", "--out", str(out)]) == 1
    assert "--map 'PI=CLASS'" in capsys.readouterr().err
    args = ["dataset", str(folder), "--accept", "machine", "--map", "PI=firearm"]
    assert main([*args, "--out", str(out)]) == 0
    coco = CocoDetection(out, classes=THREAT_CLASSES)
    sample = coco[0]
    np.testing.assert_allclose(sample.boxes, [[24, 91, 40, 113]])
    assert THREAT_CLASSES[int(sample.labels[0])] == "firearm"
    assert sample.pixels.shape == (200, 100)
