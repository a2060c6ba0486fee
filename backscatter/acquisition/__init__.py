"""Reading device frames into validated :class:`~backscatter.scan.Scan` objects."""

from backscatter.acquisition.errors import READ_ERRORS, ScanAccessError, ScanReadError
from backscatter.acquisition.sources import FrameSource, open_source, register_scheme

__all__ = [
    "READ_ERRORS",
    "FrameSource",
    "ScanAccessError",
    "ScanReadError",
    "open_source",
    "register_scheme",
]
