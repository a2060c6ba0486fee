"""Sliced inference for scans larger than the model input.

Tiles all share one shape so they run as one batch. Along an axis that fits in one tile the
tile covers the whole axis; otherwise the fewest tiles of at most the nominal size that
overlap by at least ``overlap`` pixels, shrunk to cover the axis evenly (the last one flush
with the scan edge). A scan that fits in one tile therefore yields exactly one tile equal to
the whole scan, i.e. the untiled result.

Merging: a tile sees an object cut by its border as a partial box, and an object inside an
overlap strip twice. Boxes of the same class from *different* tiles are merged (score = max)
when their intersection over the smaller box (IoS) is at least ``ios_threshold``, or
``clipped_ios_threshold`` when one of them touches an inner tile edge; the merged box is the
best view that touches no inner edge (a tile saw the object whole), else the union.
Boxes from the same tile are never merged (the model's own NMS already decided those); a merged
group keeps growing while boxes from tiles not yet in it pass the test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tile:
    """A window of the scan: rows ``y0:y0+rows``, columns ``x0:x0+cols``."""

    y0: int
    x0: int
    rows: int
    cols: int


def _axis(length: int, tile: int, overlap: int, stride: int) -> tuple[int, list[int]]:
    """Tile length and start positions along one axis.

    The fewest tiles of at most ``tile`` that overlap by at least ``overlap``; their length is
    then shrunk (to a multiple of ``stride``) so they cover the axis evenly, wasting no work.
    """
    if length <= tile:
        return length, [0]
    step = tile - overlap
    if step < 1:
        raise ValueError(f"overlap: expected < tile size {tile}, got {overlap}")
    n = math.ceil((length - overlap) / step)
    size = math.ceil((length + (n - 1) * overlap) / n)
    size = min(tile, size + (-size) % stride)
    return size, [int(round(v)) for v in np.linspace(0, length - size, n)]


def tile_grid(
    shape: tuple[int, int], *, tile: tuple[int, int], overlap: int, stride: int = 1
) -> list[Tile]:
    """Row-major tiles covering a ``(rows, cols)`` scan; every tile has the same shape."""
    rows, cols = shape
    if overlap < 0:
        raise ValueError(f"overlap: expected >= 0, got {overlap}")
    th, ys = _axis(rows, tile[0], overlap, stride)
    tw, xs = _axis(cols, tile[1], overlap, stride)
    return [Tile(y0, x0, th, tw) for y0 in ys for x0 in xs]


def inner_edge_flags(
    boxes: np.ndarray, tile: Tile, shape: tuple[int, int], *, margin: float = 2.0
) -> np.ndarray:
    """``(N,)`` bool: the box (scan coordinates) touches an edge of ``tile`` inside the scan."""
    rows, cols = shape
    x0, y0, x1, y1 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    flags = np.zeros(len(boxes), bool)
    if tile.x0 > 0:
        flags |= x0 <= tile.x0 + margin
    if tile.y0 > 0:
        flags |= y0 <= tile.y0 + margin
    if tile.x0 + tile.cols < cols:
        flags |= x1 >= tile.x0 + tile.cols - margin
    if tile.y0 + tile.rows < rows:
        flags |= y1 >= tile.y0 + tile.rows - margin
    return flags


def _ios(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    ix = np.minimum(box[2], others[:, 2]) - np.maximum(box[0], others[:, 0])
    iy = np.minimum(box[3], others[:, 3]) - np.maximum(box[1], others[:, 1])
    inter = np.clip(ix, 0, None) * np.clip(iy, 0, None)
    area_a = (box[2] - box[0]) * (box[3] - box[1])
    area_b = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    smaller = np.maximum(np.minimum(area_a, area_b), 1e-6)
    return np.where(inter > 0, inter / smaller, 0.0)


def _group_box(boxes: np.ndarray, clipped: np.ndarray, members: list[int]) -> np.ndarray:
    """One box for views of one object: the best whole view (not touching an inner tile
    edge) when a tile saw it whole, else the union of the partial views."""
    whole = [m for m in members if not clipped[m]]
    if whole:
        return boxes[min(whole)].copy()  # indices are in descending score order
    group = boxes[members]
    return np.concatenate([group[:, :2].min(axis=0), group[:, 2:].max(axis=0)])


def merge_tiles(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    tile_ids: np.ndarray,
    clipped: np.ndarray,
    *,
    ios_threshold: float = 0.5,
    clipped_ios_threshold: float = 0.2,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge per-tile detections (already in scan coordinates) across tile borders.

    Inputs are column arrays of equal length N. Returns ``(boxes, scores, labels)`` sorted by
    descending score. Greedy: the best remaining box absorbs every box of its class from
    another tile that passes the IoS test; the merged box is the best whole view, or the union
    of partial views when no tile saw the object whole; the score is the max.
    """
    n = len(scores)
    if n == 0 or len(np.unique(tile_ids)) <= 1:
        order = np.argsort(-scores, kind="stable")
        return boxes[order], scores[order], labels[order]
    order = np.argsort(-scores, kind="stable")
    boxes, scores, labels = boxes[order], scores[order], labels[order]
    tile_ids, clipped = tile_ids[order], clipped[order]
    used = np.zeros(n, bool)
    out_b: list[np.ndarray] = []
    out_s: list[float] = []
    out_l: list[int] = []
    for i in range(n):
        if used[i]:
            continue
        used[i] = True
        members = [i]
        box = boxes[i].copy()
        group_tiles = {int(tile_ids[i])}
        while True:
            cand = np.flatnonzero(~used & (labels == labels[i]))
            cand = cand[~np.isin(tile_ids[cand], list(group_tiles))]
            if not cand.size:
                break
            ios = _ios(box, boxes[cand])
            partial = clipped[cand] | bool(clipped[members].any())
            take = cand[ios >= np.where(partial, clipped_ios_threshold, ios_threshold)]
            if not take.size:
                break
            used[take] = True
            members.extend(int(t) for t in take)
            group_tiles.update(int(t) for t in tile_ids[take])
            box = _group_box(boxes, clipped, members)
        out_b.append(box)
        out_s.append(float(scores[i]))
        out_l.append(int(labels[i]))
    return (
        np.asarray(out_b, np.float32).reshape(-1, 4),
        np.asarray(out_s, np.float32),
        np.asarray(out_l, np.int64),
    )
