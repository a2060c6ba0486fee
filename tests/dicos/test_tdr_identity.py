"""A received image's TDR: the image's patient and study identity, a reference to the image
even without PTOs (CLEAR), and one TDR per image and model when the image is sent again."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from backscatter.acquisition.open import open_scan
from backscatter.detections import Detections
from backscatter.dicos.content import ImageRef
from backscatter.dicos.dx import write_dx
from backscatter.dicos.server import DicosServer
from backscatter.dicos.tdr import read_tdr, write_machine_tdr
from backscatter.dicos.uids import DICOS_DX_PROCESSING
from backscatter.scan import Scan

from .conftest import make_scan
from .peers import associate

IDENTITY = {
    "PatientID": "BAG-0042",
    "PatientName": "Traveller^Ann",
    "StudyID": "LANE3",
    "AccessionNumber": "ACC-7",
    "StudyDate": "20261201",
}


def _image(tmp_path: Path, seed: int, *, clear: bool = False) -> pydicom.Dataset:
    scan = make_scan(seed)
    if clear:  # no bright object: the threshold detector finds nothing
        scan = Scan(pixels=scan.pixels // 8, bits_stored=12, scan_id=scan.scan_id)
    path = tmp_path / f"src{seed}.dcm"
    write_dx(scan, path)
    ds = pydicom.dcmread(path)
    for keyword, value in IDENTITY.items():
        setattr(ds, keyword, value)
    ds.save_as(path)
    return ds


def _send(port: int, datasets: list[pydicom.Dataset]) -> None:
    assoc = associate(port, [DICOS_DX_PROCESSING])
    try:
        for ds in datasets:
            assert assoc.send_c_store(ds).Status == 0
    finally:
        assoc.release()


@pytest.mark.parametrize("clear", [False, True], ids=["alarm", "clear"])
def test_tdr_copies_identity_and_references_its_image(
    server: DicosServer, tmp_path: Path, clear: bool
) -> None:
    ds = _image(tmp_path, 1, clear=clear)
    _send(server.port, [ds])
    assert server.wait_idle(30)
    tdr_path = server.out_dir / f"DX_{ds.SOPInstanceUID}.tdr.dcm"
    tdr = pydicom.dcmread(tdr_path)
    for keyword, value in IDENTITY.items():
        assert str(tdr.get(keyword)) == value, keyword
    assert tdr.StudyInstanceUID == ds.StudyInstanceUID
    parsed = read_tdr(tdr_path)
    assert parsed.alarm_decision == ("CLEAR" if clear else "ALARM")
    assert len(parsed.detections) == (0 if clear else 1)
    assert parsed.image_refs == [ImageRef(DICOS_DX_PROCESSING, str(ds.SOPInstanceUID))]


def test_resent_image_replaces_its_tdr(server: DicosServer, tmp_path: Path) -> None:
    ds = _image(tmp_path, 2)
    _send(server.port, [ds])
    assert server.wait_idle(30)
    first = pydicom.dcmread(server.out_dir / f"DX_{ds.SOPInstanceUID}.tdr.dcm").SOPInstanceUID
    _send(server.port, [ds])
    assert server.wait_idle(30)
    tdrs = sorted(server.out_dir.glob("*.tdr.dcm"))
    assert len(tdrs) == 1
    assert pydicom.dcmread(tdrs[0]).SOPInstanceUID == first


def test_tdr_uid_depends_on_the_model_release(tmp_path: Path) -> None:
    scan = make_scan(3)
    a = write_machine_tdr(
        scan, Detections.empty(), tmp_path / "a.dcm", model_id="m", alarm_threshold=0.5
    )
    b = write_machine_tdr(
        scan, Detections.empty(), tmp_path / "b.dcm", model_id="m", alarm_threshold=0.5
    )
    c = write_machine_tdr(
        scan,
        Detections.empty(),
        tmp_path / "c.dcm",
        model_id="m",
        model_version="2",
        alarm_threshold=0.5,
    )
    assert a == b != c


def test_detect_style_read_carries_identity(tmp_path: Path) -> None:
    """A TDR written for a scan read from a DICOS file (as ``detect`` does) takes its patient."""
    ds = _image(tmp_path, 4)
    scan = open_scan(tmp_path / "src4.dcm")
    write_machine_tdr(
        scan, Detections.empty(), tmp_path / "t.dcm", model_id="m", alarm_threshold=0.5
    )
    tdr = pydicom.dcmread(tmp_path / "t.dcm")
    assert tdr.PatientID == "BAG-0042" and tdr.StudyInstanceUID == ds.StudyInstanceUID
