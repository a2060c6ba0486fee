"""Fit on clean scans and evaluate on a --novel split, through the library and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backscatter.cli.main import main
from backscatter.inference.anomaly import AnomalyModel
from backscatter.training.anomaly_fit import AnomalyFitError, clean_scans
from backscatter.training.anomaly_metrics import aupro, auroc, box_hits


def test_fit_writes_a_card_that_the_runtime_accepts(tiny_model: Path, clean_dir: Path) -> None:
    card = json.loads(tiny_model.with_suffix(".json").read_text())
    assert card["task"] == "anomaly" and card["default"] is False
    assert card["preprocess"]["norm"] == "robust"
    assert card["fitted_on"]["n_scans"] + card["fitted_on"]["n_holdout"] == 10
    assert sum(card["fitted_on"]["families"].values()) == card["fitted_on"]["n_scans"]
    assert tiny_model.with_suffix(".md").read_text().startswith("# tiny-anomaly")
    model = AnomalyModel.load(tiny_model, threads=1)
    assert model.model_id.startswith("tiny-anomaly:1.0.0:" + card["sha256"][:12])
    # calibrated: the clean scans' median cell is near 0
    x = clean_scans([clean_dir / "train.json"])[0].path
    from backscatter.acquisition import open_scan

    result = model(open_scan(x))
    assert abs(float(np.median(result.map))) < 1.0


def test_eval_round_trip_through_the_cli(
    tiny_model: Path, novel_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    model = tmp_path / "m" / "tiny-anomaly.onnx"
    model.parent.mkdir()
    for suffix in (".onnx", ".json", ".md"):
        model.with_suffix(suffix).write_bytes(tiny_model.with_suffix(suffix).read_bytes())
    out = tmp_path / "ev"
    rc = main(["anomaly", "eval", "--model", str(model), "--data", str(novel_dir / "test.json"),
               "--out", str(out), "--detector", "none", "--update-card", "--quiet"])  # fmt: skip
    assert rc == 0
    brief = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    report = json.loads((out / "report.json").read_text())
    assert report["n_images"] == 8 and report["n_clean"] == 4
    assert 0.0 <= report["image_auroc"] <= 1.0 and 0.0 <= report["pixel_aupro"] <= 1.0
    assert brief["image_auroc"] == report["image_auroc"]
    assert set(report["per_family"]) <= {"door", "tyre", "wall", "luggage", "crate"}
    assert any(k.startswith("novel/") for k in report["per_kind"])
    assert report["detector_only"]["fapi"] == 0.0  # no detector: no flags at all
    assert (out / "roc.png").stat().st_size > 1000
    assert list((out / "examples").glob("*.png"))
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["metrics"]["image_auroc"] == report["image_auroc"]
    AnomalyModel.load(model)  # the card still matches its file


def test_fit_from_a_folder_through_the_cli(clean_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "f-anomaly.onnx"
    rc = main(["anomaly", "fit", str(clean_dir / "images"), "--out", str(out),
               "--components", "2", "--cells", "100", "--quiet"])  # fmt: skip
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["fitted_on"]["families"] == {"unknown": card["fitted_on"]["n_scans"]}


def test_bad_clean_inputs_give_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["anomaly", "fit", str(tmp_path / "nope"), "--out", str(tmp_path / "x.onnx")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "nope" in err[0] and "no such file" in err[0]


def test_coco_without_clean_images_is_refused(novel_dir: Path, tmp_path: Path) -> None:
    data = json.loads((novel_dir / "test.json").read_text())
    busy = {a["image_id"] for a in data["annotations"]}
    data["images"] = [im for im in data["images"] if im["id"] in busy]
    p = tmp_path / "busy.json"
    p.write_text(json.dumps(data))
    with pytest.raises(AnomalyFitError, match="no image without annotations"):
        clean_scans([p])


def test_auroc_and_aupro_on_known_cases() -> None:
    assert auroc([3, 4], [1, 2]) == 1.0
    assert auroc([1, 2], [3, 4]) == 0.0
    assert auroc([1, 3], [2, 2]) == 0.5
    assert auroc([], [1]) is None
    normal = np.linspace(0, 1, 1000)
    assert aupro(normal, [np.full(50, 2.0)]) == pytest.approx(1.0)
    assert aupro(normal, [np.full(50, -1.0)]) == pytest.approx(0.0)
    # a region scored like the normal pixels: PRO = FPR, area = 0.3^2 / 2 / 0.3 = 0.15
    assert aupro(normal, [normal.copy()]) == pytest.approx(0.15, abs=0.01)


def test_box_hits_counts_overlap_and_containment() -> None:
    flags = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [20, 20, 22, 22]], float)
    objs = np.array([[5, 5, 15, 15], [0, 0, 60, 60]], float)
    hits = box_hits(flags, objs)
    assert hits.tolist() == [[True, True], [False, False], [False, True]]


def test_a_model_per_family(clean_dir: Path, novel_dir: Path, tmp_path: Path) -> None:
    from backscatter.training.anomaly_eval import AnomalyEvalError, evaluate
    from backscatter.training.anomaly_fit import FitOptions, fit

    data = json.loads((clean_dir / "train.json").read_text())
    family = data["images"][0]["scene_family"]
    n = sum(im["scene_family"] == family for im in data["images"])
    opts = FitOptions(components=1, cells_per_scan=50, family=family, holdout=0.5)
    if n < 2:
        pytest.skip("the tiny clean set has a single scan of this family")
    card = fit([clean_dir / "train.json"], tmp_path / "fam-anomaly.onnx", options=opts)
    assert card["fitted_on"]["families"] == {family: card["fitted_on"]["n_scans"]}
    model = AnomalyModel.load(tmp_path / "fam-anomaly.onnx")
    with pytest.raises(AnomalyEvalError, match="no image of family"):
        evaluate(model, novel_dir / "test.json", family="submarine")
    with pytest.raises(AnomalyFitError, match="no clean scan of family"):
        fit([clean_dir / "train.json"], tmp_path / "x.onnx", options=FitOptions(family="submarine"))
