"""DICOS DX writing: lossless pixels, metadata, and what dcmdump / dciodvfy say about our files."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest

from backscatter.detections import Detections
from backscatter.dicos.content import DicosWriteError, scan_uids
from backscatter.dicos.dx import write_dx
from backscatter.dicos.tdr import write_ground_truth_tdr, write_machine_tdr, write_operator_tdr
from backscatter.dicos.uids import DICOS_DX_PROCESSING, UID_PREFIX
from backscatter.scan import AcquisitionMetadata, Scan

from .conftest import make_scan, need


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16"])
def test_dx_pixels_round_trip(tmp_path: Path, dtype: str) -> None:
    scan = make_scan(1, dtype=dtype)
    if dtype == "int16":
        scan = scan.with_pixels(scan.pixels - np.int16(1000), bits_stored=16)
    uid = write_dx(scan, tmp_path / "a.dcm")
    ds = pydicom.dcmread(tmp_path / "a.dcm")
    assert ds.SOPClassUID == DICOS_DX_PROCESSING
    assert ds.SOPInstanceUID == uid and uid.startswith(UID_PREFIX)
    assert ds.pixel_array.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(ds.pixel_array, scan.pixels)
    assert ds.BitsStored == scan.bits_stored
    assert ds.PixelRepresentation == (1 if dtype == "int16" else 0)


def test_dx_metadata_and_stable_uids(tmp_path: Path) -> None:
    when = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    scan = replace(
        make_scan(2),
        pixel_spacing_mm=(0.5, 0.25),
        window=(1000.0, 2000.0),
        metadata=AcquisitionMetadata(
            manufacturer="Acme", model="BX-9", serial="SN1", kvp=140.0, acquisition_time=when
        ),
    )
    uid1 = write_dx(scan, tmp_path / "a.dcm")
    uid2 = write_dx(scan, tmp_path / "b.dcm")
    assert uid1 == uid2 == scan_uids(scan).instance
    other = write_dx(scan.with_pixels(scan.pixels // 2), tmp_path / "c.dcm")
    assert other != uid1
    ds = pydicom.dcmread(tmp_path / "a.dcm")
    assert [float(v) for v in ds.ImagerPixelSpacing] == [0.5, 0.25]
    assert (float(ds.WindowCenter), float(ds.WindowWidth)) == (1000.0, 2000.0)
    assert (ds.Manufacturer, ds.ManufacturerModelName, ds.DeviceSerialNumber) == (
        "Acme",
        "BX-9",
        "SN1",
    )
    assert float(ds.KVP) == 140.0
    assert (ds.StudyDate, ds.AcquisitionTime[:6]) == ("20260304", "050607")
    assert ds.PatientID == scan.scan_id


def test_wide_integer_scans_that_fit_16_bits(tmp_path: Path) -> None:
    px = np.arange(12, dtype=np.uint32).reshape(3, 4) * 1000
    write_dx(Scan(pixels=px, bits_stored=14, scan_id="w"), tmp_path / "a.dcm")
    np.testing.assert_array_equal(pydicom.dcmread(tmp_path / "a.dcm").pixel_array, px)


def test_refuses_float_and_over_16_bit(tmp_path: Path) -> None:
    floats = Scan(pixels=np.zeros((4, 4), np.float32), bits_stored=32, scan_id="f")
    with pytest.raises(DicosWriteError, match="float32: DICOS DX stores integers"):
        write_dx(floats, tmp_path / "f.dcm")
    wide = Scan(pixels=np.full((4, 4), 70000, np.uint32), bits_stored=17, scan_id="w")
    with pytest.raises(DicosWriteError, match="at most 16 bits"):
        write_dx(wide, tmp_path / "w.dcm")
    bad = Scan(pixels=np.full((4, 4), 300, np.uint16), bits_stored=8, scan_id="b")
    with pytest.raises(DicosWriteError, match=r"values 300..300 do not fit bits_stored 8"):
        write_dx(bad, tmp_path / "b.dcm")
    assert list(tmp_path.iterdir()) == []


def _our_objects(tmp_path: Path) -> list[Path]:
    scan = make_scan(3)
    dets = Detections(
        [[1, 2, 30, 40], [50, 10, 60, 20]],
        [0.9, 0.1],
        [2, 4],
        masks=np.pad(np.ones((2, 4, 4), bool), ((0, 0), (10, 82), (50, 74))),
    )
    write_dx(scan, tmp_path / "dx.dcm")
    write_machine_tdr(scan, dets, tmp_path / "tdr.dcm", model_id="m", alarm_threshold=0.5)
    write_ground_truth_tdr(scan, dets, tmp_path / "gt.dcm")
    write_operator_tdr(
        tmp_path / "tdr.dcm",
        tmp_path / "op.dcm",
        operator_id="o1",
        decision="ALARM",
        confirmed=[0],
        rejected=[1],
        added=Detections([[3, 3, 9, 9]], [1.0], [0]),
    )
    return [tmp_path / n for n in ("dx.dcm", "tdr.dcm", "gt.dcm", "op.dcm")]


def test_dcmdump_parses_our_objects_cleanly(tmp_path: Path) -> None:
    dcmdump = need("dcmdump")
    for path in _our_objects(tmp_path):
        res = subprocess.run([dcmdump, "-dc", str(path)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        problems = [ln for ln in (res.stdout + res.stderr).splitlines() if ln[:2] in ("E:", "W:")]
        assert problems == [], f"{path.name}: {problems}"
        assert "DICOS" in res.stdout


def _dciodvfy(path: Path) -> list[str]:
    res = subprocess.run([need("dciodvfy"), str(path)], capture_output=True, text=True)
    return [ln.strip() for ln in (res.stdout + res.stderr).splitlines() if ln.strip()]


def test_dciodvfy_finds_no_errors_beyond_unknown_iod(tmp_path: Path) -> None:
    """dicom3tools has no DICOS IOD tables: it checks VRs, UIDs and the dictionary only."""
    for path in _our_objects(tmp_path):
        errors = [ln for ln in _dciodvfy(path) if "Error" in ln or "Warning" in ln]
        assert errors == ["Error - Information Object Not found"], f"{path.name}: {errors}"


def test_dx_against_dicom_dx_iod(tmp_path: Path) -> None:
    """Checked as a DICOM DX For Processing, only the two known DICOS-vs-DICOM gaps remain."""
    write_dx(replace(make_scan(4), pixel_spacing_mm=(0.4, 0.4)), tmp_path / "dx.dcm")
    ds = pydicom.dcmread(tmp_path / "dx.dcm")
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1.1"
    ds.save_as(tmp_path / "as_dicom_dx.dcm")
    errors = [ln for ln in _dciodvfy(tmp_path / "as_dicom_dx.dcm") if ln.startswith("Error")]
    assert errors == [
        "Error - Empty attribute (no value) Type 1C Conditional Element=<PatientOrientation> "
        "Module=<DXImage>"
    ]


def test_scans_read_from_dicom_keep_their_image_uid(tmp_path: Path, samples: Path) -> None:
    """A TDR for a scan read from a DICOS AIT2D references that AIT2D; a DX written from it
    gets a UID of its own (never the AIT2D's, which names another object)."""
    from backscatter.acquisition.open import open_scan
    from backscatter.dicos.tdr import read_tdr
    from backscatter.dicos.uids import DICOS_AIT2D

    scan = open_scan(
        samples / "V03_Data/AIT2D_01_ImplicitLittlEndian/AIT2D_01_ImplicitLittlEndian.dcs"
    )
    assert scan.sop_class_uid == DICOS_AIT2D
    write_machine_tdr(
        scan,
        Detections([[1, 1, 5, 5]], [0.9], [2]),
        tmp_path / "t.dcm",
        model_id="m",
        alarm_threshold=0.5,
    )
    ref = read_tdr(tmp_path / "t.dcm").image_refs[0]
    assert (ref.sop_class_uid, ref.sop_instance_uid) == (DICOS_AIT2D, scan.scan_id)
    dx_uid = write_dx(scan, tmp_path / "dx.dcm")
    assert dx_uid != scan.scan_id and dx_uid.startswith(UID_PREFIX)
