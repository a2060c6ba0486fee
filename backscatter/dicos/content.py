"""Building blocks shared by the DICOS writers: UIDs of a scan, common modules, atomic saving."""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydicom import config
from pydicom.datadict import tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

from backscatter import __version__
from backscatter.dicos.uids import (
    DICOS_CLASSES,
    DICOS_DX_PROCESSING,
    IMAGE_2D_CLASSES,
    UID_PREFIX,
    derived_uid,
    is_valid_uid,
)
from backscatter.scan import Scan

MANUFACTURER = "backscatter"
MODEL_NAME = "backscatter pipeline"
DICOS_VERSION = "V03"
IMPLEMENTATION_CLASS_UID = UID_PREFIX + "20261128.1"
#: (0002,0013) is at most 16 characters: "BSCATTER_" + the version, checked, never cut
IMPLEMENTATION_VERSION = f"BSCATTER_{__version__}"
if len(IMPLEMENTATION_VERSION) > 16:
    raise ImportError(f"Implementation Version Name {IMPLEMENTATION_VERSION!r}: over 16 chars")

#: the OOI (patient) and study elements a TDR copies from the image it reports on
IDENTITY_KEYWORDS = (
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "TypeOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
)


class DicosWriteError(ValueError):
    """A scan or detections that cannot be written as a valid DICOS object."""

    def __init__(self, target: str | os.PathLike[str], reason: str) -> None:
        self.target = str(target)
        self.reason = reason
        super().__init__(f"{self.target}: {reason}")


@dataclass(frozen=True)
class ImageRef:
    """Which image instance a TDR's PTOs are drawn on."""

    sop_class_uid: str
    sop_instance_uid: str


@dataclass(frozen=True)
class ScanUIDs:
    """Study / series / instance UIDs for a scan's DICOS image (and the TDR study)."""

    study: str
    series: str
    instance: str
    sop_class: str
    frame_of_reference: str
    #: the SOP Instance UID :func:`~backscatter.dicos.dx.write_dx` gives the scan's DICOS DX
    dx_instance: str


def _content_key(scan: Scan) -> str:
    """A stable identity of a scan: its id, source and pixel hash."""
    digest = scan.source_sha256
    if digest is None:
        digest = hashlib.sha256(scan.pixels.tobytes()).hexdigest()
    return f"{scan.scan_id}|{scan.source_uri}|{digest}|{scan.pixels.shape}|{scan.pixels.dtype}"


def _extra_uid(scan: Scan, key: str) -> str | None:
    value = scan.extras.get(key)
    return value if is_valid_uid(value) else None


def scan_uids(scan: Scan) -> ScanUIDs:
    """UIDs of the scan's image, deterministic in its content.

    A scan read from a DICOS/DICOM 2-D image keeps its own UIDs: ``extras`` keys
    ``sop_instance_uid``, ``study_instance_uid``, ``series_instance_uid`` when the reader set
    them, else a ``scan_id`` that is a UID (the readers use the SOP Instance UID as id). Any other
    scan gets UIDs derived from its id, source and pixels, so :func:`write_dx` and the TDR
    writers agree on what the TDR references without passing UIDs around. ``instance`` /
    ``sop_class`` are what a TDR references by default: the original image, or our DX.
    """
    key = _content_key(scan)
    derived = derived_uid(key, "dx")
    original = _extra_uid(scan, "sop_instance_uid")
    if original is None and is_valid_uid(scan.scan_id):
        original = scan.scan_id
    if original and scan.sop_class_uid in IMAGE_2D_CLASSES:
        instance, sop_class = original, str(scan.sop_class_uid)
    else:
        instance, sop_class = derived, DICOS_DX_PROCESSING
    return ScanUIDs(
        study=_extra_uid(scan, "study_instance_uid") or derived_uid(key, "study"),
        series=_extra_uid(scan, "series_instance_uid") or derived_uid(key, "series"),
        instance=instance,
        sop_class=sop_class,
        frame_of_reference=derived_uid(key, "frame"),
        dx_instance=instance if sop_class == DICOS_DX_PROCESSING else derived,
    )


def image_ref(scan: Scan) -> ImageRef:
    uids = scan_uids(scan)
    return ImageRef(uids.sop_class, uids.instance)


def scan_time(scan: Scan) -> datetime:
    """Acquisition time when the device gave one, else now (UTC)."""
    return scan.metadata.acquisition_time or datetime.now(UTC)


def dt_value(when: datetime) -> str:
    """DICOM DT string with microseconds and UTC offset when known."""
    text = when.strftime("%Y%m%d%H%M%S.%f")
    if when.tzinfo is not None:
        text += when.strftime("%z")
    return text


def lo(text: str) -> str:
    """Clip to the 64-character LO limit and drop backslashes (the VM separator)."""
    return text.replace("\\", "/")[:64]


