"""DICOS objects: DX images, Threat Detection Reports, and the DICOM network.

Writers are strict, the reader is tolerant. The network receiver lives in
:mod:`backscatter.dicos.server` (imported on its own: it needs pynetdicom).
"""

from backscatter.dicos.content import DicosWriteError, ImageRef, image_ref, scan_uids
from backscatter.dicos.dx import write_dx
from backscatter.dicos.enum import (
    AlarmDecision,
    AssessmentFlag,
    OperatorVerdict,
    TDRType,
    ThreatCategory,
)
from backscatter.dicos.tdr import write_ground_truth_tdr, write_machine_tdr, write_operator_tdr
from backscatter.dicos.tdr_read import TDR, TDRReadError, read_tdr

__all__ = [
    "TDR",
    "AlarmDecision",
    "AssessmentFlag",
    "DicosWriteError",
    "ImageRef",
    "OperatorVerdict",
    "TDRReadError",
    "TDRType",
    "ThreatCategory",
    "image_ref",
    "read_tdr",
    "scan_uids",
    "write_dx",
    "write_ground_truth_tdr",
    "write_machine_tdr",
    "write_operator_tdr",
]
