"""Hostile peers against an in-process receiver with short time-outs (issue 18, points 1-5).

Each test holds real sockets on 127.0.0.1 and checks the facts the issue names: other peers
are served meanwhile, the server closes the connection itself, and one log line names the
peer's address and the time-out or the reason.
"""

from __future__ import annotations

import logging
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest
from reliability.harness.hostile import associate_rq_bytes

from backscatter.dicos.dx import write_dx
from backscatter.dicos.guard import Timeouts
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.dicos.tdr import read_tdr
from backscatter.dicos.uids import DICOS_DX_PROCESSING

from .conftest import make_scan, threshold_detector
from .peers import associate, encoded, raw_c_store

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

T = Timeouts(handshake_s=1.5, pdu_s=1.5, idle_s=3.0, dimse_s=3.0)
VERIFICATION = "1.2.840.10008.1.1"
DEFLATED = "1.2.840.10008.1.2.1.99"
IMPLICIT = "1.2.840.10008.1.2"


def _config(tmp_path: Path, **kw: object) -> ServerConfig:
    base: dict[str, object] = {
        "out_dir": tmp_path / "in",
        "port": 0,
        "detect": threshold_detector(),
        "model_id": "threshold-test",
        "timeouts": T,
        "max_associations": 4,
    }
    base.update(kw)
    return ServerConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[DicosServer]:
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    with DicosServer(_config(tmp_path)) as srv:
        yield srv


def _lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "backscatter.dicos.server"]


