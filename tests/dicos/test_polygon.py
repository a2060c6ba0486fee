"""Bounding polygons in the forms found in the wild, read when a PTO has no ROI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from backscatter.detections import Detections
from backscatter.dicos.tdr import read_tdr, write_machine_tdr

from .conftest import make_scan


@pytest.mark.parametrize(
    ("polygon", "box"),
    [
        ([24, 91, 0, 40, 113, 1], [24, 91, 40, 113]),  # SDICOS two XYZ corners on a 2-D image
        ([5, 6, 15, 6, 15, 26, 5, 26], [5, 6, 15, 26]),  # four 2-D vertices
        ([3, 4, 30, 2, 20, 9], [2, 4, 3, 20]),  # 6 values are always two XYZ corners
    ],
)
def test_polygon_only_pto(tmp_path: Path, polygon: list[float], box: list[float]) -> None:
    scan = make_scan(0)
    write_machine_tdr(
        scan,
        Detections([[0, 0, 1, 1]], [0.9], [2]),
        tmp_path / "t.dcm",
        model_id="m",
        alarm_threshold=0.5,
    )
    ds = pydicom.dcmread(tmp_path / "t.dcm")
    rep = ds.ThreatSequence[0].PTORepresentationSequence[0]
    del rep.ThreatROIVoxelSequence
    rep.BoundingPolygon = polygon
    ds.save_as(tmp_path / "p.dcm")
    got = read_tdr(tmp_path / "p.dcm").detections.boxes[0]
    np.testing.assert_array_equal(got, box)
