"""Every TDR written by other software (the shared SDICOS samples) reads back into Detections."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.dicos.content import ImageRef
from backscatter.dicos.tdr import read_tdr
from backscatter.dicos.uids import DICOS_DX_PROCESSING

from .conftest import need

#: relative path -> number of PTOs it holds
SAMPLE_TDRS = {
    "V03_Data/DXwithTDR/tdr.dcs": 1,
    "V03_Data/AIT2DwithTDR/tdr.dcs": 1,
    "V02A_Data/AIT2DwithTDR/tdr.dcs": 1,
    "V03_Data/TDR_01_ExplicitLittlEndian/TDR_01_ExplicitLittlEndian.dcs": 10,
    "V03_Data/CTwithTDR/TDR.dcs": 2,
    "V03_Data/DualEnergyCTwithTDR/TDR_Dual_Energy.dcs": 1,
}


def test_every_sample_tdr_is_listed(samples: Path) -> None:
    found = {str(p.relative_to(samples)) for p in samples.rglob("*.dcs") if "tdr" in p.name.lower()}
    assert found == set(SAMPLE_TDRS)


@pytest.mark.parametrize("rel", sorted(SAMPLE_TDRS))
def test_sample_tdr_reads(samples: Path, rel: str) -> None:
    tdr = read_tdr(samples / rel, image_shape=(200, 100))
    dets = tdr.detections
    assert len(dets) == SAMPLE_TDRS[rel]
    assert tdr.tdr_type == "MACHINE"
    assert tdr.alarm_decision == "ALARM"
    assert np.all(dets.boxes[:, 2] > dets.boxes[:, 0])
    assert np.all(dets.boxes[:, 3] > dets.boxes[:, 1])
    assert dets.class_names[: len(THREAT_CLASSES)] == THREAT_CLASSES
    # flag THREAT without a probability reads as score 1.0, NO_THREAT as 0.0
    for flag, score in zip(tdr.flags, dets.scores, strict=True):
        if flag == "THREAT":
            assert score == 1.0
    assert all(refs for refs in tdr.references)


def test_dx_sample_two_corner_polygon_and_bitmap(samples: Path) -> None:
    """V03 DXwithTDR: polygon [24,91,0, 40,113,1], base [24,91,0], extents [16,22,1], L bitmap."""
    tdr = read_tdr(samples / "V03_Data/DXwithTDR/tdr.dcs", image_shape=(200, 100))
    dets = tdr.detections
    np.testing.assert_array_equal(dets.boxes, [[24, 91, 40, 113]])
    assert dets.label_names == ["PI"]
    assert tdr.categories == ("PI",)
    assert tdr.image_refs == [
        ImageRef(DICOS_DX_PROCESSING, "2763628846.30910.18800.179178.122187127157053250")
    ]
    assert dets.masks is not None
    mask = dets.masks[0]
    assert mask.sum() == 6 * 16 + 16 * 6  # 6 full rows of 16, then a 6-wide stem for 16 rows
    assert mask[91:97, 24:40].all()
    assert mask[97:113, 24:30].all() and not mask[97:113, 30:40].any()
    assert not mask[:91].any() and not mask[113:].any()


def test_polygon_fallback_without_roi(samples: Path) -> None:
    """The CT TDR's boxes come from ROI base+extents (voxels), not the mm polygon."""
    tdr = read_tdr(samples / "V03_Data/CTwithTDR/TDR.dcs")
    np.testing.assert_array_equal(tdr.detections.boxes, [[0, 0, 10, 4], [30, 30, 70, 70]])
    assert tdr.detections.label_names == ["Shielded Weapon", "Block"]
    np.testing.assert_array_equal(tdr.detections.scores, [1.0, 0.0])


def test_unknown_classes_policy(samples: Path) -> None:
    from backscatter.dicos.tdr_read import TDRReadError

    with pytest.raises(TDRReadError, match="class 'PI' not in"):
        read_tdr(samples / "V03_Data/DXwithTDR/tdr.dcs", unknown_classes="error")


def test_operator_tdr_on_a_foreign_machine_tdr(samples: Path, tmp_path: Path) -> None:
    """An officer's decision on an SDICOS machine TDR: fresh header, standard elements only,
    references copied verbatim (zero-padded UIDs included)."""
    import subprocess

    import pydicom

    from backscatter.dicos.enum import OperatorVerdict
    from backscatter.dicos.tdr import write_operator_tdr

    machine = samples / "V03_Data/DXwithTDR/tdr.dcs"
    write_operator_tdr(
        machine, tmp_path / "op.dcm", operator_id="o1", decision="CLEAR", rejected=[0]
    )
    op = read_tdr(tmp_path / "op.dcm")
    assert op.verdicts == (OperatorVerdict.REJECTED,)
    assert op.referenced_tdr_uids == ("4231332890.40366.18332.139098.082120118137038089",)
    assert op.image_refs == read_tdr(machine).image_refs
    np.testing.assert_array_equal(op.detections.boxes, [[24, 91, 40, 113]])
    ds = pydicom.dcmread(tmp_path / "op.dcm")
    assert "ImageScaleRepresentation" not in ds or ds["ImageScaleRepresentation"].VR == "DS"
    assert ds.file_meta.get((0x0002, 0x0004)) is None
    assert (0x6100, 0x8000) not in ds.ThreatSequence[0].PTORepresentationSequence[0]
    dcmdump = need("dcmdump")
    dump = subprocess.run([dcmdump, str(tmp_path / "op.dcm")], capture_output=True, text=True)
    assert dump.returncode == 0 and "E:" not in dump.stderr
