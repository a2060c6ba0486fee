"""Audit log: hash chain verifies, and editing, deleting or reordering a row is caught by row."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backscatter.audit import AuditError, AuditLog, export, read_rows, verify
from backscatter.cli.main import main

ROOT = Path(__file__).resolve().parents[2]


def fill(path: Path, n: int = 5) -> None:
    with AuditLog(path) as log:
        for i in range(n):
            log.append(
                operator="op7",
                scan_id=f"scan-{i}",
                decision=("CLEAR", "ALARM", "INSPECT")[i % 3],
                machine_flags=[{"class_name": "firearm", "score": 0.9, "box": [1, 2, 3, 4]}],
                verdicts={"0": "CONFIRMED"},
                marks=[],
            )


def tamper(path: Path, *sql: str) -> None:
    """Edit the database behind the log's back (dropping its append-only triggers first)."""
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("DROP TRIGGER audit_no_delete")
    for s in sql:
        con.execute(s)
    con.commit()
    con.close()


def test_a_fresh_log_verifies(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db)
    result = verify(db)
    assert result.ok and result.rows == 5 and result.bad_row is None
    rows = list(read_rows(db))
    assert [r["seq"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["prev_hash"] == rows[0]["row_hash"]
    assert json.loads(rows[0]["machine_flags"])[0]["class_name"] == "firearm"


def test_wal_and_synchronous_full(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "a.db")
    mode = log._con.execute("PRAGMA journal_mode").fetchone()[0]
    sync = log._con.execute("PRAGMA synchronous").fetchone()[0]
    log.close()
    assert mode == "wal" and sync == 2  # FULL


def test_updates_and_deletes_are_refused(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db, 2)
    con = sqlite3.connect(db)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("UPDATE audit SET decision='CLEAR' WHERE seq=2")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit WHERE seq=1")
    con.close()


def test_edited_row_is_named(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db)
    tamper(db, "UPDATE audit SET decision='CLEAR' WHERE seq=3")
    result = verify(db)
    assert not result.ok and result.bad_row == 3 and "edited" in result.reason


def test_deleted_row_is_named(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db)
    tamper(db, "DELETE FROM audit WHERE seq=2")
    result = verify(db)
    assert not result.ok and result.bad_row == 3 and "deleted" in result.reason


def test_deleted_and_renumbered_rows_are_named(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db)
    tamper(db, "DELETE FROM audit WHERE seq=2", "UPDATE audit SET seq = seq - 1 WHERE seq > 2")
    result = verify(db)
    assert not result.ok and result.bad_row == 2


def test_reordered_rows_are_named(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    fill(db)
    tamper(
        db,
        "UPDATE audit SET seq = 100 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = 100",
    )
    result = verify(db)
    assert not result.ok and result.bad_row == 2


def test_cli_verify_exit_status_names_the_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "a.db"
    fill(db)
    assert main(["audit", "verify", str(db)]) == 0
    assert "OK, 5 rows" in capsys.readouterr().out
    tamper(db, "UPDATE audit SET operator='someone' WHERE seq=4")
    assert main(["audit", "verify", str(db)]) == 1
    err = capsys.readouterr().err
    assert "row 4" in err and "TAMPERED" in err and len(err.strip().splitlines()) == 1


def test_cli_verify_on_a_missing_or_foreign_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "verify", str(tmp_path / "none.db")]) == 2
    assert "no such audit database" in capsys.readouterr().err
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE audit (x TEXT)").connection.close()
    with pytest.raises(AuditError, match="expected audit table columns"):
        verify(other)


def test_export_csv_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "a.db"
    fill(db, 3)
    rows = json.loads(export(db, fmt="json"))
    assert [r["decision"] for r in rows] == ["CLEAR", "ALARM", "INSPECT"]
    assert rows[0]["verdicts"] == {"0": "CONFIRMED"}
    out = tmp_path / "a.csv"
    assert main(["audit", "export", str(db), "--format", "csv", "--out", str(out)]) == 0
    lines = out.read_text().splitlines()
    assert lines[0].startswith("seq,ts_shown,ts_decided,operator") and len(lines) == 4
    capsys.readouterr()
    assert main(["audit", "export", str(db), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[2]["scan_id"] == "scan-2"


_WRITER = """
import sys, time
from backscatter.audit import AuditLog
log = AuditLog(sys.argv[1])
for i in range(3):
    log.append(operator="op", scan_id=f"s{i}", decision="CLEAR")
print("written", flush=True)
time.sleep(60)
"""


def test_rows_survive_kill_9(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "written"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    time.sleep(0.1)
    assert [r["scan_id"] for r in read_rows(db)] == ["s0", "s1", "s2"]
    assert verify(db).ok
