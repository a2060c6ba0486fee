"""The OpenCV highgui window: shows the review session, maps keys and mouse to actions.

All decision logic lives in :mod:`backscatter.viewer.review`; this module only turns input
events into calls on it and repaints with :func:`backscatter.viewer.render.render` and
:func:`backscatter.viewer.panel.draw_panel`. The window is resizable (``WINDOW_NORMAL |
WINDOW_FREERATIO | WINDOW_GUI_NORMAL``: no toolbar or context menu of Qt's own); every frame is
drawn at the window's current size, so it fills the window 1:1 and mouse coordinates are canvas
pixels. Canvas layout: the scan on the left, the side panel (flags and queue) on the right,
the status bar across the bottom.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.scan import Scan
from backscatter.viewer import enhance
from backscatter.viewer.keys import action_for
from backscatter.viewer.panel import MIN_WINDOW_COLS, PANEL_W, Hit, QueueRow, draw_panel, hit_at
from backscatter.viewer.render import (
    STATUS_H,
    auto_window_for,
    draw_status_bar,
    fit_scale,
    render,
    view_transform,
    visible_flags,
)
from backscatter.viewer.review import Decision, ReviewItem, ReviewSession
from backscatter.viewer.state import COLORMAPS, GAMMAS, StatusInfo, ViewState

log = logging.getLogger(__name__)

_FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/truetype", "/usr/share/fonts")
#: smallest window (rows, cols) drawn at its own size
MIN_SIZE = (150, 200)
ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.02, 32.0
#: seconds a new scan must be on screen before a decision key counts
MIN_VIEW_S = 0.4


class LiveFeed(threading.Thread):
    """Reads a live source in the background: completed scans into :attr:`scans`, and the
    latest partial raster (``(pixels copy, lines_done, total_lines)``) into :attr:`partial`."""

    def __init__(self, uri: str) -> None:
        super().__init__(name=f"live {uri}", daemon=True)
        self.uri = uri
        self.scans: list[Scan] = []
        self.partial: tuple[np.ndarray, int, int] | None = None
        self.error = ""
        self.done = False
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._last_copy = 0.0

    def _on_lines(self, pixels: np.ndarray, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last_copy < 0.05 and done < total:
            return
        self._last_copy = now
        with self._lock:
            self.partial = (pixels.copy(), int(done), int(total))

    def run(self) -> None:
        from backscatter.acquisition.sources import open_source

        try:
            source = open_source(live_uri(self.uri))
        except (ValueError, OSError) as exc:
            self.error = str(exc)
            self.done = True
            return
        if hasattr(source, "on_lines"):
            source.on_lines = self._on_lines
        try:
            for scan in source:
                with self._lock:
                    self.scans.append(scan)
                    self.partial = None
                if self._stop.is_set():
                    break
        except (ValueError, OSError) as exc:
            self.error = str(exc)
        finally:
            source.close()
            self.done = True

    def take(self) -> tuple[list[Scan], tuple[np.ndarray, int, int] | None]:
        with self._lock:
            scans, self.scans = self.scans, []
            return scans, self.partial

    def stop(self) -> None:
        self._stop.set()


def live_uri(uri: str) -> str:
    """A simulated device runs until the officer quits: ``sim://...`` without ``count`` gets
    ``count=0`` (endless; the source's own default is one scan, right for batch runs)."""
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(uri)
    if parts.scheme != "sim" or "count" in parse_qs(parts.query):
        return uri
    return uri + ("&" if parts.query else "?") + "count=0"


class Viewer:
    """One window over a :class:`ReviewSession`; :meth:`run` returns when the officer quits."""

    def __init__(
        self,
        session: ReviewSession,
        *,
        size: tuple[int, int] = (760, 1280),
        live: Sequence[str] = (),
        state: ViewState | None = None,
        title: str = "backscatter view",
    ) -> None:
        self.session = session
        self.size = size
        self.state = state or ViewState()
        self.title = title
        self.feeds = [LiveFeed(uri) for uri in live]
        self.draw_mode = False
        self.message = ""
        self._drag: dict[str, Any] | None = None
        self._dirty = True
        self._partial: tuple[np.ndarray, int, int] | None = None
        self._last_class = 0
        #: the side panel's clickable rows, from the last frame
        self._hits: list[Hit] = []
        #: decisions are refused until a newly shown scan has been on screen this long (s)
        self.min_view_s = MIN_VIEW_S
        self._shown_at = 0.0

    # -- geometry -------------------------------------------------------------------------
    @property
    def panel_w(self) -> int:
        return PANEL_W if self.size[1] >= MIN_WINDOW_COLS else 0

    @property
    def area(self) -> tuple[int, int]:
        """The scan's part of the canvas, ``(rows, cols)`` from the top left corner."""
        return (self.size[0] - STATUS_H, self.size[1] - self.panel_w)

    def _scan(self) -> Scan | None:
        item = self.session.current
        return item.scan if item is not None else None

    def _scale(self, scan: Scan) -> float:
        z = self.state.zoom
        return z if z is not None else fit_scale(scan.shape, self.area)

    # -- painting -------------------------------------------------------------------------
    def frame(self) -> np.ndarray:
        """The canvas for the current state, ``size`` (rows, cols) BGR uint8: the scan, the
        side panel and the status bar."""
        canvas = np.empty((*self.size, 3), np.uint8)
        area = self.area
        image = canvas[: area[0], : area[1]]
        item = self.session.current
        status = self._status(item)
        if self._following() and self._partial is not None:
            pixels, done, total = self._partial
            bits = 16 if pixels.dtype.itemsize >= 2 else 8
            scan = Scan(pixels, min(bits, pixels.dtype.itemsize * 8), "acquiring")
            status = self._status(None, note=f"acquiring {done}/{total} lines")
            window = self.state.window or enhance.auto_window(pixels[: max(done, 1)])
            preview = replace(
                self.state, window=window, zoom=None, pan=None, selected=None, rubber_band=None
            )
            image[:] = render(scan, None, preview, size=area)
        elif item is None or item.scan is None:
            image[:] = 24
            text = "waiting for scans..." if item is None else f"cannot show: {item.error}"
            cv2.putText(image, text, (20, 40), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (230, 230, 230), 1)
            if self.state.show_help:
                blank = Scan(np.zeros((8, 8), np.uint8), 8, "help")
                image[:] = render(blank, state=self.state, size=area)
        else:
            image[:] = render(
                item.scan,
                item.detections,
                self.state,
                heatmap=item.heatmap,
                marks=item.marks,
                verdicts=item.verdicts,
                size=area,
            )
        if self.panel_w:
            self._hits = draw_panel(
                canvas[: area[0], area[1] :],
                detections=item.detections if item is not None else None,
                threshold=self.state.threshold,
                selected=self.state.selected,
                verdicts=item.verdicts if item is not None else {},
                marks=item.marks if item is not None else [],
                queue=[
                    QueueRow(it.label, it.machine_alarm, it.decision.value if it.decision else "")
                    for it in self.session.items
                ],
                current=self.session.index,
            )
        draw_status_bar(canvas[area[0] :], status)
        return canvas

    def _status(self, item: ReviewItem | None, *, note: str = "") -> StatusInfo:
        notes = [n for n in (note, self.message) if n]
        if self.draw_mode:
            notes.insert(0, "BOX MODE")
        if item is None:
            return StatusInfo(operator=self.session.operator, note="  ".join(notes))
        scan = item.scan
        device, when = "", ""
        if scan is not None:
            md = scan.metadata
            device = " ".join(s for s in (md.manufacturer, md.model) if s) or scan.object_type
            if md.acquisition_time is not None:
                when = md.acquisition_time.strftime("%Y-%m-%d %H:%M:%S")
        if item.error:
            notes.append(item.error)
        if item.note:
            notes.append(item.note)
        if item.machine_alarm == "NO MODEL" and self.session.detector_note:
            notes.append(self.session.detector_note)
        alarm = item.machine_alarm or ""
        return StatusInfo(
            scan_id=item.label,
            device=device,
            time=when,
            model=item.model_id or ("" if alarm == "NO MODEL" else "none"),
            provider=item.provider,
            alarm=alarm,
            operator=self.session.operator,
            position=self.session.position(),
            decision=item.decision.value if item.decision else "",
            note="  ".join(notes),
            extra=(f"thr {self.state.threshold:.2f}",),
        )

    # -- the loop -------------------------------------------------------------------------
    def run(self, *, max_seconds: float | None = None) -> int:
        for d in _FONT_DIRS:  # Qt's bundled copy ships no fonts; quiets its warnings
            if Path(d).is_dir():
                os.environ.setdefault("QT_QPA_FONTDIR", d)
                break
        flags = cv2.WINDOW_NORMAL | cv2.WINDOW_FREERATIO | cv2.WINDOW_GUI_NORMAL
        cv2.namedWindow(self.title, flags)
        cv2.resizeWindow(self.title, self.size[1], self.size[0])
        cv2.setMouseCallback(self.title, self._on_mouse)
        for feed in self.feeds:
            feed.start()
        if self.session.items:
            self._show(0)
        start = time.monotonic()
        shown_once = False
        try:
            while True:
                self._poll_live()
                if shown_once:
                    self._follow_window_size()
                if self._dirty:
                    cv2.imshow(self.title, self.frame())
                    self._dirty = False
                    shown_once = True
                key = cv2.waitKeyEx(20)
                if key != -1 and not self.on_key(key):
                    break
                if shown_once and cv2.getWindowProperty(self.title, cv2.WND_PROP_VISIBLE) < 1:
                    break  # closed by the window manager
                if max_seconds is not None and time.monotonic() - start > max_seconds:
                    break
        finally:
            for feed in self.feeds:
                feed.stop()
            self.session.close()
            cv2.destroyWindow(self.title)
            cv2.waitKey(1)
        return 0

    def _follow_window_size(self) -> None:
        """Draw at the window's current size (the officer or the window manager resized it)."""
        try:
            _x, _y, w, h = cv2.getWindowImageRect(self.title)
        except cv2.error:
            return
        if w >= MIN_SIZE[1] and h >= MIN_SIZE[0] and (h, w) != self.size:
            self.size = (int(h), int(w))
            self._dirty = True

    def _following(self) -> bool:
        """True when nothing is left to decide and a live source is feeding us."""
        return bool(self.feeds) and all(it.decision is not None for it in self.session.items)

    def _poll_live(self) -> None:
        for feed in self.feeds:
            scans, partial = feed.take()
            was_following = self._following()
            for scan in scans:
                self.session.add(ReviewItem(source=f"{feed.uri}#{scan.scan_id}", scan=scan))
            if scans and was_following:
                self._show(len(self.session.items) - len(scans))
            if partial is not None and (partial is not self._partial):
                self._partial = partial
                self._dirty = True
            if scans:
                self._partial = None
                self._dirty = True
            if feed.error:
                self.message = f"live source: {feed.error}"
                feed.error = ""
                self._dirty = True

    def _show(self, index: int) -> None:
        self.session.go(index)
        self._shown_at = time.monotonic()
        self.state.zoom = None
        self.state.pan = None
        self.state.selected = None
        self.state.rubber_band = None
        self._dirty = True

    # -- keys -----------------------------------------------------------------------------
    def on_key(self, code: int) -> bool:
        """Handle one ``waitKeyEx`` code; False means quit."""
        found = action_for(code)
        if found is None:
            return True
        action, arg = found
        self._dirty = True
        self.message = ""
        if action == "quit":
            if self.state.show_help:
                self.state.show_help = False
                return True
            return False
        handler = getattr(self, f"_do_{action}")
        try:
            handler(arg)
        except (ValueError, OSError, IndexError) as exc:
            self.message = f"error: {exc}"
        return True

    def _decide(self, decision: Decision) -> None:
        item = self.session.current
        if item is None or (self._following() and self._partial is not None):
            self.message = "nothing to decide yet" if item is None else "a scan is still arriving"
            return
        if time.monotonic() - self._shown_at < self.min_view_s:
            # a key typed ahead (or a double tap) must not decide a scan nobody has seen
            self.message = "decision ignored: this scan was on screen for too short a time"
            return
        row = self.session.decide(decision)
        done = self.session.decided
        total = len(self.session.items)
        nxt = self.session.next_undecided()
        if nxt is not None:
            self._show(self.session.index)
        self.message = f"saved {decision.value} for {item.label} (row {row['seq']})"
        if done == total:
            self.message += f"; all {total} scans decided"

    def _do_decide_clear(self, _arg: int) -> None:
        self._decide(Decision.CLEAR)

    def _do_decide_alarm(self, _arg: int) -> None:
        self._decide(Decision.ALARM)

    def _do_decide_inspect(self, _arg: int) -> None:
        self._decide(Decision.INSPECT)

    def _do_next(self, _arg: int) -> None:
        if self.session.index + 1 < len(self.session.items):
            self._show(self.session.index + 1)
        else:
            self.message = "last scan"

    def _do_previous(self, _arg: int) -> None:
        if self.session.index > 0:
            self._show(self.session.index - 1)
        else:
            self.message = "first scan"

    def _do_first_last(self, arg: int) -> None:
        if self.session.items:
            self._show(0 if arg == 0 else len(self.session.items) - 1)

    def _objects(self) -> tuple[list[int], int]:
        item = self.session.current
        if item is None:
            return [], 0
        return visible_flags(item.detections, self.state.threshold), len(item.marks)

    def _do_select_next(self, arg: int) -> None:
        flags, marks = self._objects()
        n = len(flags) + marks
        if n == 0:
            self.message = "no objects on this scan"
            return
        cur = self.state.selected
        if cur is None or cur >= n:
            self.state.selected = n - 1 if arg else 0
        else:
            self.state.selected = (cur + (-1 if arg else 1)) % n

    def _do_select_previous(self, _arg: int) -> None:
        self._do_select_next(1)

    def _selected(self) -> tuple[str, int] | None:
        flags, marks = self._objects()
        k = self.state.selected
        if k is None or k >= len(flags) + marks:
            return None
        return ("flag", flags[k]) if k < len(flags) else ("mark", k - len(flags))

    def _do_confirm(self, _arg: int) -> None:
        self._verdict(True)

    def _do_reject(self, _arg: int) -> None:
        self._verdict(False)

    def _verdict(self, confirmed: bool) -> None:
        sel = self._selected()
        if sel is None or sel[0] != "flag":
            self.message = "select a machine flag first (Tab)"
            return
        self.session.set_verdict(sel[1], confirmed)
        self.message = f"flag {sel[1]} {'confirmed' if confirmed else 'rejected'}"

    def _do_draw_mode(self, _arg: int) -> None:
        self.draw_mode = not self.draw_mode

    def _do_set_class(self, arg: int) -> None:
        sel = self._selected()
        name = THREAT_CLASSES[arg]
        self._last_class = arg
        if sel is None or sel[0] != "mark":
            self.message = f"new boxes will be {name}"
            return
        self.session.set_mark_class(sel[1], name)
        self.message = f"mark is {name}"

    def _do_delete_mark(self, _arg: int) -> None:
        sel = self._selected()
        if sel is None or sel[0] != "mark":
            self.message = "select one of your marks first (Tab)"
            return
        self.session.delete_mark(sel[1])
        self.state.selected = None

    def _do_pan(self, arg: int) -> None:
        scan = self._scan()
        if scan is None:
            return
        t = view_transform(scan.shape, self.area, self.state)
        cx, cy = t.to_scan(self.area[1] / 2.0 - 0.5, self.area[0] / 2.0 - 0.5)
        step = 0.2 * min(self.area) / t.scale
        dx, dy = {0: (-step, 0.0), 1: (0.0, -step), 2: (step, 0.0), 3: (0.0, step)}[arg]
        self.state.zoom = t.scale
        self.state.pan = (cx + dx, cy + dy)

    def _zoom_at(self, factor: float, u: float, v: float) -> None:
        scan = self._scan()
        if scan is None:
            return
        t = view_transform(scan.shape, self.area, self.state)
        px, py = t.to_scan(u, v)
        s = min(max(t.scale * factor, MIN_ZOOM), MAX_ZOOM)
        self.state.zoom = s
        w, h = self.area[1], self.area[0]
        self.state.pan = (px - (u + 0.5 - w / 2.0) / s, py - (v + 0.5 - h / 2.0) / s)

    def _do_zoom(self, arg: int) -> None:
        self._zoom_at(
            ZOOM_STEP if arg > 0 else 1.0 / ZOOM_STEP, self.area[1] / 2.0, self.area[0] / 2.0
        )

    def _do_fit(self, _arg: int) -> None:
        self.state.zoom = None
        self.state.pan = None

    def _do_one_to_one(self, _arg: int) -> None:
        scan = self._scan()
        if scan is not None:
            self._zoom_at(1.0 / self._scale(scan), self.area[1] / 2.0, self.area[0] / 2.0)

    def _window(self) -> tuple[float, float]:
        if self.state.window is not None:
            return self.state.window
        scan = self._scan()
        if scan is None:
            return (0.5, 1.0)
        return auto_window_for(scan)

    def _do_window_width(self, arg: int) -> None:
        c, w = self._window()
        self.state.window = (c, max(w * (1.25 if arg > 0 else 0.8), 1e-6))

    def _do_window_level(self, arg: int) -> None:
        c, w = self._window()
        self.state.window = (c + arg * 0.1 * w, w)

    def _do_auto_window(self, _arg: int) -> None:
        self.state.window = None

    def _do_gamma(self, arg: int) -> None:
        g = self.state.gamma
        i = min(range(len(GAMMAS)), key=lambda k: abs(GAMMAS[k] - g))
        self.state.gamma = GAMMAS[min(max(i + arg, 0), len(GAMMAS) - 1)]
        self.message = f"gamma {self.state.gamma:g}"

    def _do_negative(self, _arg: int) -> None:
        self.state.negative = not self.state.negative

    def _do_clahe(self, _arg: int) -> None:
        self.state.clahe = not self.state.clahe

    def _do_edge(self, _arg: int) -> None:
        self.state.edge = not self.state.edge

    def _do_colormap(self, _arg: int) -> None:
        i = COLORMAPS.index(self.state.colormap)
        self.state.colormap = COLORMAPS[(i + 1) % len(COLORMAPS)]
        self.message = f"colour map {self.state.colormap}"

    def _do_reset_image(self, _arg: int) -> None:
        self.state.reset_image()

    def _do_threshold(self, arg: int) -> None:
        t = round(self.state.threshold + 0.05 * arg, 2)
        self.state.threshold = min(max(t, 0.0), 1.0)
        self.state.selected = None

    def _do_overlays(self, _arg: int) -> None:
        self.state.overlays = not self.state.overlays

    def _do_heatmap(self, _arg: int) -> None:
        self.state.heatmap = not self.state.heatmap

    def _do_help(self, _arg: int) -> None:
        self.state.show_help = not self.state.show_help

    # -- mouse ----------------------------------------------------------------------------
    def _on_mouse(self, event: int, u: int, v: int, flags: int, _param: Any) -> None:
        if u >= self.area[1] and v < self.area[0] and self._drag is None:
            if event == cv2.EVENT_LBUTTONDOWN:
                self._click_panel(v)
            return
        scan = self._scan()
        if scan is None or v >= self.area[0] and self._drag is None:
            return
        t = view_transform(scan.shape, self.area, self.state)
        x, y = t.to_scan(u, v)
        if event == cv2.EVENT_LBUTTONDOWN:
            draw = self.draw_mode or bool(flags & cv2.EVENT_FLAG_SHIFTKEY)
            self._drag = {
                "kind": "box" if draw else "pan",
                "u": u,
                "v": v,
                "x": x,
                "y": y,
                "scale": t.scale,
                "centre": t.to_scan(self.area[1] / 2 - 0.5, self.area[0] / 2 - 0.5),
            }
        elif event == cv2.EVENT_RBUTTONDOWN:
            self._drag = {"kind": "wl", "u": u, "v": v, "window": self._window()}
        elif event == cv2.EVENT_MOUSEMOVE and self._drag is not None:
            self._drag_to(u, v, x, y)
        elif event in (cv2.EVENT_LBUTTONUP, cv2.EVENT_RBUTTONUP) and self._drag is not None:
            self._drag_to(u, v, x, y)
            self._end_drag(u, v, x, y)
        elif event == cv2.EVENT_MOUSEWHEEL:
            delta = flags >> 16  # the wheel delta sits in the high bits (signed)
            self._zoom_at(ZOOM_STEP if delta > 0 else 1.0 / ZOOM_STEP, u, v)
            self._dirty = True

    def _drag_to(self, u: int, v: int, x: float, y: float) -> None:
        d = self._drag
        assert d is not None
        if d["kind"] == "box":
            self.state.rubber_band = (d["x"], d["y"], x, y)
        elif d["kind"] == "pan":
            s = d["scale"]
            cx, cy = d["centre"]
            self.state.zoom = s
            self.state.pan = (cx - (u - d["u"]) / s, cy - (v - d["v"]) / s)
        elif d["kind"] == "wl":
            c, w = d["window"]
            w2 = max(w * math.exp((u - d["u"]) / 200.0), 1e-6)
            self.state.window = (c - (v - d["v"]) * w / 400.0, w2)
        self._dirty = True

    def _end_drag(self, u: int, v: int, x: float, y: float) -> None:
        d = self._drag
        self._drag = None
        self.state.rubber_band = None
        if d is None:
            return
        moved = abs(u - d["u"]) + abs(v - d["v"])
        if d["kind"] in ("box", "pan") and moved < 4:
            self._select_at(x, y)
            return
        if d["kind"] == "box":
            scan = self._scan()
            assert scan is not None
            x0, x1 = sorted((min(max(d["x"], 0.0), scan.cols), min(max(x, 0.0), scan.cols)))
            y0, y1 = sorted((min(max(d["y"], 0.0), scan.rows), min(max(y, 0.0), scan.rows)))
            if x1 - x0 < 2 or y1 - y0 < 2:
                return
            name = THREAT_CLASSES[self._last_class]
            self.session.add_mark((x0, y0, x1, y1), name)
            flags, marks = self._objects()
            self.state.selected = len(flags) + marks - 1
            self.message = f"added {name} box: keys 1-5 change its class"

    def _click_panel(self, v: int) -> None:
        """A click on a flag's row selects it; on a scan's row shows that scan."""
        hit = hit_at(self._hits, v)
        if hit is None:
            return
        if hit.kind == "flag":
            self.state.selected = hit.index
        elif hit.index != self.session.index:
            self._show(hit.index)
        self._dirty = True

    def _select_at(self, x: float, y: float) -> None:
        item = self.session.current
        if item is None:
            return
        flags, _ = self._objects()
        boxes = [tuple(item.detections.boxes[i]) for i in flags] if item.detections else []
        boxes += [m.box for m in item.marks]
        hits = [k for k, b in enumerate(boxes) if b[0] <= x < b[2] and b[1] <= y < b[3]]
        if hits:  # the smallest box under the cursor
            self.state.selected = min(
                hits, key=lambda k: (boxes[k][2] - boxes[k][0]) * (boxes[k][3] - boxes[k][1])
            )
            self._dirty = True
