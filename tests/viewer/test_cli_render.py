"""`backscatter render`: a scan and its results record to a PNG, headless."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.cli.main import main
from backscatter.viewer.render import CLASS_COLOURS, STATUS_H

from .helpers import OBJECT_BOX, write_results_dir


def test_render_draws_the_record_of_the_scan(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scans = write_results_dir(tmp_path / "res", 2)
    out = tmp_path / "out" / "a.png"
    rc = main(["render", str(scans[1]), "--results", str(tmp_path / "res"), "--out", str(out)])
    assert rc == 0
    assert "2 flags drawn" in capsys.readouterr().out
    image = cv2.imread(str(out))
    assert image.shape == (512, 1024, 3)
    x0, y0, _x1, y1 = OBJECT_BOX
    assert tuple(image[(y0 + y1) // 2, x0]) == CLASS_COLOURS["firearm"]
    assert tuple(image[350, 700]) == CLASS_COLOURS["currency"]


def test_render_options_threshold_negative_status(tmp_path: Path) -> None:
    scans = write_results_dir(tmp_path / "res", 1)
    out = tmp_path / "b.png"
    args = ["render", str(scans[0]), "--results", str(tmp_path / "res" / "results.jsonl")]
    assert main([*args, "--out", str(out), "--threshold", "0.6", "--status"]) == 0
    image = cv2.imread(str(out))
    assert image.shape == (512 + STATUS_H, 1024, 3)
    assert tuple(image[350, 700]) != CLASS_COLOURS["currency"]  # 0.55 < 0.6: not drawn
    plain = tmp_path / "p.png"
    neg = tmp_path / "n.png"
    window = ["--window", "20000", "30000", "--no-overlays"]
    assert main(["render", str(scans[0]), "--out", str(plain), *window]) == 0
    assert main(["render", str(scans[0]), "--out", str(neg), *window, "--negative"]) == 0
    a, b = cv2.imread(str(plain)).astype(int), cv2.imread(str(neg)).astype(int)
    assert np.array_equal(b, 255 - a)


def test_render_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    scans = write_results_dir(tmp_path / "res", 1)
    other = write_results_dir(tmp_path / "other", 1, seed=9)
    out = str(tmp_path / "c.png")
    assert main(["render", str(other[0]), "--results", str(tmp_path / "res"), "--out", out]) == 1
    assert "no record for" in capsys.readouterr().err
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    assert main(["render", str(bad), "--out", out]) == 2
    err = capsys.readouterr().err
    assert "bad.png" in err and len(err.strip().splitlines()) == 1
    assert not Path(out).exists() and scans
