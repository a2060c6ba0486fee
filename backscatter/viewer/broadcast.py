"""Live demonstrations: the annotated view of a source, streamed as MJPEG over HTTP.

A :class:`Broadcaster` reads a source in a background thread (a live URI such as
``sim://handheld?count=0``, whose lines arrive as the beam sweeps, or a scan file), renders what
an officer would see with :func:`backscatter.viewer.render.render` (detections drawn when a
detector is given), and serves it with the standard library's HTTP server:

- ``/``: a minimal page showing the stream
- ``/stream.mjpg``: ``multipart/x-mixed-replace`` JPEG frames, a new one whenever the view changes
- ``/frame.jpg``: the latest frame (header ``X-Frame-Number``)
- ``/status.json``: source, frame number, scans seen, last error

It binds to 127.0.0.1 unless told otherwise: exposing it is the operator's explicit choice.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.viewer import enhance
from backscatter.viewer.render import render
from backscatter.viewer.state import StatusInfo, ViewState

log = logging.getLogger(__name__)

BOUNDARY = "backscatterframe"
PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>backscatter live: {title}</title>
<style>body {{ background: #111; color: #ddd; font-family: sans-serif; margin: 0; }}
header {{ padding: 6px 12px; font-size: 14px; }} img {{ display: block; margin: 0 auto; }}</style>
</head><body><header>backscatter live demonstration &middot; {title}</header>
<img id="view" src="/stream.mjpg" alt="live view" width="{width}" height="{height}">
</body></html>
"""


