"""Write DICOS Threat Detection Reports (machine, operator, ground truth) from Detections.

Coordinates: each PTO's box ``x0, y0, x1, y1`` (scan pixels, x = column, exclusive x1/y1) is
written as ThreatROIBase ``(x0, y0, 0)`` + ThreatROIExtents ``(x1 - x0, y1 - y0, 1)`` and as a
four-vertex 2-D BoundingPolygon. A mask becomes the ThreatROIBitmap over the pixel grid
``floor(x0)..ceil(x1)`` x ``floor(y0)..ceil(y1)``, bits packed x fastest, least significant bit
first (as the SDICOS samples do). Reading lives in :mod:`backscatter.dicos.tdr_read`.
"""

from __future__ import annotations

import copy
import math
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

import numpy as np
import pydicom
from pydicom.datadict import dictionary_has_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from backscatter import __version__
from backscatter.detections import Detections
from backscatter.dicos.content import (
    DICOS_VERSION,
    IDENTITY_KEYWORDS,
    MANUFACTURER,
    DicosWriteError,
    ImageRef,
    base_dataset,
    dt_value,
    file_meta,
    image_ref,
    lo,
    save_atomic,
    scan_uids,
    set_identity,
    set_uid,
)
from backscatter.dicos.enum import (
    AbilityAssessment,
    AlarmDecision,
    AssessmentFlag,
    TDRType,
    ThreatCategory,
    category_for,
)
from backscatter.dicos.tdr_read import TDR, read_tdr
from backscatter.dicos.uids import DICOS_TDR, derived_uid, new_uid
from backscatter.scan import Scan

__all__ = [
    "TDR",
    "read_tdr",
    "abort_reason_for",
    "write_aborted_tdr",
    "write_ground_truth_tdr",
    "write_machine_tdr",
    "write_operator_tdr",
]


def _f32_extent(start: float, end: float) -> float:
    """Extent e with float32(start) + e == float32(end), so base + extents gives the box back."""
    s, e = np.float32(start), np.float32(end)
    ext = np.float32(e - s)
    while np.float32(s + ext) < e:
        ext = np.nextafter(ext, np.float32(np.inf))
    while np.float32(s + ext) > e:
        ext = np.nextafter(ext, np.float32(-np.inf))
    return float(ext)


def pack_bitmap(mask: np.ndarray, box: np.ndarray) -> bytes:
    """ThreatROIBitmap bytes of ``mask`` (rows, cols) over the box's pixel grid."""
    x0, y0, x1, y1 = (float(v) for v in box)
    c0, r0 = math.floor(x0), math.floor(y0)
    c1, r1 = max(math.ceil(x1), c0 + 1), max(math.ceil(y1), r0 + 1)
    grid = np.zeros((r1 - r0, c1 - c0), bool)
    rows, cols = mask.shape
    rs, re_, cs, ce = max(r0, 0), min(r1, rows), max(c0, 0), min(c1, cols)
    if rs < re_ and cs < ce:
        grid[rs - r0 : re_ - r0, cs - c0 : ce - c0] = mask[rs:re_, cs:ce]
    return np.packbits(grid.reshape(-1), bitorder="little").tobytes()


def pto_item(
    pto_id: int,
    box: np.ndarray,
    *,
    ref: ImageRef,
    class_name: str,
    flag: AssessmentFlag,
    probability: float | None,
    mask: np.ndarray | None = None,
    category: ThreatCategory | None = None,
    alternatives: Mapping[str, float] | None = None,
) -> Dataset:
    """One ThreatSequence item: PTO id, representation (ROI, polygon, reference), assessment.

    ``alternatives`` (other classes proposed on the same object, ``{class_name: score}``) are
    further ATDAssessmentSequence items after the first, each with the PTO's flag and its own
    probability; readers that take the first assessment see the top class.
    """
    x0, y0, x1, y1 = (float(v) for v in box)
    item = Dataset()
    item.PotentialThreatObjectID = int(pto_id)
    rep = Dataset()
    referenced = Dataset()
    set_uid(referenced, "ReferencedSOPClassUID", ref.sop_class_uid)
    set_uid(referenced, "ReferencedSOPInstanceUID", ref.sop_instance_uid)
    rep.ReferencedInstanceSequence = DicomSequence([referenced])
    roi = Dataset()
    roi.ThreatROIBase = [x0, y0, 0.0]
    roi.ThreatROIExtents = [_f32_extent(x0, x1), _f32_extent(y0, y1), 1.0]
    if mask is not None:
        roi.ThreatROIBitmap = pack_bitmap(mask, box)
    rep.ThreatROIVoxelSequence = DicomSequence([roi])
    rep.BoundingPolygon = [x0, y0, x1, y0, x1, y1, x0, y1]
    item.PTORepresentationSequence = DicomSequence([rep])
    assessments = [_assessment(class_name, flag, probability, category)]
    for name, score in (alternatives or {}).items():
        assessments.append(_assessment(name, flag, score, None))
    item.ATDAssessmentSequence = DicomSequence(assessments)
    return item


