"""Crash consistency: kill -9 at seeded random points, restart, and nothing is lost or torn.

* ``backscatter detect``: every output file is complete or absent, and the resumed batch ends
  with exactly the results of an uninterrupted run (timings aside).
* ``backscatter serve``: every image acknowledged to the peer is on disk, intact, and gets its
  TDR after the restart.
* the viewer's ReviewSession: every decision acknowledged (decide() returned) is in the audit
  log after the kill, with its operator TDR, and the hash chain verifies.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pydicom
import pytest

from backscatter.audit import read_rows, verify
from backscatter.dicos.dx import write_dx
from backscatter.dicos.tdr_read import read_tdr
from backscatter.scan import Scan

from .harness.procs import REPO, Serve, cli_env, count_lines, start_detect, store, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    blob = pytest.importorskip("inference.blob_model")
    return Path(blob.write_blob_model(tmp_path_factory.mktemp("model"), "blob"))


def _image(seed: int, shape: tuple[int, int] = (96, 128)) -> np.ndarray:
    """Dark noise with one bright rectangle (the blob model reports its box)."""
    rng = np.random.default_rng(seed)
    px = rng.integers(0, 20000, shape, dtype=np.uint16)
    y, x = int(rng.integers(5, shape[0] - 40)), int(rng.integers(5, shape[1] - 40))
    px[y : y + int(rng.integers(8, 35)), x : x + int(rng.integers(8, 35))] = 62000
    return px


def _comparable(rec: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in rec.items() if k != "timings_ms"}


def _records(out: Path) -> list[dict[str, Any]]:
    lines = (out / "results.jsonl").read_bytes().splitlines(keepends=True)
    assert all(line.endswith(b"\n") for line in lines)
    return [json.loads(line) for line in lines]


def _check_outputs_complete(out: Path) -> None:
    """Every final-named output is whole: PNGs decode, DICOS files parse, TDRs read."""
    for png in (out / "overlays").glob("*.png"):
        assert cv2.imread(str(png), cv2.IMREAD_UNCHANGED) is not None, png
    for dcm in (out / "dicos").glob("*.dcm"):
        if dcm.name.endswith("_tdr.dcm"):
            read_tdr(dcm)
        else:
            assert pydicom.dcmread(dcm).pixel_array.size > 0
    for line in (out / "results.jsonl").read_bytes().splitlines(keepends=True):
        if line.endswith(b"\n"):  # whole lines name outputs that exist
            for rel in (json.loads(line)["outputs"] or {}).values():
                assert rel is None or (out / rel).is_file(), rel


def test_detect_kill9_resume_equals_uninterrupted(model: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "scans"
    inputs.mkdir()
    n = 48  # room for several kills now that outputs are written on the workers (faster runs)
    for i in range(n):
        cv2.imwrite(str(inputs / f"scan{i:02d}.png"), _image(i))
    common = ["--model", str(model), "--outputs", "overlay,tdr,dx"]
    ref = tmp_path / "ref"
    proc = start_detect([str(inputs)], ref, *common)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    expected = sorted((_comparable(r) for r in _records(ref)), key=lambda r: r["input"])
    assert len(expected) == n

    rng = random.Random(4)
    out = tmp_path / "out"
    kills = 0
    for _attempt in range(6):
        proc = start_detect([str(inputs)], out, *common)
        done_before = count_lines(out / "results.jsonl")
        target = min(n, done_before + rng.randint(1, 5))
        # kill after a seeded number of new results, mid-way through the next one
        wait_for(lambda t=target: count_lines(out / "results.jsonl") >= t, 120, step=0.02)
        time.sleep(rng.uniform(0.0, 0.1))
        if proc.poll() is not None:
            break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        _check_outputs_complete(out)
        if count_lines(out / "results.jsonl") >= n - 1:
            break
    proc = start_detect([str(inputs)], out, *common)
    assert proc.wait(timeout=300) == 0, proc.stderr.read() if proc.stderr else ""
    assert kills >= 2
    got = sorted((_comparable(r) for r in _records(out)), key=lambda r: r["input"])
    assert [r["input"] for r in got] == [r["input"] for r in expected]  # no duplicate, none lost
    for a, b in zip(got, expected, strict=True):
        assert a == {**b, "outputs": a["outputs"]}
        assert a["outputs"] == b["outputs"]
    _check_outputs_complete(out)
    assert list(out.rglob("*.part")) == []  # the killed runs' temporaries are gone


def test_detect_resume_removes_stale_temporaries(model: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "scans"
    inputs.mkdir()
    cv2.imwrite(str(inputs / "a.png"), _image(1))
    out = tmp_path / "out"
    (out / "overlays").mkdir(parents=True)
    (out / "dicos").mkdir()
    (out / "overlays" / ".tmpkilled.part").write_bytes(b"half a png")
    (out / "dicos" / ".tmpkilled.part").write_bytes(b"half a tdr")
    proc = start_detect([str(inputs)], out, "--model", str(model), "--outputs", "overlay,tdr")
    assert proc.wait(timeout=300) == 0
    assert sorted(p.name for p in out.rglob("*.part")) == []


def _dx_dataset(folder: Path, seed: int) -> pydicom.Dataset:
    scan = Scan(_image(seed), bits_stored=16, scan_id=f"net{seed}")
    path = folder / f"net{seed}.dcm"
    write_dx(scan, path)
    return pydicom.dcmread(path)


def test_serve_kill9_loses_no_acknowledged_image(model: Path, tmp_path: Path) -> None:
    """The peer sends 24 images; the server is killed right after seeded acknowledgements
    (twice) and restarted; the peer resends what was not acknowledged. Every acknowledged
    image is stored intact and, after the restart, has its TDR."""
    src = tmp_path / "src"
    src.mkdir()
    datasets = [_dx_dataset(src, 100 + i) for i in range(24)]
    out = tmp_path / "in"
    rng = random.Random(11)
    acked: dict[str, pydicom.Dataset] = {}
    pending = list(datasets)
    kills = 0
    for _round in range(4):
        serve = Serve(out, "--model", str(model), "--provider", "cpu")
        kill_after = len(acked) + rng.randint(3, 8) if kills < 2 else None

        def ack(
            ds: pydicom.Dataset, serve: Serve = serve, kill_after: int | None = kill_after
        ) -> None:
            acked[str(ds.SOPInstanceUID)] = ds
            if kill_after is not None and len(acked) >= kill_after and serve.alive():
                os.kill(serve.pid, signal.SIGKILL)  # right after the acknowledgement

        try:
            statuses = store(serve.port, pending, on_ack=ack)
            pending = [ds for ds, st in zip(pending, statuses, strict=True) if st != 0]
            if serve.alive():
                assert not pending, (statuses, serve.log()[-1500:])
                assert wait_for(lambda: len(list(out.glob("*.tdr.dcm"))) >= len(acked), 120)
                assert serve.stop() in (0, 130)
                break
        finally:
            serve.kill()
        kills += 1
    assert kills == 2 and not pending and len(acked) == 24
    for uid, ds in acked.items():
        stored = pydicom.dcmread(out / f"DX_{uid}.dcm")
        assert np.array_equal(stored.pixel_array, ds.pixel_array)
        tdr = read_tdr(out / f"DX_{uid}.tdr.dcm")
        assert tdr.algorithm[0].startswith("blob:1:")
        assert len(tdr.detections) >= 1
    assert list(out.glob(".*.part")) == []


_REVIEWER = """
import sys
from pathlib import Path
from backscatter.audit import AuditLog
from backscatter.viewer.review import ReviewItem, ReviewSession
db, tdr_dir, *sources = sys.argv[1:]
session = ReviewSession([ReviewItem(s) for s in sources], operator="officer7",
                        audit=AuditLog(db), tdr_dir=tdr_dir)
