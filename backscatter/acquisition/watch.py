"""Folder watch: a FrameSource that yields each new scan file once it is completely written.

A file counts as complete when its size and modification time have not changed for
``settle_s`` seconds (checked by polling every ``poll_s``) and it is not empty. Each path is
yielded at most once; files that fail to read are reported to ``on_error`` (default: a log
warning) and skipped, so one bad file never stops the stream. Hidden files, sidecars and
partial-download names (``.part``, ``.tmp``, ``.crdownload``, ``~``) are ignored.
Raw exports: write the YAML sidecar before the data file, which is read once it settles.
Writers that can should write to a temporary name and rename, which is always safe.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from backscatter.acquisition.errors import READ_ERRORS, ScanAccessError
from backscatter.acquisition.policy import DEFAULT_POLICY, ReadPolicy
from backscatter.acquisition.sources import register_scheme
from backscatter.scan import Scan

log = logging.getLogger(__name__)

IGNORED_SUFFIXES = (".yaml", ".yml", ".json", ".txt", ".part", ".tmp", ".crdownload", ".lock")


class FolderWatch:
    """Yield Scans for files that appear in ``folder`` (optionally also those already there).

    Iteration blocks between files; it ends after ``close()`` (from any thread), or once no new
    file has completed for ``idle_timeout_s`` seconds when that is set.
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        *,
        pattern: str = "*",
        include_existing: bool = True,
        poll_s: float = 0.2,
        settle_s: float = 1.0,
        idle_timeout_s: float | None = None,
        policy: ReadPolicy = DEFAULT_POLICY,
        on_error: Callable[[Path, Exception], None] | None = None,
    ) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ScanAccessError(self.folder, "watch folder does not exist or is not a directory")
        if poll_s <= 0 or settle_s < 0:
            raise ValueError(f"expected poll_s > 0 and settle_s >= 0, got {poll_s}, {settle_s}")
        self.pattern = pattern
        self.poll_s = poll_s
        self.settle_s = settle_s
        self.idle_timeout_s = idle_timeout_s
        self.policy = policy
        self.on_error = on_error or _log_error
        self._stop = threading.Event()
        #: path -> (size, mtime_ns, monotonic time it was first seen with that size/mtime)
        self._pending: dict[Path, tuple[int, int, float]] = {}
        self._done: set[Path] = set()
        if not include_existing:
            self._done.update(self._candidates())

    def close(self) -> None:
        self._stop.set()

    def __enter__(self) -> FolderWatch:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Scan]:
        from backscatter.acquisition.open import open_scan

        last_new = time.monotonic()
        while not self._stop.is_set():
            for path in self.poll():
                last_new = time.monotonic()
                try:
                    scan = open_scan(path, policy=self.policy)
                except READ_ERRORS as exc:
                    self.on_error(path, exc)
                    continue
                yield scan
                if self._stop.is_set():
                    return
            idle = time.monotonic() - last_new
            if self.idle_timeout_s is not None and idle >= self.idle_timeout_s:
                return
            self._stop.wait(self.poll_s)

    def poll(self) -> list[Path]:
        """One scan of the folder: paths that have just become complete, oldest first."""
        now = time.monotonic()
        ready: list[tuple[int, Path]] = []
        seen: set[Path] = set()
        for path in self._candidates():
            if path in self._done:
                continue
            seen.add(path)
            try:
                st = path.stat()
            except OSError:  # vanished between listing and stat
                self._pending.pop(path, None)
                continue
            key = (st.st_size, st.st_mtime_ns)
            previous = self._pending.get(path)
            if previous is None or previous[:2] != key:
                self._pending[path] = (*key, now)
                if self.settle_s > 0 or st.st_size == 0:
                    continue
                previous = self._pending[path]
            if st.st_size > 0 and now - previous[2] >= self.settle_s:
                ready.append((st.st_mtime_ns, path))
        for path in list(self._pending):
            if path not in seen:
                del self._pending[path]
        ready.sort()
        for _, path in ready:
            self._done.add(path)
            self._pending.pop(path, None)
        return [path for _, path in ready]

    def _candidates(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.folder))
        except OSError as exc:
            raise ScanAccessError(self.folder, f"cannot list watch folder: {exc}") from None
        out = []
        for entry in entries:
            name = entry.name
            if (
                name.startswith(".")
                or name.endswith("~")
                or name.lower().endswith(IGNORED_SUFFIXES)
            ):
                continue
            if not fnmatch.fnmatch(name, self.pattern):
                continue
            try:
                if not entry.is_file():
                    continue
            except OSError:
                continue
            out.append(Path(entry.path))
        return out


def _log_error(path: Path, exc: Exception) -> None:
    log.warning("skipped %s", exc)


def _from_uri(uri: str) -> FolderWatch:
    """``watch:///abs/folder?pattern=*.dcs&settle=1.0&existing=0&idle=5``."""
    from urllib.parse import parse_qs, unquote, urlsplit

    parts = urlsplit(uri)
    folder = unquote(parts.netloc + parts.path)
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    try:
        return FolderWatch(
            folder,
            pattern=q.get("pattern", "*"),
            include_existing=q.get("existing", "1") not in ("0", "false", "no"),
            settle_s=float(q.get("settle", 1.0)),
            poll_s=float(q.get("poll", 0.2)),
            idle_timeout_s=float(q["idle"]) if "idle" in q else None,
        )
    except ValueError as exc:
        raise ScanAccessError(uri, f"bad watch URI: {exc}") from None


register_scheme("watch", _from_uri)
