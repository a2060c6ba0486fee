"""Integrity end to end: tampered model refused by the CLIs, tampered audit log caught by
``backscatter audit verify``, results and TDRs carrying the model id and the input's hash."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom
import pytest

from backscatter.audit import AuditLog
from backscatter.dicos.tdr_read import read_tdr
from backscatter.viewer.review import ReviewItem, ReviewSession

from .harness.procs import REPO, cli_env

pytestmark = pytest.mark.slow


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backscatter", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=cli_env(),
        cwd=REPO,
    )


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    blob = pytest.importorskip("inference.blob_model")
    return Path(blob.write_blob_model(tmp_path_factory.mktemp("model"), "blob"))


@pytest.fixture()
def tampered(model: Path, tmp_path: Path) -> Path:
    """A copy of the model with one byte of a weight changed; its card left as it was."""
    folder = tmp_path / "tampered"
    folder.mkdir()
    onnx, card = folder / model.name, folder / model.with_suffix(".json").name
    shutil.copy(model, onnx)
    shutil.copy(model.with_suffix(".json"), card)
    data = bytearray(onnx.read_bytes())
    at = data.index(b"hi_score")  # the 0.9 score constant's name: flip a byte after it
    data[at + 20] ^= 0x01
    onnx.write_bytes(bytes(data))
    return onnx


@pytest.fixture()
def scans(tmp_path: Path) -> Path:
    folder = tmp_path / "scans"
    folder.mkdir()
    px = np.zeros((96, 128), np.uint16)
    px[20:40, 30:60] = 60000
    cv2.imwrite(str(folder / "a.png"), px)
    return folder


def test_detect_refuses_tampered_model(tampered: Path, scans: Path, tmp_path: Path) -> None:
    res = _cli("detect", str(scans), "--out", str(tmp_path / "out"), "--model", str(tampered))
    assert res.returncode != 0
    last = res.stderr.strip().splitlines()[-1]
    assert "does not match the card" in last and "blob.onnx" in last
    assert "Traceback" not in res.stderr
    assert (
        not (tmp_path / "out" / "results.jsonl").exists()
        or not (tmp_path / "out" / "results.jsonl").read_text()
    )


def test_serve_refuses_tampered_model(tampered: Path, tmp_path: Path) -> None:
    res = _cli(
        "serve", "--host", "127.0.0.1", "--port", "0", "--out", str(tmp_path / "in"),
        "--model", str(tampered),
    )  # fmt: skip
    assert res.returncode != 0
    assert "does not match the card" in res.stderr.strip().splitlines()[-1]
    assert "Traceback" not in res.stderr


def test_results_and_tdr_carry_model_id_and_input_hash(
    model: Path, scans: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    res = _cli("detect", str(scans), "--out", str(out), "--model", str(model), "--provider", "cpu")
    assert res.returncode == 0, res.stderr
    card = json.loads(model.with_suffix(".json").read_text())
    (rec,) = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    digest = hashlib.sha256((scans / "a.png").read_bytes()).hexdigest()
    assert rec["source_sha256"] == digest
    assert rec["model_id"] == f"blob:1:{card['sha256'][:12]}"
    tdr = read_tdr(out / rec["outputs"]["tdr"])
    assert tdr.algorithm == (rec["model_id"], "1", card["sha256"])
    # the TDR references the DX written for this PNG; the input's own hash reaches the TDR only
    # as the content-derived scan id (first 128 bits of the sha256) in PatientID
    ds = pydicom.dcmread(out / rec["outputs"]["tdr"])
    assert str(ds.PatientID) == f"sha256:{digest[:32]}"
    dx_uid = str(pydicom.dcmread(out / rec["outputs"]["dx"]).SOPInstanceUID)
    assert [r.sop_instance_uid for r in tdr.image_refs] == [dx_uid]


def test_tampered_review_log_fails_audit_verify(scans: Path, tmp_path: Path) -> None:
    """Decisions made through a real ReviewSession; an attacker who drops the append-only
    triggers and edits a decision is caught by the CLI, which names the row."""
    db = tmp_path / "audit.db"
    items = [ReviewItem(str(scans / "a.png")) for _ in range(3)]
    with AuditLog(db) as log:
        session = ReviewSession(items, operator="officer7", audit=log)
        for i in range(3):
            session.go(i)
            session.decide("CLEAR")
        session.close()
    ok = _cli("audit", "verify", str(db))
    assert ok.returncode == 0 and "OK, 3 rows" in ok.stdout
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("UPDATE audit SET decision = 'ALARM' WHERE seq = 2")
    con.commit()
    con.close()
    bad = _cli("audit", "verify", str(db))
    assert bad.returncode == 1
    assert "TAMPERED" in bad.stderr and "row 2" in bad.stderr