for i in range(len(sources)):
    session.go(i)
    row = session.decide(("CLEAR", "ALARM", "INSPECT")[i % 3])
    print("ACK", row["seq"], row["scan_id"], row["decision"], flush=True)
session.close()
"""


def test_review_decisions_survive_kill9(tmp_path: Path) -> None:
    """Kill -9 the reviewing process at seeded points (three sessions on one log): each
    decision whose decide() returned is in the audit log with its operator TDR; the chain
    verifies across the restarts. Extends tests/viewer's AuditLog kill test to the session."""
    scans = tmp_path / "scans"
    scans.mkdir()
    sources = []
    for i in range(12):
        p = scans / f"r{i:02d}.png"
        cv2.imwrite(str(p), _image(200 + i))
        sources.append(str(p))
    db, tdr_dir = tmp_path / "audit.db", tmp_path / "tdrs"
    rng = random.Random(5)
    acked: list[tuple[int, str, str]] = []
    for _session in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", _REVIEWER, str(db), str(tdr_dir), *sources],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=cli_env(),
            cwd=REPO,
        )
        assert proc.stdout is not None
        stop_after = rng.randint(1, 4)
        for _ in range(stop_after):
            seq_text, scan_id, decision = proc.stdout.readline().split()[1:]
            acked.append((int(seq_text), scan_id, decision))
        time.sleep(rng.uniform(0.0, 0.2))  # maybe mid-way through the next decision
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    rows = list(read_rows(db))
    by_seq = {int(r["seq"]): r for r in rows}
    for seq, scan_id, decision in acked:
        assert by_seq[seq]["scan_id"] == scan_id and by_seq[seq]["decision"] == decision
        assert by_seq[seq]["operator"] == "officer7"
        tdr = read_tdr(by_seq[seq]["tdr_path"])
        assert tdr.tdr_type == "OPERATOR"
    assert verify(db).ok and verify(db).rows == len(rows) >= len(acked)
