"""Stress: 64 hostile connections and a Deflate bomb against ``backscatter serve`` while dcmtk's
storescu stores 100 files (loopback only).

    .venv/bin/python -m bench.reliability.hostile_receiver [--hostile 64] [--files 100]

The hostile peers come in four kinds, a quarter each: idle (connect, send nothing), half-PDU
(half an A-ASSOCIATE-RQ, then silence), garbage (random bytes, socket kept open) and slow-loris
(a real association, then a P-DATA PDU one byte per second). Each holds its socket until the
server closes it (bounded: every loop here stops by itself). Meanwhile storescu sends FILES
DICOS DX images over one association and a pynetdicom peer sends 1 MB of Deflate that inflates
to 1000 MB. The server runs with its default size cap and short time-outs (handshake/PDU 5 s,
idle 10 s, DIMSE 20 s); its RSS is sampled every 20 ms.

Prints: files stored and lost, each kind's time to be closed by the server and how many of its
connections got a log line naming them, the bomb's status, and the server's RSS baseline and
peak. Exit status 1 when a file is lost, a connection was not closed or not logged, the bomb
was not refused, or the peak RSS passed 400 MB.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from pathlib import Path

import numpy as np

from backscatter.dicos.dx import write_dx
from backscatter.scan import Scan
from tests.reliability.harness.hostile import associate_rq_bytes
from tests.reliability.harness.procs import Serve, rss_kb

DX = "1.2.840.10008.5.1.4.1.1.501.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
KINDS = ("idle", "half-PDU", "garbage", "slow-loris")
TIMEOUTS = ["--handshake-timeout", "5", "--pdu-timeout", "5", "--idle-timeout", "10"]
TIMEOUTS += ["--dimse-timeout", "20"]
#: no hostile peer waits longer than this for the server to close it
HOLD_LIMIT_S = 60.0


class Hostile(threading.Thread):
    """One hostile connection; records when the server closed it."""

    def __init__(self, kind: str, port: int, rq: bytes, seed: int) -> None:
        super().__init__(daemon=True)
        self.kind, self.port, self.rq = kind, port, rq
        self.rng = random.Random(seed)
        self.local_port = 0
        self.closed_after: float | None = None

    def run(self) -> None:
        started = time.monotonic()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            self.local_port = sock.getsockname()[1]
            sock.settimeout(1.0)
            with contextlib.suppress(OSError):  # reset by the server
                self._attack(sock, started)
            self.closed_after = self._wait_close(sock, started)

    def _attack(self, sock: socket.socket, started: float) -> None:
        if self.kind == "half-PDU":
            sock.sendall(self.rq[: len(self.rq) // 2])
        elif self.kind == "garbage":
            sock.sendall(bytes(self.rng.randrange(8, 256) for _ in range(300)))
        elif self.kind == "slow-loris":
            sock.sendall(self.rq)
            head = sock.recv(6)
            if head[:1] != b"\x02":
                return
            left = struct.unpack(">I", head[2:6])[0]
            while left > 0:
                left -= len(sock.recv(left))
            body = struct.pack(">I", 202) + b"\x01\x01" + b"\x00" * 200
            pdu = b"\x04\x00" + struct.pack(">I", len(body)) + body
            for byte in pdu:
                if time.monotonic() - started > HOLD_LIMIT_S:
                    return
                sock.sendall(bytes([byte]))
                time.sleep(1.0)

    @staticmethod
    def _wait_close(sock: socket.socket, started: float) -> float | None:
        while time.monotonic() - started < HOLD_LIMIT_S:
            try:
                if not sock.recv(65536):
                    return time.monotonic() - started
            except TimeoutError:
                continue
            except OSError:
                return time.monotonic() - started
        return None


def make_files(folder: Path, count: int) -> list[Path]:
    rng = np.random.default_rng(0)
    paths = []
    for i in range(count):
        px = rng.integers(0, 4096, size=(256, 256), dtype=np.uint16)
        path = folder / f"{i:03d}.dcm"
        write_dx(Scan(pixels=px, bits_stored=12, scan_id=f"stress-{i}"), path)
        paths.append(path)
    return paths


def send_bomb(port: int, template: Path, decoded_mb: int) -> tuple[int | None, str, int]:
    """C-STORE a DX whose Deflate stream inflates to ``decoded_mb`` MB; (status, comment,
    bytes sent)."""
    import pydicom
    from pynetdicom import AE
    from pynetdicom.dsutils import encode

    from tests.dicos.peers import raw_c_store

    ds = pydicom.dcmread(template)
    del ds.PixelData
    header = encode(ds, False, True)
    assert header is not None
    size = decoded_mb * 1_000_000
    z = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    parts = [z.compress(header + b"\xe0\x7f\x10\x00OW\x00\x00" + struct.pack("<I", size))]
    zeros = bytes(1 << 20)
    left = size
    while left:
        n = min(left, len(zeros))
        parts.append(z.compress(zeros[:n]))
        left -= n
    parts.append(z.flush())
    payload = b"".join(parts)
    ae = AE(ae_title="BOMB")
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = 60
    ae.add_requested_context(DX, DEFLATED)
    assoc = ae.associate("127.0.0.1", port, ae_title="BACKSCATTER")
    if not assoc.is_established:
        return None, "no association", len(payload)
    try:
        status = raw_c_store(assoc, payload, DX, str(ds.SOPInstanceUID))
    finally:
        assoc.release()
    return int(status.Status), str(status.get("ErrorComment", "")), len(payload)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--hostile", type=int, default=64)
    p.add_argument("--files", type=int, default=100)
    p.add_argument("--bomb-mb", type=int, default=1000, help="decoded size of the bomb (MB)")
    args = p.parse_args()
    storescu = shutil.which("storescu", path="/usr/bin:/usr/local/bin")
    if storescu is None:
        print("storescu (dcmtk) is not installed", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="hostile-receiver-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        files = make_files(root / "src", args.files)
        serve = Serve(root / "in", "--no-detect", *TIMEOUTS)
        try:
            return run(args, serve, storescu, files)
        finally:
            code = serve.stop()
            if code not in (0, 130):
                print(f"serve exited with {code}", file=sys.stderr)


def run(args: argparse.Namespace, serve: Serve, storescu: str, files: list[Path]) -> int:
    pid, port = serve.pid, serve.port
    rss = [rss_kb(pid)]
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.is_set():
            try:
                rss.append(rss_kb(pid))
            except OSError:
                return
            time.sleep(0.02)

    threading.Thread(target=sample, daemon=True).start()
    rq = associate_rq_bytes((DX,))
    peers = [Hostile(KINDS[i % 4], port, rq, i) for i in range(args.hostile)]
    started = time.monotonic()
    for peer in peers:
        peer.start()
    time.sleep(0.5)  # all 64 connected before the good peer starts
    res = subprocess.run(
        [storescu, "-aec", "BACKSCATTER", "-R", "127.0.0.1", str(port), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    store_s = time.monotonic() - started
    bomb_status, bomb_comment, bomb_sent = send_bomb(port, files[0], args.bomb_mb)
    for peer in peers:
        peer.join(HOLD_LIMIT_S + 5)
    sampling.set()
    time.sleep(0.5)  # the last log lines
    log = serve.log()
    stored = len(list(serve.out.glob("DX_*.dcm")))

    ok = res.returncode == 0 and stored == len(files)
    print(
        f"storescu: {len(files)} DX 256x256 over one association, exit {res.returncode}, "
        f"{store_s:.1f} s with {len(peers)} hostile connections open"
    )
    print(f"stored {stored} / {len(files)}, lost {len(files) - stored}")
    for kind in KINDS:
        group = [p for p in peers if p.kind == kind]
        closed = [p.closed_after for p in group if p.closed_after is not None]
        logged = sum(f"127.0.0.1:{p.local_port}" in log for p in group)
        ok = ok and len(closed) == len(group) and logged == len(group)
        spread = (
            f"median {statistics.median(closed):.1f} s, max {max(closed):.1f} s"
            if closed
            else "none"
        )
        print(
            f"{kind:>10}: {len(group)} connections, closed by the server {len(closed)} "
            f"({spread}), logged by address {logged}"
        )
        lines = log.splitlines()
        said = [ln for ln in lines if group and f"127.0.0.1:{group[0].local_port}" in ln]
        if said:
            print(f"{'':>12}e.g. {said[0].split(': ', 1)[-1][:110]}")
        for peer in group:
            if peer.closed_after is None:  # what the server said about it
                about = [ln for ln in lines if f"127.0.0.1:{peer.local_port}" in ln]
                print(f"{'':>12}still open: {peer.local_port}: {about}")
    refused = bomb_status == 0xA700
    ok = ok and refused
    print(
        f"deflate bomb: {bomb_sent / 1e6:.2f} MB sent, {args.bomb_mb} MB decoded -> status "
        f"0x{(bomb_status or 0):04X} ({bomb_comment})"
    )
    base, peak = rss[0] / 1024, max(rss) / 1024
    ok = ok and peak < 400
    print(f"server RSS: {base:.0f} MB at start, peak {peak:.0f} MB ({len(rss)} samples)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
