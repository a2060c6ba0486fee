"""Append-only, hash-chained, signed SQLite audit log of the officers' decisions.

The database runs in WAL mode with ``synchronous=FULL``, and :meth:`AuditLog.append` commits
before it returns, so a decision survives the window closing or the process being killed.
Each row stores ``row_hash = sha256(prev_hash + canonical JSON of the row, seq included)`` and,
when the log has a signing key (:mod:`backscatter.audit.keys`), an Ed25519 ``signature`` of
``(seq, row_hash)`` with the key's ``key_id``. After each row the chain head (seq, hash,
signature) is appended to a witness file outside the database (:mod:`backscatter.audit.head`).

What :func:`verify` catches, naming the row:

- an edited, deleted or reordered row (hash chain and seq numbers);
- a full rewrite by someone who dropped the triggers and recomputed every hash: the rewritten
  rows' signatures no longer verify (needs the public key, ``key``);
- the newest rows deleted (the chain of what is left is valid): the head recorded outside the
  database (witness file, operator TDRs, ``expect_head``) names a row that is not there.
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

from backscatter.audit.head import Head, append_witness, default_witness, read_witness
from backscatter.audit.keys import SigningKey, VerifyKey

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

#: every column in order
COLUMNS: tuple[str, ...] = ("seq", *FIELDS, "prev_hash", "row_hash", "key_id", "signature")
#: the columns of a log written before rows were signed (still readable by verify)
_UNSIGNED_COLUMNS = COLUMNS[:-2]

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY,
    {", ".join(f"{name} TEXT" for name in FIELDS)},
    prev_hash TEXT NOT NULL,
    row_hash TEXT NOT NULL,
    key_id TEXT,
    signature TEXT
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
    if cols == list(_UNSIGNED_COLUMNS) and create:
        con.close()
        raise AuditError(
            f"{p}: an audit log from before rows were signed; start a new log "
            "(the old one still verifies with `backscatter audit verify`)"
        )
    if cols not in (list(COLUMNS), list(_UNSIGNED_COLUMNS)):
        con.close()
        raise AuditError(f"{p}: expected audit table columns {list(COLUMNS)}, got {cols}")
    return con


class AuditLog:
    """An open audit database; :meth:`append` is the only way rows get in.

    ``key`` signs every row (None writes unsigned rows: a chain that only catches naive
    edits; the viewer's CLI always gives one). ``witness`` is the file each new chain head is
    appended to (default ``DB.witness`` beside the database; None or ``False`` for none).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: SigningKey | None = None,
        witness: str | os.PathLike[str] | bool | None = True,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.key = key
        if witness is True:
            self.witness: Path | None = default_witness(self.path)
        elif witness is None or witness is False:
            self.witness = None
        else:
            self.witness = Path(witness)
        self._con = _connect(self.path, create=True)

    def head(self) -> Head | None:
        """The last row's ``(seq, row_hash, key_id, signature)``, None for an empty log."""
        last = self._con.execute(
            "SELECT seq, row_hash, key_id, signature FROM audit ORDER BY seq DESC LIMIT 1"
        ).fetchone()
        if last is None:
            return None
        return Head(int(last[0]), str(last[1]), last[2], last[3])

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
            key_id = self.key.key_id if self.key is not None else None
            signature = self.key.sign(seq, digest) if self.key is not None else None
            con.execute(
                f"INSERT INTO audit ({', '.join(COLUMNS)}) "
                f"VALUES ({', '.join('?' * len(COLUMNS))})",
                [seq, *(row[k] for k in FIELDS), prev, digest, key_id, signature],
            )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        if self.witness is not None:
            append_witness(self.witness, Head(seq, digest, key_id, signature))
        return {
            "seq": seq,
            **row,
            "prev_hash": prev,
            "row_hash": digest,
            "key_id": key_id,
            "signature": signature,
        }

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
    #: seq of the first bad row (or of the row after a gap, or of a missing row), else None
    bad_row: int | None = None
    reason: str = ""
    #: key id that signed every row (when checked with a key); "" when unsigned or unchecked
    signed_by: str = ""
    #: lines about what was not checked (no key given, no witness)
    notes: tuple[str, ...] = ()

    def message(self, path: str | os.PathLike[str]) -> str:
        if self.ok:
            text = f"{path}: OK, {self.rows} rows, head {self.rows}:{self.head}"
            if self.signed_by:
                text += f", every row signed by key {self.signed_by}"
            return "; ".join([text, *self.notes])
        return f"{path}: row {self.bad_row}: {self.reason}"


def verify(
    path: str | os.PathLike[str],
    *,
    key: VerifyKey | None = None,
    expect_head: Head | None = None,
    witness: str | os.PathLike[str] | bool | None = True,
) -> VerifyResult:
    """Walk the chain from row 1 and report the first row that does not match.

    With ``key`` (the public key) every row must carry a signature by it. ``expect_head`` is a
    head recorded elsewhere (an operator TDR, a printout): its row must be in the log with that
    hash. ``witness`` (default ``DB.witness`` when it exists) lists the heads the log had; each
    must be in the log, so deleting the newest rows is caught.
    """
    prev = GENESIS
    expected_seq = 1
    n = 0
    hashes: dict[int, str] = {}
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
        if key is not None:
            bad = _signature_problem(key, seq, r)
            if bad:
                return VerifyResult(False, n, prev, seq, bad)
        prev = r["row_hash"]
        hashes[seq] = prev
        expected_seq += 1
        n += 1
    notes: list[str] = []
    if key is None:
        notes.append("signatures not checked (give the public key: --key KEY.pub)")
    heads: list[tuple[str, Head]] = []
    wpath = default_witness(Path(path)) if witness is True else witness
    if wpath and Path(wpath).is_file():
        heads += [(f"witness {wpath}", h) for h in read_witness(wpath)]
    elif witness is True:
        notes.append("no witness file: deleting the newest rows would go unnoticed")
    if expect_head is not None:
        heads.append(("expected head", expect_head))
    for where, h in heads:
        if key is not None and h.signature and not key.verifies(h.seq, h.hash, h.signature):
            return VerifyResult(False, n, prev, h.seq, f"{where}: the head's signature is bad")
        if h.seq not in hashes:
            return VerifyResult(
                False,
                n,
                prev,
                h.seq,
                f"missing: {where} records head {h.seq}:{h.hash[:16]}..., the log ends at "
                f"row {n} (newest rows deleted?)",
            )
        if hashes[h.seq] != h.hash:
            return VerifyResult(
                False, n, prev, h.seq, f"hash differs from the {where} (log rewritten?)"
            )
    return VerifyResult(True, n, prev, signed_by=key.key_id if key else "", notes=tuple(notes))


def _signature_problem(key: VerifyKey, seq: int, r: Mapping[str, Any]) -> str:
    sig, kid = r.get("signature"), r.get("key_id")
    if not sig:
        return "unsigned row (written without the signing key, or its signature removed)"
    if kid != key.key_id:
        return f"signed by key {kid}, not by the given key {key.key_id}"
    if not key.verifies(seq, str(r["row_hash"]), str(sig)):
        return "signature does not verify (row rewritten and its hashes recomputed?)"
    return ""


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
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else list(COLUMNS))
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()
    raise ValueError(f"format: expected csv or json, got {fmt!r}")
