"""`backscatter demo` (the main job of `make run`), headless."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pydicom
import pytest

from backscatter.cli.main import main
from backscatter.inference import models
from backscatter.inference.sinks import read_results

pytest.importorskip("backscatter.acquisition.sim", reason="simulated device not there yet")


def test_demo_screens_simulated_scans_into_viewer_readable_results(
    tmp_path: Path,
    blob_model: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(models.MODEL_ENV, str(blob_model))
    monkeypatch.delenv("DISPLAY", raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--count", "3", "--seed", "5"]) == 0
    err = capsys.readouterr().err
    assert "3 scans (0 already done)" in err
    records = read_results(out / "results.jsonl")
    assert [r["input"] for r in records] == [
        f"sim://handheld?seed=5&count=3&realtime=0#{k}" for k in range(3)
    ]
    for rec in records:
        dx = out / rec["source"]  # a live scan's source is the DICOS DX written for it
        assert rec["source"] == rec["outputs"]["dx"]
        assert hashlib.sha256(dx.read_bytes()).hexdigest() == rec["source_sha256"]
        assert pydicom.dcmread(dx).pixel_array.shape == (rec["rows"], rec["columns"])
        assert (out / rec["outputs"]["overlay"]).is_file()
        assert (out / rec["outputs"]["tdr"]).is_file()
    from backscatter.viewer.review import items_from_results

    items = items_from_results(out)
    assert [Path(i.source) for i in items] == [out / r["source"] for r in records]
    # the same command again has nothing left to do
    assert main(["demo", "--out", str(out), "--count", "3", "--seed", "5"]) == 0
    assert "0 scans (3 already done)" in capsys.readouterr().err


def test_demo_without_a_model_says_so_and_still_writes_the_scans(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(models, "models_dir", lambda: tmp_path / "no-models")
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--count", "2", "--no-show"]) == 0
    err = capsys.readouterr().err
    assert "no detector (" in err and "no shipped model" in err
    assert len(list((out / "dicos").glob("*_dx.dcm"))) == 2
    assert len(list((out / "overlays").glob("*.png"))) == 2
    assert not (out / "results.jsonl").exists()
