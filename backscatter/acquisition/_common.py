"""Helpers shared by the file readers: loading bytes once, ids, size caps, channel checks."""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backscatter.acquisition.errors import ScanAccessError, ScanReadError
from backscatter.acquisition.policy import ReadPolicy


@dataclass(frozen=True)
class LoadedFile:
    """A file's bytes read once, with their sha256 (hex)."""

    path: Path
    data: bytearray
    sha256: str

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def stable_id(self) -> str:
        """Id for formats without a UID: derived from the content, so re-reads agree."""
        return f"sha256:{self.sha256[:32]}"


def check_readable(path: str | os.PathLike[str]) -> Path:
    """The path as a :class:`Path` if it is an existing regular file, else ScanAccessError."""
    p = Path(path)
    try:
        p.stat()
    except FileNotFoundError:
        raise ScanAccessError(p, "no such file") from None
    except PermissionError:
        raise ScanAccessError(p, "permission denied") from None
    except OSError as exc:
        raise ScanAccessError(p, exc.strerror or str(exc)) from None
    if p.is_dir():
        raise ScanAccessError(p, "is a directory, expected a scan file")
    if not p.is_file():
        raise ScanAccessError(p, "is not a regular file")
    return p


def load_file(path: str | os.PathLike[str], *, policy: ReadPolicy) -> LoadedFile:
    """Read the whole file into a writable buffer and hash it."""
    p = check_readable(path)
    try:
        with p.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise ScanReadError(p, "empty file (0 bytes)")
            if size > policy.max_file_bytes:
                raise ScanReadError(
                    p, f"file is {size} bytes, over the {policy.max_file_bytes}-byte read limit"
                )
            data = bytearray(size)
            got = f.readinto(data)
    except OSError as exc:
        if isinstance(exc, ScanAccessError):
            raise
        reason = "permission denied" if exc.errno == errno.EACCES else (exc.strerror or str(exc))
        raise ScanAccessError(p, reason) from None
    if got != size:
        raise ScanReadError(p, f"file shrank while reading ({got} of {size} bytes)")
    return LoadedFile(p, data, hashlib.sha256(data).hexdigest())


def check_pixel_budget(
    source: str, rows: int, cols: int, itemsize: int, *, policy: ReadPolicy, samples: int = 1
) -> None:
    """Refuse a header whose pixel buffer would exceed the policy, before allocating it."""
    if rows < 1 or cols < 1:
        raise ScanReadError(source, f"expected positive image size, got {rows} x {cols}")
    need = rows * cols * samples * itemsize
    if need > policy.max_pixel_bytes:
        raise ScanReadError(
            source,
            f"header declares {rows} x {cols} x {samples} samples x {itemsize} bytes = {need} "
            f"bytes of pixels, over the {policy.max_pixel_bytes}-byte limit",
        )


def single_channel(pixels: np.ndarray, source: str) -> tuple[np.ndarray, bool]:
    """Reduce ``(rows, cols, C)`` greyscale-as-colour to ``(rows, cols)``.

    Tolerant: a colour export whose channels are all equal (and an opaque alpha) is grey.
    Returns the 2-D array and whether a reduction happened. Real colour raises ScanReadError:
    turning colour into intensity would be a guess about the device.
    """
    if pixels.ndim == 2:
        return pixels, False
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        return pixels[:, :, 0], True
    if pixels.ndim != 3 or pixels.shape[2] not in (2, 3, 4):
        raise ScanReadError(source, f"expected a 2-D greyscale image, got shape {pixels.shape}")
    channels = pixels.shape[2]
    colour = pixels[:, :, : 3 if channels >= 3 else 1]
    if channels in (2, 4):
        alpha = pixels[:, :, -1]
        full = np.iinfo(pixels.dtype).max if pixels.dtype.kind in "ui" else 1.0
        if not np.all(alpha == full):
            raise ScanReadError(source, "image has a transparent alpha channel; expected opaque")
    first = colour[:, :, 0]
    for c in range(1, colour.shape[2]):
        if not np.array_equal(colour[:, :, c], first):
            raise ScanReadError(
                source, f"colour image ({channels} channels that differ); expected greyscale"
            )
    return np.ascontiguousarray(first), True


def supported_dtype(pixels: np.ndarray, source: str) -> np.ndarray:
    """Widen int8 to int16 losslessly; refuse dtypes a Scan cannot hold."""
    from backscatter.scan import SUPPORTED_DTYPES

    if pixels.dtype == np.int8:
        return pixels.astype(np.int16)
    if pixels.dtype == np.bool_:
        return pixels.astype(np.uint8)
    if pixels.dtype.newbyteorder("=") in SUPPORTED_DTYPES and not pixels.dtype.isnative:
        return pixels.astype(pixels.dtype.newbyteorder("="))
    if pixels.dtype not in SUPPORTED_DTYPES:
        raise ScanReadError(source, f"pixel dtype {pixels.dtype} is not supported")
    return pixels


class _QuietInThisThread(logging.Filter):
    """Drops a library's log records emitted by a thread while it is inside :func:`quiet`."""

    def __init__(self) -> None:
        super().__init__()
        self.local = threading.local()

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(self.local, "depth", 0)


_FILTERS: dict[str, _QuietInThisThread] = {}


@contextmanager
def quiet(*loggers: str) -> Iterator[None]:
    """Silence third-party loggers (pydicom, tifffile) in this thread only: while reading a
    corrupt file they log tracebacks, and the user must see our one-line error instead."""
    filters = []
    known = list(logging.root.manager.loggerDict)
    for name in loggers:
        f = _FILTERS.setdefault(name, _QuietInThisThread())
        # a logger's filters do not see records propagated from its children: attach to each
        for child in [name, *(k for k in known if k.startswith(name + "."))]:
            logger = logging.getLogger(child)
            if f not in logger.filters:
                logger.addFilter(f)
        filters.append(f)
    for f in filters:
        f.local.depth = getattr(f.local, "depth", 0) + 1
    try:
        yield
    finally:
        for f in filters:
            f.local.depth -= 1


_TOLERANT_LOCK = threading.Lock()
_tolerant_depth = 0
_tolerant_previous: int = 0


@contextmanager
def tolerant_pydicom() -> Iterator[None]:
    """pydicom reading as field files need it: no value validation (zero-padded UIDs, unknown
    tags would log a warning per element), its warnings and loggers quiet in this thread.

    The validation mode is pydicom-global: the first thread in sets it, the last one out puts
    back what it was, so overlapping readers in several threads cannot undo each other."""
    global _tolerant_depth, _tolerant_previous
    import pydicom.pixels  # noqa: F401  (creates its loggers, so that quiet() finds them)
    from pydicom import config

    with _TOLERANT_LOCK:
        if _tolerant_depth == 0:
            _tolerant_previous = config.settings.reading_validation_mode
            config.settings.reading_validation_mode = config.IGNORE
        _tolerant_depth += 1
    try:
        with warnings.catch_warnings(), quiet("pydicom"):
            warnings.simplefilter("ignore")
            yield
    finally:
        with _TOLERANT_LOCK:
            _tolerant_depth -= 1
            if _tolerant_depth == 0:
                config.settings.reading_validation_mode = _tolerant_previous
