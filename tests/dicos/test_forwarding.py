"""The durable forward queue: nothing acknowledged is lost while the archive is down, the
backlog survives a restart and shows in ``serve --status`` and the log."""

from __future__ import annotations

import logging
import socket
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from backscatter.dicos.dx import write_dx
from backscatter.dicos.forwarding import QUEUE_DIR, backlog
from backscatter.dicos.received import ForwardTarget
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.dicos.uids import DICOS_DX_PROCESSING

from .conftest import make_scan, threshold_detector
from .peers import associate


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _send(port: int, tmp_path: Path, seeds: range) -> list[str]:
    uids = []
    assoc = associate(port, [DICOS_DX_PROCESSING])
    assert assoc.is_established
    try:
        for seed in seeds:
            path = tmp_path / f"src{seed}.dcm"
            uids.append(write_dx(make_scan(seed), path))
            assert assoc.send_c_store(pydicom.dcmread(path)).Status == 0
    finally:
        assoc.release()
    return uids


def _messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "backscatter.dicos.server"]


def test_archive_down_then_up_after_a_restart(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="backscatter.dicos.server")
    archive_port = _free_port()  # nothing listens there yet
    target = ForwardTarget("127.0.0.1", archive_port, "ARCHIVE")

    def config() -> ServerConfig:
        return ServerConfig(
            out_dir=tmp_path / "in",
            port=0,
            detect=threshold_detector(),
            forward=target,
            forward_max_backoff_s=1.0,
        )

    with DicosServer(config()) as srv:
        uids = _send(srv.port, tmp_path, range(3))
        assert not srv.wait_idle(3)  # processed, but the forwards cannot leave
        deadline = time.monotonic() + 10
        while not any("failed (attempt" in m for m in _messages(caplog)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    waiting = backlog(tmp_path / "in")
    assert (waiting.items, waiting.files) == (3, 6)  # each image with its TDR
    assert "no association" in waiting.last_error
    failed = [m for m in _messages(caplog) if "failed (attempt" in m]
    assert f"ARCHIVE@127.0.0.1:{archive_port}" in failed[0] and ", backlog " in failed[0]

    status = subprocess.run(
        [sys.executable, "-m", "backscatter", "serve", "--status", "--out", str(tmp_path / "in")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert status.returncode == 0
    assert status.stdout.startswith("forward backlog: 3 item(s), 6 file(s)")

    archive_cfg = ServerConfig(out_dir=tmp_path / "archive", port=archive_port, ae_title="ARCHIVE")
    caplog.clear()
    with DicosServer(archive_cfg) as archive, DicosServer(config()) as srv:
        assert srv.wait_idle(30)
        assert archive.wait_idle(30)
        got = sorted(p.name for p in archive.out_dir.glob("*.dcm"))
    assert len(got) == 6
    assert all(any(uid in name for name in got) for uid in uids)
    assert backlog(tmp_path / "in").items == 0
    assert list((tmp_path / "in" / QUEUE_DIR).glob("*.json")) == []
    messages = _messages(caplog)
    assert any("forward queue: 3 item(s) from an earlier run" in m for m in messages)
    assert sum("forwarded" in m and "to ARCHIVE@" in m for m in messages) == 3


def test_forward_success_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="backscatter.dicos.server")
    with DicosServer(ServerConfig(out_dir=tmp_path / "a", port=0, ae_title="ARCHIVE")) as arc:
        cfg = ServerConfig(
            out_dir=tmp_path / "in",
            port=0,
            forward=ForwardTarget("127.0.0.1", arc.port, "ARCHIVE"),
        )
        with DicosServer(cfg) as srv:
            (uid,) = _send(srv.port, tmp_path, range(1))
            assert srv.wait_idle(30)
    line = next(m for m in _messages(caplog) if m.startswith("forwarded"))
    assert f"DX_{uid}.dcm" in line and "(backlog 0)" in line
