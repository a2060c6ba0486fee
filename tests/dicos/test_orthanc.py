"""Debian's Orthanc as the archive: what the receiver forwards and what ``detect`` writes land
with every image and its TDR under one patient and one study (the TDR in a series of its own
in that study: a series holds one modality), checked through Orthanc's REST API."""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pydicom
import pytest

from backscatter.dicos.dx import write_dx
from backscatter.dicos.peers import PROFILE, write_storescu_config
from backscatter.dicos.received import ForwardTarget, forward
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.dicos.tdr import read_tdr

from .conftest import make_scan, need, threshold_detector
from .orthanc import Orthanc, orthanc_binary

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::UserWarning")]


@pytest.fixture(scope="module")
def orthanc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Orthanc]:
    binary = orthanc_binary()
    if binary is None:
        pytest.skip("Orthanc not installed (Debian package orthanc; .ci/run installs it)")
    archive = Orthanc(binary, tmp_path_factory.mktemp("orthanc"))
    try:
        yield archive
    finally:
        archive.stop()


def _uid(path: Path) -> tuple[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.SOPInstanceUID), str(ds.get("Modality", ""))


def _check_pairs(archive: Orthanc, tdr_files: list[Path], ambiguous: set[str]) -> int:
    """Every TDR and the image it references: one patient, one study; the TDR's series holds
    TDRs only. Images whose UID several sample objects share (an archive keeps one of them)
    are left out. Returns the number of pairs checked."""
    checked = 0
    for tdr_path in tdr_files:
        tdr_uid, _ = _uid(tdr_path)
        (image,) = read_tdr(tdr_path).image_refs
        if image.sop_instance_uid in ambiguous:
            continue
        checked += 1
        tdr_id = archive.instance(tdr_uid)
        image_id = archive.instance(image.sop_instance_uid)
        assert tdr_id and image_id, (tdr_path.name, archive.log_text()[-1500:])
        patient, study, series = archive.place(image_id)
        t_patient, t_study, t_series = archive.place(tdr_id)
        assert (t_patient, t_study) == (patient, study), tdr_path.name
        assert t_series != series
        modalities = {
            archive.get(f"/instances/{i}/simplified-tags").get("Modality")
            for i in archive.get(f"/series/{t_series}")["Instances"]
        }
        assert modalities == {"TDR"}, modalities
    return checked


def test_forwarded_images_and_tdrs_file_together(
    orthanc: Orthanc, samples: Path, tmp_path: Path
) -> None:
    ours = []
    for seed in range(3):
        path = tmp_path / f"ours{seed}.dcm"
        write_dx(make_scan(seed), path)
        ds = pydicom.dcmread(path)
        ds.PatientID, ds.PatientName = f"BAG-{seed}", "Traveller^Test"
        ds.save_as(path)
        ours.append(path)
    files = sorted(samples.rglob("*.dcs")) + ours
    target = ForwardTarget("127.0.0.1", orthanc.dicom_port, orthanc.ae_title)
    cfg = ServerConfig(
        out_dir=tmp_path / "in",
        port=0,
        detect=threshold_detector(),
        model_id="threshold-test",
        forward=target,
    )
    profile = write_storescu_config(tmp_path / "storescu.cfg")
    with DicosServer(cfg) as srv:
        res = subprocess.run(
            [need("storescu"), "-aec", "BACKSCATTER", "-xf", str(profile), PROFILE, "-nh"]
            + ["127.0.0.1", str(srv.port), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert res.returncode == 0, res.stderr[-2000:]
        assert srv.wait_idle(180), "forward queue did not empty"
    tdrs = sorted((tmp_path / "in").glob("*.tdr.dcm"))
    uids = Counter(_uid(f)[0] for f in files)
    shared = {uid for uid, n in uids.items() if n > 1}  # the samples reuse UIDs across objects
    assert _check_pairs(orthanc, tdrs, shared) >= 10
    for path in ours:  # our patients kept their own ids
        uid, _ = _uid(path)
        patient_id = orthanc.get(f"/instances/{orthanc.instance(uid)}/patient")
        assert patient_id["MainDicomTags"]["PatientID"].startswith("BAG-")


def test_detect_output_files_together(orthanc: Orthanc, samples: Path, tmp_path: Path) -> None:
    sample_dx = samples / "V03_Data/DXwithTDR/dx.dcs"
    out = tmp_path / "out"
    res = subprocess.run(
        [sys.executable, "-m", "backscatter", "detect", "sim://handheld?seed=5&count=2"]
        + [str(sample_dx), "--out", str(out), "--provider", "cpu", "--outputs", "tdr,dx"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    written = sorted((out / "dicos").glob("*.dcm"))
    target = ForwardTarget("127.0.0.1", orthanc.dicom_port, orthanc.ae_title)
    forward(target, [*written, sample_dx], ae_title="DETECT")
    tdrs = [p for p in written if p.name.endswith("_tdr.dcm")]
    assert _check_pairs(orthanc, tdrs, set()) == 3
