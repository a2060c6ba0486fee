"""The receiver's association events: the limit on open associations, refused presentation
contexts, rejections, aborts, time-outs and closed connections, each logged as one line that
names the peer (``AE@host:port``) and what happened."""

from __future__ import annotations

import contextlib
import logging
import socket
from typing import Any

from backscatter.dicos.guard import Guard
from backscatter.dicos.uids import DICOS_CLASSES

log = logging.getLogger("backscatter.dicos.server")

#: A-ASSOCIATE-RJ (transient, service provider presentation related, local limit exceeded)
REJECT_LIMIT = (0x02, 0x03, 0x02)
_ABORT_SOURCES = {0: "service user", 1: "reserved", 2: "service provider"}
_ABORT_REASONS = {
    0: "not specified",
    1: "unrecognised PDU",
    2: "unexpected PDU",
    4: "unrecognised PDU parameter",
    5: "unexpected PDU parameter",
    6: "invalid PDU parameter value",
}


def peer(assoc: Any) -> str:
    """``AE@host:port`` of the requestor."""
    req = assoc.requestor
    ae = str(getattr(req, "ae_title", "") or "").strip()
    where = f"{getattr(req, 'address', '?')}:{getattr(req, 'port', '?')}"
    return f"{ae}@{where}" if ae else where


def guard_of(assoc: Any) -> Guard | None:
    return getattr(assoc, "_backscatter_guard", None)


def first_report(assoc: Any) -> bool:
    """True once per association: an abort and the closed socket are one incident."""
    if getattr(assoc, "_backscatter_reported", False):
        return False
    assoc._backscatter_reported = True
    return True


def dicos_summary() -> str:
    """The DICOS object types we accept, e.g. ``CT, DX, TDR, AIT2D, AIT3D, QR (13 classes)``."""
    kinds = dict.fromkeys(name.split()[-1] for name in DICOS_CLASSES.values())
    return f"{', '.join(kinds)} ({len(DICOS_CLASSES)} SOP classes)"


def refused_contexts_line(who: str, proposed: list[str], refused: list[str]) -> str:
    """The one line logged when presentation contexts were refused: how many classes were
    offered, which DICOS classes we take, and how to make storescu propose them."""
    shown = ", ".join(refused[:3]) + (f" and {len(refused) - 3} more" if len(refused) > 3 else "")
    accepted = len(proposed) - len(refused)
    fix = (
        "fix: storescu -R (propose only the files' own classes) or "
        "storescu -xf CONFIG Backscatter (backscatter serve --storescu-config CONFIG writes it)"
    )
    hint = "" if any(uid in DICOS_CLASSES for uid in proposed) else fix
    return (
        f"association from {who}: {len(proposed)} SOP classes offered, {accepted} accepted, "
        f"{len(refused)} not supported ({shown}); DICOS classes accepted here: {dicos_summary()}"
        + (f"; {hint}" if hint else "")
    )


class AssociationEvents:
    """Mixin for :class:`~backscatter.dicos.server.DicosServer`: pynetdicom event handlers."""

    config: Any
    _server: Any

    def _guards(self) -> list[Guard]:
        server = self._server
        return list(server.guards) if server is not None else []

    def _on_requested(self, event: Any) -> None:
        """Our own association limit: connections still negotiating do not hold a slot."""
        assoc = event.assoc
        limit = self.config.max_associations
        holding = [g for g in self._guards() if g.holding and not g.done and g.assoc is not assoc]
        guard = guard_of(assoc)
        if len(holding) >= limit:
            first_report(assoc)
            log.warning(
                "association from %s rejected (%d associations already open)", peer(assoc), limit
            )
            assoc.acse.send_reject(*REJECT_LIMIT)
            assoc.kill()  # as pynetdicom does: let the DUL send the A-ASSOCIATE-RJ first
            return
        if guard is not None:
            guard.holding = True

    def _on_established(self, event: Any) -> None:
        assoc = event.assoc
        refused = sorted({str(c.abstract_syntax) for c in assoc.rejected_contexts})
        if refused:
            proposed = sorted(
                {str(c.abstract_syntax) for c in assoc.rejected_contexts}
                | {str(c.abstract_syntax) for c in assoc.accepted_contexts}
            )
            log.warning(refused_contexts_line(peer(assoc), proposed, refused))

    def _on_rejected(self, event: Any) -> None:
        assoc = event.assoc
        first_report(assoc)
        allow = self.config.allow
        calling = str(getattr(assoc.requestor, "ae_title", "")).strip()
        called = str(getattr(assoc.requestor.primitive, "called_ae_title", "") or "").strip()
        if allow is not None and calling not in allow:
            why = "calling AE title not allowed"
        elif not self.config.accept_any_called_ae and called != self.config.ae_title:
            why = (
                f"called AE title {called!r} is not ours ({self.config.ae_title!r}; "
                "storescu -aec sets it, --accept-any-called-ae turns the check off)"
            )
        else:
            why = "association request refused"
        log.warning("association from %s rejected (%s)", peer(assoc), why)

    def _on_aborted(self, event: Any) -> None:
        assoc = event.assoc
        if not first_report(assoc):
            return
        guard = guard_of(assoc)
        if guard is not None and guard.peer_abort is not None:
            log.warning("%s", self._peer_abort_line(assoc, guard))
        elif assoc.dul.idle_timer_expired():
            idle = self.config.timeouts.idle_s
            log.warning(
                "%s: idle time-out (%g s): nothing received; association aborted", peer(assoc), idle
            )
        else:
            log.warning("association from %s aborted; nothing partial was written", peer(assoc))

    @staticmethod
    def _peer_abort_line(assoc: Any, guard: Guard) -> str:
        source, reason = guard.peer_abort or (0, 0)
        what = _ABORT_SOURCES.get(source, f"source {source}")
        if source == 2:
            what += f", {_ABORT_REASONS.get(reason, f'reason {reason}')}"
        return f"{peer(assoc)} aborted the association (A-ABORT, {what}); nothing partial written"

    def _on_close(self, event: Any) -> None:
        assoc = event.assoc
        if not assoc.is_established:
            # pynetdicom's acceptor thread keeps waiting for an A-ASSOCIATE-RQ after the
            # connection is gone, holding a thread: wake it now (None = no request).
            with contextlib.suppress(AttributeError):
                assoc.dul.to_user_queue.put(None)
        guard = guard_of(assoc)
        if guard is not None:
            with contextlib.suppress(OSError, ValueError):
                guard.raw.shutdown(socket.SHUT_RDWR)  # never wait for the peer to close
        if assoc.is_released or assoc.is_rejected or not first_report(assoc):
            return
        if guard is not None and guard.peer_abort is not None:
            log.warning("%s", self._peer_abort_line(assoc, guard))
        elif not assoc.is_established and guard is not None and not guard.got_request:
            waited = guard.age()
            budget = self.config.timeouts.handshake_s
            if waited >= budget - 0.5:
                log.warning(
                    "%s: handshake time-out (%g s): no association request; connection closed",
                    guard.address,
                    budget,
                )
            else:
                log.warning("connection from %s closed before an association was made", peer(assoc))
        elif not assoc.is_established:
            log.warning("connection from %s closed before an association was made", peer(assoc))
        else:
            log.warning(
                "connection from %s closed without release (peer disconnected); "
                "nothing partial was written",
                peer(assoc),
            )
