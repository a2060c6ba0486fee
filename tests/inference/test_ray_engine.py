"""`detect --engine ray` on a local Ray instance gives the single-process results."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from backscatter.inference.detector import Detector
from backscatter.inference.screening import screen
from backscatter.inference.sinks import read_results

from .test_detect_cli import strip_timings, write_folder

ray = pytest.importorskip("ray", reason="extra 'cluster' (ray[data]) not installed")


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_ray_job_matches_the_single_process_run(
    tmp_path: Path, blob_model: Path, local_ray: None
) -> None:
    from backscatter.inference.ray_engine import screen_ray

    boxes = [(i % 60, i % 40, i % 60 + 25, i % 40 + 30) if i % 4 else None for i in range(36)]
    folder = tmp_path / "in"
    write_folder(folder, boxes)
    (folder / "zz_broken.png").write_bytes(b"not an image")
    outputs = ("coco", "overlay", "tdr")

    det = Detector.load(blob_model, "cpu", threads=1)
    inputs = [str(folder), "sim://handheld?seed=2&count=3&realtime=0"]  # files + pickled scans
    local = screen(inputs, tmp_path / "local", detector=det, outputs=outputs)
    summary, info = screen_ray(
        inputs,
        tmp_path / "ray",
        model=blob_model,
        provider="cpu",
        threads=1,
        outputs=outputs,
        workers=2,
    )
    assert (summary.done, summary.failed, local.done, local.failed) == (39, 1, 39, 1)
    assert "zz_broken.png" in summary.failures[0]
    a = [strip_timings(r) for r in read_results(tmp_path / "local" / "results.jsonl")]
    b = [strip_timings(r) for r in read_results(tmp_path / "ray" / "results.jsonl")]
    assert a == b
    assert sum(len(r["flags"]) for r in b[:36]) == 27
    assert [r["input"] for r in b[36:]] == [f"{inputs[1]}#{k}" for k in range(3)]
    for rec in b:
        assert (tmp_path / "ray" / rec["outputs"]["overlay"]).read_bytes() == (
            tmp_path / "local" / rec["outputs"]["overlay"]
        ).read_bytes()
    assert (tmp_path / "ray" / "coco_results.json").read_text() == (
        tmp_path / "local" / "coco_results.json"
    ).read_text()
    # the same command again resumes: nothing left to do
    again, _ = screen_ray(
        inputs,
        tmp_path / "ray",
        model=blob_model,
        provider="cpu",
        threads=1,
        outputs=outputs,
        workers=2,
    )
    assert (again.done, again.skipped) == (0, 39)


def test_detect_cli_engine_ray_reports_its_engine(
    tmp_path: Path, blob_model: Path, local_ray: None, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from backscatter.cli.main import main

    write_folder(tmp_path / "in", [(5, 5, 30, 30), None, (50, 40, 80, 70)])
    code = main(
        ["detect", str(tmp_path / "in"), "--out", str(tmp_path / "out"), "--engine", "ray",
         "--workers", "2", "--threads", "1", "--model", str(blob_model), "--json",
         "--outputs", "coco"]
    )  # fmt: skip
    # our JSON is the last stdout line (Ray may print its own lines first)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0
    assert (summary["engine"], summary["done"], summary["provider"]) == ("ray", 3, "cpu")
    alarms = [r["alarm"] for r in read_results(tmp_path / "out" / "results.jsonl")]
    assert alarms == ["ALARM", "CLEAR", "ALARM"]