def _wait_log(caplog: pytest.LogCaptureFixture, *needles: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in _lines(caplog):
            if all(n in line for n in needles):
                return line
        time.sleep(0.05)
    raise AssertionError(f"no log line with {needles}: {_lines(caplog)}")


def _closed_by_server(sock: socket.socket, timeout: float) -> tuple[bool, bytes]:
    """Read until EOF: True if the server closed within ``timeout``; and what it sent."""
    sock.settimeout(0.2)
    got = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def _store_one(port: int, tmp_path: Path, seed: int, **kw: object) -> int:
    path = tmp_path / f"ok{seed}.dcm"
    write_dx(make_scan(seed), path)
    assoc = associate(port, [DICOS_DX_PROCESSING], **kw)  # type: ignore[arg-type]
    assert assoc.is_established, "a well-behaved peer was not let in"
    try:
        return int(assoc.send_c_store(pydicom.dcmread(path)).Status)
    finally:
        assoc.release()


def _raw_associate(port: int) -> socket.socket:
    """A real association on a raw socket (context 1: DICOS DX, explicit VR)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(associate_rq_bytes((DICOS_DX_PROCESSING,)))
    head = sock.recv(6, socket.MSG_WAITALL)
    assert head[:1] == b"\x02", head
    length = struct.unpack(">I", head[2:6])[0]
    while length > 0:
        length -= len(sock.recv(length))
    return sock


def _pdata(control: int, payload: bytes, context: int = 1) -> bytes:
    item = struct.pack(">I", 2 + len(payload)) + bytes([context, control]) + payload
    return b"\x04\x00" + struct.pack(">I", len(item)) + item


# -- 1. TLS: the handshake runs per connection, bounded -------------------------------------
@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import shutil
    import subprocess

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


def test_tls_idle_connection_does_not_freeze_the_server(
    tmp_path: Path, certificate: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = certificate
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    client_ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
    slow = Timeouts(handshake_s=4.0, pdu_s=1.5, idle_s=3.0, dimse_s=3.0)
    srv = DicosServer(_config(tmp_path, ssl_context=server_ctx, timeouts=slow)).start()
    try:
        idle = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3)]
        started = time.monotonic()
        assert _store_one(srv.port, tmp_path, 1, tls_args=(client_ctx, "localhost")) == 0
        assert time.monotonic() - started < 3.0  # served while three bare TCP peers wait
        assert not any("TLS handshake" in line for line in _lines(caplog))  # still waiting
        for sock in idle:
            closed, _ = _closed_by_server(sock, slow.handshake_s + 2)
            assert closed
            port = sock.getsockname()[1]
            _wait_log(caplog, f"127.0.0.1:{port}", "TLS handshake time-out (4 s)")
            sock.close()
        held = socket.create_connection(("127.0.0.1", srv.port))
    finally:
        started = time.monotonic()
        srv.stop()
        stopped_in = time.monotonic() - started
    held.close()
    assert stopped_in < 2.0  # SIGTERM-style stop does not wait for a silent peer


# -- 2. stalled partial PDUs, garbage -------------------------------------------------------
def test_half_requests_do_not_hold_association_slots(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Twice the association limit of connections each send half an A-ASSOCIATE-RQ: a good
    peer still gets in at once, and each stalled one is closed and logged by its address."""
    slow = Timeouts(handshake_s=4.0, pdu_s=4.0, idle_s=3.0, dimse_s=3.0)
    rq = associate_rq_bytes()
    stalled = []
    with DicosServer(_config(tmp_path, timeouts=slow)) as server:
        for _ in range(8):  # limit is 4
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
            sock.sendall(rq[:20])
            stalled.append(sock)
        time.sleep(0.2)
        assert _store_one(server.port, tmp_path, 2) == 0
        assert not any("time-out" in line for line in _lines(caplog))  # they still wait
        for sock in stalled:
            closed, _ = _closed_by_server(sock, slow.handshake_s + 2)
            assert closed
            _wait_log(caplog, f"127.0.0.1:{sock.getsockname()[1]}", "handshake time-out (4 s)")
            sock.close()
    assert not any("already open" in line for line in _lines(caplog))


def test_silent_connection_is_closed_and_logged(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    closed, _ = _closed_by_server(sock, T.handshake_s + 2)
    assert closed
    _wait_log(caplog, f"127.0.0.1:{sock.getsockname()[1]}", "handshake time-out")
    sock.close()


@pytest.mark.parametrize(
    "payload",
    [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", bytes(range(256)) * 2, b"\x09\x00\x00\x00\x00\x04ab"],
    ids=["http", "garbage", "unknown-pdu"],
)
def test_garbage_gets_an_abort_and_the_socket_is_closed(
    server: DicosServer, caplog: pytest.LogCaptureFixture, payload: bytes
) -> None:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(payload)  # and keep the socket open
    closed, got = _closed_by_server(sock, 2.0)
    assert closed and got[:1] == b"\x07", got[:10]  # A-ABORT, then the server hung up
    _wait_log(caplog, f"127.0.0.1:{sock.getsockname()[1]}", "not DICOM", "A-ABORT sent")
    sock.close()


def test_pdu_announcing_more_than_the_limit_is_aborted(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    sock = _raw_associate(server.port)
    sock.sendall(b"\x04\x00\x7f\xff\xff\xff" + b"\x00" * 64)  # 2 GiB P-DATA
    closed, got = _closed_by_server(sock, 2.0)
    assert closed and got[:1] == b"\x07"
    _wait_log(caplog, "announces 2147483647 bytes")
    sock.close()


def test_slow_loris_meets_the_pdu_timeout(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    """One byte every 0.2 s of a P-DATA PDU: cut off at the PDU time-out, well before idle."""
    sock = _raw_associate(server.port)
    pdu = _pdata(0x01, b"\x00" * 200)
    started = time.monotonic()
    try:
        for byte in pdu:
            sock.sendall(bytes([byte]))
            time.sleep(0.2)
            if time.monotonic() - started > T.pdu_s + 3:
                break
    except OSError:
        pass  # the server closed on us
    elapsed = time.monotonic() - started
    line = _wait_log(caplog, "PDU time-out (1.5 s)")
    assert elapsed < T.pdu_s + 2.5
    assert f"127.0.0.1:{sock.getsockname()[1]}" in line
    sock.close()


def test_idle_association_is_aborted(server: DicosServer, caplog: pytest.LogCaptureFixture) -> None:
    sock = _raw_associate(server.port)
    closed, got = _closed_by_server(sock, T.idle_s + 3)
    assert closed and got[:1] == b"\x07"
    _wait_log(caplog, "idle time-out (3 s)", f":{sock.getsockname()[1]}")
    sock.close()


def test_dimse_message_that_never_completes_is_aborted(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A command fragment every 0.5 s (each PDU complete, so neither PDU nor idle time-out
    fires): the DIMSE time-out does."""
    sock = _raw_associate(server.port)
    started = time.monotonic()
    try:
        while time.monotonic() - started < T.dimse_s + 3:
            sock.sendall(_pdata(0x01, b"\x00" * 8))  # command, not the last fragment
            time.sleep(0.5)
    except OSError:
        pass
    line = _wait_log(caplog, "DIMSE time-out (3 s)")
    assert f":{sock.getsockname()[1]}" in line
    assert time.monotonic() - started < T.dimse_s + 2.5
    sock.close()


def test_lying_item_length_in_the_association_request(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    rq = bytearray(associate_rq_bytes())
    at = rq.find(b"\x20\x00", 74)  # the presentation context item
    rq[at + 2 : at + 4] = b"\x0f\xff"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(bytes(rq))
    closed, got = _closed_by_server(sock, 2.0)
    assert closed and got[:1] == b"\x07"
    _wait_log(caplog, "item 0x20", "claims 4095 bytes")
    sock.close()


def test_lying_pdv_length_is_aborted(server: DicosServer, caplog: pytest.LogCaptureFixture) -> None:
    sock = _raw_associate(server.port)
    pdu = bytearray(_pdata(0x03, b"\x00" * 20))
    pdu[6:10] = struct.pack(">I", 5000)  # the PDV item claims more than its PDU holds
    sock.sendall(bytes(pdu))
    closed, got = _closed_by_server(sock, 2.0)
    assert closed and got[:1] == b"\x07"
    _wait_log(caplog, "P-DATA: item at byte 0 claims 5000 bytes")
    sock.close()


def test_peer_abort_is_logged_as_an_abort(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    assoc = associate(server.port, [VERIFICATION])
    assert assoc.is_established
    assoc.abort()
    line = _wait_log(caplog, "aborted the association (A-ABORT")
    assert "TESTSCU@127.0.0.1" in line
    time.sleep(0.3)
    assert not any("closed without release" in m for m in _lines(caplog))


# -- 3. Deflate bomb ------------------------------------------------------------------------
def _dx_header(seed: int, rows: int, cols: int) -> tuple[pydicom.Dataset, bytes]:
    """Our DX without its pixels, encoded explicit VR little endian."""
    ds = pydicom.dcmread(_dx_file(seed, rows, cols))
    del ds.PixelData
    return ds, encoded(ds)


_SRC: dict[tuple[int, int, int], Path] = {}


def _dx_file(seed: int, rows: int, cols: int) -> Path:
    import tempfile

    key = (seed, rows, cols)
    if key not in _SRC:
        path = Path(tempfile.mkdtemp(prefix="hostile-")) / "dx.dcm"
        write_dx(make_scan(seed, shape=(rows, cols)), path)
        _SRC[key] = path
    return _SRC[key]


def _deflated(header: bytes, pixel_bytes: int) -> bytes:
    """``header`` + a Pixel Data (OW) of ``pixel_bytes`` zeros, raw-deflated in 1 MiB steps."""
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    out = [z.compress(header + b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", pixel_bytes))]
    zeros = bytes(1 << 20)
    left = pixel_bytes
    while left:
        n = min(left, len(zeros))
        out.append(z.compress(zeros[:n]))
        left -= n
    out.append(z.flush())
    return b"".join(out)


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def test_deflate_bomb_is_refused_on_decoded_size(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    ds, header = _dx_header(3, 10240, 10240)  # header says 10240 x 10240 x 2 = 200 MiB
    bomb = _deflated(header, 10240 * 10240 * 2)
    assert len(bomb) < 1_000_000
    cfg = _config(tmp_path, max_dataset_bytes=8 << 20)
    peak = [0.0]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_mb())
            time.sleep(0.005)

    with DicosServer(cfg) as srv:
        assoc = associate(srv.port, [DICOS_DX_PROCESSING], syntax=DEFLATED)
        base = _rss_mb()
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            status = raw_c_store(assoc, bomb, DICOS_DX_PROCESSING, str(ds.SOPInstanceUID))
        finally:
            stop.set()
            sampler.join()
            assoc.release()
        assert status.Status == 0xA700
        assert "decoded data set exceeds limit 8388608" in status.ErrorComment
        assert [p.name for p in srv.out_dir.iterdir()] == []  # no .part left either
    assert peak[0] - base < 40, f"RSS rose {peak[0] - base:.0f} MiB while inflating"
    _wait_log(caplog, "refused C-STORE", "inflates past 8388608 bytes")


def test_deflated_data_set_is_stored_inflated(server: DicosServer) -> None:
    source = _dx_file(4, 64, 80)
    original = pydicom.dcmread(source)
    z = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    payload = z.compress(encoded(original)) + z.flush()
    assoc = associate(server.port, [DICOS_DX_PROCESSING], syntax=DEFLATED)
    try:
        status = raw_c_store(assoc, payload, DICOS_DX_PROCESSING, str(original.SOPInstanceUID))
    finally:
        assoc.release()
    assert status.Status == 0
    assert server.wait_idle(30)
    got = server.out_dir / f"DX_{original.SOPInstanceUID}.dcm"
    stored = pydicom.dcmread(got)
    assert stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert stored.PixelData == original.PixelData
    assert read_tdr(got.with_name(got.name.replace(".dcm", ".tdr.dcm"))).image_refs


# -- 4. unreadable images: a failure status or an ABORT TDR, never a silent success ----------
def _send_bytes(port: int, payload: bytes, uid: str) -> pydicom.Dataset:
    assoc = associate(port, [DICOS_DX_PROCESSING])
    try:
        return raw_c_store(assoc, payload, DICOS_DX_PROCESSING, uid)
    finally:
        assoc.release()


def _with_pixels(seed: int, rows: int, cols: int, pixel_element: bytes) -> tuple[str, bytes]:
    ds, _ = _dx_header(seed, 64, 80)
    ds.Rows, ds.Columns = rows, cols
    return str(ds.SOPInstanceUID), encoded(ds) + pixel_element


def _ow(length: int, present: int) -> bytes:
    return b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", length) + b"\x00" * present


@pytest.mark.parametrize(
    ("rows", "cols", "pixels", "abort_reason"),
    [(64, 80, _ow(100, 100), "INCOMPLETE_SCAN"), (0, 0, _ow(0, 0), "UNKNOWN")],
    ids=["truncated-pixels", "0x0-image"],
)
def test_unreadable_image_gets_an_aborted_tdr(
    server: DicosServer,
    caplog: pytest.LogCaptureFixture,
    rows: int,
    cols: int,
    pixels: bytes,
    abort_reason: str,
) -> None:
    uid, payload = _with_pixels(5, rows, cols, pixels)
    assert _send_bytes(server.port, payload, uid).Status == 0
    assert server.wait_idle(30)
    tdr = read_tdr(server.out_dir / f"DX_{uid}.tdr.dcm")
    assert tdr.extras["abort_flag"] == "ABORT"
    assert tdr.extras["abort_reason"] == abort_reason
    assert tdr.alarm_decision == "UNKNOWN"
    assert [r.sop_instance_uid for r in tdr.image_refs] == [uid]
    _wait_log(caplog, f"DX_{uid}.dcm", "analysis aborted")


def test_pixel_length_past_what_was_sent_is_refused(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    uid, payload = _with_pixels(6, 64, 80, _ow(1 << 31, 64))  # 2 GiB announced, 64 B present
    status = _send_bytes(server.port, payload, uid)
    assert status.Status == 0xC000
    assert "claims 2147483648 bytes, 64 left" in status.ErrorComment
    assert list(server.out_dir.iterdir()) == []
    _wait_log(caplog, "refused C-STORE", "claims 2147483648 bytes")


# -- 5. transfer syntax mismatch -------------------------------------------------------------
def test_implicit_bytes_on_an_explicit_context_are_refused(
    server: DicosServer, caplog: pytest.LogCaptureFixture
) -> None:
    from pynetdicom.dsutils import encode

    ds = pydicom.dcmread(_dx_file(7, 64, 80))
    implicit = encode(ds, True, True)
    assert implicit is not None
    status = _send_bytes(server.port, implicit, str(ds.SOPInstanceUID))
    assert status.Status == 0xC000
    assert "has no VR" in status.ErrorComment
    assert list(server.out_dir.iterdir()) == []
    line = _wait_log(caplog, "refused C-STORE", "negotiated syntax 1.2.840.10008.1.2.1")
    assert "TESTSCU@127.0.0.1" in line


def test_explicit_bytes_on_an_implicit_context_are_refused(server: DicosServer) -> None:
    ds = pydicom.dcmread(_dx_file(8, 64, 80))
    assoc = associate(server.port, [DICOS_DX_PROCESSING], syntax=IMPLICIT)
    try:
        status = raw_c_store(assoc, encoded(ds), DICOS_DX_PROCESSING, str(ds.SOPInstanceUID))
    finally:
        assoc.release()
    assert status.Status == 0xC000
    assert list(server.out_dir.iterdir()) == []


def test_compressed_pixels_past_the_cap_get_an_aborted_tdr(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The cap holds on decoded pixels too: 400 x 400 uint16 RLE (a few KB on the wire, 320 KB
    decoded) against a 100 KB cap is stored as sent, never decoded, and its TDR says ABORT."""
    import numpy as np
    from pydicom.uid import RLELossless

    from backscatter.scan import Scan

    flat = Scan(pixels=np.full((400, 400), 100, np.uint16), bits_stored=12, scan_id="flat")
    write_dx(flat, tmp_path / "flat.dcm")
    ds = pydicom.dcmread(tmp_path / "flat.dcm")
    ds.compress(RLELossless)
    data = encoded(ds)
    assert len(data) < 100_000
    cfg = _config(tmp_path, max_dataset_bytes=100_000)
    with DicosServer(cfg) as srv:
        assoc = associate(srv.port, [DICOS_DX_PROCESSING], syntax=RLELossless)
        try:
            status = raw_c_store(assoc, data, DICOS_DX_PROCESSING, str(ds.SOPInstanceUID))
        finally:
            assoc.release()
        assert status.Status == 0
        assert srv.wait_idle(30)
        tdr = read_tdr(srv.out_dir / f"DX_{ds.SOPInstanceUID}.tdr.dcm")
    assert tdr.extras["abort_flag"] == "ABORT"
    _wait_log(caplog, "analysis aborted")
