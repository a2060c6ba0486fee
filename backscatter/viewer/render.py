"""Scan + Detections + ViewState -> BGR uint8 image: the one renderer behind the window,
``backscatter render``, the pipeline's overlay sink and reports.

Coordinates: a scan pixel ``(x, y)`` covers ``[x, x+1) x [y, y+1)``; boxes are ``x0, y0, x1, y1``
with exclusive ``x1, y1`` (as in :mod:`backscatter.detections`). The view maps scan coordinate
``X`` to output coordinate ``U = scale * X + tx``.

Redraws are cheap: the windowed/enhanced full-resolution base and its zoomed view are cached,
so changing threshold, selection or overlays only copies the cached view and draws on it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.viewer import enhance
from backscatter.viewer.keys import KEYMAP
from backscatter.viewer.state import Mark, StatusInfo, ViewState

#: BGR colour per threat class; unknown classes get a colour from :data:`_PALETTE`
CLASS_COLOURS: dict[str, tuple[int, int, int]] = {
    "organic_package": (0, 165, 255),  # orange
    "currency": (0, 200, 0),  # green
    "firearm": (0, 0, 255),  # red
    "blade": (255, 0, 255),  # magenta
    "liquid": (255, 128, 0),  # blue
}
_PALETTE: tuple[tuple[int, int, int], ...] = ((0, 255, 255), (255, 255, 0), (128, 0, 255))
REJECTED_COLOUR = (140, 140, 140)
SELECTED_COLOUR = (255, 255, 255)
#: height of the status bar in output pixels
STATUS_H = 24
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (24, 24, 24)


def class_colour(name: str) -> tuple[int, int, int]:
    """BGR colour of a class name (stable for unknown names too)."""
    if name in CLASS_COLOURS:
        return CLASS_COLOURS[name]
    return _PALETTE[sum(name.encode()) % len(_PALETTE)]


@dataclass(frozen=True)
class ViewTransform:
    """Scan -> output mapping ``U = scale * X + tx``, ``V = scale * Y + ty`` (continuous)."""

    scale: float
    tx: float
    ty: float

    def to_output(self, x: float, y: float) -> tuple[float, float]:
        return (self.scale * x + self.tx, self.scale * y + self.ty)

    def to_scan(self, u: float, v: float) -> tuple[float, float]:
        """Output pixel centre ``(u, v)`` (integers from a mouse event) -> scan coordinates."""
        return ((u + 0.5 - self.tx) / self.scale, (v + 0.5 - self.ty) / self.scale)


def fit_scale(scan_shape: tuple[int, int], area: tuple[int, int]) -> float:
    """Largest scale showing all of ``scan_shape`` ``(rows, cols)`` inside ``area`` (rows, cols)."""
    return min(area[0] / scan_shape[0], area[1] / scan_shape[1])


def view_transform(
    scan_shape: tuple[int, int], area: tuple[int, int], state: ViewState
) -> ViewTransform:
    """The transform for ``state.zoom`` / ``state.pan`` in an output area ``(rows, cols)``."""
    rows, cols = scan_shape
    s = state.zoom if state.zoom is not None else fit_scale(scan_shape, area)
    cx, cy = state.pan if state.pan is not None else (cols / 2.0, rows / 2.0)
    return ViewTransform(float(s), area[1] / 2.0 - s * cx, area[0] / 2.0 - s * cy)


def visible_flags(detections: Detections | None, threshold: float) -> list[int]:
    """Indices of the machine flags shown at ``threshold``, highest score first."""
    if detections is None or len(detections) == 0:
        return []
    idx = np.flatnonzero(detections.scores >= threshold)
    return [int(i) for i in idx[np.argsort(-detections.scores[idx], kind="stable")]]


class _Cache:
    """Small LRU keyed by a tuple; holds a reference to the array it was built from, so a key
    built from ``id(owner)`` can never match a new array that reuses the id."""

    def __init__(self, size: int = 4) -> None:
        self.size = size
        self.items: list[tuple[tuple[Any, ...], Any, Any]] = []
        self._lock = threading.Lock()  # the pipeline's overlay sink renders from many threads

    def get(self, key: tuple[Any, ...], owner: Any) -> Any:
        with self._lock:
            for i, (k, o, value) in enumerate(self.items):
                if k == key and o is owner:
                    self.items.insert(0, self.items.pop(i))
                    return value
        return None

    def put(self, key: tuple[Any, ...], owner: Any, value: Any) -> None:
        with self._lock:
            self.items.insert(0, (key, owner, value))
            del self.items[self.size :]


#: resampled native pixels per view; display images per view and display settings
_GEOM = _Cache()
_DISP = _Cache()
_AUTO = _Cache(8)
_CV_DTYPES = frozenset(np.dtype(t) for t in ("uint8", "uint16", "int16", "float32"))


def auto_window_for(scan: Scan) -> tuple[float, float]:
    """The automatic ``(center, width)`` of a scan (cached with its pixels)."""
    key = ("auto", id(scan.pixels), scan.pixels.shape)
    cached = _AUTO.get(key, scan.pixels)
    if cached is None:
        cached = enhance.auto_window(scan.pixels)
        _AUTO.put(key, scan.pixels, cached)
    return (float(cached[0]), float(cached[1]))


def _resample(
    image: np.ndarray, sx: float, sy: float, tx: float, ty: float, area: tuple[int, int]
) -> np.ndarray:
    """``image`` placed on an ``area`` (rows, cols) canvas by ``U = sx * X + tx`` (continuous
    coordinates); outside the image the canvas is 0. Area-averages when shrinking whole."""
    rows, cols = image.shape[:2]
    if sx == sy == 1.0 and tx == ty == 0.0 and (rows, cols) == area:
        return image
    w, h = round(cols * sx), round(rows * sy)
    x0, y0 = round(tx), round(ty)
    whole = x0 >= 0 and y0 >= 0 and x0 + w <= area[1] and y0 + h <= area[0]
    if sx <= 1.0 and sy <= 1.0 and whole and w >= 1 and h >= 1:
        small = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        out = np.zeros((area[0], area[1], *image.shape[2:]), image.dtype)
        out[y0 : y0 + h, x0 : x0 + w] = small
        return out
    m = np.array([[sx, 0, tx + 0.5 * sx - 0.5], [0, sy, ty + 0.5 * sy - 0.5]], np.float64)
    interp = cv2.INTER_NEAREST if min(sx, sy) >= 1.0 else cv2.INTER_LINEAR
    return cv2.warpAffine(
        image, m, (area[1], area[0]), flags=interp, borderMode=cv2.BORDER_CONSTANT, borderValue=0
    )


def _valid_rect(t: ViewTransform, shape: tuple[int, int], area: tuple[int, int]) -> tuple[int, ...]:
    """Output pixels ``(u0, v0, u1, v1)`` (exclusive ends) whose centres fall on the scan."""
    u0, v0 = t.to_output(0.0, 0.0)
    u1, v1 = t.to_output(shape[1], shape[0])
    c = (math.ceil(u0 - 0.5), math.ceil(v0 - 0.5), math.ceil(u1 - 0.5), math.ceil(v1 - 0.5))
    return (max(c[0], 0), max(c[1], 0), min(c[2], area[1]), min(c[3], area[0]))


def view_image(
    scan: Scan, state: ViewState, area: tuple[int, int], heatmap: np.ndarray | None = None
) -> tuple[np.ndarray, ViewTransform]:
    """The scan as displayed in ``area`` (rows, cols): BGR uint8 (cached; do not modify).

    The native pixels are resampled to the view first (cached per zoom/pan), then windowed,
    enhanced and coloured at display resolution, so a window/level change touches only the
    pixels on screen. Local contrast and edge enhancement therefore act at screen scale.
    """
    t = view_transform(scan.shape, area, state)
    gkey = ("geom", id(scan.pixels), scan.pixels.shape, area, t)
    raw = _GEOM.get(gkey, scan.pixels)
    if raw is None:
        px = scan.pixels if scan.pixels.dtype in _CV_DTYPES else scan.pixels.astype(np.float32)
        raw = _resample(px, t.scale, t.scale, t.tx, t.ty, area)
        _GEOM.put(gkey, scan.pixels, raw)
    window = state.window if state.window is not None else auto_window_for(scan)
    show_heat = heatmap is not None and state.heatmap and state.overlays
    dkey = (
        "disp",
        window,
        state.gamma,
        state.negative,
        state.clahe,
        state.edge,
        state.colormap,
        id(heatmap) if show_heat else None,
    )
    cached = _DISP.get(dkey, raw)
    if cached is not None:
        return cached, t
    grey = enhance.window_level(raw, window=window, gamma=state.gamma, negative=state.negative)
    if state.clahe:
        grey = enhance.clahe(grey)
    if state.edge:
        grey = enhance.edge_enhance(grey)
    bgr = enhance.pseudo_colour(grey, colormap=state.colormap)
    if show_heat and heatmap is not None:
        hr, hc = heatmap.shape[:2]
        sx, sy = t.scale * scan.cols / hc, t.scale * scan.rows / hr
        heat = _resample(heatmap.astype(np.float32), sx, sy, t.tx, t.ty, area)
        colour, alpha = enhance.heatmap_colour(heat, shape=area)
        a = alpha[..., None]
        bgr = np.rint(bgr * (1.0 - a) + colour * a).astype(np.uint8)
    u0, v0, u1, v1 = _valid_rect(t, scan.shape, area)
    if (u0, v0, u1, v1) != (0, 0, area[1], area[0]):  # bgr is ours: paint the margins
        bg = np.array(_BG, np.uint8)
        bgr[:v0] = bg
        bgr[v1:] = bg
        bgr[:, :u0] = bg
        bgr[:, u1:] = bg
    _DISP.put(dkey, raw, bgr)
    return bgr, t


def render(
    scan: Scan,
    detections: Detections | None = None,
    state: ViewState | None = None,
    *,
    status: StatusInfo | str | None = None,
    heatmap: np.ndarray | None = None,
    marks: Sequence[Mark] = (),
    verdicts: Mapping[int, bool] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """Draw a scan with its overlays. Returns a new ``(rows, cols, 3)`` BGR uint8 array.

    ``size`` is the output ``(rows, cols)``; by default the scan's own shape (1:1 unless
    ``state.zoom`` says otherwise), plus a status bar of :data:`STATUS_H` rows below when
    ``status`` is given. ``heatmap`` is an anomaly map in [0, 1] (any size). ``marks`` are boxes
    the officer drew; ``verdicts`` maps a detection index to True (confirmed) / False (rejected).
    Selection (``state.selected``) indexes the visible flags (highest score first), then marks.
    """
    state = state if state is not None else ViewState()
    bar = STATUS_H if status is not None else 0
    if size is None:
        out_rows, out_cols = scan.rows + bar, scan.cols
    else:
        out_rows, out_cols = int(size[0]), int(size[1])
        if out_rows - bar < 1 or out_cols < 1:
            raise ValueError(f"size: expected room for the image and status bar, got {size}")
    area = (out_rows - bar, out_cols)
    view, t = view_image(scan, state, area, heatmap)
    canvas = np.empty((out_rows, out_cols, 3), np.uint8)
    canvas[: area[0]] = view
    image = canvas[: area[0]]
    if state.overlays:
        _draw_objects(image, t, detections, state, marks, verdicts or {})
    if state.rubber_band is not None:
        x0, y0, x1, y1 = state.rubber_band
        _box(image, t, (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), SELECTED_COLOUR, 1)
    if bar:
        draw_status_bar(canvas[area[0] :], status if status is not None else "")
    if state.show_help:
        _help(image)
    return canvas


def near_misses(detections: Detections | None, threshold: float, margin: float) -> list[int]:
    """Indices of flags scoring in ``[threshold - margin, threshold)``, highest first, when no
    flag reaches ``threshold`` (a CLEAR scan); else none."""
    if detections is None or len(detections) == 0 or margin <= 0:
        return []
    s = detections.scores
    if bool(np.any(s >= threshold)):
        return []
    idx = np.flatnonzero((s >= threshold - margin) & (s < threshold))
    return [int(i) for i in idx[np.argsort(-s[idx], kind="stable")]]


def flag_text(detections: Detections, i: int) -> str:
    """``"liquid 0.67"``, with the best other class on the object: ``"liquid 0.67 (currency
    0.44)"``."""
    name = detections.class_names[int(detections.labels[i])]
    text = f"{name} {detections.scores[i]:.2f}"
    alt = detections.alternatives(i)
    if alt:
        other, score = next(iter(alt.items()))
        text += f" ({other} {score:.2f})"
    return text


