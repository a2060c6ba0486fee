"""The shipped 2.x detector (robust input range) through the runtime: another device's gain and
offset do not change what it finds, whole or tiled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backscatter.inference.detector import Detector, TileOptions
from backscatter.synth.device import simulate_scan

MODEL = Path(__file__).resolve().parents[2] / "models" / "bsnet.onnx"
pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason="no 2.x model in models/")


@pytest.fixture(scope="module")
def robust() -> Detector:
    return Detector.load(MODEL, "cpu", threads=2, min_score=0.05)


def test_card_and_metadata_name_the_robust_range(robust: Detector) -> None:
    assert robust.spec.norm == "robust" and robust.card.version.startswith("2.")
    assert robust.card.raw.get("default") is False  # 1.2.0 stays the default until beaten


@pytest.mark.parametrize(("gain", "offset"), [(0.25, 0), (2.0, 0), (1.0, 6000)])
def test_gain_and_offset_leave_the_detections_unchanged(
    robust: Detector, gain: float, offset: int
) -> None:
    scan = simulate_scan(5, size=(512, 512))
    ref = robust(scan)
    assert len(ref) > 0
    # the same counts recorded by another device: 16-bit, float arithmetic, no saturation
    px = scan.pixels.astype(np.float64) * gain + offset
    assert px.max() < 65535
    other = robust(scan.with_pixels(np.rint(px).astype(np.uint16)))
    n = min(len(ref), len(other), 10)
    np.testing.assert_allclose(other.scores[:n], ref.scores[:n], atol=0.02)
    np.testing.assert_allclose(other.boxes[:n], ref.boxes[:n], atol=2.0)


def test_a_tiled_van_scan_is_normalised_as_a_whole(robust: Detector) -> None:
    """Tiles share the whole scan's range: the tiled run finds what the whole-scan run finds."""
    scan = simulate_scan(7, profile="van", size=(768, 1280))
    whole = Detector.load(MODEL, "cpu", threads=2, min_score=0.05, tile=TileOptions(mode="off"))
    a, b = robust(scan), whole(scan)
    assert a.extras["tiles"] > 1
    strong = b.above(0.3)
    for box in strong.boxes:
        iou = _iou(box, a.boxes)
        assert iou.size and iou.max() >= 0.5


def _iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    x0 = np.maximum(box[0], boxes[:, 0])
    y0 = np.maximum(box[1], boxes[:, 1])
    x1 = np.minimum(box[2], boxes[:, 2])
    y1 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    return inter / np.maximum(area + areas - inter, 1e-6)
