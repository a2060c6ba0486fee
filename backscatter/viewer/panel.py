"""The viewer's side panel: the current scan's flags and the review queue, as text rows.

Pure drawing on a ``(rows, cols, 3)`` BGR view, like :mod:`backscatter.viewer.render`; it
returns the rows it drew as hit regions so the window can map a click to a flag or a scan.
The selected flag (``ViewState.selected``) is highlighted here as in the image.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from backscatter.detections import Detections
from backscatter.viewer.render import class_colour, visible_flags
from backscatter.viewer.state import Mark, short_id

#: panel width in pixels (the window shows no panel when narrower than MIN_WINDOW_COLS)
PANEL_W = 300
MIN_WINDOW_COLS = 760
ROW_H = 20
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_BG = (40, 36, 32)
_TEXT = (225, 225, 225)
_DIM = (150, 150, 150)
_HEAD = (80, 220, 255)
_SELECTED_BG = (235, 235, 235)
_VERDICT = {True: "CONFIRMED", False: "REJECTED"}


@dataclass(frozen=True)
class Hit:
    """A clickable row: ``kind`` "flag" (``index`` = position among the shown objects, as
    ``ViewState.selected`` counts) or "scan" (``index`` = queue position); ``y0..y1`` rows."""

    kind: str
    index: int
    y0: int
    y1: int


@dataclass(frozen=True)
class QueueRow:
    """One scan of the queue as the panel lists it."""

    label: str
    machine: str
    decision: str


def draw_panel(
    panel: np.ndarray,
    *,
    detections: Detections | None,
    threshold: float,
    selected: int | None,
    verdicts: Mapping[int, bool],
    marks: Sequence[Mark],
    queue: Sequence[QueueRow],
    current: int,
) -> list[Hit]:
    """Fill ``panel`` in place: FLAGS (class, score, alternatives, verdict; marks after them),
    then QUEUE (scan, machine alarm, decision) around the current scan. Returns the hit rows."""
    panel[:] = _BG
    rows, cols = panel.shape[:2]
    hits: list[Hit] = []
    y = 4
    flags = visible_flags(detections, threshold)
    y = _heading(panel, y, f"FLAGS  {len(flags)} at >= {threshold:.2f}")
    if not flags and not marks:
        y = _line(panel, y, "  none: the machine saw nothing", _DIM)
    for k, i in enumerate(flags):
        assert detections is not None
        name = detections.class_names[int(detections.labels[i])]
        text = f"{k + 1}. {name} {detections.scores[i]:.2f}"
        verdict = _VERDICT.get(verdicts[i]) if i in verdicts else None
        alt = detections.alternatives(i)
        lines = [text + (f"  {verdict}" if verdict else "")]
        if alt:
            lines.append("   also " + ", ".join(f"{n} {s:.2f}" for n, s in list(alt.items())[:2]))
        y0 = y
        if y + ROW_H * len(lines) > rows * 0.55:
            y = _line(panel, y, f"  ... {len(flags) - k} more", _DIM)
            break
        sel = selected == k
        if sel:
            panel[y : y + ROW_H * len(lines), 2 : cols - 2] = _SELECTED_BG
        ink = (20, 20, 20) if sel else _TEXT
        cv2.rectangle(panel, (6, y + 5), (14, y + ROW_H - 6), class_colour(name), cv2.FILLED)
        y = _line(panel, y, lines[0], ink, x=20)
        for extra in lines[1:]:
            y = _line(panel, y, extra, (70, 70, 70) if sel else _DIM, x=20)
        hits.append(Hit("flag", k, y0, y))
    for m, mark in enumerate(marks):
        k = len(flags) + m
        y0 = y
        if selected == k:
            panel[y : y + ROW_H, 2 : cols - 2] = _SELECTED_BG
        ink = (20, 20, 20) if selected == k else _TEXT
        cv2.rectangle(panel, (6, y + 5), (14, y + ROW_H - 6), class_colour(mark.class_name), -1)
        y = _line(panel, y, f"+ {mark.class_name} (your box)", ink, x=20)
        hits.append(Hit("flag", k, y0, y))
    y += ROW_H // 2
    decided = sum(1 for q in queue if q.decision)
    y = _heading(panel, y, f"QUEUE  {current + 1}/{len(queue)}, {decided} decided")
    room = max(1, (rows - y - 4) // ROW_H)
    start = min(max(0, current - room // 2), max(0, len(queue) - room))
    for n in range(start, min(len(queue), start + room)):
        q = queue[n]
        y0 = y
        if n == current:
            panel[y : y + ROW_H, 2 : cols - 2] = (90, 70, 50)
        pointer = ">" if n == current else " "
        state = q.decision or "-"
        text = f"{pointer}{n + 1:3d} {short_id(q.label, 16)}  {q.machine or '?'}  {state}"
        y = _line(panel, y, text, _TEXT if q.decision or n == current else _DIM)
        hits.append(Hit("scan", n, y0, y))
    return hits


def hit_at(hits: Sequence[Hit], v: int) -> Hit | None:
    for h in hits:
        if h.y0 <= v < h.y1:
            return h
    return None


def _heading(panel: np.ndarray, y: int, text: str) -> int:
    return _line(panel, y, text, _HEAD, x=6)


def _line(panel: np.ndarray, y: int, text: str, colour: tuple[int, int, int], *, x: int = 6) -> int:
    if y + ROW_H > panel.shape[0]:
        return y
    room = panel.shape[1] - x - 4
    scale = 0.45
    width = cv2.getTextSize(text, _FONT, scale, 1)[0][0]
    if width > room:
        text = text[: max(4, int(len(text) * room / width) - 1)] + "~"
    cv2.putText(panel, text, (x, y + ROW_H - 6), _FONT, scale, colour, 1, cv2.LINE_AA)
    return y + ROW_H