def _draw_objects(
    image: np.ndarray,
    t: ViewTransform,
    detections: Detections | None,
    state: ViewState,
    marks: Sequence[Mark],
    verdicts: Mapping[int, bool],
) -> None:
    flags = visible_flags(detections, state.threshold)
    # (box, colour, text, selected, dashed); listed best first
    order: list[tuple[tuple[float, ...], tuple[int, int, int], str, bool, bool]] = []
    if detections is not None:
        for k, i in enumerate(flags):
            name = detections.class_names[int(detections.labels[i])]
            verdict = verdicts.get(i)
            colour = REJECTED_COLOUR if verdict is False else class_colour(name)
            text = flag_text(detections, i)
            text += {True: " OK", False: " REJECTED", None: ""}[verdict]
            order.append((tuple(detections.boxes[i]), colour, text, state.selected == k, False))
        for i in near_misses(detections, state.threshold, state.near_miss):
            name = detections.class_names[int(detections.labels[i])]
            text = f"{flag_text(detections, i)} near miss"
            order.append((tuple(detections.boxes[i]), class_colour(name), text, False, True))
    for k, mark in enumerate(marks):
        selected = state.selected == len(flags) + k
        text = f"+ {mark.class_name}"
        order.append((mark.box, class_colour(mark.class_name), text, selected, False))
    # the lowest score first, so the flag that alarmed is drawn (and labelled) on top;
    # the selected one last of all, so its highlight is never covered
    painted = list(reversed(order))
    for box, colour, text, selected, dashed in sorted(painted, key=lambda o: o[3]):
        if selected:  # white ring inside a black one: visible on light and dark images
            _box(image, t, box, (0, 0, 0), 2, outset=4)
            _box(image, t, box, SELECTED_COLOUR, 2, outset=2)
        if dashed:
            _dashed_box(image, t, box, colour)
        else:
            _box(image, t, box, colour, 2)
        _label(image, t, box, colour, text)


