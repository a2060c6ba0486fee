"""Every 2-D image object among the shared DICOS samples reads with the right shape and dtype."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backscatter.acquisition import ReadPolicy, ScanReadError, open_scan

IMAGES = [
    ("V02_Data/DX/dx.dcs", "DICOS DX", (200, 100), "uint16"),
    ("V02_Data/AIT2D/ait2d.dcs", "DICOS AIT2D", (200, 100), "uint16"),
    ("V02A_Data/DX/DX_01_ExplicitLittlEndian.dcs", "DICOS DX", (256, 256), "uint16"),
    ("V02A_Data/AIT2DwithTDR/ait2d.dcs", "DICOS AIT2D", (200, 100), "uint16"),
    ("V02A_Data/V02A_NewDataTypes/DX/DX_unsigned32.dcs", "DICOS DX", (200, 100), "uint32"),
    ("V02A_Data/V02A_NewDataTypes/DX/DX_unsigned64.dcs", "DICOS DX", (200, 100), "uint64"),
    ("V02A_Data/V02A_NewDataTypes/DX/DX_float.dcs", "DICOS DX", (200, 100), "float32"),
    ("V02A_Data/V02A_NewDataTypes/AIT2D/AIT2D_unsigned32.dcs", "DICOS AIT2D", (200, 100), "uint32"),
    ("V02A_Data/V02A_NewDataTypes/AIT2D/AIT2D_unsigned64.dcs", "DICOS AIT2D", (200, 100), "uint64"),
    ("V02A_Data/V02A_NewDataTypes/AIT2D/AIT2D_float.dcs", "DICOS AIT2D", (200, 100), "float32"),
    (
        "V03_Data/DX_01_ExplicitLittlEndian/DX_01_ExplicitLittlEndian.dcs",
        "DICOS DX",
        (256, 256),
        "uint16",
    ),
    ("V03_Data/DXwithTDR/dx.dcs", "DICOS DX", (200, 100), "uint16"),
    (
        "V03_Data/AIT2D_01_ImplicitLittlEndian/AIT2D_01_ImplicitLittlEndian.dcs",
        "DICOS AIT2D",
        (256, 256),
        "uint16",
    ),
    ("V03_Data/AIT2DwithTDR/ait2d.dcs", "DICOS AIT2D", (200, 100), "uint16"),
    ("V03_Data/Orientation/DX/DX.dcs", "DICOS DX", (200, 100), "uint16"),
    ("V03_Data/Orientation/AIT2D/AIT2D.dcs", "DICOS AIT2D", (200, 100), "uint16"),
]

NOT_IMAGES = [
    (
        "V03_Data/TDR_01_ExplicitLittlEndian/TDR_01_ExplicitLittlEndian.dcs",
        "Threat Detection Report",
    ),
    ("V03_Data/DXwithTDR/tdr.dcs", "Threat Detection Report"),
    ("V02A_Data/AIT2DwithTDR/tdr.dcs", "Threat Detection Report"),
    ("V03_Data/QR_01_ExplicitLittlEndian/QR_01_ExplicitLittlEndian.dcs", "Quadrupole Resonance"),
    ("V03_Data/CTwithTDR/CT.dcs", "3-D volume"),
    ("V03_Data/DualEnergyCTwithTDR/CT_High_Energy.dcs", "3-D volume"),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
@pytest.mark.parametrize(("rel", "kind", "shape", "dtype"), IMAGES)
def test_sample_reads_with_shape_and_dtype(
    samples: Path, rel: str, kind: str, shape: tuple[int, int], dtype: str
) -> None:
    import pydicom

    scan = open_scan(samples / rel)
    ds = pydicom.dcmread(samples / rel, stop_before_pixels=True, force=True)
    assert scan.object_type == kind
    assert scan.shape == shape
    assert scan.pixels.dtype == np.dtype(dtype)
    assert scan.sop_class_uid == ds.SOPClassUID
    assert scan.scan_id == ds.SOPInstanceUID
    assert scan.bits_stored == int(ds.BitsStored)
    assert scan.metadata.manufacturer == "Device Manufacturer"
    assert scan.metadata.serial == "123456987"


@pytest.mark.parametrize("kind", ["DX", "AIT2D"])
def test_v02a_variants_hold_the_same_image(samples: Path, kind: str) -> None:
    """uint32, float32 and the length-quirk uint64 file carry the same pixel values."""
    base = samples / "V02A_Data" / "V02A_NewDataTypes" / kind
    u32 = open_scan(base / f"{kind}_unsigned32.dcs").pixels
    u64 = open_scan(base / f"{kind}_unsigned64.dcs").pixels
    f32 = open_scan(base / f"{kind}_float.dcs").pixels
    np.testing.assert_array_equal(u64, u32.astype(np.uint64))
    np.testing.assert_array_equal(f32, u32.astype(np.float32))
    assert set(np.unique(u32).tolist()) <= {0, 57344, 65535}
    assert u32.max() == 65535


def test_unsigned64_quirk_is_recorded_and_policy_can_refuse_it(samples: Path) -> None:
    path = samples / "V02A_Data/V02A_NewDataTypes/DX/DX_unsigned64.dcs"
    scan = open_scan(path)
    assert "recovered" in scan.extras["quirks"][0]
    with pytest.raises(ScanReadError, match="policy forbids"):
        open_scan(path, policy=ReadPolicy(recover_quirks=False))


def test_sample_metadata_units(samples: Path) -> None:
    scan = open_scan(samples / "V03_Data/DXwithTDR/dx.dcs")
    assert scan.metadata.tube_current_ma == pytest.approx(0.123)  # stored as 123 uA
    assert scan.metadata.kvp == 5000.0
    assert scan.metadata.model == "Device Manufacturer Model Name"
    assert scan.metadata.acquisition_time is not None
    assert scan.extras["transfer_syntax_uid"] == "1.2.840.10008.1.2.4.70"
    assert scan.extras["decoder"] == "pylibjpeg"  # never gdcm unless a policy asks for it


def test_jpeg_lossless_sample_decodes_the_same_with_both_decoders(samples: Path) -> None:
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    plugins = get_decoder(JPEGLosslessSV1).available_plugins
    if not {"pylibjpeg", "gdcm"} <= set(plugins):
        pytest.skip(f"needs both decoders, have {plugins}")
    path = samples / "V03_Data/DXwithTDR/dx.dcs"
    a = open_scan(path, policy=ReadPolicy(decoding_plugin="pylibjpeg"))
    b = open_scan(path, policy=ReadPolicy(decoding_plugin="gdcm"))
    assert a.extras["decoder"] == "pylibjpeg"
    assert b.extras["decoder"] == "gdcm"
    np.testing.assert_array_equal(a.pixels, b.pixels)


@pytest.mark.parametrize(("rel", "reason"), NOT_IMAGES)
def test_non_image_objects_raise_a_typed_error(samples: Path, rel: str, reason: str) -> None:
    with pytest.raises(ScanReadError) as info:
        open_scan(samples / rel)
    assert reason in str(info.value)
    assert "not a 2-D image" in str(info.value)
    assert str(samples / rel) in str(info.value)


@pytest.mark.parametrize("kind", ["DX", "AIT2D"])
def test_orientation_rows_are_y_and_columns_are_x(samples: Path, kind: str) -> None:
    """Orientation/*.txt: the origin-corner object is long in Y, the opposite one long in X."""
    import cv2

    pixels = open_scan(samples / f"V03_Data/Orientation/{kind}/{kind}.dcs").pixels
    _, labels, stats, _ = cv2.connectedComponentsWithStats((pixels > 0).astype(np.uint8))
    origin = stats[labels[0, 0]]
    far = [s for s in stats[1:] if s[0] + s[2] >= pixels.shape[1] - 15 and s[1] + s[3] == 200]
    assert origin[3] > origin[2]  # height (rows, Y) > width (columns, X)
    assert len(far) == 1
    assert far[0][2] > far[0][3]
