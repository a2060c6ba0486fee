"""Without a reachable display, `view`, `exercise run` and the demo say so in one line (exit 2;
the demo still writes its outputs) instead of Qt aborting the process (exit 134)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backscatter.viewer.display import display_problem

from .helpers import write_results_dir

ROOT = Path(__file__).resolve().parents[2]


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "backscatter", *args],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def no_display_env(display: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    if display is not None:
        env["DISPLAY"] = display
    return env


def test_display_problem_names_what_is_missing() -> None:
    assert "DISPLAY is not set" in display_problem({})
    assert "no X server is listening" in display_problem({"DISPLAY": ":97"})
    assert "not a display name" in display_problem({"DISPLAY": "nonsense"})
    assert display_problem({"QT_QPA_PLATFORM": "offscreen"}) == ""


@pytest.mark.parametrize("display", [None, ":97"])
def test_view_and_exercise_run_refuse_in_one_line(tmp_path: Path, display: str | None) -> None:
    write_results_dir(tmp_path / "res", 1)
    env = no_display_env(display)
    view = run_cli(["view", str(tmp_path / "res"), "--operator", "op"], env, tmp_path)
    assert view.returncode == 2, view.stderr
    lines = view.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("backscatter view: cannot open a window: ")
    assert "Qt" not in view.stderr and not (tmp_path / "res" / "audit.db").exists()
    ex = run_cli(["exercise", "run", str(tmp_path / "EX"), "--trainee", "t"], env, tmp_path)
    assert ex.returncode == 2, ex.stderr
    assert (
        ex.stderr.strip()
        .splitlines()[-1]
        .startswith("backscatter exercise: cannot open a window: ")
    )


def test_demo_writes_its_outputs_and_says_why_no_window_opened(tmp_path: Path) -> None:
    res = run_cli(["demo", "--out", "d", "--count", "1", "--show"], no_display_env(":97"), tmp_path)
    assert res.returncode == 0, res.stderr
    assert "no viewer window: $DISPLAY=:97: no X server is listening there" in res.stderr
    assert len((tmp_path / "d" / "results.jsonl").read_text().splitlines()) == 1
    assert "Qt" not in res.stderr