def _pixel_rect(t: ViewTransform, box: Sequence[float]) -> tuple[int, int, int, int]:
    u0, v0 = t.to_output(float(box[0]), float(box[1]))
    u1, v1 = t.to_output(float(box[2]), float(box[3]))
    return (int(np.floor(u0)), int(np.floor(v0)), int(np.ceil(u1)) - 1, int(np.ceil(v1)) - 1)


def _box(
    image: np.ndarray,
    t: ViewTransform,
    box: Sequence[float],
    colour: tuple[int, int, int],
    thickness: int,
    *,
    outset: int = 0,
) -> None:
    """Outline drawn inward from the box edge (``outset`` pixels outside it for highlights)."""
    u0, v0, u1, v1 = _pixel_rect(t, box)
    u0, v0, u1, v1 = u0 - outset, v0 - outset, u1 + outset, v1 + outset
    lim = 1 << 15
    for k in range(thickness):
        if u1 - k < u0 + k or v1 - k < v0 + k:
            break
        p0 = (max(-lim, u0 + k), max(-lim, v0 + k))
        p1 = (min(lim, u1 - k), min(lim, v1 - k))
        cv2.rectangle(image, p0, p1, colour, 1, cv2.LINE_8)


def _dashed_box(
    image: np.ndarray, t: ViewTransform, box: Sequence[float], colour: tuple[int, int, int]
) -> None:
    """2-pixel dashed outline (8 on, 6 off), drawn inward from the box edge."""
    u0, v0, u1, v1 = _pixel_rect(t, box)
    h, w = image.shape[:2]
    dash, gap = 8, 6
    for k in range(2):
        a0, b0, a1, b1 = u0 + k, v0 + k, u1 - k, v1 - k
        if a1 < a0 or b1 < b0:
            break
        for y in (b0, b1):  # top and bottom edges
            if 0 <= y < h:
                for x in range(max(a0, -dash), min(a1, w) + 1, dash + gap):
                    cv2.line(image, (x, y), (min(x + dash - 1, a1), y), colour, 1, cv2.LINE_8)
        for x in (a0, a1):  # left and right edges
            if 0 <= x < w:
                for y in range(max(b0, -dash), min(b1, h) + 1, dash + gap):
                    cv2.line(image, (x, y), (x, min(y + dash - 1, b1)), colour, 1, cv2.LINE_8)


