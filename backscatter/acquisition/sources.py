"""Frame sources: anything that yields Scans over time (folder watch, video, sim device, network).

A source is an iterable of :class:`~backscatter.scan.Scan` with a ``close()``; live sources may
also report partial frames to an ``on_lines`` callback, so a viewer can show a raster
scan building up.
URI schemes (``sim://``, ``dicom://``, ``video://``...) register a factory in :data:`SCHEMES`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Protocol, runtime_checkable

import numpy as np

from backscatter.scan import Scan

#: ``on_lines(partial_pixels, lines_done, total_lines)``: partial_pixels has shape (rows, cols)
#: with only the first ``lines_done`` rows filled.
LineCallback = Callable[[np.ndarray, int, int], None]


@runtime_checkable
class FrameSource(Protocol):
    """An iterable of Scans that holds resources until closed."""

    def __iter__(self) -> Iterator[Scan]: ...

    def close(self) -> None: ...


#: scheme name -> factory(uri) returning a FrameSource. Modules register themselves on import;
#: :func:`open_source` imports the module named in :data:`SCHEME_MODULES` lazily.
SCHEMES: dict[str, Callable[[str], FrameSource]] = {}

#: scheme -> module that registers it (imported on first use, so optional parts stay optional)
SCHEME_MODULES: dict[str, str] = {
    "sim": "backscatter.acquisition.sim",
    "dicom": "backscatter.acquisition.network",
    "video": "backscatter.acquisition.video",
}


def register_scheme(name: str, factory: Callable[[str], FrameSource]) -> None:
    SCHEMES[name] = factory


def uri_scheme(uri: str) -> str | None:
    """``"sim"`` for ``"sim://handheld?seed=7"``; None for a plain path."""
    head, sep, _ = uri.partition("://")
    if not sep or not head.isidentifier():
        return None
    return head.lower()


def open_source(uri: str) -> FrameSource:
    """Open a live or streaming source by URI (``sim://...``, ``dicom://:11112``, ``video://0``)."""
    import importlib

    from backscatter.acquisition.errors import ScanAccessError

    scheme = uri_scheme(uri)
    if scheme is None:
        raise ScanAccessError(uri, "expected a URI such as sim://handheld, got a plain path")
    if scheme not in SCHEMES and scheme in SCHEME_MODULES:
        importlib.import_module(SCHEME_MODULES[scheme])
    if scheme not in SCHEMES:
        known = ", ".join(sorted(set(SCHEMES) | set(SCHEME_MODULES)))
        raise ScanAccessError(uri, f"unknown source scheme {scheme!r} (known: {known})")
    return SCHEMES[scheme](uri)
