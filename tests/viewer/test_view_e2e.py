"""End to end: `backscatter view` in a real highgui window under Xvfb, driven with xdotool.

Starts its own Xvfb on a free display number; skips when Xvfb, xdotool, xwd or ImageMagick's
convert are missing.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.dicos.tdr import read_tdr
from backscatter.viewer.render import CLASS_COLOURS, SELECTED_COLOUR

from .helpers import OBJECT_BOX, write_results_dir

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("Xvfb", "xdotool", "xwd", "convert")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}"
)
TITLE = "backscatter view"
#: where a 1024 x 512 scan lands in a 1280 x 760 window (980 x 736 left of the side panel)
SCALE = 980 / 1024
TOP = 368 - 256 * SCALE


def _free_display() -> int:
    for n in range(91, 300):
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists():
            return n
    raise RuntimeError("no free X display number")


@pytest.fixture()
def display() -> Iterator[str]:
    n = _free_display()
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = {**os.environ, "DISPLAY": f":{n}"}
    deadline = time.monotonic() + 15
    while proc.poll() is None and time.monotonic() < deadline:
        probe = ["xdotool", "getdisplaygeometry"]
        if subprocess.run(probe, env=env, capture_output=True, check=False).returncode == 0:
            break  # the server answers
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.skip("Xvfb did not start")
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def audit_key(tmp: Path) -> Path:
    """A fresh signing key for the viewer's audit log (``backscatter audit keygen``)."""
    from backscatter.audit import keygen

    return keygen(tmp / "keys" / "audit.key")[0]


def keys(disp: str, wid: str, *names: str) -> None:
    """Type keys one at a time. The Qt highgui backend keeps only the last key pressed between
    two waitKeyEx calls, so keys are spaced further apart than a person types them."""
    xdo(disp, "key", "--window", wid, "--delay", "250", *names)
    time.sleep(0.3)


def xdo(disp: str, *args: str) -> str:
    env = {**os.environ, "DISPLAY": disp}
    res = subprocess.run(
        ["xdotool", *args], env=env, capture_output=True, text=True, timeout=20, check=False
    )
    return res.stdout.strip()


def screenshot(disp: str, path: Path) -> np.ndarray:
    xwd = subprocess.run(
        ["xwd", "-root", "-silent", "-display", disp], capture_output=True, timeout=20, check=True
    )
    subprocess.run(["convert", "xwd:-", str(path)], input=xwd.stdout, timeout=20, check=True)
    image = cv2.imread(str(path))
    assert image is not None
    return image


def rows_of(db: Path) -> list[dict[str, object]]:
    if not db.exists():
        return []
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM audit ORDER BY seq")]
    except sqlite3.OperationalError:
        return []
    finally:
        con.close()


def wait_rows(db: Path, n: int, timeout: float = 15.0) -> list[dict[str, object]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = rows_of(db)
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"expected {n} audit rows, got {len(rows_of(db))}")


def colour_mask(image: np.ndarray, bgr: tuple[int, int, int]) -> np.ndarray:
    return np.all(np.abs(image.astype(int) - bgr) <= 2, axis=-1)