def _assessment(
    class_name: str,
    flag: AssessmentFlag,
    probability: float | None,
    category: ThreatCategory | None,
) -> Dataset:
    assessment = Dataset()
    assessment.ThreatCategory = str(category or category_for(class_name))
    assessment.ThreatCategoryDescription = class_name
    assessment.ATDAbilityAssessment = str(AbilityAssessment.NO_INTERFERENCE)
    assessment.ATDAssessmentFlag = str(flag)
    if probability is not None:
        assessment.ATDAssessmentProbability = float(np.clip(probability, 0.0, 1.0))
    return assessment


def _set_tdr_module(
    ds: Dataset,
    *,
    tdr_type: TDRType,
    decision: AlarmDecision,
    decision_time: datetime,
    items: list[Dataset],
    n_alarm: int,
    algorithm: Sequence[str],
    processing_time_ms: float | None,
) -> None:
    ds.TDRType = str(tdr_type)
    ds.AbortFlag = "SUCCESS"
    ds.AlarmDecision = str(decision)
    ds.AlarmDecisionTime = dt_value(decision_time)
    ds.ThreatDetectionAlgorithmAndVersion = [lo(a) for a in algorithm if a] or ["unknown"]
    ds.NumberOfTotalObjects = len(items)
    ds.NumberOfAlarmObjects = n_alarm
    ds.ImageScaleRepresentation = "1"
    if processing_time_ms is not None:
        ds.TotalProcessingTime = float(processing_time_ms)
    ds.ThreatSequence = DicomSequence(items)


def _check(detections: Detections, scan: Scan, path: str | os.PathLike[str]) -> None:
    if detections.masks is not None and detections.masks.shape[1:] != scan.shape:
        got = detections.masks.shape[1:]
        raise DicosWriteError(
            path, f"masks: expected shape (N, {scan.rows}, {scan.cols}), got {got}"
        )
    if len(detections) > 65535:
        raise DicosWriteError(path, f"expected at most 65535 PTOs, got {len(detections)}")


def _scan_tdr(
    scan: Scan,
    detections: Detections,
    path: str | os.PathLike[str],
    *,
    tdr_type: TDRType,
    threshold: float,
    algorithm: Sequence[str],
    image: ImageRef | None,
    decision_time: datetime | None,
    processing_time_ms: float | None,
    with_probability: bool,
    sop_instance_uid: str | None = None,
    abort_reason: str | None = None,
) -> str:
    _check(detections, scan, path)
    created = datetime.now(UTC)
    uids = scan_uids(scan)
    ref = image or image_ref(scan)
    uid = sop_instance_uid or new_uid()
    ds = base_dataset(
        sop_class_uid=DICOS_TDR,
        sop_instance_uid=uid,
        study_uid=uids.study,
        series_uid=derived_uid(uids.study, "tdr", str(tdr_type)),
        modality="TDR",
        scan=scan,
        series_number={TDRType.MACHINE: 2, TDRType.OPERATOR: 3}.get(tdr_type, 4),
        created=created,
    )
    alarm = detections.scores >= threshold
    items = [
        pto_item(
            i,
            detections.boxes[i],
            ref=ref,
            class_name=detections.class_names[int(detections.labels[i])],
            flag=AssessmentFlag.THREAT if alarm[i] else AssessmentFlag.NO_THREAT,
            probability=float(detections.scores[i]) if with_probability else None,
            mask=None if detections.masks is None else detections.masks[i],
            alternatives=detections.alternatives(i) if with_probability else None,
        )
        for i in range(len(detections))
    ]
    _set_tdr_module(
        ds,
        tdr_type=tdr_type,
        decision=AlarmDecision.ALARM if alarm.any() else AlarmDecision.CLEAR,
        decision_time=decision_time or created,
        items=items,
        n_alarm=int(alarm.sum()),
        algorithm=algorithm,
        processing_time_ms=processing_time_ms,
    )
    _identify(ds, scan, ref)
    if abort_reason is not None:
        ds.AbortFlag = "ABORT"
        ds.AbortReason = abort_reason
        ds.AlarmDecision = str(AlarmDecision.UNKNOWN)
    save_atomic(ds, path)
    return uid


