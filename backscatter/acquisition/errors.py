"""The acquisition error family: every reader failure names the input and the reason."""

from __future__ import annotations

import os


class ScanReadError(ValueError):
    """The input exists but is not a scan we can read (bad content, unsupported, truncated)."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class NotAnImageError(ScanReadError):
    """A readable object that is not a 2-D image (a TDR, a CT volume, a QR object...): a batch
    skips it rather than counting it as a failure."""


class ScanAccessError(OSError):
    """The input cannot be opened at all (missing path, a directory, permission)."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


#: catch-all tuple for callers that report and go on with the next input
READ_ERRORS: tuple[type[Exception], ...] = (ScanReadError, ScanAccessError)
