"""Receiver options: TLS, forwarding, the dicom:// frame source, and the ``serve`` CLI."""

from __future__ import annotations

import os
import re
import shutil
import signal
import ssl
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest

from backscatter.acquisition.sources import open_source
from backscatter.dicos.dx import write_dx
from backscatter.dicos.received import ForwardTarget, stored_name
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.dicos.tdr import read_tdr
from backscatter.dicos.uids import DICOS_DX_PROCESSING, DICOS_TDR

from .conftest import make_scan, need, threshold_detector
from .peers import associate

VERIFICATION = "1.2.840.10008.1.1"


def _send(port: int, paths: list[Path], **kw: object) -> list[int]:
    assoc = associate(port, [DICOS_DX_PROCESSING, VERIFICATION], **kw)
    assert assoc.is_established
    try:
        return [int(assoc.send_c_store(pydicom.dcmread(p)).Status) for p in paths]
    finally:
        assoc.release()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl not installed")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
        + ["-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1"]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls(tmp_path: Path, certificate: tuple[Path, Path]) -> None:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    write_dx(make_scan(1), tmp_path / "a.dcm")
    cfg = ServerConfig(out_dir=tmp_path / "in", port=0, ssl_context=server_ctx)
    with DicosServer(cfg) as srv:
        assert _send(srv.port, [tmp_path / "a.dcm"], tls_args=(client_ctx, "localhost")) == [0]
        plain = associate(srv.port, [VERIFICATION])
        assert not plain.is_established
    assert len(list((tmp_path / "in").glob("DX_*.dcm"))) == 1


def test_forward_copies_image_and_tdr(tmp_path: Path) -> None:
    dest_cfg = ServerConfig(out_dir=tmp_path / "dest", port=0, ae_title="ARCHIVE")
    with DicosServer(dest_cfg) as dest:
        cfg = ServerConfig(
            out_dir=tmp_path / "in",
            port=0,
            detect=threshold_detector(),
            forward=ForwardTarget("127.0.0.1", dest.port, "ARCHIVE"),
        )
        with DicosServer(cfg) as srv:
            uid = write_dx(make_scan(2), tmp_path / "a.dcm")
            assert _send(srv.port, [tmp_path / "a.dcm"]) == [0]
            assert srv.wait_idle(30)
        assert dest.wait_idle(30)
        got = sorted(p.name for p in dest.out_dir.iterdir())
    tdrs = [n for n in got if n.startswith("TDR_")]
    assert stored_name(DICOS_DX_PROCESSING, uid) in got and len(tdrs) == 1
    forwarded = read_tdr(dest.out_dir / tdrs[0])
    assert forwarded.image_refs[0].sop_instance_uid == uid
    assert pydicom.dcmread(dest.out_dir / tdrs[0]).SOPClassUID == DICOS_TDR


@pytest.mark.parametrize("text", ["host:104", "h:x:AE", ":104:AE", "h:104:" + "A" * 17])
def test_forward_target_parse_errors(text: str) -> None:
    with pytest.raises(ValueError, match="forward target"):
        ForwardTarget.parse(text)


def test_forward_target_parse() -> None:
    assert ForwardTarget.parse("pacs.local:104:STORE") == ForwardTarget("pacs.local", 104, "STORE")


def test_dicom_uri_source_yields_scans(tmp_path: Path) -> None:
    scans = [make_scan(10 + i) for i in range(2)]
    paths = [tmp_path / f"{i}.dcm" for i in range(2)]
    for scan, path in zip(scans, paths, strict=True):
        write_dx(scan, path)
    source = open_source(f"dicom://127.0.0.1:0?ae=GATE&out={tmp_path / 'in'}")
    try:
        port = source.port  # type: ignore[attr-defined]
        assoc = associate(port, [DICOS_DX_PROCESSING], called="GATE")
        assert assoc.is_established
        for p in paths:
            assert assoc.send_c_store(pydicom.dcmread(p)).Status == 0
        assoc.release()
        it = iter(source)
        received = [next(it), next(it)]
    finally:
        source.close()
    for scan, got in zip(scans, received, strict=True):
        np.testing.assert_array_equal(got.pixels, scan.pixels)
        assert Path(got.extras["received_path"]).parent == tmp_path / "in"
        assert got.extras["calling_ae"].startswith("TESTSCU@")
    assert list(source) == []


