"""detect --anomaly: JSONL record, ANOMALY PTOs in the machine TDR (read_tdr, dcmdump), overlay."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.cli.main import main
from backscatter.detections import Detections
from backscatter.dicos.tdr import read_tdr, write_machine_tdr
from backscatter.inference.anomaly import AnomalyResult
from backscatter.inference.anomaly_flags import anomaly_flags, append_anomaly_ptos
from backscatter.scan import Scan


def _result(shape: tuple[int, int]) -> AnomalyResult:
    labels = np.zeros(shape, np.int32)
    labels[10:30, 40:70] = 1
    labels[50:60, 5:25] = 2
    return AnomalyResult(
        map=np.where(labels > 0, 3.0, 0.0).astype(np.float32),
        score=3.0,
        boxes=np.array([[40, 10, 70, 30], [5, 50, 25, 60]], np.float32),
        peaks=np.array([3.0, 1.5], np.float32),
        labels=labels,
        threshold=1.0,
    )


def test_anomaly_ptos_are_read_back(tmp_path: Path) -> None:
    scan = Scan(pixels=np.full((80, 100), 500, np.uint16), bits_stored=12, scan_id="s1")
    dets = Detections(boxes=np.array([[0, 45, 30, 65]], np.float32),
                      scores=np.array([0.9], np.float32), labels=np.array([2]))  # fmt: skip
    path = tmp_path / "t_tdr.dcm"
    write_machine_tdr(scan, dets, path, model_id="det:1", alarm_threshold=0.5)
    result = _result(scan.shape)
    flags = anomaly_flags(result, dets, 0.5)
    assert flags.tolist() == [True, False]  # the second region is under the firearm flag
    append_anomaly_ptos(path, scan, result, flags, algorithm="tiny-anomaly:1.0.0:abc")
    tdr = read_tdr(path, image_shape=scan.shape)
    assert tdr.alarm_decision == "ALARM"
    assert tdr.categories == ("PI", "ANOMALY")
    assert tdr.pto_ids == (0, 1)
    assert tdr.detections.class_names[int(tdr.detections.labels[1])] == "anomaly"
    np.testing.assert_allclose(tdr.detections.boxes[1], [40, 10, 70, 30])
    assert tdr.detections.scores[1] == pytest.approx(1.0)  # 0.5 * 3.0 / 1.0, clipped
    assert tdr.detections.masks is not None
    assert np.array_equal(tdr.detections.masks[1], result.labels == 1)
    assert "tiny-anomaly:1.0.0:abc" in tdr.algorithm
    if shutil.which("dcmdump") is None:
        pytest.skip("dcmdump (dcmtk) not installed")
    dump = subprocess.run(["dcmdump", "+P", "4010,1012", "+P", "4010,1033", str(path)],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "[ANOMALY]" in dump and "[PI]" in dump
    assert "US 2" in dump  # NumberOfTotalObjects


def test_detect_with_anomaly_writes_flags(
    tiny_model: Path, novel_dir: Path, tmp_path: Path
) -> None:
    model = tmp_path / "low-anomaly.onnx"
    model.write_bytes(tiny_model.read_bytes())
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    card["region_threshold"] = -1e6  # every pixel anomalous: one region over the whole scan
    card["min_region_px"] = 16
    model.with_suffix(".json").write_text(json.dumps(card))
    scans = tmp_path / "in"
    scans.mkdir()
    for p in sorted((novel_dir / "images").glob("*.png"))[:2]:
        shutil.copy(p, scans / p.name)
    out = tmp_path / "out"
    rc = main(["detect", str(scans), "--out", str(out), "--anomaly", str(model), "--workers", "1",
               "--threshold", "1.0", "--outputs", "overlay,tdr,dx"])  # fmt: skip
    assert rc == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for rec in records:
        regions = rec["anomaly"]["regions"]
        assert len(regions) == 1 and regions[0]["flag"] and regions[0]["kind"] == "anomaly"
        assert regions[0]["box"] == [0, 0, rec["columns"], rec["rows"]]
        assert rec["alarm"] == "ALARM" and "anomaly" in rec["timings_ms"]
        tdr = read_tdr(out / rec["outputs"]["tdr"])
        assert tdr.categories[-1] == "ANOMALY" and tdr.alarm_decision == "ALARM"
        overlay = cv2.imread(str(out / rec["outputs"]["overlay"]))
        assert np.any(np.all(overlay == (255, 0, 255), axis=-1))  # the region outline


def test_detect_refuses_a_detector_as_anomaly_model(
    tmp_path: Path, novel_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    det = Path(__file__).parents[2] / "models" / "bsnet-handheld.onnx"
    rc = main(["detect", str(novel_dir / "images"), "--out", str(tmp_path / "o"),
               "--anomaly", str(det), "--workers", "1"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc != 0 and "task" in err and "Traceback" not in err
