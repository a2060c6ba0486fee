"""Synthetic DICOM/DICOS files: pixels as stored, metadata mapping, transfer syntaxes."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from backscatter.acquisition import ScanReadError, open_scan
from backscatter.acquisition.dicom import read_dicom

MakeDicom = Callable[..., Path]

CR = "1.2.840.10008.5.1.4.1.1.1"
DX_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
SC = "1.2.840.10008.5.1.4.1.1.7"


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "int16", "uint32"])
def test_native_pixels_round_trip(
    make_dicom: MakeDicom, rng: np.random.Generator, dtype: str
) -> None:
    info = np.iinfo(dtype)
    px = rng.integers(info.min, info.max, size=(37, 53), endpoint=True).astype(dtype)
    scan = open_scan(make_dicom(px))
    assert scan.pixels.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.bits_stored == info.bits


def test_bits_stored_kept_and_values_not_rescaled(make_dicom: MakeDicom) -> None:
    px = np.array([[0, 4095], [100, 2048]], np.uint16)
    path = make_dicom(px, bits_stored=12, RescaleSlope="2", RescaleIntercept="-100")
    scan = open_scan(path)
    assert scan.bits_stored == 12
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.extras["rescale"] == {"slope": 2.0, "intercept": -100.0}


def test_monochrome1_is_not_inverted(make_dicom: MakeDicom) -> None:
    px = np.array([[0, 1000]], np.uint16)
    scan = open_scan(make_dicom(px, photometric="MONOCHROME1"))
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.extras["photometric_interpretation"] == "MONOCHROME1"


@pytest.mark.parametrize(
    ("sop_class", "kind"),
    [
        (CR, "DICOM CR"),
        (DX_PRESENTATION, "DICOM DX"),
        (SC, "DICOM SC"),
        ("1.2.840.10008.5.1.4.1.1.501.2.1", "DICOS DX"),
        ("1.2.840.10008.5.1.4.1.1.501.4", "DICOS AIT2D"),
    ],
)
def test_object_type_from_sop_class(make_dicom: MakeDicom, sop_class: str, kind: str) -> None:
    scan = open_scan(make_dicom(np.zeros((4, 4), np.uint16), sop_class=sop_class))
    assert scan.object_type == kind
    assert scan.sop_class_uid == sop_class


def test_metadata_spacing_window_and_time(make_dicom: MakeDicom) -> None:
    path = make_dicom(
        np.ones((8, 6), np.uint16),
        Manufacturer="ACME Backscatter",
        ManufacturerModelName="BX-9",
        DeviceSerialNumber="SN42",
        KVP="450",
        XRayTubeCurrent="8",
        AcquisitionDate="20240501",
        AcquisitionTime="101502.25",
        ImagerPixelSpacing=["0.8", "0.5"],
        WindowCenter=["2048", "1000"],
        WindowWidth=["4096", "500"],
        PatientOrientation=["L", "F"],
    )
    scan = open_scan(path)
    meta = scan.metadata
    assert (meta.manufacturer, meta.model, meta.serial) == ("ACME Backscatter", "BX-9", "SN42")
    assert meta.kvp == 450.0
    assert meta.tube_current_ma == 8.0
    assert meta.acquisition_time == datetime(2024, 5, 1, 10, 15, 2, 250000)
    assert meta.scan_direction == "L\\F"
    assert scan.pixel_spacing_mm == (0.8, 0.5)
    assert scan.window == (2048.0, 4096.0)


def test_pixel_spacing_preferred_and_bad_window_dropped(make_dicom: MakeDicom) -> None:
    path = make_dicom(
        np.ones((4, 4), np.uint16),
        PixelSpacing=["1.5", "2.5"],
        ImagerPixelSpacing=["9", "9"],
        WindowCenter="100",
        WindowWidth="0",
    )
    scan = open_scan(path)
    assert scan.pixel_spacing_mm == (1.5, 2.5)
    assert scan.window is None


def test_scan_id_is_sop_instance_uid_and_sha_is_of_file(make_dicom: MakeDicom) -> None:
    import hashlib

    import pydicom

    path = make_dicom(np.zeros((3, 3), np.uint8))
    scan = read_dicom(path)
    assert scan.scan_id == pydicom.dcmread(path).SOPInstanceUID
    assert scan.source_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert scan.source_uri == str(path)


def test_bare_implicit_dataset_without_preamble(make_dicom: MakeDicom, tmp_path: Path) -> None:
    px = np.arange(20, dtype=np.uint16).reshape(4, 5)
    path = make_dicom(px, name="bare.bin", part10=False)
    assert path.read_bytes()[128:132] != b"DICM"
    scan = open_scan(path)
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.extras["transfer_syntax_uid"] == "1.2.840.10008.1.2"


def test_dispatch_ignores_the_extension(make_dicom: MakeDicom) -> None:
    px = np.full((2, 2), 7, np.uint16)
    scan = open_scan(make_dicom(px, name="looks_like.png"))
    assert scan.object_type == "DICOS DX"


def test_grey_rgb_is_reduced_and_colour_refused(make_dicom: MakeDicom) -> None:
    grey = np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4, 1), 3, axis=2)
    scan = open_scan(make_dicom(grey, sop_class=SC))
    np.testing.assert_array_equal(scan.pixels, grey[:, :, 0])
    colour = grey.copy()
    colour[0, 0, 1] = 99
    path = make_dicom(colour, sop_class=SC)
    with pytest.raises(ScanReadError, match="colour image"):
        open_scan(path)


def test_multiframe_is_refused(make_dicom: MakeDicom) -> None:
    px = np.zeros((2, 3, 4), np.uint8)  # 2 frames of 3 x 4
    path = make_dicom(px[0], NumberOfFrames=2)  # header says 2 frames
    with pytest.raises(ScanReadError, match="multi-frame object \\(2 frames\\)"):
        open_scan(path)


def test_rle_lossless_round_trip(
    make_dicom: MakeDicom, tmp_path: Path, rng: np.random.Generator
) -> None:
    import pydicom
    from pydicom.uid import RLELossless

    px = rng.integers(0, 4096, size=(64, 48)).astype(np.uint16)
    path = make_dicom(px)
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless, encoding_plugin="pydicom")
    ds.save_as(tmp_path / "rle.dcm")
    scan = open_scan(tmp_path / "rle.dcm")
    np.testing.assert_array_equal(scan.pixels, px)
    assert scan.extras["transfer_syntax_uid"] == RLELossless


@pytest.mark.skipif(shutil.which("dcmcjpeg") is None, reason="dcmtk's dcmcjpeg not installed")
@pytest.mark.parametrize("plugin", ["pylibjpeg", "gdcm"])
def test_jpeg_lossless_16bit_round_trip(
    make_dicom: MakeDicom, tmp_path: Path, rng: np.random.Generator, plugin: str
) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    from backscatter.acquisition import ReadPolicy

    if plugin not in get_decoder(JPEGLosslessSV1).available_plugins:
        pytest.skip(f"{plugin} not installed")
    px = rng.integers(0, 65536, size=(40, 70)).astype(np.uint16)
    native = make_dicom(px)
    jpeg = tmp_path / "j.dcm"
    subprocess.run(["dcmcjpeg", "+e1", str(native), str(jpeg)], check=True)
    scan = open_scan(jpeg, policy=ReadPolicy(decoding_plugin=plugin))
    assert scan.extras["transfer_syntax_uid"] == JPEGLosslessSV1
    assert scan.extras["decoder"] == plugin
    np.testing.assert_array_equal(scan.pixels, px)


def test_jpeg2000_lossless_round_trip(make_dicom: MakeDicom, tmp_path: Path) -> None:
    import pydicom
    from pydicom.pixels import get_encoder
    from pydicom.uid import JPEG2000Lossless

    if not get_encoder(JPEG2000Lossless).is_available:
        pytest.skip("no JPEG 2000 encoder (pylibjpeg-openjpeg) installed")
    px = np.random.default_rng(5).integers(0, 4096, size=(128, 96)).astype(np.uint16)
    ds = pydicom.dcmread(make_dicom(px, bits_stored=12))
    ds.compress(JPEG2000Lossless)
    ds.save_as(tmp_path / "j2k.dcm")
    scan = open_scan(tmp_path / "j2k.dcm")
    assert scan.extras["transfer_syntax_uid"] == JPEG2000Lossless
    assert scan.bits_stored == 12
    np.testing.assert_array_equal(scan.pixels, px)


@pytest.mark.parametrize(
    ("dtype", "bits_stored", "syntax"),
    [
        ("uint16", 16, "1.2.840.10008.1.2.1"),
        ("uint16", 12, "1.2.840.10008.1.2.1"),
        ("uint16", 14, "1.2.840.10008.1.2"),
        ("uint8", 8, "1.2.840.10008.1.2"),
        ("uint8", 6, "1.2.840.10008.1.2.1"),
        ("int16", 12, "1.2.840.10008.1.2.1"),  # signed: pydicom's path (sign extension)
        ("uint16", 16, "1.2.840.10008.1.2.2"),  # big endian: pydicom's path
    ],
)
def test_native_fast_path_equals_pydicom(
    make_dicom: MakeDicom, rng: np.random.Generator, dtype: str, bits_stored: int, syntax: str
) -> None:
    """Raw bytes with the unused high bits set read exactly as pydicom's pixel_array."""
    import pydicom

    from backscatter.acquisition.dicom import _plain_native_pixels

    info = np.iinfo(dtype)
    px = rng.integers(info.min, info.max, size=(31, 47), endpoint=True).astype(dtype)
    path = make_dicom(px, bits_stored=bits_stored, transfer_syntax=syntax)
    ds = pydicom.dcmread(path)
    expected = ds.pixel_array
    fast = _plain_native_pixels(ds, ds.file_meta.TransferSyntaxUID)
    plain = dtype.startswith("u") and syntax != "1.2.840.10008.1.2.2"
    assert (fast is not None) == plain
    scan = open_scan(path)
    assert scan.pixels.dtype == expected.dtype.newbyteorder("=")
    np.testing.assert_array_equal(scan.pixels, expected)
    if fast is not None:
        np.testing.assert_array_equal(fast, expected)
        assert fast.flags.writeable and fast.flags.c_contiguous
