"""Write a :class:`~backscatter.scan.Scan` as a DICOS DX image (Digital X-Ray, for processing)."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from backscatter.dicos.content import (
    DicosWriteError,
    base_dataset,
    save_atomic,
    scan_time,
    scan_uids,
)
from backscatter.dicos.uids import DICOS_DX_PROCESSING
from backscatter.scan import Scan


def _stored_pixels(scan: Scan, path: str | os.PathLike[str]) -> tuple[np.ndarray, int, bool]:
    """Pixels as 8/16-bit integers, bits allocated, signed; refuses what DX cannot hold."""
    px = scan.pixels
    if px.dtype.kind == "f":
        raise DicosWriteError(
            path, f"pixels are {px.dtype}: DICOS DX stores integers; quantise the scan first"
        )
    bits = scan.bits_stored
    lo, hi = (int(px.min()), int(px.max()))
    signed = px.dtype.kind == "i"
    lo_ok, hi_ok = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    if lo < lo_ok or hi > hi_ok:
        raise DicosWriteError(
            path, f"pixel values {lo}..{hi} do not fit bits_stored {bits} ({lo_ok}..{hi_ok})"
        )
    if px.dtype in (np.uint8, np.uint16, np.int16):
        return np.ascontiguousarray(px), px.dtype.itemsize * 8, signed
    # wider integer containers: store in 16 bits when the declared bits fit
    if bits > 16:
        raise DicosWriteError(
            path,
            f"pixels are {px.dtype} with bits_stored {scan.bits_stored} and values {lo}..{hi}: "
            "DICOS DX holds at most 16 bits",
        )
    return px.astype(np.int16 if signed else np.uint16), 16, signed


def dx_dataset(scan: Scan, *, created: datetime | None = None) -> Dataset:
    """The DICOS DX dataset for ``scan`` (file meta included), not yet written."""
    created = created or datetime.now(UTC)
    pixels, allocated, signed = _stored_pixels(scan, scan.scan_id)
    uids = scan_uids(scan)
    ds = base_dataset(
        sop_class_uid=DICOS_DX_PROCESSING,
        sop_instance_uid=uids.dx_instance,
        study_uid=uids.study,
        series_uid=uids.series,
        modality="DX",
        scan=scan,
        series_number=1,
        created=created,
    )
    acquired = scan_time(scan)
    ds.AcquisitionDate = acquired.strftime("%Y%m%d")
    ds.AcquisitionTime = acquired.strftime("%H%M%S.%f")
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PROCESSING"
    ds.FrameOfReferenceUID = uids.frame_of_reference
    ds.PositionReferenceIndicator = ""
    ds.ImagePositionPatient = [0, 0, 0]
    ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    ds.PatientOrientation = ""  # DICOS gives orientation in ImageOrientationPatient
    ds.ImageLaterality = "U"
    ds.AnatomicRegionSequence = DicomSequence([])
    ds.AcquisitionContextSequence = DicomSequence([])
    ds.DetectorType = "DIRECT"
    md = scan.metadata
    if md.kvp is not None:
        ds.KVP = f"{md.kvp:.6g}"
    if md.tube_current_ma is not None:
        ds.XRayTubeCurrentInuA = f"{md.tube_current_ma * 1000.0:.6g}"
    if scan.pixel_spacing_mm is not None:
        ds.ImagerPixelSpacing = [f"{v:.10g}" for v in scan.pixel_spacing_mm]
        ds.PixelSpacing = ds.ImagerPixelSpacing
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = scan.rows, scan.cols
    ds.BitsAllocated = allocated
    ds.BitsStored = min(scan.bits_stored, allocated)
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelIntensityRelationship = "LIN"
    ds.PixelIntensityRelationshipSign = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PresentationLUTShape = "IDENTITY"
    ds.LossyImageCompression = "00"
    ds.BurnedInAnnotation = "NO"
    if scan.window is not None:
        ds.WindowCenter = f"{scan.window[0]:.10g}"
        ds.WindowWidth = f"{scan.window[1]:.10g}"
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<"), copy=False).tobytes()
    return ds


def write_dx(scan: Scan, path: str | os.PathLike[str]) -> str:
    """Write ``scan`` as a DICOS DX file at ``path`` (atomically); returns its SOP Instance UID.

    Pixels are stored losslessly (8 or 16 bits allocated, explicit VR little endian); float
    scans and values over 16 bits raise :class:`DicosWriteError`. The UIDs are those of
    :func:`~backscatter.dicos.content.scan_uids`, so a TDR written for the same scan references
    this image.
    """
    try:
        ds = dx_dataset(scan)
    except DicosWriteError as exc:
        raise DicosWriteError(path, exc.reason) from None
    save_atomic(ds, path)
    return str(ds.SOPInstanceUID)
