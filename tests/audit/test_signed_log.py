"""Signed audit log: a rewrite with recomputed hashes, deleted newest rows, reordered rows and a
wrong key are each caught, with the row named; the head travels in the witness and the TDRs."""

from __future__ import annotations

import json
import sqlite3
import stat
from pathlib import Path

import pytest

from backscatter.audit import (
    AuditLog,
    Head,
    SigningKey,
    VerifyKey,
    keygen,
    read_rows,
    read_witness,
    row_hash,
    tdr_head,
    verify,
)
from backscatter.audit.keys import AuditKeyError
from backscatter.cli.main import main


@pytest.fixture()
def key(tmp_path: Path) -> Path:
    private, _public, _kid = keygen(tmp_path / "keys" / "audit.key")
    return private


def fill(db: Path, key: Path | None, n: int = 5) -> None:
    signer = SigningKey(key) if key is not None else None
    with AuditLog(db, key=signer) as log:
        for i in range(n):
            log.append(operator="op7", scan_id=f"scan-{i}", decision=("CLEAR", "ALARM")[i % 2])


def rewrite(db: Path, edit: dict[int, dict[str, str]], *, order: list[int] | None = None) -> None:
    """What someone who can write the file does: drop the triggers, change rows, recompute
    every row's hash and link so the plain chain checks out again (signatures kept as they are).
    ``order`` puts the rows' contents in another order."""
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    con.execute("DROP TRIGGER audit_no_update")
    con.execute("DROP TRIGGER audit_no_delete")
    rows = [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
    if order is not None:
        rows = [{**rows[k], "seq": i + 1} for i, k in enumerate(order)]
    prev = "0" * 64
    for r in rows:
        r.update(edit.get(int(r["seq"]), {}))
        r["prev_hash"] = prev
        r["row_hash"] = prev = row_hash(int(r["seq"]), prev, r)
        cols = [c for c in r if c != "seq"]
        con.execute(
            f"UPDATE audit SET {', '.join(f'{c}=?' for c in cols)} WHERE seq=?",
            [r[c] for c in cols] + [r["seq"]],
        )
    con.commit()
    con.close()


def test_keygen_writes_a_private_key_only_its_owner_reads_and_never_overwrites(
    tmp_path: Path,
) -> None:
    private, public, kid = keygen(tmp_path / "k")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert VerifyKey.load(public).key_id == kid == SigningKey(private).key_id
    with pytest.raises(AuditKeyError, match="exists already"):
        keygen(tmp_path / "k")


def test_a_signed_log_verifies_with_its_public_key(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "audit.db"
    fill(db, key)
    pub = VerifyKey.load(key.with_name("audit.key.pub"))
    result = verify(db, key=pub)
    assert result.ok and result.rows == 5 and result.signed_by == pub.key_id
    assert [h.seq for h in read_witness(db.with_name("audit.db.witness"))] == [1, 2, 3, 4, 5]


def test_a_full_rewrite_with_recomputed_hashes_is_caught_at_the_first_changed_row(
    tmp_path: Path, key: Path
) -> None:
    db = tmp_path / "audit.db"
    fill(db, key)
    rewrite(db, {3: {"decision": "CLEAR", "operator": "someone"}})
    pub = VerifyKey.load(key)
    assert verify(db, witness=False).ok  # the chain alone cannot see it...
    result = verify(db, key=pub, witness=False)  # ...the signatures can
    assert not result.ok and result.bad_row == 3
    assert "signature does not verify" in result.reason


def test_signatures_stripped_or_made_with_another_key_are_caught(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "audit.db"
    fill(db, key)
    rewrite(db, {2: {"signature": None, "key_id": None}})
    result = verify(db, key=VerifyKey.load(key), witness=False)
    assert (result.ok, result.bad_row) == (False, 2) and "unsigned row" in result.reason
    other, _, other_id = keygen(tmp_path / "forger.key")
    forged = tmp_path / "forged.db"
    fill(forged, other)
    result = verify(forged, key=VerifyKey.load(key))
    assert (result.ok, result.bad_row) == (False, 1)
    assert f"signed by key {other_id}, not by the given key" in result.reason


def test_deleting_the_newest_rows_is_caught_by_the_witness_and_the_expected_head(
    tmp_path: Path, key: Path
) -> None:
    db = tmp_path / "audit.db"
    fill(db, key)
    head = Head.parse(f"5:{list(read_rows(db))[-1]['row_hash']}")
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_no_delete")
    con.execute("DELETE FROM audit WHERE seq >= 4")
    con.commit()
    con.close()
    pub = VerifyKey.load(key)
    assert verify(db, key=pub, witness=False).ok  # what is left is a valid, signed chain
    result = verify(db, key=pub)
    assert (result.ok, result.bad_row) == (False, 4) and "missing" in result.reason
    result = verify(db, key=pub, expect_head=head, witness=False)
    assert (result.ok, result.bad_row) == (False, 5)
    assert "expected head records head 5" in result.reason


def test_reordered_rows_are_caught_even_with_recomputed_hashes(tmp_path: Path, key: Path) -> None:
    db = tmp_path / "audit.db"
    fill(db, key)
    rewrite(db, {}, order=[0, 2, 1, 3, 4])  # rows 2 and 3 swapped, chain rebuilt
    result = verify(db, key=VerifyKey.load(key), witness=False)
    assert (result.ok, result.bad_row) == (False, 2)


def test_verify_cli_names_the_row_and_prints_the_signed_head(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "audit.db"
    fill(db, key)
    pub = str(key) + ".pub"
    assert main(["audit", "verify", str(db), "--key", pub]) == 0
    out = capsys.readouterr().out
    last = list(read_rows(db))[-1]["row_hash"]
    assert f"OK, 5 rows, head 5:{last}, every row signed by key" in out
    rewrite(db, {4: {"decision": "CLEAR"}})
    assert main(["audit", "verify", str(db), "--key", pub]) == 1
    err = capsys.readouterr().err
    assert err.startswith("backscatter audit: TAMPERED: ") and ": row 4: " in err


def test_each_operator_tdr_carries_the_head_and_verify_takes_it(
    tmp_path: Path, key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from viewer.helpers import write_results_dir  # tests/ is on sys.path

    from backscatter.viewer.review import ReviewSession, expand_sources

    write_results_dir(tmp_path / "res", 2)
    items, _ = expand_sources([str(tmp_path / "res")])
    db = tmp_path / "res" / "audit.db"
    with AuditLog(db, key=SigningKey(key)) as audit:
        session = ReviewSession(items, operator="op", audit=audit, tdr_dir=tmp_path / "tdr")
        for k in range(2):
            session.go(k)
            session.decide("CLEAR")
        session.close()
    rows = list(read_rows(db))
    first, second = (Path(str(r["tdr_path"])) for r in rows)
    assert tdr_head(first) is None  # the log was empty when it was written
    head = tdr_head(second)
    assert head is not None and (head.seq, head.hash) == (1, rows[0]["row_hash"])
    assert head.signature == rows[0]["signature"]
    pub = str(key) + ".pub"
    assert main(["audit", "verify", str(db), "--key", pub, "--expect-head", str(second)]) == 0
    capsys.readouterr()
    con = sqlite3.connect(db)
    con.execute("DROP TRIGGER audit_no_delete")
    con.execute("DELETE FROM audit")
    con.commit()
    con.close()
    db.with_name("audit.db.witness").unlink()  # the deleter removed the witness too
    args = ["audit", "verify", str(db), "--key", pub, "--expect-head", str(second)]
    assert main(args) == 1
    assert ": row 1: missing" in capsys.readouterr().err


def test_view_without_a_signing_key_says_how_to_make_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from viewer.helpers import write_results_dir  # tests/ is on sys.path

    write_results_dir(tmp_path / "res", 1)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # a display is there: the key is next
    monkeypatch.setenv("BACKSCATTER_AUDIT_CONFIG", str(tmp_path / "audit.yaml"))
    (tmp_path / "audit.yaml").write_text("witness: elsewhere/audit.witness\n")
    assert main(["view", str(tmp_path / "res"), "--operator", "op"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no audit signing key" in err[0]
    assert "backscatter audit keygen" in err[0]
    assert not (tmp_path / "res" / "audit.db").exists()


def test_exports_carry_the_signatures(tmp_path: Path, key: Path) -> None:
    from backscatter.audit import export

    db = tmp_path / "audit.db"
    fill(db, key, 2)
    rows = json.loads(export(db, fmt="json"))
    assert all(len(r["signature"]) == 128 and r["key_id"] for r in rows)
