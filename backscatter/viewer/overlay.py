"""The overlay PNG a supervisor reads without the viewer: the scan with its flags, a verdict
banner on top and a class legend below.

Layout (rows, top to bottom)::

    banner    ALARM / CLEAR box, then what decided it ("liquid 0.67 (currency 0.44)" or
              "no flag >= 0.42, 1 near miss (dashed)")
    details   scan id, model, threshold
    image     the scan 1:1 with the flags at the threshold (solid) and, on a CLEAR scan, the
              near misses within ``near_miss`` below it (dashed)
    legend    one colour swatch per class, and what dashed means

A scan narrower than :data:`MIN_WIDTH` is centred on a wider canvas so the text stays legible.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.viewer.render import (
    class_colour,
    flag_text,
    near_misses,
    render,
    visible_flags,
)
from backscatter.viewer.state import ViewState, short_id

#: narrowest overlay canvas in pixels (narrower scans are centred on it)
MIN_WIDTH = 480
LINE_H = 22
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (24, 24, 24)
_TEXT = (235, 235, 235)
_VERDICT_BG = {"ALARM": (0, 0, 200), "CLEAR": (0, 130, 0)}


def overlay_image(
    scan: Scan,
    flags: Detections | None,
    *,
    threshold: float,
    scan_id: str | None = None,
    model_id: str = "",
    near_miss: float = 0.1,
    class_names: Sequence[str] | None = None,
) -> np.ndarray:
    """The annotated overlay: ``(LINE_H * 2 + rows + LINE_H, max(cols, MIN_WIDTH), 3)`` BGR uint8.

    ``flags`` are the scan's flags at every score (one per object, best first); the verdict is
    ALARM when one reaches ``threshold``.
    """
    state = ViewState(threshold=threshold, near_miss=near_miss)
    image = render(scan, flags, state)
    shown = visible_flags(flags, threshold)
    near = near_misses(flags, threshold, near_miss)
    verdict = "ALARM" if shown else "CLEAR"
    if flags is not None and shown:
        why = ", ".join(flag_text(flags, i) for i in shown)
    else:
        why = f"no flag >= {threshold:.2f}"
        if near:
            why += f"; {len(near)} near miss{'es' if len(near) > 1 else ''} (dashed)"
    details = f"threshold {threshold:.2f}  |  model {model_id or 'none'}  |  "
    details += f"scan {short_id(scan_id or scan.scan_id)}"
    names = tuple(class_names or (flags.class_names if flags is not None else THREAT_CLASSES))
    cols = max(scan.cols, MIN_WIDTH)
    canvas = np.empty((2 * LINE_H + scan.rows + LINE_H, cols, 3), np.uint8)
    canvas[:] = _BG
    x0 = (cols - scan.cols) // 2
    canvas[2 * LINE_H : 2 * LINE_H + scan.rows, x0 : x0 + scan.cols] = image
    _banner(canvas[:LINE_H], verdict, why)
    _text(canvas[LINE_H : 2 * LINE_H], details, 6)
    canvas[2 * LINE_H + scan.rows :] = _legend(names, cols, near_miss)
    return canvas


def _fit(text: str, room: int, scale: float = 0.5) -> tuple[str, float]:
    """Shrink the font (down to 0.38), then cut the tail (``~``) until ``text`` fits in ``room``
    px. Text width is proportional to the scale and nearly to the length, so this takes two or
    three measurements, not one per step: every OpenCV call hands the GIL back, and the sinks
    run beside the detector threads."""
    width = float(cv2.getTextSize(text, _FONT, scale, 1)[0][0])
    if width <= room:
        return text, scale
    small = max(0.38, scale * room / width)
    width = width * small / scale
    while len(text) > 4 and width > room:
        keep = max(4, int(len(text) * room / width) - 1)
        text = text[:keep] + "~"
        width = float(cv2.getTextSize(text, _FONT, small, 1)[0][0])
    return text, small


def _text(row: np.ndarray, text: str, x: int, colour: tuple[int, int, int] = _TEXT) -> None:
    fitted, scale = _fit(text, row.shape[1] - x - 4)
    cv2.putText(row, fitted, (x, row.shape[0] - 7), _FONT, scale, colour, 1, cv2.LINE_AA)


@functools.lru_cache(maxsize=8)
def _verdict_box(verdict: str, rows: int) -> np.ndarray:
    """The coloured ALARM / CLEAR box at the start of the banner (drawn once per verdict)."""
    (tw, _), _ = cv2.getTextSize(verdict, _FONT, 0.6, 2)
    box = np.empty((rows, tw + 16, 3), np.uint8)
    box[:] = _VERDICT_BG[verdict]
    cv2.putText(box, verdict, (8, rows - 6), _FONT, 0.6, (255, 255, 255), 2, cv2.LINE_AA)
    box.flags.writeable = False
    return box


def _banner(row: np.ndarray, verdict: str, why: str) -> None:
    box = _verdict_box(verdict, row.shape[0])
    row[:, : box.shape[1]] = box
    _text(row, why, box.shape[1] + 8)


@functools.lru_cache(maxsize=8)
def _legend(names: tuple[str, ...], cols: int, near_miss: float) -> np.ndarray:
    """The legend row (drawn once per class list and width, then copied)."""
    row = np.empty((LINE_H, cols, 3), np.uint8)
    row[:] = _BG
    x = 6
    scale = 0.42
    for name in names:
        (tw, _), _ = cv2.getTextSize(name, _FONT, scale, 1)
        if x + 14 + tw > cols:
            break
        cv2.rectangle(row, (x, 6), (x + 10, LINE_H - 7), class_colour(name), cv2.FILLED)
        cv2.putText(row, name, (x + 14, LINE_H - 7), _FONT, scale, _TEXT, 1, cv2.LINE_AA)
        x += 14 + tw + 12
    if near_miss > 0:
        note = f"dashed: near miss (< {near_miss:.2f} below)"
        (tw, _), _ = cv2.getTextSize(note, _FONT, scale, 1)
        if x + tw < cols:
            cv2.putText(row, note, (x, LINE_H - 7), _FONT, scale, _TEXT, 1, cv2.LINE_AA)
    row.flags.writeable = False
    return row
