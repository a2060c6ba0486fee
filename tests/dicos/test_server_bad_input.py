"""Bad peers: each gets the right DIMSE status or a dropped association, one log line, and the
server writes nothing outside its folder, leaves no partial file, and keeps serving."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pydicom
import pytest

from backscatter.dicos.dx import write_dx
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.dicos.uids import DICOS_DX_PROCESSING

from .conftest import make_scan
from .peers import (
    associate,
    disconnect_mid_store,
    encoded,
    raw_c_store,
    truncated_associate_request,
)

VERIFICATION = "1.2.840.10008.1.1"
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def _dx(tmp_path: Path, seed: int = 0, shape: tuple[int, int] = (96, 128)) -> pydicom.Dataset:
    write_dx(make_scan(seed, shape=shape), tmp_path / f"src{seed}.dcm")
    return pydicom.dcmread(tmp_path / f"src{seed}.dcm")


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _still_serves(server: DicosServer, tmp_path: Path) -> None:
    ds = _dx(tmp_path, seed=99)
    assoc = associate(server.port, [DICOS_DX_PROCESSING])
    assert assoc.is_established
    try:
        assert assoc.send_c_store(ds).Status == 0
    finally:
        assoc.release()
    assert server.wait_idle(30)
    assert (server.out_dir / f"DX_{ds.SOPInstanceUID}.dcm").exists()


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "backscatter.dicos.server" and r.levelno >= logging.WARNING
    ]


@pytest.mark.parametrize(
    ("uid", "reason"),
    [
        (None, "missing SOP Instance UID"),
        ("../../x", "expected only digits and dots"),
        ("1.2.3/../../etc", "expected only digits and dots"),
        ("1." + "2" * 70, "expected at most 64 characters"),
    ],
)
def test_bad_sop_instance_uid(
    server: DicosServer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    uid: str | None,
    reason: str,
) -> None:
    ds = _dx(tmp_path)
    if uid is None:
        del ds.SOPInstanceUID
    else:
        ds.SOPInstanceUID = uid
    before = _files(tmp_path)
    assoc = associate(server.port, [DICOS_DX_PROCESSING])
    try:
        status = raw_c_store(assoc, encoded(ds), DICOS_DX_PROCESSING, "1.2.3.4")
    finally:
        assoc.release()
    assert status.Status == 0xC000
    assert status.ErrorComment == ("missing" if uid is None else "invalid") + " SOP Instance UID"
    assert list(server.out_dir.iterdir()) == []
    assert _files(tmp_path) == before
    logged = _warnings(caplog)
    assert len(logged) == 1 and "refused C-STORE" in logged[0] and "0xC000" in logged[0]
    assert reason in logged[0]
    _still_serves(server, tmp_path)


def test_sop_class_mismatch(server: DicosServer, tmp_path: Path) -> None:
    ds = _dx(tmp_path)
    ds.SOPClassUID = CT_IMAGE
    assoc = associate(server.port, [DICOS_DX_PROCESSING])
    try:
        status = raw_c_store(assoc, encoded(ds), DICOS_DX_PROCESSING, str(ds.SOPInstanceUID))
    finally:
        assoc.release()
    assert status.Status == 0xA900
    assert list(server.out_dir.iterdir()) == []


def test_unsupported_sop_class_is_refused_at_negotiation(
    server: DicosServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assoc = associate(server.port, [CT_IMAGE, VERIFICATION])
    try:
        accepted = {c.abstract_syntax for c in assoc.accepted_contexts}
        rejected = {c.abstract_syntax for c in assoc.rejected_contexts}
        ds = _dx(tmp_path)
        ds.SOPClassUID = CT_IMAGE
        with pytest.raises(ValueError, match="No presentation context"):
            assoc.send_c_store(ds)
    finally:
        assoc.release()
    assert (accepted, rejected) == ({VERIFICATION}, {CT_IMAGE})
    assert any(CT_IMAGE in m and "not supported" in m for m in _warnings(caplog))
    assert list(server.out_dir.iterdir()) == []
    _still_serves(server, tmp_path)


def test_oversize_dataset(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cfg = ServerConfig(out_dir=tmp_path / "in", port=0, max_dataset_bytes=10_000)
    ds = _dx(tmp_path)
    with DicosServer(cfg) as srv:
        assoc = associate(srv.port, [DICOS_DX_PROCESSING])
        try:
            status = assoc.send_c_store(ds)
        finally:
            assoc.release()
        assert status.Status == 0xA700
        assert "exceeds limit 10000" in status.ErrorComment
        assert list(srv.out_dir.iterdir()) == []
        _still_serves_small(srv, tmp_path)
    assert len(_warnings(caplog)) == 1


def test_peer_disconnects_mid_transfer(
    server: DicosServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds = _dx(tmp_path, shape=(400, 400))
    assoc = associate(server.port, [DICOS_DX_PROCESSING])
    disconnect_mid_store(assoc, encoded(ds), DICOS_DX_PROCESSING, str(ds.SOPInstanceUID))
    deadline = time.monotonic() + 10
    while not _warnings(caplog) and time.monotonic() < deadline:
        time.sleep(0.05)
    logged = _warnings(caplog)
    assert len(logged) == 1 and "nothing partial was written" in logged[0], logged
    assert list(server.out_dir.iterdir()) == []
    _still_serves(server, tmp_path)


def test_truncated_association_request(
    server: DicosServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    truncated_associate_request(server.port)
    deadline = time.monotonic() + 10
    while not _warnings(caplog) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_warnings(caplog)) == 1
    assert "closed before an association was made" in _warnings(caplog)[0]
    assert list(server.out_dir.iterdir()) == []
    _still_serves(server, tmp_path)


def test_runaway_dataset_drops_association(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Past ``drop_over_bytes`` the peer is cut off while still sending: memory stays bounded."""
    cfg = ServerConfig(
        out_dir=tmp_path / "in", port=0, max_dataset_bytes=10_000, drop_over_bytes=1_500_000
    )
    ds = _dx(tmp_path, shape=(1200, 1200))  # 2.9 MB: three 1 MiB PDUs
    with DicosServer(cfg) as srv:
        assoc = associate(srv.port, [DICOS_DX_PROCESSING])
        status = assoc.send_c_store(ds)
        assert "Status" not in status  # no response: the association was dropped
        deadline = time.monotonic() + 10
        while assoc.is_established and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not assoc.is_established
        assert list(srv.out_dir.iterdir()) == []
        _still_serves_small(srv, tmp_path)
    logged = _warnings(caplog)
    assert len(logged) == 1 and "passed" in logged[0] and "limit 1500000" in logged[0]


def _still_serves_small(server: DicosServer, tmp_path: Path) -> None:
    write_dx(make_scan(5, shape=(40, 50)), tmp_path / "small.dcm")
    assoc = associate(server.port, [DICOS_DX_PROCESSING])
    try:
        assert assoc.send_c_store(pydicom.dcmread(tmp_path / "small.dcm")).Status == 0
    finally:
        assoc.release()
