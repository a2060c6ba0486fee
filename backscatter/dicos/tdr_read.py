"""Read Threat Detection Reports (ours and other vendors') back into Detections.

Tolerant by design: a PTO's box comes from ThreatROIBase + ThreatROIExtents when present (pixel /
voxel coordinates of the referenced image; x and y kept, z dropped), else from its
BoundingPolygon, read as 2-D vertex pairs for 2-D images or as XYZ points otherwise, including
the SDICOS two-corner form ``[x0, y0, z0, x1, y1, z1]``. Class names not in ``class_names`` are
appended (policy ``unknown_classes="append"``) so foreign categories survive the trip.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.dicos.content import ImageRef
from backscatter.dicos.enum import AssessmentFlag, OperatorVerdict
from backscatter.dicos.uids import DICOS_TDR, IMAGE_2D_CLASSES

#: score given to a PTO without ATDAssessmentProbability, by its assessment flag
FLAG_SCORES: dict[str, float] = {"THREAT": 1.0, "NO_THREAT": 0.0, "UNKNOWN": 0.5}

#: largest TDR file read (a TDR holds boxes and packed bitmaps: megabytes at most)
MAX_TDR_BYTES = 256 * 1024 * 1024


class TDRReadError(ValueError):
    """A file that is not a Threat Detection Report we can read."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


@dataclass(frozen=True)
class TDR:
    """A TDR's header and its PTOs; row ``i`` of ``detections`` is PTO ``pto_ids[i]``."""

    path: str
    sop_instance_uid: str
    study_instance_uid: str | None
    tdr_type: str
    alarm_decision: str
    alarm_decision_time: str | None
    algorithm: tuple[str, ...]
    detections: Detections
    pto_ids: tuple[int, ...]
    #: per PTO: ATDAssessmentFlag, ThreatCategory
    flags: tuple[str, ...]
    categories: tuple[str, ...]
    #: per PTO: the images its representation references
    references: tuple[tuple[ImageRef, ...], ...]
    #: per PTO: the machine PTO id it refers to (operator TDRs), else None
    referenced_pto_ids: tuple[int | None, ...]
    referenced_tdr_uids: tuple[str, ...] = ()
    operator_id: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def image_refs(self) -> list[ImageRef]:
        """Every referenced image (the PTOs', then the TDR's own reference), first-seen order,
        without repeats."""
        seen: dict[ImageRef, None] = {}
        for refs in (*self.references, self.extras.get("image_refs", ())):
            for r in refs:
                seen.setdefault(r, None)
        return list(seen)

    @property
    def verdicts(self) -> tuple[OperatorVerdict | None, ...]:
        """Per PTO of an operator TDR: CONFIRMED / REJECTED / ADDED (None elsewhere)."""
        if self.tdr_type != "OPERATOR":
            return tuple(None for _ in self.pto_ids)
        out: list[OperatorVerdict | None] = []
        for ref, flag in zip(self.referenced_pto_ids, self.flags, strict=True):
            if ref is None:
                out.append(OperatorVerdict.ADDED)
            elif flag == AssessmentFlag.NO_THREAT:
                out.append(OperatorVerdict.REJECTED)
            else:
                out.append(OperatorVerdict.CONFIRMED)
        return tuple(out)


def _floats(value: Any) -> list[float]:
    if value is None:
        return []
    if isinstance(value, int | float):
        return [float(value)]
    return [float(v) for v in value]


def _polygon_box(values: list[float], two_d: bool) -> tuple[float, float, float, float] | None:
    n = len(values)
    if n < 4:
        return None
    if two_d and n % 2 == 0 and n != 6:
        xs, ys = values[0::2], values[1::2]
    elif n % 3 == 0:
        xs, ys = values[0::3], values[1::3]
    elif n % 2 == 0:
        xs, ys = values[0::2], values[1::2]
    else:
        return None
    return min(xs), min(ys), max(xs), max(ys)