@pytest.mark.timeout(120)
def test_review_in_a_real_window(tmp_path: Path, display: str) -> None:
    write_results_dir(tmp_path / "res", 3)
    db = tmp_path / "audit.db"
    args = [str(tmp_path / "res"), "--operator", "e2e-officer", "--audit", str(db)]
    args += ["--audit-key", str(audit_key(tmp_path))]

    def firearm_shown(shot: np.ndarray) -> bool:
        return bool(colour_mask(shot, CLASS_COLOURS["firearm"]).any())

    proc, wid = start_viewer(display, [*args, "--size", "1280x760"], tmp_path, firearm_shown)
    try:
        # scan 1: confirm the firearm flag, draw a missed blade with the mouse, decide ALARM
        keys(display, wid, "Tab", "y", "b")
        xdo(display, "mousemove", "--window", wid, "100", "400", "mousedown", "1")
        xdo(display, "mousemove", "--window", wid, "150", "450")
        xdo(display, "mousemove", "--window", wid, "200", "500", "mouseup", "1")
        time.sleep(0.3)
        keys(display, wid, "4")
        time.sleep(0.8)
        shot = screenshot(display, tmp_path / "flagged.png")[:760, :1280]
        # the scan is there (noisy grey texture) and so are the overlays
        assert shot[100:300, 700:1000].std() > 5
        firearm = colour_mask(shot, CLASS_COLOURS["firearm"])
        blade = colour_mask(shot, CLASS_COLOURS["blade"])
        assert firearm.sum() > 200 and blade.sum() > 100
        # fit: 1024 x 512 into the 980 x 736 left of the side panel -> scale 980 / 1024, scan
        # row 0 at output row 368 - 256 * scale
        x0, y0 = OBJECT_BOX[0] * SCALE, OBJECT_BOX[1] * SCALE + TOP
        assert firearm[int(y0) + 60, int(x0)]  # the firearm box's left edge
        assert colour_mask(shot, SELECTED_COLOUR)[448, 98]  # the new mark is selected
        keys(display, wid, "a")
        rows = wait_rows(db, 1)
        # scan 2: image tools, then CLEAR; scan 3: INSPECT
        keys(display, wid, "v", "l", "e", "m", "bracketright", "r")
        xdo(display, "mousemove", "--window", wid, "600", "300", "mousedown", "3")
        xdo(display, "mousemove", "--window", wid, "700", "300", "mouseup", "3")
        keys(display, wid, "c")
        wait_rows(db, 2)
        time.sleep(0.6)  # decisions on a scan shown for under 0.4 s are refused
        keys(display, wid, "i")
        rows = wait_rows(db, 3)
        # killing the viewer loses nothing already decided
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)

    rows = rows_of(db)
    assert [r["decision"] for r in rows] == ["ALARM", "CLEAR", "INSPECT"]
    assert all(r["operator"] == "e2e-officer" for r in rows)
    assert json.loads(str(rows[0]["verdicts"])) == {"0": "CONFIRMED"}
    marks = json.loads(str(rows[0]["marks"]))
    assert [m["class_name"] for m in marks] == ["blade"]
    bx0, by0, bx1, by1 = marks[0]["box"]  # (100, 400)-(200, 500) on screen
    assert abs(bx0 - 100.5 / SCALE) < 1.5 and abs(by0 - (400.5 - TOP) / SCALE) < 1.5
    assert abs(bx1 - 200.5 / SCALE) < 1.5 and abs(by1 - (500.5 - TOP) / SCALE) < 1.5
    tdr = read_tdr(str(rows[0]["tdr_path"]))
    assert tdr.tdr_type == "OPERATOR" and tdr.operator_id == "e2e-officer"
    assert "blade" in tdr.detections.label_names
    verify = subprocess.run(
        [sys.executable, "-m", "backscatter", "audit", "verify", str(db)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stderr
    assert "OK, 3 rows" in verify.stdout


def start_viewer(
    disp: str,
    args: list[str],
    tmp: Path,
    painted: Callable[[np.ndarray], bool],
    *,
    command: tuple[str, ...] = ("view",),
    title: str = TITLE,
) -> tuple[subprocess.Popen[bytes], str]:
    """Start `backscatter COMMAND ARGS` (default `view`) and wait until its window ``title``
    shows ``painted`` content.

    Keys reach the window only once it is mapped and painted. On a busy machine the Qt backend
    now and then maps a window under Xvfb that it never paints; such a start is retried.
    """
    env = {**os.environ, "DISPLAY": disp}
    for attempt in range(3):
        log = tmp / f"view{attempt}.log"
        with log.open("w") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "backscatter", *command, *args],
                cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            wid = xdo(disp, "search", "--name", title).split("\n")[0]
            if wid and painted(screenshot(disp, tmp / "first.png")):
                return proc, wid
            time.sleep(0.3)
        proc.kill()
        proc.wait(timeout=10)
    raise AssertionError(f"the {' '.join(command)} window was never painted (3 starts)")


@pytest.mark.timeout(120)
def test_live_source_shows_lines_as_they_arrive(tmp_path: Path, display: str) -> None:
    pytest.importorskip("backscatter.acquisition.sim")
    db = tmp_path / "audit.db"
    uri = "sim://handheld?seed=5&count=1&size=384x768&line_rate=60"  # ~6 s per scan
    args = [uri, "--operator", "live-op", "--audit", str(db), "--size", "1024x600", "--no-detect"]
    args += ["--audit-key", str(audit_key(tmp_path))]
    proc, wid = start_viewer(display, args, tmp_path, lambda shot: bool(shot[:600, :1024].any()))
    try:
        deadline = time.monotonic() + 30
        while screenshot(display, tmp_path / "partial.png")[115:150, 60:660].std() < 5:
            assert time.monotonic() < deadline, "no lines were ever painted"
            time.sleep(0.3)
        part = screenshot(display, tmp_path / "partial.png")[:576, :1024]
        # fit: 768 x 384 into the 724 x 576 left of the side panel -> scale 724 / 768, scan
        # rows 0..383 at screen rows 107..468
        top, bottom = part[115:150, 60:660], part[425:462, 60:660]
        assert top.std() > 5  # the first lines are drawn...
        assert bottom.max() < 30  # ...the last have not arrived yet
        deadline = time.monotonic() + 30
        while screenshot(display, tmp_path / "full.png")[425:462, 60:660].std() < 5:
            assert time.monotonic() < deadline, "the scan never completed on screen"
            time.sleep(0.3)
        rows: list[dict[str, object]] = []
        while not rows and time.monotonic() < deadline:
            xdo(display, "key", "--window", wid, "c")  # ignored while lines still arrive
            end = time.monotonic() + 3
            while not rows and time.monotonic() < end:
                time.sleep(0.1)
                rows = rows_of(db)
        full = screenshot(display, tmp_path / "full.png")[:576, :1024]
        assert full[425:462, 60:660].std() > 5
        xdo(display, "key", "--window", wid, "q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    rows = rows_of(db)
    assert len(rows) >= 1 and {r["scan_id"] for r in rows} == {rows[0]["scan_id"]}
    assert rows[0]["decision"] == "CLEAR"
    assert rows[0]["operator"] == "live-op" and rows[0]["machine_alarm"] == "NO MODEL"
    assert str(rows[0]["source"]).startswith("sim://handheld")


def red_status_at(shot: np.ndarray, row: int) -> bool:
    """The status bar's red ALARM box covers ``row`` at the left edge."""
    return bool(colour_mask(shot[row : row + 1, 2:6], (0, 0, 200)).all())


@pytest.mark.timeout(120)
def test_window_fills_and_follows_its_size_with_flags_and_queue_beside(
    tmp_path: Path, display: str
) -> None:
    from backscatter.viewer.panel import PANEL_W

    write_results_dir(tmp_path / "res", 3)
    args = [str(tmp_path / "res"), "--operator", "op", "--size", "1280x760"]
    args += ["--audit-key", str(audit_key(tmp_path))]
    proc, wid = start_viewer(display, args, tmp_path, lambda shot: red_status_at(shot, 748))
    try:
        shot = screenshot(display, tmp_path / "full.png")
        assert red_status_at(shot, 748) and not red_status_at(shot, 700)  # bar at the bottom
        panel = shot[:736, 1280 - PANEL_W : 1280]
        assert colour_mask(panel, (80, 220, 255)).sum() > 100  # FLAGS / QUEUE headings
        assert not colour_mask(panel, (235, 235, 235)).any()  # nothing selected yet
        keys(display, wid, "Tab")
        time.sleep(0.5)
        shot = screenshot(display, tmp_path / "selected.png")
        # the selected flag is highlighted in the panel and ringed in the image
        assert colour_mask(shot[:736, 1280 - PANEL_W : 1280], (235, 235, 235)).sum() > 2000
        x0 = int(OBJECT_BOX[0] * SCALE)
        y_mid = int((OBJECT_BOX[1] + OBJECT_BOX[3]) / 2 * SCALE + TOP)
        assert colour_mask(shot[y_mid - 5 : y_mid + 5, x0 - 4 : x0], SELECTED_COLOUR).any()
        xdo(display, "windowsize", wid, "1000", "600")
        deadline = time.monotonic() + 10
        while not red_status_at(screenshot(display, tmp_path / "small.png"), 588):
            assert time.monotonic() < deadline, "the frame did not follow the window size"
            time.sleep(0.3)
        small = screenshot(display, tmp_path / "small.png")
        assert not red_status_at(small, 748)
        # the scan is redrawn into the smaller image area: 1024 x 512 into 700 x 576
        assert small[150:450, 100:600].std() > 5
        xdo(display, "key", "--window", wid, "q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.mark.timeout(120)
def test_a_simulated_device_keeps_sending_scans_until_the_officer_quits(
    tmp_path: Path, display: str
) -> None:
    pytest.importorskip("backscatter.acquisition.sim")
    db = tmp_path / "audit.db"
    uri = "sim://handheld?seed=7&size=128x256&line_rate=2000"  # no count: a live device
    args = [uri, "--operator", "live-op", "--audit", str(db), "--size", "1024x600", "--no-detect"]
    args += ["--audit-key", str(audit_key(tmp_path))]
    proc, wid = start_viewer(display, args, tmp_path, lambda shot: bool(shot[:576].std() > 5))
    try:
        for n in range(1, 4):  # decide three scans: each decision waits for the next scan
            deadline = time.monotonic() + 20
            while len(rows_of(db)) < n:
                assert time.monotonic() < deadline, f"scan {n} never arrived"
                xdo(display, "key", "--window", wid, "c")
                time.sleep(0.8)
        xdo(display, "key", "--window", wid, "q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    rows = rows_of(db)
    assert len({r["scan_id"] for r in rows}) == len(rows) >= 3
