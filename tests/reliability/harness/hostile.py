"""Hostile DICOM peers on raw sockets: malformed PDUs, stalled senders, association bursts.

Every helper is bounded: fixed counts, socket timeouts, and it closes what it opened.
"""

from __future__ import annotations

import random
import socket
import struct
import threading
import time
from typing import Any

from .procs import VERIFICATION


def associate_rq_bytes(sop_classes: tuple[str, ...] = (VERIFICATION,)) -> bytes:
    """The A-ASSOCIATE-RQ PDU pynetdicom sends, captured from a listener of our own."""
    from pynetdicom import AE

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    got: list[bytes] = []

    def accept() -> None:
        conn, _ = listener.accept()
        conn.settimeout(5)
        data = b""
        while len(data) < 6 or len(data) < 6 + struct.unpack(">I", data[2:6])[0]:
            chunk = conn.recv(65536)
            if not chunk:
                break
            data += chunk
        got.append(data)
        conn.close()

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    ae = AE(ae_title="RELIABLE")
    ae.acse_timeout = ae.network_timeout = 2
    for uid in sop_classes:
        ae.add_requested_context(uid, "1.2.840.10008.1.2.1")
    ae.associate("127.0.0.1", port, ae_title="BACKSCATTER")
    t.join(5)
    listener.close()
    return got[0]


def send_and_close(port: int, payload: bytes, *, wait: float = 3.0) -> bytes:
    """Send ``payload``, half-close, and return what the server answered before closing."""
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as sock:
        try:
            sock.sendall(payload)
            sock.shutdown(socket.SHUT_WR)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        except OSError:  # reset by the server: also an answer
            pass
    return answer


def malformed_pdus(rng: random.Random, valid_rq: bytes, n: int) -> list[tuple[str, bytes]]:
    """``n`` malformed first PDUs of kinds that a parser has to survive."""
    out: list[tuple[str, bytes]] = []
    for k in range(n):
        kind = k % 7
        if kind == 0:
            out.append(("garbage", rng.randbytes(rng.randint(1, 400))))
        elif kind == 1:  # A-ASSOCIATE-RQ claiming 4 GiB
            out.append(("huge-length", b"\x01\x00\xff\xff\xff\xff" + valid_rq[6:]))
        elif kind == 2:  # bit flips in a real request (variable items, lengths, UIDs)
            rq = bytearray(valid_rq)
            for _ in range(rng.randint(1, 6)):
                i = rng.randrange(6, len(rq))
                rq[i] ^= 1 << rng.randrange(8)
            out.append(("flipped-rq", bytes(rq)))
        elif kind == 3:  # P-DATA before any association
            body = struct.pack(">IB", 6, 1) + b"\x03\x00\x00\x00\x00"
            out.append(("pdata-first", b"\x04\x00" + struct.pack(">I", len(body)) + body))
        elif kind == 4:
            pdu_type = rng.choice([0x00, 0x08, 0x09, 0x7F, 0xFF])
            out.append(("unknown-type", bytes([pdu_type, 0]) + struct.pack(">I", 4) + b"abcd"))
        elif kind == 5:  # item lengths that overrun the PDU
            rq = bytearray(valid_rq)
            at = rq.find(b"\x20\x00", 74)  # first presentation context item
            if at > 0:
                rq[at + 2 : at + 4] = b"\xff\xff"
            out.append(("item-overrun", bytes(rq)))
        else:  # a real request cut short
            out.append(("truncated-rq", valid_rq[: rng.randrange(1, len(valid_rq))]))
    return out


class Stalled:
    """Sockets that stop sending in the middle of a PDU and keep the connection open."""

    def __init__(self) -> None:
        self.socks: list[socket.socket] = []

    def mid_associate(self, port: int, valid_rq: bytes) -> None:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(valid_rq[:20])  # header says len(valid_rq) bytes: we send 20
        self.socks.append(sock)

    def mid_pdata(self, port: int, valid_rq: bytes) -> bool:
        """Associate for real, then send a P-DATA-TF header announcing 1 MiB and 100 bytes."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(valid_rq)
        head = sock.recv(6)
        accepted = head[:1] == b"\x02"
        if accepted:
            length = struct.unpack(">I", head[2:6])[0]
            while length > 0:
                length -= len(sock.recv(length))
        sock.sendall(b"\x04\x00" + struct.pack(">I", 1 << 20) + b"\x00" * 100)
        self.socks.append(sock)
        return accepted

    def close(self) -> None:
        for s in self.socks:
            s.close()
        self.socks.clear()


def burst(port: int, n: int, hold_s: float) -> dict[str, int]:
    """``n`` peers associate at once; the accepted ones hold their association until every
    peer has its answer (then ``hold_s`` more); counts of how each was answered."""
    from pynetdicom import AE

    counts = {"established": 0, "rejected": 0, "aborted": 0, "no answer": 0}
    lock = threading.Lock()
    all_answered = threading.Event()

    def one() -> None:
        ae = AE(ae_title="BURST")
        ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 20
        ae.add_requested_context(VERIFICATION)
        assoc: Any = ae.associate("127.0.0.1", port, ae_title="BACKSCATTER")
        key = (
            "established"
            if assoc.is_established
            else "rejected"
            if assoc.is_rejected
            else "aborted"
            if assoc.is_aborted
            else "no answer"
        )
        with lock:
            counts[key] += 1
            if sum(counts.values()) == n:
                all_answered.set()
        if assoc.is_established:
            all_answered.wait(60)
            time.sleep(hold_s)
            assoc.release()

    threads = [threading.Thread(target=one, daemon=True) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return counts
