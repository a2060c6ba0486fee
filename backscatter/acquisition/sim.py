"""The simulated device as a frame source: ``sim://PROFILE?seed=S&count=N&...``.

Query parameters (all optional): ``seed`` (int, 0), ``count`` (scans to produce, 1; 0 = until
closed), ``size`` (``ROWSxCOLS``, 512x512), ``family`` (door, tyre, wall, luggage, crate; random
when absent), ``clean_fraction`` (0.2), ``line_rate`` (lines per second, the profile's when
absent), ``realtime`` (1: pace the lines at the line rate, as a device does; 0: as fast as
possible, for batch work), ``domain`` (1: each scan's device drawn by domain randomisation,
docs/physics.md section 4a: another energy, dose, gain, offset, bits stored... per scan; 0).

Each scan is built and then delivered line by line: ``on_lines(partial, lines_done, total)`` is
called as lines arrive (a viewer shows the raster building up), then the whole Scan is yielded.
Scan ``i`` uses ``backscatter.synth.dataset.scene_seed(seed, i)``, so a URI always gives the same
scans.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import numpy as np

from backscatter.acquisition.errors import ScanAccessError
from backscatter.acquisition.sources import LineCallback, register_scheme
from backscatter.scan import Scan

#: callbacks per second while streaming (the line rate is usually higher)
UPDATES_PER_SECOND = 30.0


class SimSource:
    """A FrameSource over simulated scans; see the module docstring for the URI."""

    def __init__(self, uri: str, *, on_lines: LineCallback | None = None) -> None:
        from backscatter.synth.physics import PROFILES
        from backscatter.synth.scenes import FAMILIES

        self.uri = uri
        self.on_lines = on_lines
        parts = urlsplit(uri)
        self.profile = (parts.netloc or parts.path.strip("/") or "handheld").lower()
        if self.profile not in PROFILES:
            raise ScanAccessError(
                uri, f"unknown sim profile {self.profile!r} (known: {', '.join(PROFILES)})"
            )
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        known = {
            "seed",
            "count",
            "size",
            "family",
            "clean_fraction",
            "line_rate",
            "realtime",
            "domain",
        }
        unknown = sorted(set(query) - known)
        if unknown:
            raise ScanAccessError(uri, f"unknown parameter(s) {unknown} (known: {sorted(known)})")
        self.seed = self._int(query, "seed", 0)
        self.count = self._int(query, "count", 1)
        if self.count < 0:
            raise ScanAccessError(uri, f"count: expected >= 0, got {self.count}")
        size = query.get("size", "512x512").lower().split("x")
        try:
            self.size = (int(size[0]), int(size[1]))
        except (ValueError, IndexError):
            raise ScanAccessError(uri, f"size: expected ROWSxCOLS, got {query['size']!r}") from None
        if min(self.size) < 32 or max(self.size) > 8192:
            raise ScanAccessError(uri, f"size: expected 32..8192 per side, got {self.size}")
        self.family = query.get("family") or None
        if self.family is not None and self.family not in FAMILIES:
            raise ScanAccessError(
                uri, f"family: expected one of {list(FAMILIES)}, got {self.family!r}"
            )
        self.clean_fraction = self._float(query, "clean_fraction", 0.2)
        if not 0.0 <= self.clean_fraction <= 1.0:
            raise ScanAccessError(uri, f"clean_fraction: expected 0..1, got {self.clean_fraction}")
        self.line_rate = self._float(query, "line_rate", PROFILES[self.profile].line_rate_hz)
        if not self.line_rate > 0:
            raise ScanAccessError(uri, f"line_rate: expected > 0 lines/s, got {self.line_rate}")
        self.realtime = query.get("realtime", "1").lower() not in ("0", "false", "no", "off")
        self.domain = query.get("domain", "0").lower() not in ("0", "false", "no", "off")
        self._closed = False

    def _int(self, query: dict[str, str], name: str, default: int) -> int:
        try:
            return int(query.get(name, default))
        except ValueError:
            raise ScanAccessError(
                self.uri, f"{name}: expected an integer, got {query[name]!r}"
            ) from None

    def _float(self, query: dict[str, str], name: str, default: float) -> float:
        try:
            return float(query.get(name, default))
        except ValueError:
            raise ScanAccessError(
                self.uri, f"{name}: expected a number, got {query[name]!r}"
            ) from None

    def scan(self, index: int) -> Scan:
        """The ``index``-th scan of this URI (no streaming, no pacing)."""
        from backscatter.synth.dataset import scene_seed
        from backscatter.synth.device import simulate_scan
        from backscatter.synth.domain import DomainRanges

        seed = scene_seed(self.seed, index)
        clean = bool(np.random.default_rng(seed).random() < self.clean_fraction)
        return simulate_scan(
            seed,
            profile=self.profile,
            size=self.size,
            family=self.family,
            clean=clean,
            source_uri=self.uri,
            domain=DomainRanges() if self.domain else None,
        )

    def __iter__(self) -> Iterator[Scan]:
        index = 0
        while not self._closed and (self.count == 0 or index < self.count):
            scan = self.scan(index)
            self._stream(scan)
            if self._closed:
                return
            yield scan
            index += 1

    def _stream(self, scan: Scan) -> None:
        if self.on_lines is None and not self.realtime:
            return
        total = scan.rows
        block = max(1, int(round(self.line_rate / UPDATES_PER_SECOND)))
        partial = np.zeros_like(scan.pixels)
        start = time.monotonic()
        done = 0
        while done < total and not self._closed:
            nxt = min(total, done + block)
            partial[done:nxt] = scan.pixels[done:nxt]
            done = nxt
            if self.realtime:
                wait = start + done / self.line_rate - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
            if self.on_lines is not None:
                self.on_lines(partial, done, total)

    def close(self) -> None:
        self._closed = True

    def __enter__(self) -> SimSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_sim(uri: str) -> SimSource:
    return SimSource(uri)


register_scheme("sim", open_sim)
