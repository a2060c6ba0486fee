import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.inference.preprocess import normalise
from backscatter.training.checkpoint import Checkpoint, save_checkpoint
from backscatter.training.data import CocoDetection
from backscatter.training.engine import train
from backscatter.training.evaluate import evaluate_detections
from backscatter.training.export import check_parity, export_onnx, parity_scan
from backscatter.training.model import build_model
from backscatter.training.predict import OnnxBackend, load_predictor, preprocess_spec

from .conftest import tiny_config

ROOT = Path(__file__).resolve().parents[2]
META_KEYS = {
    "classes",
    "preprocess",
    "model_name",
    "model_version",
    "train_config_sha256",
    "dataset_manifest_sha256",
}


@pytest.fixture(scope="module")
def tiny_run(tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    train_json, _ = tiny_data
    out = tmp_path_factory.mktemp("run")
    cfg = tiny_config(train_json, **{"optim": {"epochs": 2, "batch_size": 4}})
    train(cfg, out, progress=False)
    return out / "last.pt"


@pytest.fixture(scope="module")
def tiny_onnx(tiny_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    export_onnx(tiny_run, out, parity_images=2)
    return out


def test_onnx_contract(tiny_onnx: Path, tiny_run: Path) -> None:
    model = onnx.load(str(tiny_onnx))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) <= 18
    meta = {p.key: p.value for p in model.metadata_props}
    assert set(meta) >= META_KEYS
    assert json.loads(meta["classes"]) == list(THREAT_CLASSES)
    assert json.loads(meta["preprocess"])["stride"] == 32
    assert [i.name for i in model.graph.input] == ["image"]
    assert [o.name for o in model.graph.output] == ["boxes", "scores", "labels"]
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["batch", 1, "height", "width"]


def test_onnx_dynamic_batch_and_size(tiny_onnx: Path) -> None:
    backend = OnnxBackend(tiny_onnx)
    rng = np.random.default_rng(0)
    x = rng.random((3, 1, 96, 160), dtype=np.float32)
    boxes, scores, labels = backend.run(x)
    assert boxes.shape == (3, 20, 4) and scores.shape == (3, 20) and labels.dtype == np.int64
    assert np.all(np.diff(scores, axis=1) <= 0)
    single, _, _ = backend.run(x[1:2])
    np.testing.assert_allclose(single[0], boxes[1], atol=1e-3)


def test_parity_on_unseen_scans_with_every_detection(
    tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    # random-init model whose BatchNorm statistics are calibrated on scans, so its features and
    # scores vary across the image: the comparison then covers distinct detections and labels
    cfg = tiny_config(tiny_data[0])
    torch.manual_seed(3)
    net = build_model(5, cfg.model)
    nn.init.zeros_(net.hm_head[-1].bias)
    nn.init.normal_(net.hm_head[-1].weight, std=0.1)
    nn.init.normal_(net.box_head[-1].weight, std=0.1)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # running statistics = this calibration batch
    rng = np.random.default_rng(7)
    spec = preprocess_spec(cfg)
    calib = [normalise(parity_scan(rng, (128, 128)), bits_stored=16, spec=spec) for _ in range(8)]
    net.train()
    with torch.no_grad():
        net(torch.from_numpy(np.stack(calib)[:, None]))
    state = {k: v.clone() for k, v in net.state_dict().items()}
    ckpt_path = tmp_path / "random.pt"
    save_checkpoint(Checkpoint(config=cfg, model_state=state, epoch=0), ckpt_path)
    onnx_path = tmp_path / "random.onnx"
    export_onnx(ckpt_path, onnx_path, parity_images=0)
    scans = [parity_scan(rng, s) for s in [(128, 128), (96, 224), (160, 96)]]
    n = check_parity(ckpt_path, onnx_path, scans, min_score=0.0)
    assert n >= 45, n  # nearly all of the 3 x 20 top-K entries; only float ties are skipped
    labels = OnnxBackend(onnx_path).run(np.stack(calib[:1])[:, None])[2]
    assert len(np.unique(labels)) > 1


def test_eval_cli_gives_same_metrics_for_onnx_and_checkpoint(
    tiny_onnx: Path, tiny_run: Path, tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    _, val = tiny_data
    reports = []
    for name, model in (("onnx", tiny_onnx), ("ckpt", tiny_run)):
        out = tmp_path / name
        cmd = [sys.executable, "-m", "backscatter", "eval", "--model", str(model),
               "--data", str(val), "--out", str(out), "--no-progress"]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        for png in ("pr_per_class.png", "froc.png", "confusion_matrix.png"):
            assert (out / png).stat().st_size > 1000
        reports.append(json.loads((out / "report.json").read_text()))
    a, b = reports
    for key in ("map50", "map", "per_class", "pd_at_fapi", "image_auroc", "n_images"):
        assert a[key] == pytest.approx(b[key], abs=1e-6), key


def test_eval_cli_reports_missing_data_in_one_line(tiny_onnx: Path, tmp_path: Path) -> None:
    cmd = [sys.executable, "-m", "backscatter", "eval", "--model", str(tiny_onnx),
           "--data", str(tmp_path / "none.json"), "--out", str(tmp_path / "r")]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode != 0
    assert "none.json: cannot read" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


def test_metrics_of_perfect_and_empty_detections(tiny_data: tuple[Path, Path]) -> None:
    _, val = tiny_data
    coco = CocoDetection(val, classes=THREAT_CLASSES)
    perfect = []
    for i in range(len(coco)):
        boxes, labels, _ = coco.labels(i)
        perfect.append(Detections(boxes, np.full(len(boxes), 0.9), labels))
    r = evaluate_detections(coco, perfect)
    assert r["map50"] == pytest.approx(1.0) and r["map"] == pytest.approx(1.0)
    assert r["pd_at_fapi"] == {"0.1": 1.0, "0.3": 1.0, "1.0": 1.0}
    assert r["image_auroc"] == pytest.approx(1.0)
    # every detection shifted off its object: all false alarms, nothing found
    shifted = [Detections(d.boxes + 1000, d.scores, d.labels) for d in perfect]
    r2 = evaluate_detections(coco, shifted)
    assert r2["map50"] == 0.0 and r2["pd_at_fapi"]["1.0"] == 0.0


def test_predictor_clips_boxes_to_the_scan(tiny_onnx: Path) -> None:
    p = load_predictor(tiny_onnx, min_score=0.0)
    scan = parity_scan(np.random.default_rng(5), (100, 70))
    d = p(scan, bits_stored=16)
    assert d.boxes[:, [0, 2]].max() <= 70 and d.boxes[:, [1, 3]].max() <= 100
    assert d.boxes.min() >= 0


SHIPPED = sorted((ROOT / "models").glob("*.onnx"))


@pytest.mark.skipif(not SHIPPED, reason="no shipped model in models/")
def test_shipped_model_card_and_metadata() -> None:
    from backscatter.training.card import sha256_file

    for path in SHIPPED:
        card = json.loads(path.with_suffix(".json").read_text())
        assert card["sha256"] == sha256_file(path)
        assert card["classes"] == list(THREAT_CLASSES)
        meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        assert set(meta) >= META_KEYS
        assert json.loads(meta["preprocess"]) == card["preprocess"]


@pytest.mark.skipif(not SHIPPED, reason="no shipped model in models/")
def test_shipped_model_parity_on_unseen_scans() -> None:
    from backscatter.training.config import config_from_dict
    from backscatter.training.export import torch_graph_from_onnx

    for path in SHIPPED:
        card = json.loads(path.with_suffix(".json").read_text())
        cfg = config_from_dict(card["training"]["config"])
        graph = torch_graph_from_onnx(path, cfg)
        rng = np.random.default_rng(2024)
        scans = [parity_scan(rng, s) for s in [(512, 512), (384, 640)]]
        n = check_parity(graph, path, scans, min_score=0.0)
        assert n >= 100, n


@pytest.mark.skipif(not SHIPPED, reason="no shipped model in models/")
def test_eval_path_matches_the_runtime_detector_on_the_shipped_model() -> None:
    from backscatter.inference.detector import Detector
    from backscatter.scan import Scan

    scan_px = parity_scan(np.random.default_rng(11), (512, 512))
    det = Detector.load(SHIPPED[0], min_score=0.05)(
        Scan(pixels=scan_px, bits_stored=16, scan_id="parity")
    )
    ours = load_predictor(SHIPPED[0], min_score=0.05)(scan_px, bits_stored=16)
    assert len(det) == len(ours)
    np.testing.assert_allclose(np.sort(det.scores), np.sort(ours.scores), atol=1e-5)
