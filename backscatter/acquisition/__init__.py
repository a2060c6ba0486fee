"""Reading device frames into validated :class:`~backscatter.scan.Scan` objects."""

from backscatter.acquisition.errors import READ_ERRORS, ScanAccessError, ScanReadError
from backscatter.acquisition.open import open_scan, sniff
from backscatter.acquisition.policy import DEFAULT_POLICY, ReadPolicy
from backscatter.acquisition.sources import FrameSource, open_source, register_scheme
from backscatter.acquisition.watch import FolderWatch

__all__ = [
    "DEFAULT_POLICY",
    "READ_ERRORS",
    "FolderWatch",
    "FrameSource",
    "ReadPolicy",
    "ScanAccessError",
    "ScanReadError",
    "open_scan",
    "open_source",
    "register_scheme",
    "sniff",
]
