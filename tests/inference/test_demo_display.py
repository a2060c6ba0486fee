"""`backscatter demo` with a display opens the viewer on its results (real Xvfb window)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from backscatter.inference.sinks import read_results

pytest.importorskip("backscatter.acquisition.sim", reason="simulated device not there yet")
pytest.importorskip("backscatter.viewer.window", reason="viewer window not there yet")
TOOLS = ("Xvfb", "xdotool")
pytestmark = pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}"
)


@pytest.fixture()
def display() -> Iterator[str]:
    n = next(
        n for n in range(120, 400)
        if not Path(f"/tmp/.X{n}-lock").exists() and not Path(f"/tmp/.X11-unix/X{n}").exists()
    )  # fmt: skip
    proc = subprocess.Popen(
        ["Xvfb", f":{n}", "-screen", "0", "1400x900x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sock = Path(f"/tmp/.X11-unix/X{n}")
    deadline = time.monotonic() + 10
    while not sock.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    if not sock.exists():
        proc.kill()
        pytest.skip("Xvfb did not start")
    try:
        yield f":{n}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_demo_with_display_shows_the_viewer_and_quits_on_q(
    tmp_path: Path, blob_model: Path, display: str
) -> None:
    env = {**os.environ, "DISPLAY": display, "BACKSCATTER_MODEL": str(blob_model)}
    out = tmp_path / "demo"
    proc = subprocess.Popen(
        [sys.executable, "-m", "backscatter", "demo", "--out", str(out), "--count", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    window = ""
    deadline = time.monotonic() + 120
    while not window and time.monotonic() < deadline and proc.poll() is None:
        res = subprocess.run(
            ["xdotool", "search", "--name", "backscatter view"],
            env=env, capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
        window = res.stdout.strip().splitlines()[0] if res.stdout.strip() else ""
        time.sleep(0.2)
    try:
        assert window, "the viewer window never appeared"
        assert len(read_results(out / "results.jsonl")) == 2  # results are written first
        time.sleep(1.0)
        subprocess.run(["xdotool", "key", "--window", window, "q"], env=env, timeout=20, check=True)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert "opening the viewer on the results" in err.decode()
    assert (out / "audit.db").is_file()
