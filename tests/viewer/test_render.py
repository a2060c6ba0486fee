"""Renderer pixels: box colour at the box edge, negative, window/level, zoom, status, help."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.viewer.render import (
    CLASS_COLOURS,
    REJECTED_COLOUR,
    SELECTED_COLOUR,
    STATUS_H,
    render,
    view_transform,
    visible_flags,
)
from backscatter.viewer.state import Mark, StatusInfo, ViewState

from .helpers import OBJECT_BOX, make_dets, make_scan


def ramp_scan() -> Scan:
    """256 x 512 uint16 scan whose value at column x is 100 * x (row-independent)."""
    px = np.tile((np.arange(512, dtype=np.uint16) * 100)[None, :], (256, 1))
    return Scan(px, 16, "ramp")


def test_default_render_is_the_scan_at_one_to_one() -> None:
    scan = ramp_scan()
    out = render(scan, state=ViewState(window=(25600.0, 51200.0)))
    assert out.shape == (256, 512, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], out[..., 2])  # grey
    assert out[10, 0, 0] == 0 and out[10, 511, 0] >= 254 and out[10, 256, 0] in (127, 128)


def test_window_level_maps_the_chosen_range_to_0_255() -> None:
    scan = ramp_scan()
    # window 10000..30000: columns <= 100 are black, >= 300 white, 200 mid-grey
    out = render(scan, state=ViewState(window=(20000.0, 20000.0)))
    assert out[5, 100, 1] == 0 and out[5, 50, 1] == 0
    assert out[5, 300, 1] == 255 and out[5, 400, 1] == 255
    assert 126 <= out[5, 200, 1] <= 129


def test_negative_inverts() -> None:
    scan = make_scan(1)
    plain = render(scan, state=ViewState(window=(20000.0, 30000.0)))
    neg = render(scan, state=ViewState(window=(20000.0, 30000.0), negative=True))
    assert np.array_equal(neg.astype(int), 255 - plain.astype(int))


@pytest.mark.parametrize("name", ["firearm", "currency"])
def test_box_colour_at_the_box_edge(name: str) -> None:
    scan = make_scan(2)
    dets = make_dets()
    i = dets.class_names.index(name)
    k = int(np.flatnonzero(dets.labels == i)[0])
    x0, y0, x1, y1 = (int(v) for v in dets.boxes[k])
    out = render(scan, dets)
    colour = CLASS_COLOURS[name]
    mid_y = (y0 + y1) // 2
    assert tuple(out[mid_y, x0]) == colour  # left edge
    assert tuple(out[mid_y, x1 - 1]) == colour  # right edge (x1 exclusive)
    assert tuple(out[y1 - 1, (x0 + x1) // 2]) == colour  # bottom edge
    assert tuple(out[mid_y, x0 - 1]) != colour  # nothing drawn outside
    assert tuple(out[mid_y, x0 + 5]) != colour  # nor deep inside


def test_overlays_off_and_threshold_hide_boxes() -> None:
    scan = make_scan(2)
    dets = make_dets()
    green = CLASS_COLOURS["currency"]
    shown = render(scan, dets, ViewState(threshold=0.5))
    assert tuple(shown[350, 700]) == green
    hidden = render(scan, dets, ViewState(threshold=0.6))
    assert tuple(hidden[350, 700]) != green
    off = render(scan, dets, ViewState(overlays=False))
    plain = render(scan)
    assert np.array_equal(off, plain)
    assert visible_flags(dets, 0.5) == [0, 1] and visible_flags(dets, 0.6) == [0]


def test_rendering_overlays_does_not_dirty_the_cache() -> None:
    scan = make_scan(4)
    plain = render(scan).copy()
    render(scan, make_dets())
    assert np.array_equal(render(scan), plain)


def test_selected_rejected_and_marked_objects() -> None:
    scan = make_scan(2)
    dets = make_dets()
    mark = Mark((50, 300, 150, 400), "blade")
    state = ViewState(selected=0)  # visible flags first (firearm 0.91), then marks
    out = render(scan, dets, state, marks=[mark], verdicts={1: False})
    x0, y0, _x1, y1 = OBJECT_BOX
    assert tuple(out[(y0 + y1) // 2, x0 - 2]) == SELECTED_COLOUR  # highlight outside the edge
    assert tuple(out[350, 700]) == REJECTED_COLOUR
    assert tuple(out[350, 50]) == CLASS_COLOURS["blade"]


def test_zoom_shows_the_right_region() -> None:
    scan = ramp_scan()
    state = ViewState(window=(25600.0, 51200.0), zoom=4.0, pan=(300.5, 128.5))
    out = render(scan, state=state, size=(200, 200))
    full = render(scan, state=ViewState(window=(25600.0, 51200.0)))
    # the output centre shows scan column 300; 4 output pixels per scan pixel
    assert out[100, 100, 0] == full[128, 300, 0]
    assert out[100, 100 + 8, 0] == full[128, 302, 0]
    assert out[100, 100 - 8, 0] == full[128, 298, 0]
    t = view_transform(scan.shape, (200, 200), state)
    assert t.to_scan(100, 100) == pytest.approx((300.625, 128.625))


def test_fit_letterboxes_the_whole_scan() -> None:
    scan = ramp_scan()  # 256 x 512 into 400 x 400: scale 400/512, 200 rows tall, centred
    out = render(scan, state=ViewState(window=(25600.0, 51200.0)), size=(400, 400))
    assert out.shape == (400, 400, 3)
    assert np.all(out[:95, 200] == out[0, 0])  # empty band above
    assert out[200, 399, 0] > 240 and out[200, 0, 0] < 10


def test_zoom_scales_boxes_too() -> None:
    scan = make_scan(2)
    dets = make_dets()
    x0, y0, x1, y1 = OBJECT_BOX
    state = ViewState(zoom=2.0, pan=(x0, (y0 + y1) / 2))
    out = render(scan, dets, state, size=(300, 300))
    # scan x0 sits at the output centre column 150; the left edge is drawn there
    assert tuple(out[150, 150]) == CLASS_COLOURS["firearm"]
    assert tuple(out[150, 148]) != CLASS_COLOURS["firearm"]


def test_status_bar_and_help_overlay() -> None:
    scan = make_scan(3)
    status = StatusInfo(scan_id="x", alarm="ALARM", operator="op", position="1/2")
    out = render(scan, make_dets(), status=status)
    assert out.shape == (scan.rows + STATUS_H, scan.cols, 3)
    bar = out[scan.rows :]
    assert np.any(np.all(bar == (0, 0, 200), axis=-1))  # red ALARM tag
    assert np.any(bar > 200)  # text
    helped = render(scan, make_dets(), ViewState(show_help=True), status=status)
    centre = helped[scan.rows // 2 - 50 : scan.rows // 2 + 50, 400:600]
    assert centre.mean() < render(scan)[scan.rows // 2 - 50 : scan.rows // 2 + 50, 400:600].mean()


def test_heatmap_is_blended_where_hot() -> None:
    scan = make_scan(3)
    heat = np.zeros((64, 128), np.float32)
    heat[:8, :16] = 1.0  # top-left corner of the scan
    out = render(scan, heatmap=heat)
    plain = render(scan)
    assert not np.array_equal(out[:40, :100], plain[:40, :100])
    assert np.array_equal(out[300:, 500:], plain[300:, 500:])
    off = render(scan, state=ViewState(heatmap=False), heatmap=heat)
    assert np.array_equal(off, plain)


def test_float_and_uint8_scans_render() -> None:
    f = Scan(np.linspace(0, 1, 64 * 64, dtype=np.float32).reshape(64, 64), 32, "f")
    assert render(f).shape == (64, 64, 3)
    u = Scan(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64).astype(np.uint8), 8, "u")
    out = render(u, state=ViewState(window=(127.5, 255.0)))
    assert out[0, 5, 0] == 5


def test_render_leaves_its_inputs_alone() -> None:
    scan = make_scan(5)
    before = scan.pixels.copy()
    dets = make_dets()
    state = ViewState(selected=1, clahe=True, edge=True, colormap="jet")
    render(scan, dets, state, marks=[Mark((1, 1, 20, 20), "liquid")])
    assert np.array_equal(scan.pixels, before)
    assert state == ViewState(selected=1, clahe=True, edge=True, colormap="jet")
    assert isinstance(dets, Detections) and len(dets) == 2


def test_bad_state_is_rejected() -> None:
    with pytest.raises(ValueError, match="colormap"):
        ViewState(colormap="rainbow")
    with pytest.raises(ValueError, match="zoom"):
        ViewState(zoom=0.0)
    with pytest.raises(ValueError, match="size"):
        render(make_scan(0), status="x", size=(10, 100))


def test_concurrent_renders_of_different_scans_are_independent() -> None:
    from concurrent.futures import ThreadPoolExecutor

    scans = [make_scan(10 + i, shape=(128, 256)) for i in range(6)]
    expected = [render(s).copy() for s in scans]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda s: render(s, make_dets()), scans * 3))
    for k, out in enumerate(results):
        plain = expected[k % len(scans)]
        assert np.array_equal(out[:50, :250], plain[:50, :250])  # untouched by the boxes
