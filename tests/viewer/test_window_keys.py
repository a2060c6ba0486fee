"""The window's key handling, driven headlessly through Viewer.on_key (no display needed)."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from backscatter.audit import AuditLog, read_rows, verify
from backscatter.viewer.render import CLASS_COLOURS
from backscatter.viewer.review import ReviewSession, expand_sources
from backscatter.viewer.window import Viewer

from .helpers import write_results_dir

TAB, PGDN, PGUP, END = 9, 0xFF56, 0xFF55, 0xFF57


def viewer_for(tmp_path: Path, n: int) -> Viewer:
    write_results_dir(tmp_path / "res", n)
    items, _ = expand_sources([str(tmp_path / "res")])
    session = ReviewSession(
        items, operator="op9", audit=AuditLog(tmp_path / "a.db"), tdr_dir=tmp_path / "tdr"
    )
    v = Viewer(session, size=(400, 700))
    v.min_view_s = 0.0  # these tests press keys faster than anyone can look
    session.go(0)
    return v


def test_fifty_scans_reviewed_with_the_keyboard_alone(tmp_path: Path) -> None:
    v = viewer_for(tmp_path, 50)
    decisions = "caicai" * 9 + "ca"  # 50 decisions, mixed
    for n, key in enumerate(decisions[:50]):
        assert v.session.index == n
        if n % 5 == 0:  # confirm the top flag, reject the second
            for code in (TAB, ord("y"), TAB, ord("x")):
                assert v.on_key(code)
        assert v.on_key(ord(key))
    assert v.session.decided == 50
    rows = list(read_rows(tmp_path / "a.db"))
    assert len(rows) == 50
    expected = {"c": "CLEAR", "a": "ALARM", "i": "INSPECT"}
    assert [r["decision"] for r in rows] == [expected[k] for k in decisions[:50]]
    assert json.loads(rows[5]["verdicts"]) == {"0": "CONFIRMED", "1": "REJECTED"}
    assert rows[1]["verdicts"] == "{}"
    assert len(list((tmp_path / "tdr").glob("*_operator_*.dcm"))) == 50
    assert verify(tmp_path / "a.db").ok
    assert "all 50 scans decided" in v.message
    assert v.on_key(ord("q")) is False
    v.session.close()


def test_navigation_and_image_keys_change_the_frame(tmp_path: Path) -> None:
    v = viewer_for(tmp_path, 3)
    first = v.frame()
    assert first.shape == (400, 700, 3)
    assert np.any(np.all(first == CLASS_COLOURS["firearm"], axis=-1))
    v.on_key(PGDN)
    assert v.session.index == 1
    v.on_key(END)
    assert v.session.index == 2
    v.on_key(PGUP)
    assert v.session.index == 1
    base = v.frame()
    v.on_key(ord("v"))
    assert v.state.negative and not np.array_equal(v.frame(), base)
    v.on_key(ord("r"))
    assert not v.state.negative
    v.on_key(ord("o"))
    assert not np.any(np.all(v.frame() == CLASS_COLOURS["firearm"], axis=-1))
    v.on_key(ord("o"))
    v.on_key(ord("+"))
    assert v.state.zoom is not None and v.state.zoom > 0.6
    v.on_key(ord("f"))
    assert v.state.zoom is None
    v.on_key(ord("]"))
    assert v.state.window is not None
    w = v.state.window[1]
    v.on_key(ord("["))
    assert v.state.window[1] < w
    v.on_key(ord("0"))
    assert v.state.threshold == 0.55
    v.on_key(ord("0"))
    v.on_key(TAB)
    v.on_key(TAB)
    assert v.state.selected == 0  # only the 0.91 flag is left at 0.60
    v.on_key(ord("h"))
    assert v.state.show_help
    assert v.on_key(27) and not v.state.show_help  # Esc closes the help first
    v.session.close()


def test_mouse_drag_adds_a_mark_and_digits_set_its_class(tmp_path: Path) -> None:
    v = viewer_for(tmp_path, 1)
    v.on_key(ord("b"))
    # fit scale: 1024 x 512 into 700 x 376 -> 700/1024; drag 70..140 px -> ~102..205 scan px
    v._on_mouse(cv2.EVENT_LBUTTONDOWN, 70, 100, 0, None)
    v._on_mouse(cv2.EVENT_MOUSEMOVE, 100, 150, 0, None)
    v._on_mouse(cv2.EVENT_LBUTTONUP, 140, 200, 0, None)
    item = v.session.current
    assert item is not None and len(item.marks) == 1
    x0, y0, x1, y1 = item.marks[0].box
    s = 700 / 1024
    assert abs(x0 - 70.5 / s) < 1 and abs(x1 - 140.5 / s) < 1
    assert item.marks[0].class_name == "organic_package"
    v.on_key(ord("4"))
    assert item.marks[0].class_name == "blade"
    assert np.any(np.all(v.frame() == CLASS_COLOURS["blade"], axis=-1))
    v.on_key(0xFFFF)  # Delete
    assert item.marks == []
    # right-drag changes the window; the wheel zooms about the cursor
    v._on_mouse(cv2.EVENT_RBUTTONDOWN, 300, 200, 0, None)
    v._on_mouse(cv2.EVENT_RBUTTONUP, 400, 200, 0, None)
    assert v.state.window is not None
    v._on_mouse(cv2.EVENT_MOUSEWHEEL, 350, 188, 120 << 16, None)
    assert v.state.zoom is not None and v.state.zoom > s
    v.session.close()


def test_a_decision_typed_ahead_does_not_decide_an_unseen_scan(tmp_path: Path) -> None:
    v = viewer_for(tmp_path, 3)
    v.min_view_s = 60.0
    v._show(0)
    v.on_key(ord("c"))  # the scan has only just been shown
    assert v.session.decided == 0 and "ignored" in v.message
    v._shown_at -= 61.0
    v.on_key(ord("c"))
    assert v.session.decided == 1 and v.session.index == 1
    v.on_key(ord("c"))  # scan 2 appeared just now
    assert v.session.decided == 1
    v.session.close()


def test_left_drag_pans_and_arrow_keys_pan(tmp_path: Path) -> None:
    v = viewer_for(tmp_path, 1)
    v.on_key(ord("z"))  # 1:1, centred on the scan centre (512, 256)
    assert v.state.zoom == 1.0
    cx, cy = v.state.pan or (0.0, 0.0)
    assert abs(cx - 512) < 1 and abs(cy - 256) < 1
    v._on_mouse(cv2.EVENT_LBUTTONDOWN, 300, 200, 0, None)
    v._on_mouse(cv2.EVENT_MOUSEMOVE, 250, 180, 0, None)
    v._on_mouse(cv2.EVENT_LBUTTONUP, 200, 150, 0, None)
    assert v.state.pan is not None  # dragging the image left/up moves the view right/down
    assert abs(v.state.pan[0] - (cx + 100)) < 1 and abs(v.state.pan[1] - (cy + 50)) < 1
    item = v.session.current
    assert item is not None and item.marks == []  # no box outside box mode
    before = v.state.pan
    v.on_key(0xFF53)  # Right arrow
    assert v.state.pan[0] > before[0] and v.state.pan[1] == before[1]
    v.session.close()