class Broadcaster:
    """Renders ``source`` continuously and serves it over HTTP on ``host:port``."""

    def __init__(
        self,
        source: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        detector: Callable[[Scan], Detections] | None = None,
        fps: float = 10.0,
        size: tuple[int, int] = (600, 960),
        quality: int = 80,
    ) -> None:
        if not fps > 0:
            raise ValueError(f"fps: expected > 0, got {fps}")
        self.source = source
        self.detector = detector
        self.interval = 1.0 / fps
        self.size = size
        self.quality = int(quality)
        self.error = ""
        self.frame_no = 0
        self.scans_seen = 0
        self._jpeg = b""
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._version = 0
        self._partial: tuple[np.ndarray, int, int] | None = None
        self._scan: Scan | None = None
        self._dets: Detections | None = None
        self._state = ViewState(threshold=float(getattr(detector, "threshold", 0.5)))
        self._server = ThreadingHTTPServer((host, port), _handler(self))
        self._server.daemon_threads = True
        self._threads: list[threading.Thread] = []
        self._source_obj: Any = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/"

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        self._render_once()  # a first frame before anyone asks
        for target, name in (
            (self._server.serve_forever, "broadcast-http"),
            (self._read, "broadcast-source"),
            (self._render_loop, "broadcast-render"),
        ):
            t = threading.Thread(target=target, name=name, daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        self._server.shutdown()
        self._server.server_close()
        src = self._source_obj
        if src is not None and hasattr(src, "close"):
            src.close()

    # -- the source ------------------------------------------------------------------------
    def _on_lines(self, pixels: np.ndarray, done: int, total: int) -> None:
        with self._lock:
            self._partial = (pixels.copy(), int(done), int(total))
            self._version += 1

    def _read(self) -> None:
        from backscatter.acquisition.sources import open_source, uri_scheme

        try:
            if uri_scheme(self.source) is not None and not Path(self.source).exists():
                src = open_source(self.source)
                self._source_obj = src
                if hasattr(src, "on_lines"):
                    src.on_lines = self._on_lines
                for scan in src:
                    self._add(scan)
                    if self._stop.is_set():
                        break
            else:
                from backscatter.acquisition.open import open_scan

                self._add(open_scan(self.source))
        except (ValueError, OSError) as exc:
            self.error = str(exc)
            log.warning("broadcast source %s: %s", self.source, exc)

    def _add(self, scan: Scan) -> None:
        dets = None
        if self.detector is not None:
            try:
                from backscatter.inference.flags import to_flags

                dets = to_flags(self.detector(scan))
            except (ValueError, OSError, RuntimeError) as exc:
                self.error = f"detection failed: {exc}"
        with self._lock:
            self._scan, self._dets, self._partial = scan, dets, None
            self.scans_seen += 1
            self._version += 1

    # -- frames ----------------------------------------------------------------------------
    def _render_loop(self) -> None:
        seen = -1
        while not self._stop.is_set():
            with self._lock:
                version = self._version
            if version != seen:
                seen = version
                self._render_once()
            self._stop.wait(self.interval)

    def _render_once(self) -> None:
        with self._lock:
            partial, scan, dets = self._partial, self._scan, self._dets
        note = f"LIVE {self.source}"
        if partial is not None:
            pixels, done, total = partial
            bits = 16 if pixels.dtype.itemsize >= 2 else 8
            view = Scan(pixels, min(bits, pixels.dtype.itemsize * 8), "acquiring")
            window = enhance.auto_window(pixels[: max(done, 1)])
            state = ViewState(window=window)
            status = StatusInfo(note=f"{note}  acquiring {done}/{total} lines")
            frame = render(view, None, state, status=status, size=self.size)
        elif scan is not None:
            n = 0 if dets is None else len(dets.above(self._state.threshold))
            flags = "no model" if self.detector is None else f"{n} flag(s)"
            status = StatusInfo(scan_id=scan.scan_id, note=f"{note}  {flags}")
            frame = render(scan, dets, self._state, status=status, size=self.size)
        else:
            frame = np.full((*self.size, 3), 24, np.uint8)
            cv2.putText(
                frame, "waiting for the source...", (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7,
                (230, 230, 230), 1,
            )  # fmt: skip
        ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, self.quality])
        if not ok:
            return
        with self._cond:
            self._jpeg = buf.tobytes()
            self.frame_no += 1
            self._cond.notify_all()

    def latest(self) -> tuple[int, bytes]:
        with self._cond:
            return self.frame_no, self._jpeg

    def wait_frame(self, after: int, timeout: float = 1.0) -> tuple[int, bytes]:
        """The first frame newer than ``after`` (or the latest one after ``timeout`` s)."""
        with self._cond:
            self._cond.wait_for(lambda: self.frame_no > after or self._stop.is_set(), timeout)
            return self.frame_no, self._jpeg

    def page(self) -> str:
        return PAGE.format(title=escape(self.source), width=self.size[1], height=self.size[0])

    def status(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "frame": self.frame_no,
            "scans": self.scans_seen,
            "detector": getattr(self.detector, "model_id", None),
            "error": self.error,
            "time": time.time(),
        }


def _handler(caster: Broadcaster) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "backscatter-broadcast"

        def log_message(self, fmt: str, *args: Any) -> None:
            log.debug("%s " + fmt, self.client_address[0], *args)

        def _send(self, body: bytes, ctype: str, extra: dict[str, str] | None = None) -> None:
            self.send_response(200)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for k, v in (extra or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path in ("/", "/index.html"):
                self._send(caster.page().encode(), "text/html; charset=utf-8")
            elif path == "/frame.jpg":
                n, jpeg = caster.latest()
                self._send(jpeg, "image/jpeg", {"X-Frame-Number": str(n)})
            elif path == "/status.json":
                self._send(json.dumps(caster.status()).encode(), "application/json")
            elif path == "/stream.mjpg":
                self._stream()
            else:
                self.send_error(404, "not found")

        def _stream(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            last = -1
            try:
                while not caster._stop.is_set():
                    n, jpeg = caster.wait_frame(last, timeout=1.0)
                    if n == last:
                        continue
                    last = n
                    head = (
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\nX-Frame-Number: {n}\r\n\r\n"
                    )
                    self.wfile.write(head.encode() + jpeg + b"\r\n")
                    self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                return  # the viewer went away

    return Handler