def _identify(ds: Dataset, scan: Scan, ref: ImageRef) -> None:
    """The image's identity: its patient (OOI) and study elements when the scan came from a
    DICOS/DICOM file (``extras["identity"]``), and a reference to the image itself at the top
    level, so a TDR without PTOs (CLEAR) still names what it reports on."""
    identity = scan.extras.get("identity")
    if isinstance(identity, dict):  # exactly the image's: what it leaves out stays empty
        set_identity(ds, {k: str(identity.get(k, "")) for k in IDENTITY_KEYWORDS})
    referenced = Dataset()
    set_uid(referenced, "ReferencedSOPClassUID", ref.sop_class_uid)
    set_uid(referenced, "ReferencedSOPInstanceUID", ref.sop_instance_uid)
    ds.ReferencedInstanceSequence = DicomSequence([referenced])


def machine_tdr_uid(ref: ImageRef, algorithm: Sequence[str]) -> str:
    """The machine TDR's SOP Instance UID: derived from the image and the model release, so a
    re-sent (or re-screened) image's TDR replaces the first, here and in an archive, while
    another model's TDR of the same image is a separate object."""
    return derived_uid(ref.sop_class_uid, ref.sop_instance_uid, "tdr", "MACHINE", *algorithm)


def write_machine_tdr(
    scan: Scan,
    detections: Detections,
    path: str | os.PathLike[str],
    *,
    model_id: str,
    alarm_threshold: float,
    model_version: str = "",
    model_sha256: str = "",
    image: ImageRef | None = None,
    decision_time: datetime | None = None,
    processing_time_ms: float | None = None,
) -> str:
    """Write the detector's TDR for ``scan``; returns the TDR's SOP Instance UID.

    ``detections`` are the flags to report, one PTO each (the screening sinks pass the flags at
    or above the threshold, :mod:`backscatter.inference.flags`); a flag's other classes
    (``class_scores``) follow its first assessment as alternatives. AlarmDecision is ALARM
    when any score >= ``alarm_threshold``; each PTO's ATDAssessmentFlag is THREAT/NO_THREAT
    by the same rule and its ATDAssessmentProbability is the score. ``image``
    defaults to the scan's own image (the DX :func:`~backscatter.dicos.dx.write_dx` writes, or
    the received DICOS/DICOM image). PTO ids are the detection indices 0..N-1.
    """
    if not 0.0 <= alarm_threshold <= 1.0:
        raise DicosWriteError(path, f"alarm_threshold: expected 0..1, got {alarm_threshold}")
    algorithm = (model_id, model_version, model_sha256)
    return _scan_tdr(
        scan,
        detections,
        path,
        tdr_type=TDRType.MACHINE,
        threshold=alarm_threshold,
        algorithm=algorithm,
        image=image,
        decision_time=decision_time,
        processing_time_ms=processing_time_ms,
        with_probability=True,
        sop_instance_uid=machine_tdr_uid(image or image_ref(scan), algorithm),
    )


def abort_reason_for(reason: str) -> str:
    """DICOS AbortReason (4010,1021) for a read failure: INCOMPLETE_SCAN when the image was
    cut short, else UNKNOWN."""
    return "INCOMPLETE_SCAN" if "truncated" in reason.lower() else "UNKNOWN"


def write_aborted_tdr(
    path: str | os.PathLike[str],
    *,
    image: ImageRef,
    abort_reason: str,
    study: str | None,
    identity: dict[str, str] | None,
    model_id: str,
    model_version: str = "",
    model_sha256: str = "",
) -> str:
    """A MACHINE TDR for an image the detector could not analyse: AbortFlag ABORT, the given
    AbortReason, AlarmDecision UNKNOWN, no PTOs; it carries the image's identity and references
    it. Returns the TDR's SOP Instance UID (the one :func:`write_machine_tdr` would use)."""
    extras: dict[str, object] = {"sop_instance_uid": image.sop_instance_uid}
    if study:
        extras["study_instance_uid"] = study
    if identity is not None:
        extras["identity"] = dict(identity)
    stand_in = Scan(
        pixels=np.zeros((1, 1), np.uint8),
        bits_stored=8,
        scan_id=image.sop_instance_uid,
        sop_class_uid=image.sop_class_uid,
        extras=extras,
    )
    algorithm = (model_id, model_version, model_sha256)
    return _scan_tdr(
        stand_in,
        Detections.empty(),
        path,
        tdr_type=TDRType.MACHINE,
        threshold=1.0,
        algorithm=algorithm,
        image=image,
        decision_time=None,
        processing_time_ms=None,
        with_probability=True,
        sop_instance_uid=machine_tdr_uid(image, algorithm),
        abort_reason=abort_reason,
    )