@pytest.mark.parametrize(
    ("uri", "reason"),
    [
        ("dicom://:11112?colour=red", "unknown parameters"),
        ("dicom://:11112?ae=" + "A" * 17, "ae: expected 1..16"),
        ("dicom://:99999", "bad port"),
    ],
)
def test_dicom_uri_errors(uri: str, reason: str) -> None:
    from backscatter.acquisition.errors import ScanAccessError

    with pytest.raises(ScanAccessError, match=reason):
        open_source(uri)


def _start_cli(out: Path, *extra: str) -> tuple[subprocess.Popen[str], int, str]:
    """Start ``backscatter serve`` on a free port; returns the process, port and startup lines."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "backscatter", "serve", "--host", "127.0.0.1", "--port", "0"]
        + ["--out", str(out), *extra],
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stderr is not None
    deadline = time.monotonic() + 60
    seen = []
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        seen.append(line)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1)), "".join(seen)
        if proc.poll() is not None:
            break
    proc.kill()
    raise AssertionError(f"serve did not start: {''.join(seen)}")


def _stop_cli(proc: subprocess.Popen[str], sig: int = signal.SIGINT) -> tuple[int, str]:
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err


def test_serve_cli_with_dcmtk_peers(tmp_path: Path) -> None:
    blob = pytest.importorskip("inference.blob_model")
    model = blob.write_blob_model(tmp_path / "models")
    echoscu, storescu = need("echoscu"), need("storescu")
    files = []
    for i in range(3):
        files.append(tmp_path / f"{i}.dcm")
        write_dx(make_scan(20 + i), files[-1])
    out = tmp_path / "in"
    proc, port, startup = _start_cli(out, "--model", str(model), "--ae-title", "GATE")
    assert "detector blob:1:" in startup and "on cpu" in startup
    try:
        base = ["-aec", "GATE", "127.0.0.1", str(port)]
        assert subprocess.run([echoscu, *base], capture_output=True, timeout=30).returncode == 0
        res = subprocess.run(
            [storescu, "-R", *base, *map(str, files)], capture_output=True, timeout=60
        )
        assert res.returncode == 0, res.stderr
        deadline = time.monotonic() + 60
        while len(list(out.glob("*.tdr.dcm"))) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        code, err = _stop_cli(proc)
    assert code == 130
    assert "Traceback" not in err
    tdrs = sorted(out.glob("*.tdr.dcm"))
    assert len(tdrs) == 3
    for t in tdrs:
        tdr = read_tdr(t)
        assert tdr.algorithm[0].startswith("blob:1:")
        assert len(tdr.detections) >= 1 and tdr.alarm_decision == "ALARM"


def test_serve_cli_refuses_bad_options(tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "backscatter", "serve", "--out", str(tmp_path), "--no-detect"]
        + ["--forward", "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("backscatter serve: error: forward")
    assert "Traceback" not in res.stderr


def test_serve_cli_store_only_cleans_stale_parts_and_stops_on_sigterm(tmp_path: Path) -> None:
    out = tmp_path / "in"
    out.mkdir()
    (out / ".tmpabc.part").write_bytes(b"half a file")
    write_dx(make_scan(30), tmp_path / "a.dcm")
    proc, port, startup = _start_cli(out, "--no-detect")
    try:
        assert "removed 1 unfinished temporary file" in startup
        assert _send(port, [tmp_path / "a.dcm"]) == [0]
    finally:
        code, err = _stop_cli(proc, signal.SIGTERM)
    assert code == 130 and "Traceback" not in err
    assert [p.name.startswith("DX_") for p in out.iterdir()] == [True]


def test_port_in_use_is_one_clear_error(tmp_path: Path) -> None:
    with DicosServer(ServerConfig(out_dir=tmp_path / "a", port=0)) as first:
        res = subprocess.run(
            [sys.executable, "-m", "backscatter", "serve", "--host", "127.0.0.1"]
            + ["--port", str(first.port), "--out", str(tmp_path / "b"), "--no-detect"],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith("backscatter serve: error:")
    assert "Traceback" not in res.stderr


def test_serve_help_documents_timeouts_and_defaults() -> None:
    res = subprocess.run(
        [sys.executable, "-m", "backscatter", "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0
    text = " ".join(res.stdout.split())
    for option in ("--handshake-timeout", "--pdu-timeout", "--idle-timeout", "--dimse-timeout"):
        assert option in text
    assert "TLS handshake included" in text
    assert "default 127.0.0.1" in text
    assert "--tls-ca" in text and "--accept-any-called-ae" in text and "--status" in text
    assert "storescu -aec BACKSCATTER -R" in text


def test_all_interfaces_without_allow_warns(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backscatter", "serve", "--host", "0.0.0.0", "--port", "0"]
        + ["--out", str(tmp_path / "in"), "--no-detect"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stderr is not None
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not any("all interfaces" in s for s in seen):
        seen.append(proc.stderr.readline())
    code, _ = _stop_cli(proc)
    assert any("listening on all interfaces with no --allow list" in s for s in seen), seen


@pytest.mark.parametrize(
    ("called", "accept_any", "ok"), [("OTHER", False, False), ("OTHER", True, True)]
)
def test_called_ae_title_is_checked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, called: str, accept_any: bool, ok: bool
) -> None:
    cfg = ServerConfig(out_dir=tmp_path / "in", port=0, accept_any_called_ae=accept_any)
    with DicosServer(cfg) as srv:
        assoc = associate(srv.port, [VERIFICATION], called=called)
        established = assoc.is_established
        if established:
            assoc.release()
    assert established == ok
    if not ok:
        lines = [r.getMessage() for r in caplog.records if "rejected" in r.getMessage()]
        assert len(lines) == 1 and "called AE title 'OTHER' is not ours ('BACKSCATTER'" in lines[0]


def test_implementation_version_name_fits(tmp_path: Path) -> None:
    from backscatter import __version__
    from backscatter.dicos.content import IMPLEMENTATION_VERSION

    assert len(IMPLEMENTATION_VERSION) <= 16
    assert IMPLEMENTATION_VERSION.endswith(__version__)  # the whole version, not cut
    write_dx(make_scan(40), tmp_path / "a.dcm")
    with DicosServer(ServerConfig(out_dir=tmp_path / "in", port=0)) as srv:
        assoc = associate(srv.port, [DICOS_DX_PROCESSING])
        assert assoc.acceptor.implementation_version_name == IMPLEMENTATION_VERSION
        assert assoc.send_c_store(pydicom.dcmread(tmp_path / "a.dcm")).Status == 0
        assoc.release()
    (stored,) = (tmp_path / "in").glob("DX_*.dcm")
    assert pydicom.dcmread(stored).file_meta.ImplementationVersionName == IMPLEMENTATION_VERSION


def _client_cert(d: Path, ca_cert: Path, ca_key: Path) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    assert openssl is not None
    key, csr, cert = d / "client.key", d / "client.csr", d / "client.pem"
    subprocess.run(
        [openssl, "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(key), "-out", str(csr), "-subj", "/CN=scanner1"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [openssl, "x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key)]
        + ["-CAcreateserial", "-out", str(cert), "-days", "1"],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_ca_requires_client_certificates(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    """``--tls-ca``: a client without a certificate from that CA is refused; one with it is
    served (here the server's self-signed certificate doubles as the CA)."""
    import argparse

    from backscatter.cli.serve import _tls_context

    cert, key = certificate
    args = argparse.Namespace(tls_cert=str(cert), tls_key=str(key), tls_ca=str(cert))
    server_ctx = _tls_context(args)
    assert server_ctx.verify_mode == ssl.CERT_REQUIRED
    client_cert, client_key = _client_cert(tmp_path, cert, key)
    write_dx(make_scan(41), tmp_path / "a.dcm")
    with DicosServer(ServerConfig(out_dir=tmp_path / "in", port=0, ssl_context=server_ctx)) as srv:
        anonymous = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        refused = associate(srv.port, [VERIFICATION], tls_args=(anonymous, "localhost"))
        assert not refused.is_established
        known = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        known.load_cert_chain(client_cert, client_key)
        assert _send(srv.port, [tmp_path / "a.dcm"], tls_args=(known, "localhost")) == [0]


def test_storescu_config_option_writes_a_profile(tmp_path: Path) -> None:
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "backscatter",
            "serve",
            "--storescu-config",
            str(tmp_path / "s.cfg"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0
    text = (tmp_path / "s.cfg").read_text()
    assert DICOS_DX_PROCESSING in text and "[Backscatter]" in text
