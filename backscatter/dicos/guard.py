"""Per-connection guards for the receiver's pynetdicom server.

pynetdicom reads each PDU with blocking ``recv`` calls and runs a TLS handshake inside its
accept loop, so one silent or slow peer could hold an association slot (or the whole server)
forever. Here every connection gets its own deadlines, enforced on its own socket and logged
with the peer's address when they fire:

- **handshake**: from the TCP accept until the A-ASSOCIATE-RQ has arrived in full, the TLS
  handshake included (run in the connection's thread, never in the accept loop);
- **PDU**: from the first byte of a PDU's header to its last byte (a slow-loris peer trickling
  bytes is cut off here);
- **idle**: an association with nothing received for this long is aborted (pynetdicom's
  network time-out, logged by the server);
- **DIMSE**: one message (command and data set) must arrive in full within this long of its
  first fragment (checked as fragments arrive; a peer that stops sending meets the idle
  time-out).

A PDU whose announced length passes the negotiated maximum, an unknown PDU type, or an item
whose length overruns its PDU ("lying length") gets an A-ABORT and the connection is closed at
once instead of being waited on.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from pynetdicom.transport import AssociationSocket, RequestHandler, ThreadedAssociationServer

log = logging.getLogger("backscatter.dicos.server")

#: A-ABORT, source 2 (service provider), reason 6 (invalid PDU parameter value)
ABORT_INVALID_PDU = bytes.fromhex("0700000000040000" + "0206")
_PDU_TYPES = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}
_FIXED_LENGTH = {0x03: 4, 0x05: 4, 0x06: 4, 0x07: 4}


@dataclass(frozen=True)
class Timeouts:
    """The receiver's per-connection time-outs, in seconds (see the module docstring)."""

    handshake_s: float = 10.0
    pdu_s: float = 10.0
    idle_s: float = 60.0
    dimse_s: float = 120.0

    def __post_init__(self) -> None:
        for name in ("handshake_s", "pdu_s", "idle_s", "dimse_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 < value <= 86400:
                raise ValueError(f"{name}: expected 0 < seconds <= 86400, got {value!r}")


def _items_problem(body: bytes, start: int, what: str, nested: frozenset[int]) -> str | None:
    """Each ``type, reserved, length(>H)`` item from ``start`` fits in ``body`` exactly."""
    off = start
    while off < len(body):
        if len(body) - off < 4:
            return f"{what}: {len(body) - off} stray byte(s) after the last item"
        kind, length = body[off], struct.unpack(">H", body[off + 2 : off + 4])[0]
        end = off + 4 + length
        if end > len(body):
            return (
                f"{what}: item 0x{kind:02X} at byte {off} claims {length} bytes, "
                f"{len(body) - off - 4} left"
            )
        if kind in nested:
            skip = 4 if kind in (0x20, 0x21) else 0  # context id + 3 reserved bytes
            if length < skip:
                return f"{what}: item 0x{kind:02X} at byte {off} is {length} bytes, too short"
            inner = _items_problem(body[off + 4 + skip : end], 0, f"item 0x{kind:02X}", nested)
            if inner:
                return inner
        off = end
    return None


def pdu_problem(pdu_type: int, body: bytes) -> str | None:
    """Why a received PDU's structure cannot be trusted (None when it is sound).

    ``body`` is the PDU after its 6-byte header. Checks that every item and sub-item length
    stays inside the PDU; the meaning of the items is pynetdicom's to check.
    """
    if pdu_type in _FIXED_LENGTH and len(body) != _FIXED_LENGTH[pdu_type]:
        return f"PDU 0x{pdu_type:02X}: expected {_FIXED_LENGTH[pdu_type]} bytes, got {len(body)}"
    if pdu_type in (0x01, 0x02):
        if len(body) < 68:
            return f"A-ASSOCIATE PDU of {len(body)} bytes, expected at least 68"
        return _items_problem(body, 68, "A-ASSOCIATE", frozenset({0x20, 0x21, 0x50}))
    if pdu_type == 0x04:
        off = 0
        while off < len(body):
            if len(body) - off < 6:
                return f"P-DATA: {len(body) - off} stray byte(s) after the last item"
            length = struct.unpack(">I", body[off : off + 4])[0]
            if length < 2 or off + 4 + length > len(body):
                return (
                    f"P-DATA: item at byte {off} claims {length} bytes, {len(body) - off - 4} left"
                )
            off += 4 + length
    return None


@dataclass(eq=False)
class Guard:
    """The deadlines and state of one connection; shared by its socket and the server."""

    address: str
    timeouts: Timeouts
    max_pdu_bytes: int
    raw: socket.socket
    accepted_at: float = field(default_factory=time.monotonic)
    #: the A-ASSOCIATE-RQ arrived in full (the handshake deadline no longer applies)
    got_request: bool = False
    #: monotonic time the DIMSE message in progress began (None: none in progress)
    message_since: float | None = None
    #: why we closed the connection (logged already), or None
    closed_reason: str | None = None
    #: (source, reason) of an A-ABORT the peer sent
    peer_abort: tuple[int, int] | None = None
    #: counted against the association limit (accepted by the server's limit check)
    holding: bool = False
    assoc: Any = None

    def age(self) -> float:
        return time.monotonic() - self.accepted_at

    @property
    def done(self) -> bool:
        """The connection is over (closed by us, by pynetdicom, or the association ended)."""
        if self.closed_reason is not None or self.raw.fileno() == -1:
            return True
        a = self.assoc
        return a is not None and bool(a.is_released or a.is_aborted or a.is_rejected)

    @property
    def peer(self) -> str:
        """``AE@host:port`` once the calling AE title is known, else ``host:port``."""
        ae = ""
        if self.got_request and self.assoc is not None:
            ae = str(getattr(self.assoc.requestor, "ae_title", "") or "").strip()
        return f"{ae}@{self.address}" if ae else self.address

    def close(self, reason: str, *, abort: bool) -> None:
        """Log ``reason`` once, send an A-ABORT when asked, and shut the socket down."""
        if self.closed_reason is not None:
            return
        self.closed_reason = reason
        if self.assoc is not None:
            self.assoc._backscatter_reported = True  # one incident, one log line
        log.warning("%s: %s; connection closed", self.peer, reason)
        if abort:
            with contextlib.suppress(OSError, ValueError):
                self.raw.settimeout(1.0)
                self.raw.sendall(ABORT_INVALID_PDU)
        with contextlib.suppress(OSError, ValueError):
            self.raw.shutdown(socket.SHUT_RDWR)

    def message_done(self) -> None:
        self.message_since = None

    def watch_pdata(self, body: bytes, now: float) -> str | None:
        """Track DIMSE messages through the P-DATA items; a reason when one takes too long."""
        if self.message_since is None:
            self.message_since = now
        elif now - self.message_since > self.timeouts.dimse_s:
            return (
                f"DIMSE time-out ({self.timeouts.dimse_s:g} s): a message still incomplete "
                f"after {now - self.message_since:.0f} s"
            )
        off = 0
        while off + 6 <= len(body):
            length = struct.unpack(">I", body[off : off + 4])[0]
            control = body[off + 5]
            if control & 0x03 == 0x02:  # last fragment of a data set: the message is complete
                self.message_since = None
            off += 4 + length
        return None


class GuardedSocket(AssociationSocket):
    """pynetdicom's socket with deadlines and structure checks on every PDU it reads."""

    def __init__(self, assoc: Any, client_socket: socket.socket, guard: Guard) -> None:
        super().__init__(assoc, client_socket=client_socket)
        self.guard = guard
        self._deadline = 0.0
        self._pdu_type: int | None = None
        self._wanted = 0

    def _read(self, nr_bytes: int, what: str) -> bytearray:
        """Read exactly ``nr_bytes`` by the current deadline; short on close or time-out."""
        g = self.guard
        sock = self.socket
        out = bytearray()
        while len(out) < nr_bytes and sock is not None and g.closed_reason is None:
            left = self._deadline - time.monotonic()
            if left <= 0:
                g.close(self._timeout_reason(what, len(out), nr_bytes), abort=False)
                break
            try:
                sock.settimeout(left)
                chunk = sock.recv(min(nr_bytes - len(out), 1 << 16))
            except (TimeoutError, ssl.SSLWantReadError):
                continue  # the loop checks the deadline
            except (OSError, ValueError):
                break
            if not chunk:
                break
            out += chunk
        return out

    def _timeout_reason(self, what: str, got: int, wanted: int) -> str:
        t = self.guard.timeouts
        if not self.guard.got_request and self._deadline <= self._handshake_deadline() + 1e-6:
            return (
                f"handshake time-out ({t.handshake_s:g} s): no complete association request "
                f"({what}: {got} of {wanted} bytes)"
            )
        return f"PDU time-out ({t.pdu_s:g} s): {what} stalled at {got} of {wanted} bytes"

    def _handshake_deadline(self) -> float:
        return self.guard.accepted_at + self.guard.timeouts.handshake_s

    def recv(self, nr_bytes: int) -> bytearray:
        g = self.guard
        if g.closed_reason is not None:
            return bytearray()
        if self._pdu_type is None:  # pynetdicom reads a PDU as header (6 bytes), then body
            now = time.monotonic()
            self._deadline = now + g.timeouts.pdu_s
            if not g.got_request:
                self._deadline = min(self._deadline, self._handshake_deadline())
            head = self._read(nr_bytes, "PDU header")
            if len(head) < 6:
                return head
            pdu_type, length = head[0], struct.unpack(">I", head[2:6])[0]
            if pdu_type not in _PDU_TYPES:
                g.close(f"not DICOM (first bytes {bytes(head)!r}): A-ABORT sent", abort=True)
                return bytearray()
            if length > g.max_pdu_bytes:
                g.close(
                    f"PDU 0x{pdu_type:02X} announces {length} bytes (limit {g.max_pdu_bytes}): "
                    "A-ABORT sent",
                    abort=True,
                )
                return bytearray()
            self._pdu_type, self._wanted = pdu_type, length
            return head
        pdu_type, self._pdu_type = self._pdu_type, None
        body = self._read(nr_bytes, f"PDU 0x{pdu_type:02X}")
        if len(body) < nr_bytes:
            return body
        problem = pdu_problem(pdu_type, bytes(body))
        if problem is None and pdu_type == 0x04:
            problem = g.watch_pdata(bytes(body), time.monotonic())
            if problem:
                g.close(problem, abort=True)
                return bytearray()
        if problem:
            g.close(f"{problem}: A-ABORT sent", abort=True)
            return bytearray()
        if pdu_type == 0x01:
            g.got_request = True
        elif pdu_type == 0x07:
            g.peer_abort = (body[2], body[3])
        return body

    def send(self, bytestream: bytes) -> None:
        """A peer that stops reading cannot block us past the PDU time-out."""
        sock = self.socket
        if sock is not None:
            with contextlib.suppress(OSError, ValueError):
                sock.settimeout(self.guard.timeouts.pdu_s)
        super().send(bytestream)


class GuardedHandler(RequestHandler):
    """Runs the TLS handshake (bounded) in the connection's thread, then pynetdicom's
    association with a :class:`GuardedSocket`."""

    server: GuardedServer

    def handle(self) -> None:
        srv = self.server
        sock: socket.socket = self.request
        host, port = self.client_address[0], self.client_address[1]
        guard = Guard(f"{host}:{port}", srv.timeouts, srv.max_pdu_bytes, sock)
        if not srv.track(guard):
            return
        if isinstance(sock, ssl.SSLSocket):
            budget = srv.timeouts.handshake_s
            try:
                sock.settimeout(budget)
                sock.do_handshake()
            except TimeoutError:
                guard.close(f"TLS handshake time-out ({budget:g} s)", abort=False)
                srv.untrack(guard)
                return
            except (ssl.SSLError, OSError) as exc:
                why = " ".join(str(exc).split())[:160] or type(exc).__name__
                guard.close(f"TLS handshake failed ({why})", abort=False)
                srv.untrack(guard)
                return
        self._guard = guard
        super().handle()

    def _create_association(self) -> Any:
        """pynetdicom's ``RequestHandler._create_association`` (MIT licence) with our socket."""
        from copy import deepcopy
        from datetime import datetime

        from pynetdicom import evt
        from pynetdicom._globals import MODE_ACCEPTOR
        from pynetdicom.association import Association

        assoc = Association(self.ae, MODE_ACCEPTOR)
        assoc._server = self.server
        assoc.name = f"AcceptorThread@{datetime.now():%Y%m%d%H%M%S}"
        guard = self._guard
        guard.assoc = assoc
        assoc._backscatter_guard = guard  # type: ignore[attr-defined]
        assoc.set_socket(GuardedSocket(assoc, self.request, guard))
        assoc.acceptor.maximum_length = self.ae.maximum_pdu_size
        assoc.acceptor.ae_title = self.server.ae_title
        assoc.acceptor.address_info = self.local
        assoc.acceptor.implementation_class_uid = self.ae.implementation_class_uid
        assoc.acceptor.implementation_version_name = self.ae.implementation_version_name
        assoc.acceptor.supported_contexts = deepcopy(self.server.contexts)
        assoc.requestor.address_info = self.remote
        for event in self.server._handlers:
            if event.is_intervention and self.server._handlers[event]:
                assoc.bind(event, *self.server._handlers[event])
            elif isinstance(event, evt.NotificationEvent):
                for handler in self.server._handlers[event]:
                    assoc.bind(event, handler[0], handler[1])  # type: ignore[index]
        return assoc


class GuardedServer(ThreadedAssociationServer):
    """pynetdicom's threaded server: TLS wrapped without a handshake in the accept loop, one
    :class:`Guard` per connection, at most ``max_connections`` connections open at once."""

    daemon_threads = True
    block_on_close = False
    #: listen backlog: a burst of connections waits in the kernel, not in SYN retries
    request_queue_size = 128

    def __init__(
        self,
        *args: Any,
        timeouts: Timeouts,
        max_pdu_bytes: int,
        max_connections: int,
        **kwargs: Any,
    ) -> None:
        self.timeouts = timeouts
        self.max_pdu_bytes = max_pdu_bytes
        self.max_connections = max_connections
        self.guards: set[Guard] = set()
        self._guards_lock = threading.Lock()
        kwargs["request_handler"] = GuardedHandler
        super().__init__(*args, **kwargs)

    def get_request(self) -> tuple[socket.socket, tuple[str, int]]:
        assert self.socket is not None
        client, address = self.socket.accept()
        if self.ssl_context:
            client = self.ssl_context.wrap_socket(
                client, server_side=True, do_handshake_on_connect=False
            )
        return client, address

    def track(self, guard: Guard) -> bool:
        with self._guards_lock:
            self.guards = {g for g in self.guards if not g.done}
            full = len(self.guards) >= self.max_connections
            if not full:
                self.guards.add(guard)
        if full:
            guard.close(f"{self.max_connections} connections already open", abort=False)
        return not full

    def untrack(self, guard: Guard) -> None:
        with self._guards_lock:
            self.guards.discard(guard)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of socketserver's traceback on stderr."""
        import sys

        exc = sys.exc_info()[1]
        log.error("connection from %s failed: %s: %s", client_address, type(exc).__name__, exc)

    def close_all(self) -> None:
        """Shut every open connection down (the server is stopping)."""
        with self._guards_lock:
            guards = list(self.guards)
        for g in guards:
            with contextlib.suppress(OSError, ValueError):
                g.raw.shutdown(socket.SHUT_RDWR)
