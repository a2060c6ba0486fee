"""The simulated device: ``sim://`` URIs, streamed lines, Scan metadata and ground truth."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest

from backscatter.acquisition.errors import ScanAccessError
from backscatter.acquisition.sim import SimSource
from backscatter.acquisition.sources import FrameSource, open_source
from backscatter.detections import Detections
from backscatter.synth.device import simulate_scan

FAST = "realtime=0&size=96x128"


def test_open_source_yields_count_sim_scans() -> None:
    src = open_source(f"sim://van?seed=3&count=3&{FAST}")
    assert isinstance(src, FrameSource)
    scans = list(src)
    assert len(scans) == 3
    s = scans[0]
    assert s.object_type == "SIM" and s.shape == (96, 128) and s.pixels.dtype == np.uint16
    assert s.bits_stored == 16 and s.source_uri.startswith("sim://van")
    md = s.metadata
    assert (md.manufacturer, md.model, md.kvp) == ("backscatter-sim", "van", 225.0)
    assert md.tube_current_ma and md.acquisition_time is not None and md.scan_direction
    center, width = s.window or (0.0, 0.0)
    assert np.mean((s.pixels >= center - width / 2) & (s.pixels <= center + width / 2)) > 0.95
    assert s.extras["scene_family"] in ("door", "tyre", "wall", "luggage", "crate")
    assert len({x.scan_id for x in scans}) == 3


def test_same_uri_same_scans_other_seed_other_scans() -> None:
    a = next(iter(open_source(f"sim://handheld?seed=7&{FAST}")))
    b = next(iter(open_source(f"sim://handheld?seed=7&{FAST}")))
    c = next(iter(open_source(f"sim://handheld?seed=8&{FAST}")))
    assert a.scan_id == b.scan_id and np.array_equal(a.pixels, b.pixels)
    assert a.scan_id != c.scan_id and not np.array_equal(a.pixels, c.pixels)


def test_ground_truth_is_detections_with_unit_scores_and_masks() -> None:
    scan = simulate_scan(21, size=(160, 160), family="luggage")
    gt = scan.extras["ground_truth"]
    assert isinstance(gt, Detections) and len(gt) >= 1
    assert np.all(gt.scores == 1.0)
    assert gt.masks is not None and gt.masks.shape == (len(gt), 160, 160)
    for box, mask in zip(gt.boxes, gt.masks, strict=True):
        rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
        assert tuple(box) == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
    assert isinstance(scan.extras["hidden_threats"], Detections)


def test_clean_scan_has_empty_ground_truth() -> None:
    scan = simulate_scan(1, size=(64, 64), clean=True)
    assert len(scan.extras["ground_truth"]) == 0


def test_lines_arrive_in_order_and_build_the_image() -> None:
    calls: list[tuple[int, int, np.ndarray]] = []

    def on_lines(partial: np.ndarray, done: int, total: int) -> None:
        calls.append((done, total, partial.copy()))

    src = SimSource(f"sim://handheld?seed=1&{FAST}&line_rate=300", on_lines=on_lines)
    scan = next(iter(src))
    done = [c[0] for c in calls]
    assert done == sorted(done) and done[-1] == 96 and len(done) == 96 // 10 + 1
    assert all(c[1] == 96 for c in calls)
    mid_done, _, mid = calls[len(calls) // 2]
    assert np.array_equal(mid[:mid_done], scan.pixels[:mid_done])
    assert not mid[mid_done:].any()
    assert np.array_equal(calls[-1][2], scan.pixels)


def test_realtime_paces_lines_at_the_line_rate() -> None:
    src = open_source("sim://compact?seed=2&size=64x64&line_rate=800")
    t = time.monotonic()
    next(iter(src))
    assert time.monotonic() - t >= 64 / 800


def test_count_zero_streams_until_closed() -> None:
    src = open_source(f"sim://handheld?seed=0&count=0&{FAST}")
    scans = list(itertools.islice(iter(src), 4))
    src.close()
    assert len(scans) == 4
    assert list(src) == []


@pytest.mark.parametrize(
    ("uri", "match"),
    [
        ("sim://submarine", "unknown sim profile 'submarine'"),
        ("sim://handheld?seed=x", "seed: expected an integer"),
        ("sim://handheld?size=big", "size: expected ROWSxCOLS"),
        ("sim://handheld?family=boat", "family"),
        ("sim://handheld?colour=red", "unknown parameter"),
        ("sim://handheld?line_rate=0", "line_rate"),
        ("sim://handheld?count=-1", "count"),
    ],
)
def test_bad_uris_name_the_problem(uri: str, match: str) -> None:
    with pytest.raises(ScanAccessError, match=match):
        open_source(uri)


def test_sim_source_with_domain_draws_a_device_per_scan() -> None:
    from backscatter.acquisition.sources import open_source

    plain = list(open_source("sim://handheld?seed=4&count=3&size=96x96&realtime=0"))
    src = open_source("sim://handheld?seed=4&count=3&size=96x96&realtime=0&domain=1")
    try:
        rand = list(src)
    finally:
        src.close()
    assert all("domain" not in s.extras for s in plain)
    draws = [s.extras["domain"] for s in rand]
    assert len({d["counts_per_signal"] for d in draws}) == 3
    assert all(s.bits_stored == d["bits_stored"] for s, d in zip(rand, draws, strict=True))
    # the same scenes: same families and threats, another device
    assert [s.extras["scene_family"] for s in plain] == [s.extras["scene_family"] for s in rand]
