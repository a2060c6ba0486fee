"""``open_scan``: one entry point for every scan file or source URI.

The format is chosen from the content (magic bytes), not the extension:
DICOM Part 10 (``DICM`` at byte 128), TIFF (``II*``/``MM*``), PNG (signature), raw binary
(a sidecar given, or a ``.yaml``/``.yml`` sidecar beside the file), then a bare DICOM dataset
without preamble (starts with a group 0002/0008 tag). A URI such as ``sim://handheld?seed=7``
opens the registered source and returns its first Scan.
"""

from __future__ import annotations

import os
from pathlib import Path

from backscatter.acquisition._common import LoadedFile, load_file
from backscatter.acquisition.devices import DeviceProfile, DeviceProfileError
from backscatter.acquisition.dicom import dicom_from_loaded, looks_like_dicom
from backscatter.acquisition.errors import ScanAccessError, ScanReadError
from backscatter.acquisition.image import image_from_loaded, image_kind
from backscatter.acquisition.policy import DEFAULT_POLICY, ReadPolicy
from backscatter.acquisition.raw import find_sidecar, raw_from_loaded
from backscatter.acquisition.sources import open_source, uri_scheme
from backscatter.scan import Scan


def sniff(data: bytes | bytearray) -> str | None:
    """ "DICOM", "TIFF", "PNG" from the first bytes, else None (raw is decided by the sidecar)."""
    if len(data) >= 132 and data[128:132] == b"DICM":
        return "DICOM"
    kind = image_kind(data)
    if kind is not None:
        return kind
    return None


def open_scan(
    path_or_uri: str | os.PathLike[str],
    *,
    policy: ReadPolicy = DEFAULT_POLICY,
    sidecar: str | os.PathLike[str] | None = None,
    device: DeviceProfile | None = None,
) -> Scan:
    """Read one scan from a file (any supported format) or the first frame of a source URI.

    ``sidecar`` forces the raw reader with that YAML sidecar; ``device`` fills in what the file
    cannot say (bits stored, rescale, spacing: :mod:`backscatter.acquisition.devices`).
    Raises ScanAccessError (an OSError: missing path, directory, permission) or ScanReadError
    (a ValueError: empty, truncated, unsupported, not an image, not the device's); both name
    the input and the reason.
    """
    text = os.fspath(path_or_uri)
    if isinstance(path_or_uri, str) and uri_scheme(text) is not None and not Path(text).exists():
        scan = _first_from_source(text)
    else:
        loaded = load_file(text, policy=policy)
        scan = scan_from_loaded(loaded, policy=policy, sidecar=sidecar)
    if device is not None:
        try:
            return device.apply(scan)
        except DeviceProfileError as exc:
            raise ScanReadError(text, str(exc)) from exc
    return scan


def scan_from_loaded(
    loaded: LoadedFile,
    *,
    policy: ReadPolicy = DEFAULT_POLICY,
    sidecar: str | os.PathLike[str] | None = None,
) -> Scan:
    """Dispatch bytes already read to the right reader."""
    if sidecar is not None:
        return raw_from_loaded(loaded, sidecar=sidecar, policy=policy)
    kind = sniff(loaded.data)
    if kind == "DICOM":
        return dicom_from_loaded(loaded, policy=policy)
    if kind in ("TIFF", "PNG"):
        return image_from_loaded(loaded, policy=policy)
    found = find_sidecar(loaded.path)
    if found is not None:
        return raw_from_loaded(loaded, sidecar=found, policy=policy)
    if looks_like_dicom(loaded.data):
        return dicom_from_loaded(loaded, policy=policy)
    raise ScanReadError(
        loaded.source,
        "unrecognised format: not DICOM/DICOS, TIFF or PNG, and no raw sidecar "
        f"({loaded.path.stem}.yaml) beside it",
    )


def _first_from_source(uri: str) -> Scan:
    source = open_source(uri)
    try:
        for scan in source:
            return scan
    finally:
        source.close()
    raise ScanAccessError(uri, "source closed before yielding a scan")
