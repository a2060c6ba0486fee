"""Fixtures for the acquisition tests: synthetic DICOM writer and the shared DICOS samples."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "interop" / "dicos-samples"

MakeDicom = Callable[..., Path]


def write_dicom(
    path: Path,
    pixels: np.ndarray | None,
    *,
    sop_class: str = "1.2.840.10008.5.1.4.1.1.501.2.1",
    transfer_syntax: str = "1.2.840.10008.1.2.1",
    part10: bool = True,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    encapsulated: list[bytes] | None = None,
    **elements: Any,
) -> Path:
    """Write a minimal single-frame DICOM; extra keyword elements are set by keyword.

    ``encapsulated`` replaces the pixel data by these compressed fragments (any bytes).
    """
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, generate_uid

    ds = Dataset()
    ds.SOPClassUID = UID(sop_class)
    ds.SOPInstanceUID = generate_uid()
    ds.Modality = "DX"
    if pixels is not None:
        samples = 1 if pixels.ndim == 2 else pixels.shape[2]
        ds.Rows, ds.Columns = pixels.shape[:2]
        ds.SamplesPerPixel = samples
        ds.PhotometricInterpretation = photometric if samples == 1 else "RGB"
        if samples > 1:
            ds.PlanarConfiguration = 0
        ds.BitsAllocated = pixels.dtype.itemsize * 8
        ds.BitsStored = bits_stored or ds.BitsAllocated
        ds.HighBit = ds.BitsStored - 1
        ds.PixelRepresentation = 1 if pixels.dtype.kind == "i" else 0
        ds.PixelData = pixels.tobytes()
    for key, value in elements.items():
        setattr(ds, key, value)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.file_meta = meta
    if encapsulated is not None:
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate(encapsulated)
        ds["PixelData"].VR = "OB"
    if part10 and UID(transfer_syntax).is_transfer_syntax:
        ds.save_as(path, enforce_file_format=True)
    elif part10:  # a private / unknown syntax: say how the dataset itself is encoded
        ds.save_as(path, enforce_file_format=True, implicit_vr=False, little_endian=True)
    else:
        ds.file_meta = FileMetaDataset()
        ds.save_as(path, implicit_vr=True, little_endian=True)
    return path


@pytest.fixture
def make_dicom(tmp_path: Path) -> MakeDicom:
    counter = iter(range(10_000))

    def make(pixels: np.ndarray | None, name: str | None = None, **kw: Any) -> Path:
        return write_dicom(tmp_path / (name or f"img{next(counter)}.dcm"), pixels, **kw)

    return make


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip(f"shared DICOS samples not found at {SAMPLES}")
    return SAMPLES.resolve()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)
