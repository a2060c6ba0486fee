"""Ctrl-C during `backscatter detect` leaves whole outputs, and a rerun completes the batch."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pydicom

from backscatter.inference.sinks import read_results

from .test_detect_cli import strip_timings, write_folder


def _detect(folder: Path, out: Path, model: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "backscatter",
        "detect",
        str(folder),
        "--out",
        str(out),
        "--model",
        str(model),
        "--outputs",
        "coco,overlay,tdr,dx",
    ]


def test_sigint_leaves_complete_outputs_and_rerun_matches_an_uninterrupted_run(
    tmp_path: Path, blob_model: Path
) -> None:
    n = 150
    boxes = [(i % 50, 10, i % 50 + 30, 40) if i % 3 else None for i in range(n)]
    folder = tmp_path / "in"
    write_folder(folder, boxes)
    out = tmp_path / "out"
    proc = subprocess.Popen(
        _detect(folder, out, blob_model), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL
    )
    results = out / "results.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if results.exists() and results.read_bytes().count(b"\n") >= 5:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err.decode()
    assert b"Traceback" not in err
    data = results.read_bytes()
    assert data.endswith(b"\n")
    partial = [json.loads(line) for line in data.splitlines()]
    assert 5 <= len(partial) < n
    for rec in partial:  # every output a line names is complete
        assert cv2.imread(str(out / rec["outputs"]["overlay"])) is not None
        pydicom.dcmread(out / rec["outputs"]["tdr"])
        pydicom.dcmread(out / rec["outputs"]["dx"]).pixel_array  # noqa: B018
    assert not [p for p in out.rglob("*") if p.name.endswith(".part")]
    assert isinstance(json.loads((out / "coco_results.json").read_text()), list)

    rerun = subprocess.run(_detect(folder, out, blob_model), capture_output=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr.decode()
    resumed = read_results(results)
    assert len(resumed) == n
    fresh = tmp_path / "fresh"
    env = dict(os.environ)
    subprocess.run(
        _detect(folder, fresh, blob_model)[:-2] + ["--outputs", ""],
        check=True,
        capture_output=True,
        timeout=300,
        env=env,
    )
    expected = {
        r["source"]: strip_timings(r)["flags"] for r in read_results(fresh / "results.jsonl")
    }
    assert {r["source"]: r["flags"] for r in resumed} == expected