def write_ground_truth_tdr(
    scan: Scan,
    detections: Detections,
    path: str | os.PathLike[str],
    *,
    annotator: str = "ground truth",
    image: ImageRef | None = None,
) -> str:
    """Write labelled objects (training data, exercise answer keys) as a GROUND_TRUTH TDR.

    Every PTO is a THREAT; AlarmDecision is ALARM when there is at least one. Scores are kept as
    ATDAssessmentProbability (usually 1.0) and masks as ROI bitmaps.
    """
    return _scan_tdr(
        scan,
        detections,
        path,
        tdr_type=TDRType.GROUND_TRUTH,
        threshold=-np.inf,
        algorithm=(annotator,),
        image=image,
        decision_time=None,
        processing_time_ms=None,
        with_probability=True,
    )


def _tdr_ref(uid: str) -> Dataset:
    ref = Dataset()
    ref.ReferencedSOPClassUID = DICOS_TDR
    set_uid(ref, "ReferencedSOPInstanceUID", uid)
    return ref


#: what an operator TDR takes over from the machine TDR: the OOI (patient) and study modules
_FROM_MACHINE = (
    "SpecificCharacterSet",
    "PatientName",
    "PatientID",
    "IssuerOfPatientID",
    "TypeOfPatientID",
    "PatientBirthDate",
    "PatientSex",
    "StudyInstanceUID",
    "StudyDate",
    "StudyTime",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "OOIType",
    "AcquisitionStatus",
    "ScanType",
)


def _standard_only(seq: DicomSequence) -> DicomSequence:
    """A deep copy without private or unknown elements (a vendor's extras are its own)."""
    out = copy.deepcopy(seq)

    def strip(ds: Dataset) -> None:
        for elem in list(ds):
            if elem.tag.is_private or not dictionary_has_tag(elem.tag):
                del ds[elem.tag]
            elif elem.VR == "SQ":
                for inner in elem.value:
                    strip(inner)

    for item in out:
        strip(item)
    return out


def _operator_dataset(machine: Dataset, uid: str, created: datetime) -> Dataset:
    """A fresh TDR dataset in the machine TDR's study and OOI; series and equipment are ours."""
    ds = Dataset()
    ds.file_meta = file_meta(DICOS_TDR, uid)
    for keyword in _FROM_MACHINE:
        tag = tag_for_keyword(keyword)
        if tag is not None and tag in machine:
            ds[tag] = copy.deepcopy(machine[tag])
    study = str(machine.get("StudyInstanceUID", "")) or derived_uid(uid, "study")
    if "StudyInstanceUID" not in ds:
        set_uid(ds, "StudyInstanceUID", study)
    ds.InstanceCreationDate = ds.ContentDate = ds.SeriesDate = created.strftime("%Y%m%d")
    ds.InstanceCreationTime = ds.ContentTime = ds.SeriesTime = created.strftime("%H%M%S.%f")
    ds.SOPClassUID = DICOS_TDR
    ds.SOPInstanceUID = uid
    ds.Modality = "TDR"
    set_uid(ds, "SeriesInstanceUID", derived_uid(study, "tdr", "OPERATOR"))
    ds.SeriesNumber = 3
    ds.InstanceNumber = 1
    ds.Manufacturer = MANUFACTURER
    ds.ManufacturerModelName = "backscatter review"
    ds.SoftwareVersions = lo(f"backscatter {__version__}")
    ds.DICOSVersion = DICOS_VERSION
    return ds


