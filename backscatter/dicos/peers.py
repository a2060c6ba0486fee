"""Helpers for real DICOM peers: a dcmtk ``storescu`` profile that proposes the DICOS classes.

dcmtk's ``storescu`` only proposes SOP classes it knows; the DICOS V02A 32/64-bit/float classes
are not among them. ``storescu -xf FILE Backscatter ...`` with the file from
:func:`write_storescu_config` proposes every class the receiver accepts, each with explicit VR,
implicit VR and JPEG Lossless (SV1), one presentation context per pair.
"""

from __future__ import annotations

import os
from pathlib import Path

from backscatter.dicos.uids import STORAGE_CLASSES

PROFILE = "Backscatter"

_SYNTAXES = {
    "Explicit": "LittleEndianExplicit",
    "Implicit": "LittleEndianImplicit",
    "JPEGLossless": "JPEGLossless:Non-hierarchical-1stOrderPrediction",
}


def storescu_config_text() -> str:
    lines = ["[[TransferSyntaxes]]"]
    for name, syntax in _SYNTAXES.items():
        lines += [f"[{name}]", f"TransferSyntax1 = {syntax}"]
    lines += ["", "[[PresentationContexts]]", f"[{PROFILE}Contexts]"]
    n = 0
    for uid in STORAGE_CLASSES:
        for name in _SYNTAXES:
            n += 1
            lines.append(f"PresentationContext{n} = {uid}\\{name}")
    if n > 128:
        raise ValueError(f"expected at most 128 presentation contexts, got {n}")
    lines += ["", "[[Profiles]]", f"[{PROFILE}]", f"PresentationContexts = {PROFILE}Contexts"]
    return "\n".join(lines) + "\n"


def write_storescu_config(path: str | os.PathLike[str]) -> Path:
    """Write the profile file; use it as ``storescu -xf PATH Backscatter``."""
    target = Path(path)
    target.write_text(storescu_config_text())
    return target
