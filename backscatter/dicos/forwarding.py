"""A durable forward queue: what the receiver acknowledged reaches the archive even when the
archive is down for a while or the receiver restarts.

Each forward (an image and its TDR) is a small JSON ticket in ``OUT/.forward/`` naming files in
``OUT``, written atomically before the sender sees it. One sender thread sends the oldest due
ticket; a failure keeps the ticket, counts the attempt and waits ``2**attempts`` seconds (at
most ``max_backoff_s``) before that ticket is tried again; when the archive cannot be reached
at all, every ticket waits. A ticket is deleted only after the archive answered Success for
each of its files. A restart picks the tickets up again, so the backlog survives. Every send
and every failure is logged with the backlog; :func:`backlog` reads it from another process
(``backscatter serve --status``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from backscatter.dicos.received import ForwardTarget, forward, remove_quietly

log = logging.getLogger("backscatter.dicos.server")

QUEUE_DIR = ".forward"


@dataclass(frozen=True)
class Backlog:
    """What waits in a forward queue."""

    items: int
    files: int
    oldest_s: float | None
    next_try_s: float | None
    last_error: str

    def line(self) -> str:
        if not self.items:
            return "forward backlog: empty"
        parts = [f"forward backlog: {self.items} item(s), {self.files} file(s)"]
        if self.oldest_s is not None:
            parts.append(f"oldest {self.oldest_s:.0f} s")
        if self.next_try_s is not None:
            parts.append(f"next try in {max(self.next_try_s, 0.0):.0f} s")
        if self.last_error:
            parts.append(f"last error: {self.last_error}")
        return ", ".join(parts)


def _tickets(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.json")) if folder.is_dir() else []


def _load(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("files"), list) else None


def backlog(out_dir: str | os.PathLike[str]) -> Backlog:
    """The backlog of the queue in ``out_dir`` (the receiver's ``--out``), read from disk."""
    folder = Path(out_dir) / QUEUE_DIR
    now = time.time()
    items = files = 0
    oldest: float | None = None
    next_try: float | None = None
    last_error = ""
    for path in _tickets(folder):
        data = _load(path)
        if data is None:
            continue
        items += 1
        files += len(data["files"])  # type: ignore[arg-type]
        created = float(data.get("created", now))  # type: ignore[arg-type]
        due = float(data.get("next_try", now))  # type: ignore[arg-type]
        oldest = min(oldest or created, created)
        next_try = due if next_try is None else min(next_try, due)
        last_error = str(data.get("last_error", "")) or last_error
    return Backlog(
        items,
        files,
        None if oldest is None else now - oldest,
        None if next_try is None else next_try - now,
        last_error,
    )


class ForwardQueue:
    """The queue of ``out_dir`` and the thread that empties it into ``target``."""

    def __init__(
        self,
        out_dir: Path,
        target: ForwardTarget,
        *,
        ae_title: str,
        max_backoff_s: float = 300.0,
    ) -> None:
        self.out_dir = out_dir
        self.folder = out_dir / QUEUE_DIR
        self.target = target
        self.ae_title = ae_title
        self.max_backoff_s = max_backoff_s
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        #: monotonic time before which nothing is tried (the archive could not be reached)
        self._paused_until = 0.0
        self.sent = 0

    @property
    def where(self) -> str:
        return f"{self.target.ae_title}@{self.target.host}:{self.target.port}"

    def start(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        for stale in self.folder.glob(".*.tmp"):
            remove_quietly(stale)
        waiting = len(_tickets(self.folder))
        if waiting:
            log.warning("forward queue: %d item(s) from an earlier run to %s", waiting, self.where)
        self._thread = threading.Thread(target=self._run, name="dicos-forward", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def put(self, files: list[Path]) -> None:
        """Queue ``files`` (inside ``out_dir``) as one forward; durable when this returns."""
        now = time.time()
        ticket = {
            "files": [f.name for f in files],
            "created": now,
            "attempts": 0,
            "next_try": now,
            "last_error": "",
        }
        name = f"{time.time_ns():020d}-{next(self._seq):06d}.json"
        self._write(self.folder / name, ticket)
        with self._wake:
            self._wake.notify_all()

    def pending(self) -> int:
        return len(_tickets(self.folder))

    def _write(self, path: Path, ticket: dict[str, object]) -> None:
        fd, tmp = tempfile.mkstemp(prefix=".", suffix=".tmp", dir=self.folder)
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(ticket, fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            remove_quietly(tmp)
            raise

    def _due(self) -> tuple[Path, dict[str, object]] | float:
        """The oldest ticket due now, or the seconds until the next one is (inf: none)."""
        wait = float("inf")
        now = time.time()
        for path in _tickets(self.folder):
            data = _load(path)
            if data is None:
                log.error("forward queue: unreadable ticket %s set aside", path.name)
                with contextlib.suppress(OSError):
                    path.rename(path.with_suffix(".bad"))
                continue
            due = float(data.get("next_try", now))  # type: ignore[arg-type]
            if due <= now:
                return path, data
            wait = min(wait, due - now)
        return wait

    def _run(self) -> None:
        while True:
            with self._wake:
                if self._stopping:
                    return
                pause = self._paused_until - time.monotonic()
                if pause > 0:
                    self._wake.wait(pause)
                    continue
            found = self._due()
            if isinstance(found, float):
                with self._wake:
                    if not self._stopping:
                        self._wake.wait(min(found, 5.0))
                continue
            self._send(*found)

    def _send(self, path: Path, ticket: dict[str, object]) -> None:
        names = [str(n) for n in ticket["files"]]  # type: ignore[attr-defined]
        files = [self.out_dir / n for n in names]
        missing = [f.name for f in files if not f.is_file()]
        if missing:
            log.error("forward queue: %s gone from %s; dropped", ", ".join(missing), self.out_dir)
            remove_quietly(path)
            return
        try:
            forward(self.target, files, ae_title=self.ae_title)
        except (OSError, ValueError, RuntimeError) as exc:
            attempts = int(ticket.get("attempts", 0)) + 1  # type: ignore[call-overload]
            delay = min(self.max_backoff_s, 2.0**attempts)
            reason = " ".join(str(exc).split())[:200]
            ticket.update(attempts=attempts, next_try=time.time() + delay, last_error=reason)
            self._write(path, ticket)
            if isinstance(exc, ConnectionError) and "no association" in str(exc):
                self._paused_until = time.monotonic() + delay  # unreachable: all wait
            log.error(
                "forward of %s to %s failed (attempt %d): %s; retry in %.0f s, backlog %d",
                ", ".join(names),
                self.where,
                attempts,
                reason,
                delay,
                self.pending(),
            )
            return
        remove_quietly(path)
        self.sent += 1
        log.info("forwarded %s to %s (backlog %d)", ", ".join(names), self.where, self.pending())