def set_uid(ds: Dataset, keyword: str, value: str) -> None:
    """Set a UI element verbatim, without pydicom's value check.

    References must copy a peer's UIDs exactly, and some devices zero-pad UID components.
    """
    tag = tag_for_keyword(keyword)
    if tag is None:
        raise KeyError(f"unknown DICOM keyword {keyword!r}")
    ds[tag] = DataElement(tag, "UI", value, validation_mode=config.IGNORE)


def file_meta(sop_class_uid: str, sop_instance_uid: str) -> FileMetaDataset:
    """Part 10 file meta for an explicit VR little endian object of ours."""
    meta = FileMetaDataset()
    set_uid(meta, "MediaStorageSOPClassUID", sop_class_uid)
    set_uid(meta, "MediaStorageSOPInstanceUID", sop_instance_uid)
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    set_uid(meta, "ImplementationClassUID", IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def base_dataset(
    *,
    sop_class_uid: str,
    sop_instance_uid: str,
    study_uid: str,
    series_uid: str,
    modality: str,
    scan: Scan,
    series_number: int,
    created: datetime,
) -> Dataset:
    """SOP common, OOI (patient), study, series and equipment modules."""
    ds = Dataset()
    ds.file_meta = file_meta(sop_class_uid, sop_instance_uid)
    acquired = scan_time(scan)
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.InstanceCreationDate = created.strftime("%Y%m%d")
    ds.InstanceCreationTime = created.strftime("%H%M%S.%f")
    ds.SOPClassUID = sop_class_uid
    ds.SOPInstanceUID = sop_instance_uid
    ds.StudyDate = acquired.strftime("%Y%m%d")
    ds.StudyTime = acquired.strftime("%H%M%S.%f")
    ds.SeriesDate = ds.StudyDate
    ds.SeriesTime = ds.StudyTime
    ds.ContentDate = created.strftime("%Y%m%d")
    ds.ContentTime = created.strftime("%H%M%S.%f")
    ds.AccessionNumber = ""
    ds.Modality = modality
    md = scan.metadata
    ds.Manufacturer = lo(md.manufacturer or MANUFACTURER)
    ds.ReferringPhysicianName = ""
    ds.StationName = lo(md.serial or "")[:16]
    ds.ManufacturerModelName = lo(md.model or MODEL_NAME)
    ds.PatientName = ""
    ds.PatientID = lo(scan.scan_id)
    ds.TypeOfPatientID = "TEXT"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.DeviceSerialNumber = lo(md.serial or "")
    ds.SoftwareVersions = lo(f"backscatter {__version__}")
    set_uid(ds, "StudyInstanceUID", study_uid)
    set_uid(ds, "SeriesInstanceUID", series_uid)
    ds.StudyID = lo(scan.scan_id)[:16]
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.DICOSVersion = DICOS_VERSION
    ds.OOIType = "BAGGAGE"
    ds.AcquisitionStatus = "SUCCESSFUL"
    ds.ScanType = "OPERATIONAL"
    return ds


def save_atomic(ds: Dataset, path: str | os.PathLike[str]) -> Path:
    """Write ``ds`` as a DICOM file: a temporary file in the same folder, then ``os.replace``.

    A reader never sees a half-written file, and a failure leaves nothing behind.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            ds.save_as(fh, enforce_file_format=True)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def object_type(sop_class_uid: str | None) -> str:
    """``"DICOS DX"`` etc. for a SOP class, ``"DICOM"`` for other known UIDs."""
    if sop_class_uid in DICOS_CLASSES:
        return DICOS_CLASSES[sop_class_uid]
    return "DICOM"


def identity_of(ds: Dataset) -> dict[str, str]:
    """The image's OOI (patient) and study identity as ``{keyword: text}`` (present ones only),
    for the TDR writers to copy; values as stored (no VR check: peers' files vary)."""
    out: dict[str, str] = {}
    for keyword in IDENTITY_KEYWORDS:
        tag = tag_for_keyword(keyword)
        if tag is None or tag not in ds:
            continue
        value = ds.get_item(tag).value
        if isinstance(value, bytes):
            value = value.decode("latin-1")
        text = str(value if value is not None else "").rstrip("\x00 ")
        if text:
            out[keyword] = text
    return out


def set_identity(ds: Dataset, identity: dict[str, str]) -> None:
    """Write ``identity`` (from :func:`identity_of`) into ``ds`` verbatim."""
    from pydicom.datadict import dictionary_VR

    for keyword, text in identity.items():
        tag = tag_for_keyword(keyword)
        if tag is None or keyword not in IDENTITY_KEYWORDS:
            continue
        ds[tag] = DataElement(tag, dictionary_VR(tag), text, validation_mode=config.IGNORE)
