"""`make test` ends by saying what it skipped and why, in one line (tests/conftest.py)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

SKIPPING = """
import pytest

def test_window():
    pytest.skip("xdotool not installed")

def test_peer():
    pytest.skip("dcmtk's storescu not installed")

@pytest.mark.skipif(True, reason="needs onnxruntime-gpu and a GPU")
def test_gpu():
    pass

def test_runs():
    assert True
"""


def test_the_run_ends_with_one_line_of_what_was_skipped_and_why(tmp_path: Path) -> None:
    shutil.copy(HERE / "conftest.py", tmp_path / "conftest.py")
    (tmp_path / "test_some.py").write_text(SKIPPING)
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = res.stdout.strip().splitlines()
    assert res.returncode == 0, res.stdout
    summary = [line for line in lines if line.startswith("SKIP SUMMARY:")]
    assert summary == [lines[-2]]  # just before pytest's totals line
    assert summary[0] == (
        "SKIP SUMMARY: 3 skipped: 1 no X display tools (xvfb, xdotool, x11-apps, imagemagick), "
        "1 no dcmtk / dicom3tools, 1 no GPU (`make deps` installs the Debian packages)"
    )
