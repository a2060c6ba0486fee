"""SOP class UIDs we read, write and accept, UID generation, and UID checks for file names."""

from __future__ import annotations

import re
from collections.abc import Iterable

from pydicom.uid import generate_uid

#: DICOS (NEMA IIC 1) storage SOP classes
DICOS_CT = "1.2.840.10008.5.1.4.1.1.501.1"
DICOS_DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.501.2.1"
DICOS_DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.501.2.2"
DICOS_TDR = "1.2.840.10008.5.1.4.1.1.501.3"
DICOS_AIT2D = "1.2.840.10008.5.1.4.1.1.501.4"
DICOS_AIT3D = "1.2.840.10008.5.1.4.1.1.501.5"
DICOS_QR = "1.2.840.10008.5.1.4.1.1.501.6"
#: DICOS V02A classes for 32/64-bit and float pixel data (SDICOS "NewDataTypes")
DICOS_DX_UINT32 = "1.2.840.10008.5.1.4.1.1.501.2.2.1"
DICOS_DX_UINT64 = "1.2.840.10008.5.1.4.1.1.501.2.2.2"
DICOS_DX_FLOAT = "1.2.840.10008.5.1.4.1.1.501.2.2.3"
DICOS_AIT2D_UINT32 = "1.2.840.10008.5.1.4.1.1.501.4.1"
DICOS_AIT2D_UINT64 = "1.2.840.10008.5.1.4.1.1.501.4.2"
DICOS_AIT2D_FLOAT = "1.2.840.10008.5.1.4.1.1.501.4.3"

#: standard DICOM image classes the receiver also accepts
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
DX_PROCESSING = "1.2.840.10008.5.1.4.1.1.1.1.1"
CR = "1.2.840.10008.5.1.4.1.1.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
SC_GRAY_8 = "1.2.840.10008.5.1.4.1.1.7.2"
SC_GRAY_16 = "1.2.840.10008.5.1.4.1.1.7.3"

DICOS_CLASSES: dict[str, str] = {
    DICOS_CT: "DICOS CT",
    DICOS_DX_PRESENTATION: "DICOS DX",
    DICOS_DX_PROCESSING: "DICOS DX",
    DICOS_TDR: "DICOS TDR",
    DICOS_AIT2D: "DICOS AIT2D",
    DICOS_AIT3D: "DICOS AIT3D",
    DICOS_QR: "DICOS QR",
    DICOS_DX_UINT32: "DICOS DX",
    DICOS_DX_UINT64: "DICOS DX",
    DICOS_DX_FLOAT: "DICOS DX",
    DICOS_AIT2D_UINT32: "DICOS AIT2D",
    DICOS_AIT2D_UINT64: "DICOS AIT2D",
    DICOS_AIT2D_FLOAT: "DICOS AIT2D",
}

DICOM_IMAGE_CLASSES: dict[str, str] = {
    DX_PRESENTATION: "DICOM DX",
    DX_PROCESSING: "DICOM DX",
    CR: "DICOM CR",
    SC: "DICOM SC",
    SC_GRAY_8: "DICOM SC",
    SC_GRAY_16: "DICOM SC",
}

#: every class the receiver stores, with a short object-type name
STORAGE_CLASSES: dict[str, str] = {**DICOS_CLASSES, **DICOM_IMAGE_CLASSES}

#: 2-D image classes a TDR of ours can reference and the detector can run on
IMAGE_2D_CLASSES: frozenset[str] = frozenset(
    uid
    for uid, name in STORAGE_CLASSES.items()
    if name in ("DICOS DX", "DICOS AIT2D", "DICOM DX", "DICOM CR", "DICOM SC")
)

#: the pydicom organisation root; our generated UIDs start with it
UID_PREFIX = "1.2.826.0.1.3680043.8.498."

_UID_RE = re.compile(r"[0-9]+(\.[0-9]+)*")


class InvalidUIDError(ValueError):
    """A UID that is not digits and dots (or too long) where a file name is derived from it."""

    def __init__(self, uid: object, reason: str) -> None:
        self.uid = uid
        super().__init__(f"UID {uid!r}: {reason}")


def is_valid_uid(uid: object) -> bool:
    """Digits and dots, no empty components, at most 64 characters (leading zeros tolerated)."""
    return isinstance(uid, str) and len(uid) <= 64 and _UID_RE.fullmatch(uid) is not None


def safe_uid(uid: object) -> str:
    """``uid`` itself when it is safe as a file-name stem; raises :class:`InvalidUIDError`.

    A UID is made only of digits and dots with no empty component, so it can never contain a
    path separator, ``..`` or a leading dot; trailing padding (space or NUL) is stripped first.
    """
    if not isinstance(uid, str):
        raise InvalidUIDError(uid, f"expected a string, got {type(uid).__name__}")
    value = uid.rstrip(" \x00")
    if not value:
        raise InvalidUIDError(uid, "expected a UID, got an empty value")
    if len(value) > 64:
        raise InvalidUIDError(uid, f"expected at most 64 characters, got {len(value)}")
    if _UID_RE.fullmatch(value) is None:
        raise InvalidUIDError(
            uid, "expected only digits and dots (e.g. 1.2.3), got other characters"
        )
    return value


def derived_uid(*parts: str | bytes) -> str:
    """A deterministic UID under :data:`UID_PREFIX` from the given entropy sources."""
    sources: Iterable[str] = [p.hex() if isinstance(p, bytes) else p for p in parts]
    return str(generate_uid(prefix=UID_PREFIX, entropy_srcs=list(sources)))


def new_uid() -> str:
    """A fresh random UID under :data:`UID_PREFIX`."""
    return str(generate_uid(prefix=UID_PREFIX))