def _unpack_bitmap(data: bytes, base: list[float], ext: list[float]) -> tuple[np.ndarray, int, int]:
    """(rows, cols) bool grid of a ROI bitmap and its top-left pixel (col, row); z is or-ed."""
    c0, r0 = math.floor(base[0]), math.floor(base[1])
    w = max(math.ceil(base[0] + ext[0]), c0 + 1) - c0
    h = max(math.ceil(base[1] + ext[1]), r0 + 1) - r0
    d = max(int(round(ext[2])), 1) if len(ext) > 2 else 1
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little")
    if bits.size < w * h * d:
        d = max(bits.size // (w * h), 1)
    if bits.size < w * h:
        raise ValueError(f"ROI bitmap: expected {w * h * d} bits for {w}x{h}x{d}, got {bits.size}")
    grid: np.ndarray = np.asarray(bits[: w * h * d].reshape(d, h, w).astype(bool).any(axis=0))
    return grid, c0, r0


def _parse_pto(
    item: Dataset,
) -> tuple[
    tuple[float, float, float, float], tuple[ImageRef, ...], tuple[np.ndarray, int, int] | None
]:
    refs: list[ImageRef] = []
    box = None
    bitmap = None
    for rep in item.get("PTORepresentationSequence", []):
        for r in rep.get("ReferencedInstanceSequence", []):
            refs.append(
                ImageRef(
                    str(r.get("ReferencedSOPClassUID", "")),
                    str(r.get("ReferencedSOPInstanceUID", "")),
                )
            )
        for roi in rep.get("ThreatROIVoxelSequence", []):
            base, ext = _floats(roi.get("ThreatROIBase")), _floats(roi.get("ThreatROIExtents"))
            if box is None and len(base) >= 2 and len(ext) >= 2:
                b0, b1 = np.float32(base[0]), np.float32(base[1])
                box = (
                    float(b0),
                    float(b1),
                    float(b0 + np.float32(ext[0])),
                    float(b1 + np.float32(ext[1])),
                )
                data = roi.get("ThreatROIBitmap")
                if data:
                    bitmap = _unpack_bitmap(bytes(data), base, ext)
        if box is None and "BoundingPolygon" in rep:
            two_d = any(r.sop_class_uid in IMAGE_2D_CLASSES for r in refs)
            box = _polygon_box(_floats(rep.BoundingPolygon), two_d)
    if box is None:
        raise ValueError("expected ThreatROIBase/Extents or a BoundingPolygon, found neither")
    x0, y0, x1, y1 = box
    return (x0, y0, max(x1, x0), max(y1, y0)), tuple(refs), bitmap


def read_tdr(
    path: str | os.PathLike[str],
    *,
    class_names: Sequence[str] = THREAT_CLASSES,
    image_shape: tuple[int, int] | None = None,
    unknown_classes: Literal["append", "error"] = "append",
) -> TDR:
    """Read a DICOS TDR file into a :class:`TDR` (Detections plus header information).

    The class of a PTO is its ThreatCategoryDescription when that is one of ``class_names``;
    otherwise the description (or the ThreatCategory when there is none) is appended to the
    class names, or :class:`TDRReadError` is raised with ``unknown_classes="error"``. Scores are
    ATDAssessmentProbability, else :data:`FLAG_SCORES` of the flag. Masks ``(N, rows, cols)`` are
    built from ROI bitmaps only when ``image_shape`` is given and some PTO has a bitmap (PTOs
    without one get their box filled).
    """
    from backscatter.acquisition._common import tolerant_pydicom
    from backscatter.acquisition.dicom import looks_truncated

    data = _read_capped(path)
    with tolerant_pydicom():  # foreign files: zero-padded UIDs, unknown tags
        try:
            # parsed from memory: a corrupt element length then cannot make the file reader
            # allocate its claimed size (up to 4 GiB) before finding the file is shorter
            ds = pydicom.dcmread(io.BytesIO(data))
        except (InvalidDicomError, EOFError, ValueError, KeyError, TypeError) as exc:
            raise TDRReadError(path, f"not a readable DICOM file ({exc})") from None
        except Exception as exc:  # OSError, RecursionError, struct.error, unknown VR...
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise TDRReadError(path, f"truncated or corrupt DICOM ({reason})") from None
        if not _tdr_content_whole(ds) and looks_truncated(ds, data):
            # pydicom stops quietly where a file is cut: a TDR cut before its threat content
            # would read as an empty MACHINE report (a cut tail after it is tolerated)
            raise TDRReadError(
                path,
                "truncated or corrupt DICOM: file ends inside an element, before the "
                "TDR's type and threat sequence",
            )
        try:
            return _parse(ds, path, list(class_names), image_shape, unknown_classes)
        except TDRReadError:
            raise
        except Exception as exc:  # corrupt content fails in many ways deep in pydicom: one type
            reason = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise TDRReadError(
                path, f"unreadable TDR content ({type(exc).__name__}: {reason})"
            ) from None


def _tdr_content_whole(ds: Dataset) -> bool:
    """TDRType and ThreatSequence present, with as many PTOs as NumberOfTotalObjects says."""
    try:
        if "TDRType" not in ds or "ThreatSequence" not in ds:
            return False
        total = ds.get("NumberOfTotalObjects")
        return total is None or int(total) == len(ds.ThreatSequence)
    except Exception:  # a corrupt value (multi-valued, wrong VR...) is not whole content
        return False


def _read_capped(path: str | os.PathLike[str]) -> bytes:
    """The file's bytes; refuses a file over :data:`MAX_TDR_BYTES` before reading it."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size > MAX_TDR_BYTES:
            raise TDRReadError(
                path, f"file is {size} bytes, over the {MAX_TDR_BYTES}-byte TDR read limit"
            )
        return fh.read()


def _parse(
    ds: Dataset,
    path: str | os.PathLike[str],
    names: list[str],
    image_shape: tuple[int, int] | None,
    unknown_classes: str,
) -> TDR:
    sop_class = str(ds.get("SOPClassUID", ""))
    if sop_class != DICOS_TDR and "ThreatSequence" not in ds:
        raise TDRReadError(path, f"expected a DICOS TDR (SOP class {DICOS_TDR}), got {sop_class!r}")
    boxes, scores, labels, ids, flags, cats, refs, ref_ptos, bitmaps = ([] for _ in range(9))
    for index, item in enumerate(ds.get("ThreatSequence", [])):
        try:
            box, pto_refs, bitmap = _parse_pto(item)
        except ValueError as exc:
            raise TDRReadError(path, f"PTO #{index}: {exc}") from None
        assessment = item.get("ATDAssessmentSequence", [Dataset()])
        a = assessment[0] if len(assessment) else Dataset()
        category = str(a.get("ThreatCategory", "") or "ANOMALY")
        description = str(a.get("ThreatCategoryDescription", "") or "").strip()
        flag = str(a.get("ATDAssessmentFlag", "") or "UNKNOWN")
        name = description if description in names else (description or category)
        if name not in names:
            if unknown_classes == "error":
                raise TDRReadError(path, f"PTO #{index}: class {name!r} not in {tuple(names)}")
            names.append(name)
        prob = a.get("ATDAssessmentProbability")
        boxes.append(box)
        scores.append(float(prob) if prob is not None else FLAG_SCORES.get(flag, 0.5))
        labels.append(names.index(name))
        ids.append(int(item.get("PotentialThreatObjectID", index)))
        flags.append(flag)
        cats.append(category)
        refs.append(pto_refs)
        ref_seq = item.get("ReferencedPTOSequence", [])
        ref_ptos.append(int(ref_seq[0].PotentialThreatObjectID) if len(ref_seq) else None)
        bitmaps.append(bitmap)
    masks = None
    if image_shape is not None and any(b is not None for b in bitmaps):
        rows, cols = image_shape
        masks = np.zeros((len(boxes), rows, cols), bool)
        for i, (bitmap, box) in enumerate(zip(bitmaps, boxes, strict=True)):
            if bitmap is None:
                c0, r0 = max(math.floor(box[0]), 0), max(math.floor(box[1]), 0)
                masks[i, r0 : math.ceil(box[3]), c0 : math.ceil(box[2])] = True
                continue
            grid, c0, r0 = bitmap
            rs, cs = max(r0, 0), max(c0, 0)
            re_, ce = min(r0 + grid.shape[0], rows), min(c0 + grid.shape[1], cols)
            if rs < re_ and cs < ce:
                masks[i, rs:re_, cs:ce] = grid[rs - r0 : re_ - r0, cs - c0 : ce - c0]
    detections = Detections(
        boxes=np.array(boxes, np.float32).reshape(-1, 4),
        scores=np.clip(np.array(scores, np.float32), 0.0, 1.0),
        labels=np.array(labels, np.int64),
        class_names=tuple(names),
        masks=masks,
    )
    operator_id = None
    for person in ds.get("OperatorIdentificationSequence", []):
        for code in person.get("PersonIdentificationCodeSequence", []):
            operator_id = str(code.get("CodeValue") or code.get("LongCodeValue") or "") or None
    tdr_refs = [
        str(r.ReferencedSOPInstanceUID)
        for r in ds.get("ReferencedTDRInstanceSequence", [])
        if "ReferencedSOPInstanceUID" in r
    ]
    top_refs = tuple(
        ImageRef(
            str(r.get("ReferencedSOPClassUID", "")), str(r.get("ReferencedSOPInstanceUID", ""))
        )
        for r in ds.get("ReferencedInstanceSequence", [])
        if "ReferencedSOPInstanceUID" in r
    )
    extras: dict[str, Any] = {"abort_flag": str(ds.get("AbortFlag", "") or "SUCCESS")}
    if top_refs:
        extras["image_refs"] = top_refs
    if ds.get("AbortReason"):
        extras["abort_reason"] = str(ds.AbortReason)
    algorithm = ds.get("ThreatDetectionAlgorithmAndVersion", [])
    algorithm = [algorithm] if isinstance(algorithm, str) else list(algorithm)
    return TDR(
        path=os.fspath(path),
        sop_instance_uid=str(ds.get("SOPInstanceUID", "")),
        study_instance_uid=str(ds.StudyInstanceUID) if "StudyInstanceUID" in ds else None,
        tdr_type=str(ds.get("TDRType", "") or "MACHINE"),
        alarm_decision=str(ds.get("AlarmDecision", "") or "UNKNOWN"),
        alarm_decision_time=str(ds.AlarmDecisionTime) if ds.get("AlarmDecisionTime") else None,
        algorithm=tuple(str(a) for a in algorithm),
        detections=detections,
        pto_ids=tuple(ids),
        flags=tuple(flags),
        categories=tuple(cats),
        references=tuple(refs),
        referenced_pto_ids=tuple(ref_ptos),
        referenced_tdr_uids=tuple(tdr_refs),
        operator_id=operator_id,
        extras=extras,
    )
