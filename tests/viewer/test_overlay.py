"""The overlay PNG explains itself: verdict banner, details, legend, near misses, label order."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.detections import Detections
from backscatter.inference.flags import to_flags
from backscatter.scan import Scan
from backscatter.viewer.overlay import LINE_H, MIN_WIDTH, overlay_image
from backscatter.viewer.render import class_colour, render
from backscatter.viewer.state import ViewState

BOX = (100.0, 120.0, 220.0, 200.0)


def _scan(cols: int = 512) -> Scan:
    rng = np.random.default_rng(3)
    return Scan(rng.integers(9000, 11000, (300, cols), dtype=np.uint16), 16, "scan-7")


def _flags(score: float, cls: int = 3) -> Detections:
    return to_flags(Detections(boxes=[BOX], scores=[score], labels=[cls]))


def _edge_hits(image: np.ndarray, colour: tuple[int, int, int], top: int) -> float:
    """Share of the box's top edge (overlay rows offset by ``top``) painted ``colour``."""
    x0, y0, x1, _ = (int(v) for v in BOX)
    row = image[top + y0, x0:x1]
    return float(np.mean(np.all(row == colour, axis=1)))


@pytest.mark.parametrize("cols", [512, 120])
def test_alarm_banner_details_and_legend_frame_the_scan(cols: int) -> None:
    image = overlay_image(_scan(cols), _flags(0.7), threshold=0.42, model_id="m:1")
    width = max(cols, MIN_WIDTH)
    assert image.shape == (300 + 3 * LINE_H, width, 3)
    assert tuple(image[LINE_H // 2, 4]) == (0, 0, 200)  # red ALARM box, top left
    legend = image[-LINE_H:]
    for name in ("organic_package", "currency", "firearm", "blade", "liquid"):
        assert np.any(np.all(legend == class_colour(name), axis=2)), name


def test_clear_scan_shows_its_near_miss_dashed_and_a_far_miss_not_at_all() -> None:
    blade = class_colour("blade")
    near = overlay_image(_scan(), _flags(0.40), threshold=0.42, near_miss=0.1)
    assert tuple(near[LINE_H // 2, 4]) == (0, 130, 0)  # green CLEAR box
    share = _edge_hits(near, blade, 2 * LINE_H)
    assert 0.3 < share < 0.8  # dashes and gaps along the edge
    far = overlay_image(_scan(), _flags(0.25), threshold=0.42, near_miss=0.1)
    assert _edge_hits(far, blade, 2 * LINE_H) == 0.0
    solid = overlay_image(_scan(), _flags(0.50), threshold=0.42)
    assert _edge_hits(solid, blade, 2 * LINE_H) == 1.0


def test_the_higher_scoring_label_is_drawn_on_top_of_a_lower_one_on_the_same_box() -> None:
    # two separate flags on one box (e.g. an old results file): liquid 0.67 must stay readable
    dets = Detections(boxes=[BOX, BOX], scores=[0.67, 0.44], labels=[4, 1])
    image = render(_scan(), dets, ViewState(threshold=0.42))
    x0, y0 = int(BOX[0]), int(BOX[1])
    label_row = image[y0 - 3, x0 + 1 : x0 + 4]
    assert np.all(label_row == class_colour("liquid"))
