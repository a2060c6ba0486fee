"""`backscatter exercise run` in a real window under Xvfb, driven with xdotool: decisions,
marks and a time-limited scan land in the trainee's audit log, and score from there."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from viewer.test_view_e2e import (  # the viewer's Xvfb helpers (tests/ is on sys.path)
    TOOLS,
    display,  # noqa: F401 (a fixture)
    keys,
    rows_of,
    screenshot,
    start_viewer,
    wait_rows,
    xdo,
)

from backscatter.exercise.build import build_exercise
from backscatter.exercise.score import score_exercise
from backscatter.viewer.exercise import TIME_LIMIT_NOTE, TITLE
from backscatter.viewer.render import CLASS_COLOURS

from .helpers import make_clean

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    any(__import__("shutil").which(t) is None for t in TOOLS), reason=f"needs {TOOLS}"
)
LIMIT_S = 8.0


def _start(disp: str, args: list[str], tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    return start_viewer(
        disp,
        args,
        tmp,
        lambda shot: bool(shot[:550, :1024].std() > 5),
        command=("exercise", "run"),
        title=TITLE,
    )


@pytest.mark.timeout(150)
def test_trainee_takes_an_exercise(tmp_path: Path, display: str) -> None:  # noqa: F811
    make_clean(tmp_path / "clean", 4, seed=30)
    ex = tmp_path / "EX"
    build_exercise(tmp_path / "clean", ex, scans=4, threat_ratio=0.5, seed=2)
    db = ex / "audit" / "tr1.db"
    args = [str(ex), "--trainee", "tr1", "--time-limit", str(LIMIT_S), "--size", "1024x600"]
    proc, wid = _start(display, args, tmp_path)
    try:
        # scan 1: box mode, draw a box, then ALARM. On a busy machine a key or a drag is now
        # and then lost: retry (fit, box-mode toggle, drag) until the new mark's label, in the
        # colour of its class (organic_package, the first), shows on screen
        orange = np.array(CLASS_COLOURS["organic_package"])
        for attempt in range(4):
            keys(display, wid, "f", "b")
            xdo(display, "mousemove", "--window", wid, "300", "150", "mousedown", "1")
            xdo(display, "mousemove", "--window", wid, "350", "200")
            xdo(display, "mousemove", "--window", wid, "420", "260", "mouseup", "1")
            time.sleep(0.6)
            shot = screenshot(display, tmp_path / f"mark{attempt}.png")[:576, :1024]
            if np.all(np.abs(shot.astype(int) - orange) <= 2, axis=-1).sum() > 50:
                break
        keys(display, wid, "a")
        wait_rows(db, 1)
        time.sleep(0.6)
        keys(display, wid, "c")  # scan 2: CLEAR
        wait_rows(db, 2)
        shown = time.monotonic()
        rows = wait_rows(db, 3, timeout=LIMIT_S + 15)  # scan 3: nobody answers
        assert time.monotonic() - shown >= LIMIT_S - 1.0
        time.sleep(0.6)
        keys(display, wid, "i")  # scan 4: INSPECT
        wait_rows(db, 4)
        xdo(display, "key", "--window", wid, "q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    rows = rows_of(db)
    assert [r["decision"] for r in rows] == ["ALARM", "CLEAR", "CLEAR", "INSPECT"]
    assert all(r["operator"] == "tr1" for r in rows)
    assert all(r["machine_alarm"] == "NO MODEL" and r["machine_flags"] == "[]" for r in rows)
    assert TIME_LIMIT_NOTE in str(rows[2]["note"]) and not rows[1]["note"]
    marks = json.loads(str(rows[0]["marks"]))
    assert len(marks) >= 1 and marks[-1]["box"][2] - marks[-1]["box"][0] > 20
    assert all(str(r["source"]).startswith(str(ex / "scans")) for r in rows)
    assert (ex / "audit" / "tr1_tdr").is_dir()
    result = score_exercise(ex, "tr1")
    timed_out = result.per_scan[2]
    assert timed_out["decision"] == "CLEAR" and timed_out["seconds"] >= LIMIT_S - 0.5
    assert result.unanswered == 0 and result.n_threat == 2 and result.n_clean == 2
