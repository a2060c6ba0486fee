"""``backscatter info``: per-file facts, JSON lines, one stderr line per bad file, exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXE = ROOT / ".venv" / "bin" / "backscatter"
SAMPLES = ROOT / ".." / "shared" / "interop" / "dicos-samples"


@pytest.fixture
def png16(tmp_path: Path) -> Path:
    px = np.array([[0, 100, 200], [300, 400, 500]], np.uint16)
    path = tmp_path / "scan.png"
    assert cv2.imwrite(str(path), px)
    return path


def test_json_lines_with_required_keys(png16: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(png16), str(png16)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    info = json.loads(lines[0])
    assert info["path"] == str(png16)
    assert (info["rows"], info["columns"], info["dtype"]) == (2, 3, "uint16")
    assert info["bits_stored"] == 16
    assert info["sop_class_uid"] is None
    assert (info["min"], info["max"], info["mean"]) == (0, 500, 250.0)
    assert info["object_type"] == "PNG"


def test_human_output(png16: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", str(png16)]) == 0
    out = capsys.readouterr().out
    assert f"{png16}: PNG 2 x 3 uint16 bits_stored=16 min=0 max=500 mean=250.0" in out


def test_bad_files_one_line_each_and_exit_2(
    png16: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty.dcm"
    empty.touch()
    missing = tmp_path / "missing.dcm"
    assert main(["info", "--json", str(empty), str(png16), str(missing)]) == 2
    captured = capsys.readouterr()
    assert [json.loads(x)["path"] for x in captured.out.splitlines()] == [str(png16)]
    err = captured.err.splitlines()
    assert err == [
        f"backscatter info: {empty}: empty file (0 bytes)",
        f"backscatter info: {missing}: no such file",
    ]


def test_subprocess_over_the_dicos_samples(tmp_path: Path) -> None:
    if not SAMPLES.is_dir():
        pytest.skip("shared DICOS samples not present")
    if not EXE.exists():
        pytest.skip(f"{EXE} not installed")
    images = sorted(p for p in SAMPLES.rglob("*.dcs") if "tdr" not in p.name.lower())
    images = [p for p in images if "QR_" not in p.name and "CT" not in p.name]
    tdr = SAMPLES / "V03_Data" / "DXwithTDR" / "tdr.dcs"
    proc = subprocess.run(
        [str(EXE), "info", "--json", *map(str, images), str(tdr)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    records = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(records) == len(images) == 16
    for rec in records:
        assert rec["sop_class_uid"].startswith("1.2.840.10008.5.1.4.1.1.501.")
        assert (rec["rows"], rec["columns"]) in {(200, 100), (256, 256)}
        assert rec["dtype"] in {"uint16", "uint32", "uint64", "float32"}
    assert proc.stderr.strip().splitlines() == [
        f"backscatter info: {tdr}: is a DICOS Threat Detection Report (TDR), not a 2-D image"
    ]
    assert "Traceback" not in proc.stderr


def test_module_entry_point_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "backscatter", "info", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0
    assert "--json" in proc.stdout


def _corrupt_jpeg_dicom(path: Path) -> Path:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGLosslessSV1, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = JPEGLosslessSV1
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.501.2.1"
    ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 16, 16, 1
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.PixelData = encapsulate([b"\xff\xd8not a jpeg\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def test_decoder_failures_stay_one_line_without_traceback(png16: Path, tmp_path: Path) -> None:
    """pydicom/libpng/tifffile log their own errors; the user sees only ours."""
    if not EXE.exists():
        pytest.skip(f"{EXE} not installed")
    bad_jpeg = _corrupt_jpeg_dicom(tmp_path / "bad.dcm")
    cut_png = tmp_path / "cut.png"
    cut_png.write_bytes(png16.read_bytes()[:-20])
    bad_tiff = tmp_path / "bad.tif"
    bad_tiff.write_bytes(b"II*\x00\x08\x00\x00\x00\x01\x00\x02\x01\xc1\x00\x01\x00\x00\x00")
    proc = subprocess.run(
        [str(EXE), "info", str(bad_jpeg), str(cut_png), str(bad_tiff), str(png16)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    err = proc.stderr.splitlines()
    assert len(err) == 3, proc.stderr
    assert err[0].startswith(f"backscatter info: {bad_jpeg}: cannot decode pixel data (JPEG")
    assert err[1].startswith(f"backscatter info: {cut_png}: truncated PNG")
    assert err[2].startswith(f"backscatter info: {bad_tiff}: ")
    assert proc.stdout.startswith(f"{png16}: PNG 2 x 3")