def write_operator_tdr(
    machine_tdr: str | os.PathLike[str] | TDR,
    path: str | os.PathLike[str],
    *,
    operator_id: str,
    decision: AlarmDecision | str,
    confirmed: Sequence[int] = (),
    rejected: Sequence[int] = (),
    added: Detections | None = None,
    operator_name: str | None = None,
    decision_time: datetime | None = None,
    image: ImageRef | None = None,
) -> str:
    """Write an officer's decision on a machine TDR; returns the operator TDR's SOP Instance UID.

    ``image`` is the image ``added`` boxes are drawn on when the machine TDR references none
    (a CLEAR scan's machine TDR has no PTO, hence no image reference).

    ``machine_tdr`` is the machine TDR's path (or what :func:`read_tdr` returned for it).
    ``confirmed`` / ``rejected`` are its PotentialThreatObjectIDs (for our TDRs, the detection
    indices); each becomes a PTO with ATDAssessmentFlag THREAT / NO_THREAT, its representation
    copied and a ReferencedPTOSequence pointing at the machine PTO and TDR. ``added`` are boxes
    the officer drew (flag THREAT, no reference). ``decision`` is the officer's AlarmDecision.
    The TDR references the machine TDR in ReferencedTDRInstanceSequence and names the officer in
    OperatorIdentificationSequence (PersonIdentificationCodeSequence, coding scheme ``L``).
    """
    if not isinstance(operator_id, str) or not operator_id.strip():
        raise DicosWriteError(
            path, f"operator_id: expected a non-empty string, got {operator_id!r}"
        )
    try:
        verdict = AlarmDecision(str(decision))
    except ValueError:
        names = ", ".join(d.value for d in AlarmDecision)
        reason = f"decision: expected one of {names}, got {decision!r}"
        raise DicosWriteError(path, reason) from None
    source = machine_tdr if isinstance(machine_tdr, TDR) else read_tdr(machine_tdr)
    machine = pydicom.dcmread(source.path)
    known = {int(it.PotentialThreatObjectID): it for it in machine.get("ThreatSequence", [])}
    both = set(confirmed) & set(rejected)
    if both:
        raise DicosWriteError(path, f"PTOs {sorted(both)} are both confirmed and rejected")
    unknown = sorted((set(confirmed) | set(rejected)) - set(known))
    if unknown:
        raise DicosWriteError(
            path, f"PTO ids {unknown} are not in machine TDR {source.sop_instance_uid}"
        )
    created = datetime.now(UTC)
    uid = new_uid()
    ds = _operator_dataset(machine, uid, created)
    items: list[Dataset] = []
    for pto_id, flag in [(p, AssessmentFlag.THREAT) for p in confirmed] + [
        (p, AssessmentFlag.NO_THREAT) for p in rejected
    ]:
        old = known[int(pto_id)]
        item = Dataset()
        item.PotentialThreatObjectID = len(items)
        ref_pto = Dataset()
        ref_pto.PotentialThreatObjectID = int(pto_id)
        ref_pto.ReferencedTDRInstanceSequence = DicomSequence([_tdr_ref(source.sop_instance_uid)])
        item.ReferencedPTOSequence = DicomSequence([ref_pto])
        item.PTORepresentationSequence = _standard_only(old.PTORepresentationSequence)
        assessment = Dataset()
        old_assessment = old.get("ATDAssessmentSequence", [Dataset()])[0]
        assessment.ThreatCategory = old_assessment.get("ThreatCategory", "ANOMALY")
        if "ThreatCategoryDescription" in old_assessment:
            assessment.ThreatCategoryDescription = old_assessment.ThreatCategoryDescription
        assessment.ATDAbilityAssessment = old_assessment.get(
            "ATDAbilityAssessment", str(AbilityAssessment.NO_INTERFERENCE)
        )
        assessment.ATDAssessmentFlag = str(flag)
        item.ATDAssessmentSequence = DicomSequence([assessment])
        items.append(item)
    if added is not None and len(added):
        refs = list(source.image_refs) or ([image] if image is not None else [])
        if not refs:
            raise DicosWriteError(path, "added PTOs: the machine TDR references no image")
        for i in range(len(added)):
            items.append(
                pto_item(
                    len(items),
                    added.boxes[i],
                    ref=refs[0],
                    class_name=added.class_names[int(added.labels[i])],
                    flag=AssessmentFlag.THREAT,
                    probability=None,
                    mask=None if added.masks is None else added.masks[i],
                )
            )
    person = Dataset()
    code = Dataset()
    if len(operator_id) <= 16:
        code.CodeValue = operator_id
    else:
        code.LongCodeValue = operator_id
    code.CodingSchemeDesignator = "L"
    code.CodeMeaning = lo(operator_name or operator_id)
    person.PersonIdentificationCodeSequence = DicomSequence([code])
    ds.OperatorIdentificationSequence = DicomSequence([person])
    if operator_name:
        ds.OperatorsName = operator_name
    ds.ReferencedTDRInstanceSequence = DicomSequence([_tdr_ref(source.sop_instance_uid)])
    n_alarm = sum(1 for it in items if it.ATDAssessmentSequence[0].ATDAssessmentFlag == "THREAT")
    _set_tdr_module(
        ds,
        tdr_type=TDRType.OPERATOR,
        decision=verdict,
        decision_time=decision_time or created,
        items=items,
        n_alarm=n_alarm,
        algorithm=(f"operator {operator_id}",),
        processing_time_ms=None,
    )
    save_atomic(ds, path)
    return uid
