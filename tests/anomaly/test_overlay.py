"""The heat-map blend and region outlines, and the viewer's heat-map key over an anomaly model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.inference.anomaly import AnomalyModel
from backscatter.inference.anomaly_flags import WithAnomaly
from backscatter.viewer.anomaly_overlay import REGION_BGR, blend_heatmap, draw_regions


def test_cold_map_leaves_the_image_and_hot_map_tints_it() -> None:
    gray = np.tile(np.arange(64, dtype=np.uint8) * 4, (48, 1))
    amap = np.zeros((48, 64), np.float32)
    assert np.array_equal(blend_heatmap(gray, amap), cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
    amap[10:20, 30:50] = 5.0
    out = blend_heatmap(gray, amap)
    changed = np.any(out != cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), axis=-1)
    assert changed[10:20, 30:50].all() and not changed[30:, :].any()
    assert gray.shape == (48, 64)  # input untouched, new array returned


def test_a_quarter_resolution_map_is_resized() -> None:
    img = np.full((40, 80, 3), 100, np.uint8)
    amap = np.zeros((10, 20), np.float32)
    amap[:, 10:] = 4.0
    out = blend_heatmap(img, amap)
    assert out.shape == (40, 80, 3)
    assert np.array_equal(out[:, :30], img[:, :30]) and not np.array_equal(out[:, 50:], img[:, 50:])


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.float32), np.zeros((4, 4, 2), np.uint8)])
def test_blend_refuses_non_display_images(bad: np.ndarray) -> None:
    with pytest.raises(ValueError, match="expected"):
        blend_heatmap(bad, np.zeros((4, 4), np.float32))


def test_regions_are_outlined_in_magenta() -> None:
    out = draw_regions(np.zeros((60, 80), np.uint8), np.array([[10, 10, 50, 40]]), labels=["x"])
    hit = np.all(out == REGION_BGR, axis=-1)
    assert hit[10, 10:18].all() and hit[10:18, 10].all()  # first dash of top and left edges
    assert not hit[25, 30]


def test_heat_key_toggles_the_anomaly_blend(tiny_model: Path, tmp_path: Path) -> None:
    from backscatter.audit import AuditLog
    from backscatter.viewer.review import ReviewSession, expand_sources
    from backscatter.viewer.window import Viewer

    rng = np.random.default_rng(5)
    px = rng.normal(15000, 300, (128, 192)).clip(0, 65535).astype(np.uint16)
    px[40:90, 60:140] = 60000  # a slab nothing in the clean scans looks like
    cv2.imwrite(str(tmp_path / "scan.png"), px)
    items, _ = expand_sources([str(tmp_path / "scan.png")])
    model = AnomalyModel.load(tiny_model, threads=1)
    session = ReviewSession(items, operator="op1", audit=AuditLog(tmp_path / "a.db"),
                            tdr_dir=None, detector=WithAnomaly(None, model))  # fmt: skip
    viewer = Viewer(session, size=(300, 500))
    session.go(0)
    item = session.current
    assert item is not None and item.heatmap is not None and float(item.heatmap.max()) > 0.2
    with_heat = viewer.frame()
    assert viewer.on_key(ord("k")) and not viewer.state.heatmap
    without = viewer.frame()
    assert not np.array_equal(with_heat, without)
    viewer.on_key(ord("k"))
    assert np.array_equal(viewer.frame(), with_heat)
    session.close()