def _label(
    image: np.ndarray,
    t: ViewTransform,
    box: Sequence[float],
    colour: tuple[int, int, int],
    text: str,
) -> None:
    u0, v0, _u1, v1 = _pixel_rect(t, box)
    (tw, th), base = cv2.getTextSize(text, _FONT, 0.5, 1)
    h = th + base + 4
    top = v0 - h if v0 - h >= 0 else v1 + 1  # above the box, else below it
    u0 = min(max(u0, 0), max(0, image.shape[1] - tw - 6))
    if top >= image.shape[0] or top + h <= 0:
        return
    cv2.rectangle(image, (u0, top), (u0 + tw + 5, top + h - 1), colour, cv2.FILLED)
    ink = (0, 0, 0) if sum(colour) > 300 else (255, 255, 255)
    cv2.putText(image, text, (u0 + 3, top + th + 2), _FONT, 0.5, ink, 1, cv2.LINE_AA)


_ALARM_COLOURS = {"ALARM": (0, 0, 200), "INSPECT": (0, 0, 200), "CLEAR": (0, 140, 0)}


def draw_status_bar(bar: np.ndarray, status: StatusInfo | str) -> None:
    """Fill ``bar`` (a ``(STATUS_H, cols, 3)`` view) with the status line, in place."""
    bar[:] = _BG
    x = 4
    baseline = bar.shape[0] - 7
    if isinstance(status, StatusInfo):
        if status.alarm:
            (tw, _), _ = cv2.getTextSize(status.alarm, _FONT, 0.5, 1)
            bg = _ALARM_COLOURS.get(status.alarm.split()[0], (90, 90, 90))
            cv2.rectangle(bar, (x - 2, 2), (x + tw + 6, bar.shape[0] - 3), bg, cv2.FILLED)
            cv2.putText(bar, status.alarm, (x + 2, baseline), _FONT, 0.5, (255, 255, 255), 1)
            x += tw + 16
        text = "  |  ".join(status.parts())
    else:
        text = status
    scale = 0.5  # shrink to fit, then cut the tail
    room = bar.shape[1] - x - 4
    while scale > 0.36 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > room:
        scale -= 0.02
    while len(text) > 4 and cv2.getTextSize(text, _FONT, scale, 1)[0][0] > room:
        text = text[: int(len(text) * 0.95) - 1] + "~"
    cv2.putText(bar, text, (x, baseline), _FONT, scale, (230, 230, 230), 1, cv2.LINE_AA)


