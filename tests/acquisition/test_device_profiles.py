"""Device profiles fill in the scale that PNG/TIFF/raw files cannot carry; headers win."""

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from backscatter.acquisition import ScanReadError, open_scan
from backscatter.acquisition.devices import (
    DeviceProfile,
    DeviceProfileError,
    load_device_profile,
)

ROOT = Path(__file__).resolve().parents[2]
DEVICES = ROOT / "configs" / "devices"


@pytest.fixture
def png12(tmp_path: Path) -> Path:
    px = np.random.default_rng(0).integers(0, 4096, (40, 60), dtype=np.uint16)
    path = tmp_path / "scan.png"
    cv2.imwrite(str(path), px)
    return path


@pytest.mark.parametrize("name", sorted(p.name for p in DEVICES.glob("*.yaml")))
def test_shipped_profiles_load(name: str) -> None:
    profile = load_device_profile(DEVICES / name)
    assert profile.name == Path(name).stem


def test_png_gets_bits_rescale_spacing_and_maker(png12: Path) -> None:
    plain = open_scan(png12)
    assert plain.bits_stored == 16 and plain.pixel_spacing_mm is None
    scan = open_scan(png12, device=load_device_profile(DEVICES / "example-12bit-png.yaml"))
    assert scan.bits_stored == 12
    assert scan.pixel_spacing_mm == (1.95, 1.95)
    assert scan.extras["rescale"] == {"slope": 1.0, "intercept": -200.0}
    assert scan.extras["device_profile"] == "example-12bit-png"
    assert scan.metadata.manufacturer == "Example Imaging"
    np.testing.assert_array_equal(scan.pixels, plain.pixels)


def test_a_value_beyond_the_profiles_bits_is_refused_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "hot.png"
    cv2.imwrite(str(path), np.full((8, 8), 5000, np.uint16))
    with pytest.raises(ScanReadError, match=r"hot\.png: device profile .* holds the value 5000"):
        open_scan(path, device=DeviceProfile(name="d12", bits_stored=12))


def test_the_header_wins_over_the_profile(tmp_path: Path) -> None:
    from backscatter.dicos.content import save_atomic
    from backscatter.dicos.dx import dx_dataset
    from backscatter.synth.device import simulate_scan

    sim = simulate_scan(3, size=(64, 64))
    path = tmp_path / "dx.dcm"
    save_atomic(dx_dataset(sim), path)
    header = open_scan(path)
    scan = open_scan(
        path, device=DeviceProfile(name="other", bits_stored=12, pixel_spacing_mm=(9.0, 9.0))
    )
    assert scan.bits_stored == header.bits_stored == 16
    assert scan.pixel_spacing_mm == header.pixel_spacing_mm
    assert scan.extras["device_profile"] == "other"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("name: x\nbits_stored: 99\n", "bits_stored: expected 1..64"),
        ("name: x\nrescale_slope: 0\n", "rescale_slope: expected a finite non-zero"),
        ("name: x\ncolour: red\n", r"unknown key\(s\) \['colour'\]"),
        ("- a\n", "expected a mapping"),
    ],
)
def test_bad_profiles_are_refused_in_one_line(tmp_path: Path, text: str, reason: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(DeviceProfileError, match=reason):
        load_device_profile(path)


def test_info_cli_reports_the_profile_and_refuses_a_missing_one(png12: Path) -> None:
    cmd = [sys.executable, "-m", "backscatter", "info", str(png12), "--device"]
    ok = subprocess.run(
        [*cmd, str(DEVICES / "example-12bit-png.yaml")], capture_output=True, text=True, check=False
    )
    assert ok.returncode == 0, ok.stderr
    assert "bits_stored=12" in ok.stdout and "device_profile=example-12bit-png" in ok.stdout
    bad = subprocess.run([*cmd, "nowhere.yaml"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2
    assert bad.stderr.strip().count("\n") == 0 and "nowhere.yaml: cannot read" in bad.stderr
