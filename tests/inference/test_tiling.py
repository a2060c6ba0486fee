"""Tiled inference: grid geometry, exact single-tile equivalence, merges across borders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backscatter.inference.detector import Detector, TileOptions
from backscatter.inference.tiling import Tile, merge_tiles, tile_grid

from .conftest import blob_scan


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 3000),
    cols=st.integers(1, 3000),
    tile=st.integers(32, 700),
    overlap=st.integers(0, 31),
    stride=st.sampled_from([1, 8, 32]),
)
def test_grid_covers_the_scan_with_equal_tiles_and_the_overlap(
    rows: int, cols: int, tile: int, overlap: int, stride: int
) -> None:
    tile -= tile % stride
    tiles = tile_grid((rows, cols), tile=(tile, tile), overlap=overlap, stride=stride)
    assert len({(t.rows, t.cols) for t in tiles}) == 1
    assert tiles[0].rows <= tile and tiles[0].cols <= tile
    n_min = 1 if cols <= tile else -(-(cols - overlap) // (tile - overlap))
    assert len({t.x0 for t in tiles}) == n_min  # no more tiles than needed
    covered = np.zeros((rows, cols), bool)
    for t in tiles:
        assert t.y0 >= 0 and t.x0 >= 0 and t.y0 + t.rows <= rows and t.x0 + t.cols <= cols
        covered[t.y0 : t.y0 + t.rows, t.x0 : t.x0 + t.cols] = True
    assert covered.all()
    xs = sorted({t.x0 for t in tiles})
    for a, b in zip(xs, xs[1:], strict=False):
        assert a + tiles[0].cols - b >= overlap


def test_scan_that_fits_is_one_tile_equal_to_the_scan() -> None:
    assert tile_grid((100, 128), tile=(128, 128), overlap=32) == [Tile(0, 0, 100, 128)]


def test_van_scan_tiles_shrink_to_cover_evenly() -> None:
    tiles = tile_grid((2048, 4096), tile=(512, 512), overlap=64, stride=32)
    assert (tiles[0].rows, tiles[0].cols) == (480, 512)  # 5 x 9 tiles, not 5 x 512 rows
    assert len(tiles) == 45
    assert tiles[-1].y0 + tiles[-1].rows == 2048 and tiles[-1].x0 + tiles[-1].cols == 4096


def test_scan_within_one_tile_gives_exactly_the_untiled_result(blob_model: Path) -> None:
    tiled = Detector.load(blob_model, "cpu", threads=1, min_score=0.0)
    whole = Detector.load(blob_model, "cpu", threads=1, min_score=0.0, tile=TileOptions("off"))
    scan = blob_scan((120, 97), [(3, 4, 50, 60)], seed=5)
    a, b = tiled(scan), whole(scan)
    assert a.extras["tiles"] == 1
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.labels, b.labels)


@pytest.mark.parametrize(
    "box",
    [
        (100, 40, 170, 90),  # crosses one vertical tile border
        (60, 60, 230, 250),  # crosses borders in both directions, bigger than the overlap
        (5, 5, 12, 12),  # inside the first tile only
    ],
)
def test_object_cut_by_tile_borders_comes_back_whole_once(
    detector: Detector, box: tuple[int, int, int, int]
) -> None:
    scan = blob_scan((400, 500), [box], seed=1)
    dets = detector(scan)
    assert dets.extras["tiles"] > 4
    np.testing.assert_array_equal(dets.boxes, [box])


def test_two_separate_objects_stay_two(detector: Detector) -> None:
    scan = blob_scan((600, 600), [(20, 20, 60, 50), (400, 450, 480, 520)], seed=2)
    dets = detector(scan)
    assert sorted(map(tuple, dets.boxes.tolist())) == [(20, 20, 60, 50), (400, 450, 480, 520)]


def test_van_sized_scan_runs_in_batches_of_tiles(blob_model: Path) -> None:
    det = Detector.load(blob_model, "cpu", threads=1, tile=TileOptions(batch=4, overlap=16))
    scan = blob_scan((1024, 2048), [(1000, 500, 1100, 560)], seed=4)
    dets = det(scan)
    assert dets.extras["tiles"] == len(det.tiles_for((1024, 2048)))
    np.testing.assert_array_equal(dets.boxes, [(1000, 500, 1100, 560)])


def test_boxes_from_one_tile_are_never_merged() -> None:
    boxes = np.array([[0, 0, 10, 10], [2, 2, 9, 9]], np.float32)
    b, s, lab = merge_tiles(
        boxes,
        np.array([0.9, 0.8], np.float32),
        np.array([1, 1]),
        np.array([3, 3]),
        np.array([False, False]),
    )
    assert len(b) == 2


def test_merge_takes_the_union_and_the_best_score_per_class() -> None:
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 6], [0, 0, 10, 6]], np.float32)
    b, s, lab = merge_tiles(
        boxes,
        np.array([0.6, 0.9, 0.7], np.float32),
        np.array([1, 1, 2]),  # the third is another class: kept apart
        np.array([0, 1, 1]),
        np.array([False, True, False]),
    )
    assert b.tolist() == [[0, 0, 10, 10], [0, 0, 10, 6]]
    assert s.tolist() == pytest.approx([0.9, 0.7])
    assert lab.tolist() == [1, 2]


def test_duplicate_whole_views_keep_the_best_box_not_their_union() -> None:
    boxes = np.array([[10, 10, 50, 50], [12, 8, 52, 49]], np.float32)
    b, s, _ = merge_tiles(
        boxes,
        np.array([0.7, 0.8], np.float32),
        np.array([0, 0]),
        np.array([0, 1]),
        np.array([False, False]),  # both tiles saw the object whole (inside the overlap)
    )
    assert b.tolist() == [[12, 8, 52, 49]]
    assert s.tolist() == pytest.approx([0.8])


def test_partial_views_only_are_joined_into_their_union() -> None:
    boxes = np.array([[100, 10, 128, 40], [96, 12, 170, 41]], np.float32)
    b, _, _ = merge_tiles(
        boxes,
        np.array([0.6, 0.5], np.float32),
        np.array([2, 2]),
        np.array([0, 1]),
        np.array([True, True]),  # the object is cut in both tiles
    )
    assert b.tolist() == [[96, 10, 170, 41]]
