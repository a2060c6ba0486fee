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
