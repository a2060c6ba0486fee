"""Append-only, hash-chained SQLite audit log of the officers' decisions.

The database runs in WAL mode with ``synchronous=FULL``, and :meth:`AuditLog.append` commits
before it returns, so a decision survives the window closing or the process being killed.
Each row stores ``row_hash = sha256(prev_hash + canonical JSON of the row, seq included)``;
:func:`verify` walks the chain and names the first row that was edited, deleted or reordered.
Truncating the newest rows leaves a valid shorter chain: compare the head hash that
``verify`` prints with one recorded elsewhere to catch that.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: the chain's anchor: prev_hash of row 1
GENESIS = "0" * 64

#: columns hashed into each row, in order (seq, prev_hash and row_hash are added around them)
FIELDS: tuple[str, ...] = (
    "ts_shown",
    "ts_decided",
    "operator",
    "scan_id",
    "source",
    "source_sha256",
    "model_id",
    "provider",
    "threshold",
    "machine_alarm",
    "machine_flags",
    "decision",
    "verdicts",
    "marks",
    "tdr_path",
    "note",
)
#: fields holding JSON values (stored as canonical JSON text)
JSON_FIELDS = frozenset({"machine_flags", "verdicts", "marks"})

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    {", ".join(f"{name} TEXT" for name in FIELDS)},
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL
);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
"""


class AuditError(ValueError):
    """The audit database is not one we can use (wrong schema, not SQLite)."""


def utc_now() -> str:
    """ISO 8601 UTC timestamp with milliseconds, e.g. ``2026-11-28T17:03:04.123Z``."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def row_hash(seq: int, prev_hash: str, values: Mapping[str, str | None]) -> str:
    """sha256 hex of the previous hash and the row's canonical JSON (``seq`` + :data:`FIELDS`)."""
    body = _canonical({"seq": seq, **{k: values.get(k) for k in FIELDS}})
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _connect(path: str | os.PathLike[str], *, create: bool) -> sqlite3.Connection:
    p = Path(path)
    if not create and not p.is_file():
        raise FileNotFoundError(f"{p}: no such audit database")
    try:
        con = sqlite3.connect(str(p), isolation_level=None, timeout=10.0)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        if create:
            con.executescript(_SCHEMA)
        cols = [r[1] for r in con.execute("PRAGMA table_info(audit)")]
    except sqlite3.DatabaseError as exc:
        raise AuditError(f"{p}: not an audit database ({exc})") from exc
    expected = ["seq", *FIELDS, "prev_hash", "row_hash"]
    if cols != expected:
        con.close()
        raise AuditError(f"{p}: expected audit table columns {expected}, got {cols}")
    return con


class AuditLog:
    """An open audit database; :meth:`append` is the only way rows get in."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._con = _connect(self.path, create=True)

    def append(self, **values: Any) -> dict[str, Any]:
        """Write one decision row and commit it durably; returns the stored row.

        Keys are :data:`FIELDS` (missing ones are stored as NULL); JSON fields take any
        JSON-serialisable value, others are stored as text.
        """
        unknown = set(values) - set(FIELDS)
        if unknown:
            raise ValueError(f"audit row: unknown fields {sorted(unknown)}")
        row: dict[str, str | None] = {}
        for name in FIELDS:
            v = values.get(name)
            if name in JSON_FIELDS:
                row[name] = None if v is None else _canonical(v)
            else:
                row[name] = None if v is None else str(v)
        con = self._con
        con.execute("BEGIN IMMEDIATE")
        try:
            last = con.execute(
                "SELECT seq, row_hash FROM audit ORDER BY seq DESC LIMIT 1"
            ).fetchone()
            seq = 1 if last is None else int(last[0]) + 1
            prev = GENESIS if last is None else str(last[1])
            digest = row_hash(seq, prev, row)
            names = ["seq", *FIELDS, "prev_hash", "row_hash"]
            con.execute(
                f"INSERT INTO audit ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})",
                [seq, *(row[k] for k in FIELDS), prev, digest],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return {"seq": seq, **row, "prev_hash": prev, "row_hash": digest}

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_rows(path: str | os.PathLike[str]) -> Iterator[dict[str, Any]]:
    """Rows in ``seq`` order as dicts of the stored text (JSON fields still as text)."""
    con = _connect(path, create=False)
    try:
        con.row_factory = sqlite3.Row
        for r in con.execute("SELECT * FROM audit ORDER BY seq"):
            yield dict(r)
    finally:
        con.close()


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    rows: int
    #: hash of the last good row (the chain head when ok)
    head: str
    #: seq of the first bad row (or of the row after a gap), None when ok
    bad_row: int | None = None
    reason: str = ""

    def message(self, path: str | os.PathLike[str]) -> str:
        if self.ok:
            return f"{path}: OK, {self.rows} rows, head {self.head}"
        return f"{path}: row {self.bad_row}: {self.reason}"


def verify(path: str | os.PathLike[str]) -> VerifyResult:
    """Walk the chain from row 1; report the first row whose link or content does not match."""
    prev = GENESIS
    expected_seq = 1
    n = 0
    for r in read_rows(path):
        seq = int(r["seq"])
        if seq != expected_seq:
            return VerifyResult(
                False, n, prev, seq, f"expected row {expected_seq} next, found row {seq} (deleted?)"
            )
        if r["prev_hash"] != prev:
            return VerifyResult(
                False, n, prev, seq, "previous-row hash does not match (row deleted or reordered)"
            )
        if row_hash(seq, prev, r) != r["row_hash"]:
            return VerifyResult(False, n, prev, seq, "content does not match its hash (edited)")
        prev = r["row_hash"]
        expected_seq += 1
        n += 1
    return VerifyResult(True, n, prev)


def export(path: str | os.PathLike[str], *, fmt: str) -> str:
    """The whole log as CSV or JSON text (JSON fields decoded in the JSON form)."""
    rows = list(read_rows(path))
    if fmt == "json":
        for r in rows:
            for k in JSON_FIELDS:
                if r[k] is not None:
                    r[k] = json.loads(r[k])
        return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=["seq", *FIELDS, "prev_hash", "row_hash"])
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    raise ValueError(f"format: expected csv or json, got {fmt!r}")