def _help(image: np.ndarray) -> None:
    title = "KEYS   mouse: left-drag pan (draw in box mode), right-drag window/level, wheel zoom"
    entries = [(keys, text) for keys, _action, text in KEYMAP]
    rows, cols = image.shape[:2]
    scale, step, key_w = 0.5, 19, 90
    per_col = max(1, (rows - 60) // step)
    ncols = -(-len(entries) // per_col)
    text_w = max(cv2.getTextSize(t, _FONT, scale, 1)[0][0] for _k, t in entries)
    col_w = key_w + text_w + 24
    title_w = cv2.getTextSize(title, _FONT, scale, 1)[0][0]
    w = min(cols, max(col_w * ncols, title_w) + 24)
    h = min(rows, step * (min(per_col, len(entries)) + 1) + 24)
    x0, y0 = max(0, (cols - w) // 2), max(0, (rows - h) // 2)
    roi = image[y0 : y0 + h, x0 : x0 + w]
    roi[:] = (roi * np.float32(0.15)).astype(np.uint8) + np.uint8(10)
    white, yellow = (255, 255, 255), (80, 220, 255)
    cv2.putText(image, title, (x0 + 12, y0 + 22), _FONT, scale, yellow, 1, cv2.LINE_AA)
    for n, (keys, text) in enumerate(entries):
        c, r = divmod(n, per_col)
        x, y = x0 + 12 + c * col_w, y0 + 22 + (r + 1) * step
        cv2.putText(image, keys, (x, y), _FONT, scale, yellow, 1, cv2.LINE_AA)
        cv2.putText(image, text, (x + key_w, y), _FONT, scale, white, 1, cv2.LINE_AA)
