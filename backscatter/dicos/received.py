"""What the receiver does with a stored file: read it as a Scan, write its TDR, forward it."""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.acquisition.errors import ScanReadError
from backscatter.detections import Detections
from backscatter.dicos.content import ImageRef, object_type
from backscatter.dicos.uids import STORAGE_CLASSES, safe_uid
from backscatter.scan import Scan

log = logging.getLogger("backscatter.dicos.server")

#: the detector hook: one Scan in, its Detections out
DetectFn = Callable[[Scan], Detections]


@dataclass(frozen=True)
class ForwardTarget:
    """``HOST:PORT:AE`` of a peer that gets a copy of every image and TDR."""

    host: str
    port: int
    ae_title: str

    @classmethod
    def parse(cls, text: str) -> ForwardTarget:
        host, sep1, rest = text.rpartition(":")
        host, sep2, port = host.rpartition(":")
        ae = rest
        if not (sep1 and sep2 and host and port.isdigit() and ae.strip()):
            raise ValueError(f"forward target {text!r}: expected HOST:PORT:AE, e.g. pacs:104:STORE")
        if not 0 < int(port) < 65536 or len(ae) > 16:
            raise ValueError(f"forward target {text!r}: expected port 1..65535 and AE <= 16 chars")
        return cls(host, int(port), ae)


@dataclass(frozen=True)
class Received:
    """One stored image after processing: the Scan, its file, and its TDR (if any)."""

    scan: Scan
    path: Path
    image: ImageRef
    calling_ae: str
    detections: Detections | None = None
    tdr_path: Path | None = None


def _fallback_scan(path: Path) -> Scan:
    """pydicom-only reader for when ``backscatter.acquisition.open`` is not available."""
    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(path)
            pixels = np.asarray(ds.pixel_array)
        except Exception as exc:
            raise ScanReadError(path, f"cannot decode pixel data ({exc})") from None
    if pixels.ndim != 2:
        raise ScanReadError(path, f"expected a 2-D image, got pixel shape {pixels.shape}")
    return Scan(
        pixels=pixels,
        bits_stored=int(ds.get("BitsStored", pixels.dtype.itemsize * 8)),
        scan_id=str(ds.SOPInstanceUID),
        source_uri=str(path),
        sop_class_uid=str(ds.SOPClassUID),
        object_type=object_type(str(ds.SOPClassUID)),
    )


def read_received(
    path: Path,
    *,
    image: ImageRef,
    study: str | None,
    series: str | None,
    identity: dict[str, str] | None = None,
    policy: Any = None,
) -> Scan:
    """The stored image as a Scan, its UIDs and its patient/study ``identity`` (from
    :func:`~backscatter.dicos.content.identity_of`) recorded in ``extras`` for the TDR writer.
    ``policy`` (a ReadPolicy) caps the decoded pixel buffer and the file read."""
    try:
        from backscatter.acquisition.open import open_scan
    except ImportError:  # the readers are a separate part; keep serving without them
        scan = _fallback_scan(path)
    else:
        scan = open_scan(path) if policy is None else open_scan(path, policy=policy)
    extras = dict(scan.extras)
    extras["sop_instance_uid"] = image.sop_instance_uid
    if study:
        extras["study_instance_uid"] = study
    if series:
        extras["series_instance_uid"] = series
    if identity is not None:
        extras["identity"] = dict(identity)
    return replace(scan, extras=extras)


def forward(target: ForwardTarget, files: list[Path], *, ae_title: str) -> None:
    """C-STORE ``files`` to ``target`` over one association; raises OSError on failure."""
    import pydicom
    from pynetdicom import AE

    ae = AE(ae_title=ae_title)
    ae.connection_timeout = 10
    ae.acse_timeout = 30
    ae.dimse_timeout = ae.network_timeout = 120
    datasets = []
    for f in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(f)
        datasets.append(ds)
        ts = str(ds.file_meta.TransferSyntaxUID)
        ae.add_requested_context(str(ds.SOPClassUID), ts)
    assoc = ae.associate(target.host, target.port, ae_title=target.ae_title)
    if not assoc.is_established:
        raise ConnectionError(
            f"forward to {target.ae_title}@{target.host}:{target.port}: no association"
        )
    try:
        for f, ds in zip(files, datasets, strict=True):
            status = assoc.send_c_store(ds)
            code = int(status.get("Status", -1)) if status else -1
            if code != 0:
                raise ConnectionError(
                    f"forward of {f.name} to {target.ae_title}: status 0x{code & 0xFFFF:04X}"
                )
    finally:
        assoc.release()


def is_storable(sop_class_uid: str) -> bool:
    return sop_class_uid in STORAGE_CLASSES


def stored_name(sop_class_uid: str, uid: str) -> str:
    """``DX_<uid>.dcm``: the object kind keeps a DX and an AIT2D that share a UID apart."""
    kind = STORAGE_CLASSES.get(sop_class_uid, "DICOM").split()[-1]
    return f"{kind}_{safe_uid(uid)}.dcm"


def tdr_path_for(image_path: Path) -> Path:
    """``DX_<uid>.dcm`` -> ``DX_<uid>.tdr.dcm`` beside it."""
    return image_path.with_name(image_path.name.removesuffix(".dcm") + ".tdr.dcm")


def remove_quietly(path: str | os.PathLike[str]) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
