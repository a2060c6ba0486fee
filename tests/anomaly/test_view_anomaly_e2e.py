"""`backscatter view --anomaly` in a real highgui window under Xvfb: the k key blends the map.

Uses the viewer suite's Xvfb harness; skips where Xvfb, xdotool, xwd or convert are missing.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from viewer.test_view_e2e import (  # noqa: F401  (display is a fixture; tests/ is on sys.path)
    TOOLS,
    audit_key,
    display,
    keys,
    screenshot,
    start_viewer,
)

pytestmark = pytest.mark.skipif(
    any(__import__("shutil").which(t) is None for t in TOOLS), reason=f"needs {', '.join(TOOLS)}"
)


@pytest.mark.timeout(120)
def test_heat_key_in_a_real_window(tiny_model: Path, tmp_path: Path, display: str) -> None:  # noqa: F811
    rng = np.random.default_rng(5)
    px = rng.normal(15000, 300, (256, 384)).clip(0, 65535).astype(np.uint16)
    px[80:180, 120:280] = 60000  # a slab nothing in the clean scans looks like
    cv2.imwrite(str(tmp_path / "scan.png"), px)
    args = [str(tmp_path / "scan.png"), "--operator", "op-k", "--audit", str(tmp_path / "a.db"),
            "--no-detect", "--anomaly", str(tiny_model), "--size", "768x560",
            "--audit-key", str(audit_key(tmp_path))]  # fmt: skip

    def shown(shot: np.ndarray) -> bool:
        return bool(shot[:512, :768].std() > 5)

    proc, wid = start_viewer(display, args, tmp_path, shown)
    try:
        time.sleep(0.5)
        with_heat = screenshot(display, tmp_path / "on.png")[:512, :768].astype(int)
        keys(display, wid, "k")
        time.sleep(0.5)
        without = screenshot(display, tmp_path / "off.png")[:512, :768].astype(int)
        diff = np.abs(with_heat - without).sum(axis=-1) > 30
        assert diff.sum() > 500  # the blend went away
        # ...and it was on the slab (scan centre area), not on the empty background corners
        ys, xs = np.nonzero(diff)
        assert 100 < np.median(xs) < 668 and 60 < np.median(ys) < 450
        keys(display, wid, "k")
        time.sleep(0.5)
        again = screenshot(display, tmp_path / "again.png")[:512, :768].astype(int)
        assert (np.abs(again - with_heat).sum(axis=-1) > 30).sum() < diff.sum() / 10
        keys(display, wid, "q")
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
