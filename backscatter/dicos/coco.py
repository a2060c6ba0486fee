"""COCO detection datasets from DICOS images and the TDRs that label them.

Labelled data from the field arrives as DICOS: 2-D images (DX, AIT 2D, or any image
:func:`~backscatter.acquisition.open_scan` reads) and Threat Detection Reports that reference
them by SOP Instance UID. A GROUND_TRUTH TDR (an annotator's labels, an exercise answer key)
labels every object in its image; an OPERATOR TDR (an officer's decision in the viewer) labels
the machine flags the officer confirmed and the objects the officer drew (rejected flags are not
objects); a MACHINE TDR is the detector's own output and is used only when asked for.
:func:`build_coco` pairs them and writes one COCO json that ``backscatter train`` and
``backscatter eval`` read as it is (``file_name`` relative to the json; ``bits_stored`` kept).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.dicos.enum import AssessmentFlag, OperatorVerdict, TDRType
from backscatter.dicos.tdr_read import TDR, TDRReadError, read_tdr
from backscatter.dicos.uids import DICOS_TDR

#: TDR types used as labels by default, most trusted first
LABEL_TYPES: tuple[str, ...] = (TDRType.GROUND_TRUTH.value, TDRType.OPERATOR.value)
#: when several TDRs label one image, the labels of the most trusted type win
_TRUST = {TDRType.GROUND_TRUTH.value: 0, TDRType.OPERATOR.value: 1, TDRType.MACHINE.value: 2}


@dataclass
class DatasetReport:
    """What :func:`build_coco` did; ``errors`` are one line each, naming the file and reason."""

    out: Path
    images: int = 0
    objects: int = 0
    tdrs_used: dict[str, int] = field(default_factory=dict)
    tdrs_skipped: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass
class _Labels:
    tdr: TDR
    boxes: list[tuple[float, float, float, float]]
    classes: list[str]
    image: Path


def _files(inputs: Iterable[str | os.PathLike[str]], report: DatasetReport) -> list[Path]:
    out: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.is_file())
        elif p.is_file():
            out.append(p)
        else:
            report.errors.append(f"{p}: no such file or directory")
    unique: dict[Path, Path] = {}
    for f in out:
        unique.setdefault(f.resolve(), f)
    return list(unique.values())


def _header(path: Path) -> tuple[str, str, str] | None:
    """(SOP Class, SOP Instance, Study Instance UID) of a DICOM file; None for a file that is
    not DICOM at all; :class:`ValueError` naming the reason for a DICOM file pydicom cannot
    read."""
    import pydicom

    from backscatter.acquisition._common import tolerant_pydicom
    from backscatter.acquisition.dicom import looks_like_dicom

    with path.open("rb") as fh:
        if not looks_like_dicom(fh.read(132)):
            return None
    tags = ["SOPClassUID", "SOPInstanceUID", "StudyInstanceUID"]
    try:
        with tolerant_pydicom():
            ds = pydicom.dcmread(path, stop_before_pixels=True, specific_tags=tags)
            sop_class, sop_uid, study = (str(ds.get(t, "") or "") for t in tags)
            return sop_class, sop_uid, study
    except Exception as exc:  # corrupt headers fail in many ways inside pydicom: one line
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise ValueError(f"{path}: unreadable DICOM header ({reason})") from None


def _objects(
    tdr: TDR, image: Path, class_map: Mapping[str, str], classes: Sequence[str]
) -> _Labels:
    """The PTOs of ``tdr`` that are objects, with their class names mapped onto ``classes``."""
    names = tdr.detections.class_names
    verdicts = tdr.verdicts
    boxes, out = [], []
    for i, flag in enumerate(tdr.flags):
        if tdr.tdr_type == TDRType.OPERATOR:
            if verdicts[i] not in (OperatorVerdict.CONFIRMED, OperatorVerdict.ADDED):
                continue
        elif flag == AssessmentFlag.NO_THREAT:
            continue
        name = names[int(tdr.detections.labels[i])]
        name = class_map.get(name, name)
        if name not in classes:
            raise TDRReadError(
                tdr.path,
                f"PTO {tdr.pto_ids[i]}: class {name!r} is not one of {', '.join(classes)} "
                f"(map it with --map '{name}=CLASS')",
            )
        x0, y0, x1, y1 = (float(v) for v in tdr.detections.boxes[i])
        boxes.append((x0, y0, x1, y1))
        out.append(name)
    return _Labels(tdr, boxes, out, image)


def build_coco(
    inputs: Iterable[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    accept: Sequence[str] = LABEL_TYPES,
    class_map: Mapping[str, str] | None = None,
    classes: Sequence[str] = THREAT_CLASSES,
) -> DatasetReport:
    """Write a COCO detection json at ``out`` from the DICOS images and TDRs under ``inputs``.

    Every TDR of a type in ``accept`` labels the image it references, which must be among the
    inputs; an image labelled by several TDRs takes the most trusted type (GROUND_TRUTH, then
    OPERATOR, then MACHINE; the latest decision among equals). A TDR labelling no object makes
    its image a labelled clean image. Boxes are clipped to the image. Class names the TDRs use
    are mapped with ``class_map`` (e.g. another vendor's ``{"PI": "firearm"}``). A file that
    cannot be used is reported in ``errors`` and left out; the rest are still written.
    """
    out_path = Path(out)
    report = DatasetReport(out=out_path)
    wanted = {str(t).upper() for t in accept}
    unknown = wanted - set(_TRUST)
    if unknown:
        raise ValueError(f"accept: unknown TDR type(s) {sorted(unknown)}, expected {list(_TRUST)}")
    mapping = dict(class_map or {})
    images: dict[str, list[Path]] = {}
    tdr_files: list[Path] = []
    studies: dict[str, list[str]] = {}
    for path in _files(inputs, report):
        try:
            head = _header(path)
        except (ValueError, OSError) as exc:
            report.errors.append(str(exc))
            continue
        if head is None:
            continue  # not DICOM (sidecars, PNGs, notes): a TDR cannot reference it
        sop_class, uid, study = head
        if sop_class == DICOS_TDR:
            tdr_files.append(path)
        elif uid:
            if uid not in images and study:
                studies.setdefault(study, []).append(uid)
            images.setdefault(uid, []).append(path)
    chosen: dict[str, _Labels] = {}
    for path in tdr_files:
        try:
            tdr = read_tdr(path, class_names=classes)
        except TDRReadError as exc:
            report.errors.append(str(exc))
            continue
        if tdr.tdr_type not in wanted:
            report.tdrs_skipped[tdr.tdr_type] = report.tdrs_skipped.get(tdr.tdr_type, 0) + 1
            continue
        refs = [r.sop_instance_uid for r in tdr.image_refs]
        if not refs and not len(tdr.detections):
            # a TDR without objects references no image: its study names the clean scan
            refs = studies.get(tdr.study_instance_uid or "", [])
            if len(refs) != 1:
                what = "no image" if not refs else f"{len(refs)} images"
                report.errors.append(
                    f"{path}: a TDR without objects, and its study has {what} among the inputs"
                )
                continue
        if not refs:
            report.errors.append(f"{path}: the TDR references no image")
            continue
        found = [u for u in refs if u in images]
        if not found:
            report.errors.append(
                f"{path}: references image {refs[0]}, which is not among the inputs"
            )
            continue
        uid = found[0]
        image = _image_for(images[uid], path, report)
        try:
            labels = _objects(tdr, image, mapping, classes)
        except TDRReadError as exc:
            report.errors.append(str(exc))
            continue
        old = chosen.get(uid)
        if old is None or _more_trusted(labels.tdr, old.tdr):
            if old is not None:
                report.notes.append(f"{old.tdr.path}: labels of {old.image} replaced by {path}")
            chosen[uid] = labels
        else:
            report.notes.append(f"{path}: labels of {old.image} kept from {old.tdr.path}")
    coco = _coco(chosen, out_path, classes, report)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    tmp.write_text(json.dumps(coco, indent=1))
    os.replace(tmp, out_path)
    return report


def _image_for(paths: list[Path], tdr: Path, report: DatasetReport) -> Path:
    """The file of a referenced image; with several of one UID, the one beside the TDR."""
    if len(paths) == 1:
        return paths[0]
    beside = [p for p in paths if p.parent.resolve() == tdr.parent.resolve()]
    pick = beside[0] if beside else paths[0]
    others = ", ".join(str(p) for p in paths if p != pick)
    report.notes.append(f"{tdr}: its image's SOP Instance UID is also in {others}; used {pick}")
    return pick


def _more_trusted(new: TDR, old: TDR) -> bool:
    """A more trusted TDR type, or the same type decided later (DICOM DT sorts as text)."""
    a, b = _TRUST.get(new.tdr_type, 9), _TRUST.get(old.tdr_type, 9)
    return a < b or (a == b and (new.alarm_decision_time or "") > (old.alarm_decision_time or ""))


def _coco(
    chosen: Mapping[str, _Labels],
    out: Path,
    classes: Sequence[str],
    report: DatasetReport,
) -> dict[str, Any]:
    from backscatter.acquisition import open_scan
    from backscatter.acquisition.errors import ScanAccessError, ScanReadError

    coco: dict[str, Any] = {
        "info": {"description": "DICOS images labelled by their TDRs (backscatter dataset)"},
        "images": [],
        "annotations": [],
        "categories": [{"id": i + 1, "name": n} for i, n in enumerate(classes)],
    }
    root = out.parent.resolve()
    for uid, labels in sorted(chosen.items(), key=lambda kv: str(kv[1].image)):
        path = labels.image
        try:
            scan = open_scan(path)
        except (ScanAccessError, ScanReadError) as exc:
            report.errors.append(str(exc))
            continue
        image_id = len(coco["images"]) + 1
        coco["images"].append(
            {
                "id": image_id,
                "file_name": os.path.relpath(path.resolve(), root),
                "width": scan.cols,
                "height": scan.rows,
                "bits_stored": scan.bits_stored,
                "sop_instance_uid": uid,
                "tdr_file": os.path.relpath(Path(labels.tdr.path).resolve(), root),
                "tdr_type": labels.tdr.tdr_type,
            }
        )
        for box, name in zip(labels.boxes, labels.classes, strict=True):
            x0, x1 = np.clip([box[0], box[2]], 0, scan.cols)
            y0, y1 = np.clip([box[1], box[3]], 0, scan.rows)
            if x1 <= x0 or y1 <= y0:
                report.notes.append(f"{labels.tdr.path}: a {name} box lies outside {path}")
                continue
            w, h = float(x1 - x0), float(y1 - y0)
            coco["annotations"].append(
                {
                    "id": len(coco["annotations"]) + 1,
                    "image_id": image_id,
                    "category_id": list(classes).index(name) + 1,
                    "bbox": [float(x0), float(y0), w, h],
                    "area": w * h,
                    "iscrowd": 0,
                }
            )
        kind = labels.tdr.tdr_type
        report.tdrs_used[kind] = report.tdrs_used.get(kind, 0) + 1
    report.images = len(coco["images"])
    report.objects = len(coco["annotations"])
    return coco
