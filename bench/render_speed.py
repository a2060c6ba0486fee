"""Redraw time of the viewer's renderer for a 2048 x 1024 16-bit scan with overlays.

Target: a redraw with overlays in at most 16 ms. Figures (median ms of ``--repeat`` calls):
  * ``redraw``: what the window does on a key press that changes only overlays (selection,
    threshold, verdicts, status): cached base and view, draw 12 boxes + labels + 2 marks + status,
    into a 1280 x 760 window canvas and into the full-size 1:1 image;
  * ``pan`` / ``zoom``: the view transform changes (base image cached);
  * ``window``: window/level changes, so the 8-bit base is recomputed (LUT) too;
  * ``uncached``: every stage from scratch (caches cleared), the baseline the caching is against.
Usage: ``.venv/bin/python bench/render_speed.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from backscatter.detections import Detections
from backscatter.scan import Scan
from backscatter.viewer import render as render_mod
from backscatter.viewer.render import render
from backscatter.viewer.state import Mark, StatusInfo, ViewState

TARGET_MS = 16.0


def synthetic_scan(rows: int = 1024, cols: int = 2048, seed: int = 0) -> Scan:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    base = 12000 + 8000 * np.sin(x / 97.0) * np.cos(y / 61.0)
    noisy = base + rng.normal(0, 300, size=base.shape)
    return Scan(np.clip(noisy, 0, 65535).astype(np.uint16), 16, "bench")


def synthetic_dets(n: int = 12, seed: int = 1) -> Detections:
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1800, (n, 2)) * [1, 0.5]
    wh = rng.uniform(40, 240, (n, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1).astype(np.float32)
    return Detections(boxes, rng.uniform(0.3, 1.0, n), rng.integers(0, 5, n))


def median_ms(fn: Callable[[int], object], repeat: int) -> float:
    fn(-1)  # warm up
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    scan, dets = synthetic_scan(), synthetic_dets()
    marks = [Mark((100, 100, 300, 260), "blade"), Mark((900, 600, 1000, 700), "liquid")]
    status = StatusInfo(scan_id="bench", model="m", provider="cpu", alarm="ALARM", operator="op")
    window = (760, 1280)
    state = ViewState(threshold=0.3)

    def redraw(size: tuple[int, int] | None) -> Callable[[int], object]:
        def run(i: int) -> object:
            state.selected = i % 5  # an overlay-only change, as on Tab
            return render(scan, dets, state, status=status, marks=marks, size=size)

        return run

    def pan(i: int) -> object:
        s = ViewState(threshold=0.3, zoom=2.0, pan=(800.0 + i, 500.0))
        return render(scan, dets, s, status=status, marks=marks, size=window)

    def zoom(i: int) -> object:
        s = ViewState(threshold=0.3, zoom=0.5 + 0.01 * (i + 2))
        return render(scan, dets, s, status=status, marks=marks, size=window)

    def wl(i: int) -> object:
        s = ViewState(threshold=0.3, window=(12000.0 + 10 * (i + 2), 16000.0))
        return render(scan, dets, s, status=status, marks=marks, size=window)

    def uncached(i: int) -> object:
        render_mod._GEOM.items.clear()
        render_mod._DISP.items.clear()
        render_mod._AUTO.items.clear()
        return render(scan, dets, state, status=status, marks=marks, size=window)

    rows = [
        ("redraw, 1280x760 window (overlay change)", median_ms(redraw(window), args.repeat)),
        ("redraw, 2048x1024 1:1 image (overlay change)", median_ms(redraw(None), args.repeat)),
        ("pan at zoom 2 (view recomputed)", median_ms(pan, args.repeat)),
        ("zoom change (view recomputed)", median_ms(zoom, args.repeat)),
        ("window/level change (base recomputed)", median_ms(wl, args.repeat)),
        ("uncached baseline (every stage)", median_ms(uncached, args.repeat)),
    ]
    print(f"scan {scan.cols}x{scan.rows} uint16, {len(dets)} boxes + {len(marks)} marks + status")
    for name, ms in rows:
        print(f"  {name:<48} {ms:7.2f} ms")
    redraw_ms = rows[0][1]
    verdict = "OK" if redraw_ms <= TARGET_MS else "OVER"
    print(
        f"redraw with overlays: {redraw_ms:.2f} ms (target <= {TARGET_MS:.0f} ms: {verdict}); "
        f"{rows[-1][1] / redraw_ms:.1f}x faster than uncached"
    )


if __name__ == "__main__":
    main()
