"""``dicom://`` frame source: a DICOS/DICOM receiver whose arriving images are yielded as Scans.

``dicom://:11112`` listens on all interfaces, port 11112, AE title BACKSCATTER;
``dicom://127.0.0.1:11112?ae=GATE1&out=/data/in&allow=SCANNER1,SCANNER2`` sets the bind address,
AE title, the folder received files go to (default: a new temporary folder) and the calling AE
titles allowed. Iteration blocks until the next image arrives and ends when the source is closed.
"""

from __future__ import annotations

import queue
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from backscatter.acquisition.errors import ScanAccessError
from backscatter.acquisition.sources import register_scheme
from backscatter.scan import Scan


@dataclass(frozen=True)
class DicomURI:
    """Settings of a ``dicom://host:port?ae=..&out=..&allow=..`` URI."""

    host: str = "0.0.0.0"
    port: int = 11112
    ae_title: str = "BACKSCATTER"
    out: str | None = None
    allow: frozenset[str] | None = None

    @classmethod
    def parse(cls, uri: str) -> DicomURI:
        parts = urlsplit(uri)
        if parts.scheme.lower() != "dicom":
            raise ScanAccessError(uri, "expected a dicom://[host]:port URI")
        try:
            port = parts.port if parts.port is not None else 11112
        except ValueError as exc:
            raise ScanAccessError(uri, f"bad port ({exc})") from None
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        unknown = set(query) - {"ae", "out", "allow"}
        if unknown:
            raise ScanAccessError(
                uri, f"unknown parameters {sorted(unknown)} (known: ae, out, allow)"
            )
        ae = query.get("ae", "BACKSCATTER")
        if not ae.strip() or len(ae) > 16:
            raise ScanAccessError(uri, f"ae: expected 1..16 characters, got {ae!r}")
        allow = frozenset(a for a in query.get("allow", "").split(",") if a) or None
        return cls(parts.hostname or "0.0.0.0", port, ae, query.get("out"), allow)


class DicomReceiverSource:
    """A running receiver as a :class:`~backscatter.acquisition.sources.FrameSource`."""

    def __init__(self, uri: str) -> None:
        from backscatter.dicos.received import Received
        from backscatter.dicos.server import DicosServer, ServerConfig

        settings = DicomURI.parse(uri)
        out = settings.out or tempfile.mkdtemp(prefix="backscatter-dicom-")
        self.uri = uri
        self._queue: queue.Queue[Scan | None] = queue.Queue()
        self._closed = threading.Event()

        def on_received(item: Received) -> None:
            extras = {**item.scan.extras, "received_path": str(item.path)}
            extras["calling_ae"] = item.calling_ae
            self._queue.put(replace(item.scan, extras=extras))

        config = ServerConfig(
            out_dir=Path(out),
            host=settings.host,
            port=settings.port,
            ae_title=settings.ae_title,
            allow=settings.allow,
            on_received=on_received,
        )
        try:
            self.server = DicosServer(config).start()
        except OSError as exc:
            raise ScanAccessError(uri, f"cannot listen: {exc}") from None

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def out_dir(self) -> Path:
        return self.server.out_dir

    def __iter__(self) -> Iterator[Scan]:
        while not self._closed.is_set():
            try:
                scan = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if scan is None:
                return
            yield scan

    def close(self) -> None:
        if not self._closed.is_set():
            self._closed.set()
            self.server.stop()
            self._queue.put(None)

    def __enter__(self) -> DicomReceiverSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


register_scheme("dicom", DicomReceiverSource)
