"""The receiver against real peers: dcmtk echoscu/storescu and a pynetdicom SCU."""

from __future__ import annotations

import subprocess
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom
import pytest

from backscatter.acquisition.open import open_scan
from backscatter.dicos.content import ImageRef
from backscatter.dicos.dx import write_dx
from backscatter.dicos.peers import PROFILE, write_storescu_config
from backscatter.dicos.received import stored_name
from backscatter.dicos.server import DicosServer
from backscatter.dicos.tdr import read_tdr
from backscatter.dicos.uids import DICOS_DX_PROCESSING, IMAGE_2D_CLASSES

from .conftest import make_scan, need, threshold_detector
from .peers import associate

#: storescu's own parser drops the pixels of these (malformed OD length): sent, not comparable
DCMTK_MANGLED = ("_unsigned64.dcs",)


def _meta(path: Path) -> tuple[str, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(path, stop_before_pixels=True)
    return str(ds.SOPClassUID), str(ds.SOPInstanceUID)


def test_echoscu(server: DicosServer) -> None:
    res = subprocess.run(
        [need("echoscu"), "-aec", "BACKSCATTER", "127.0.0.1", str(server.port)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert res.returncode == 0, res.stderr


def test_storescu_sends_samples_and_our_dx(
    server: DicosServer, samples: Path, tmp_path: Path
) -> None:
    storescu = need("storescu")
    ours = tmp_path / "ours"
    ours.mkdir()
    scans = {}
    for seed in range(20):
        scan = make_scan(seed, shape=(64 + seed, 96))
        scans[write_dx(scan, ours / f"{seed}.dcm")] = scan
    sample_files = sorted(samples.rglob("*.dcs"))
    files = sample_files + sorted(ours.glob("*.dcm"))
    cfg = write_storescu_config(tmp_path / "storescu.cfg")
    res = subprocess.run(
        [storescu, "-aec", "BACKSCATTER", "-xf", str(cfg), PROFILE, "-nh", "127.0.0.1"]
        + [str(server.port)]
        + [str(f) for f in files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr[-2000:]
    assert server.wait_idle(60)
    out = server.out_dir
    assert not list(out.glob(".*.part"))

    # our DX files: byte-identical pixels, a TDR that references them and holds the detection
    detect = threshold_detector()
    for uid, scan in scans.items():
        got = out / stored_name(DICOS_DX_PROCESSING, uid)
        np.testing.assert_array_equal(pydicom.dcmread(got).pixel_array, scan.pixels)
        tdr = read_tdr(got.with_name(got.name.replace(".dcm", ".tdr.dcm")))
        assert tdr.image_refs == [ImageRef(DICOS_DX_PROCESSING, uid)]
        np.testing.assert_array_equal(tdr.detections.boxes, detect(scan).boxes)
        assert tdr.alarm_decision == "ALARM"

    # the samples: every one stored; 2-D images pixel-identical (one of the files sharing its
    # UID, since some samples reuse UIDs) and given a TDR
    groups: dict[str, list[Path]] = defaultdict(list)
    for f in sample_files:
        sop_class, uid = _meta(f)
        groups[stored_name(sop_class, uid)].append(f)
    for name, members in groups.items():
        got = out / name
        assert got.exists(), name
        sop_class, _ = _meta(members[0])
        if sop_class not in IMAGE_2D_CLASSES or members[0].name.endswith(DCMTK_MANGLED):
            continue
        received = open_scan(got).pixels
        assert any(np.array_equal(received, open_scan(m).pixels) for m in members), name
        assert got.with_name(name.replace(".dcm", ".tdr.dcm")).exists(), name


def test_pynetdicom_scu(server: DicosServer, tmp_path: Path) -> None:
    paths = [tmp_path / f"{i}.dcm" for i in range(3)]
    uids = [write_dx(make_scan(100 + i), p) for i, p in enumerate(paths)]
    assoc = associate(server.port, [DICOS_DX_PROCESSING, "1.2.840.10008.1.1"])
    assert assoc.is_established
    try:
        assert assoc.send_c_echo().Status == 0
        for p in paths:
            assert assoc.send_c_store(pydicom.dcmread(p)).Status == 0
    finally:
        assoc.release()
    assert server.wait_idle(30)
    for p, uid in zip(paths, uids, strict=True):
        got = server.out_dir / stored_name(DICOS_DX_PROCESSING, uid)
        assert pydicom.dcmread(got).PixelData == pydicom.dcmread(p).PixelData
        assert read_tdr(
            got.with_name(got.name.replace(".dcm", ".tdr.dcm"))
        ).detections.boxes.shape == (
            1,
            4,
        )
    assert server.stored == 3


@pytest.mark.parametrize("scu_ae", ["SCANNER1", "INTRUDER"])
def test_allow_list(tmp_path: Path, scu_ae: str) -> None:
    from backscatter.dicos.server import ServerConfig

    cfg = ServerConfig(out_dir=tmp_path / "in", port=0, allow=frozenset({"SCANNER1"}))
    with DicosServer(cfg) as srv:
        assoc = associate(srv.port, ["1.2.840.10008.1.1"], ae_title=scu_ae)
        allowed = assoc.is_established
        if allowed:
            assoc.release()
    assert allowed == (scu_ae == "SCANNER1")


def test_malformed_sample_bytes_are_stored_as_sent(server: DicosServer, samples: Path) -> None:
    """The V02A uint64 DX (OD length without reserved bytes) defeats storescu's parser, but a
    peer that sends the file's bytes verbatim gets them stored verbatim: our reader recovers
    the pixels from the received file exactly as from the original."""
    from .peers import raw_c_store

    source = samples / "V02A_Data/V02A_NewDataTypes/DX/DX_unsigned64.dcs"
    data = source.read_bytes()
    meta_len = int.from_bytes(data[140:144], "little")  # (0002,0000) UL value
    body = data[144 + meta_len :]
    sop_class, uid = _meta(source)
    assoc = associate(server.port, [sop_class])
    try:
        status = raw_c_store(assoc, body, sop_class, uid)
    finally:
        assoc.release()
    assert status.Status == 0
    assert server.wait_idle(30)
    got = server.out_dir / stored_name(sop_class, uid)
    assert got.read_bytes().endswith(body)
    original = open_scan(source)
    assert original.pixels.dtype == np.uint64
    np.testing.assert_array_equal(open_scan(got).pixels, original.pixels)
    assert got.with_name(got.name.replace(".dcm", ".tdr.dcm")).exists()


def test_storescu_without_r_is_told_the_fix(
    server: DicosServer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """storescu's default proposals hold no DICOS class: one line says how many classes were
    offered, which DICOS classes we take and the fix, instead of a wall of refused UIDs."""
    import re

    write_dx(make_scan(1), tmp_path / "dx.dcm")
    res = subprocess.run(
        [need("storescu"), "-aec", "BACKSCATTER", "127.0.0.1", str(server.port)]
        + [str(tmp_path / "dx.dcm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode != 0  # storescu has no context for the DICOS DX class
    lines = [r.getMessage() for r in caplog.records if "SOP classes offered" in r.getMessage()]
    assert len(lines) == 1, lines
    line = lines[0]
    offered = int(re.search(r"(\d+) SOP classes offered", line).group(1))  # type: ignore[union-attr]
    assert offered > 20
    assert "DICOS classes accepted here: CT, DX, TDR, AIT2D, AIT3D, QR" in line
    assert "storescu -R" in line and "storescu -xf CONFIG Backscatter" in line
    assert line.count("1.2.840.10008.") <= 3  # not the wall of UIDs


def test_storescu_r_stores_dicos_dx(server: DicosServer, tmp_path: Path) -> None:
    """The README's command: storescu -R proposes the file's own (DICOS) class."""
    uid = write_dx(make_scan(2), tmp_path / "dx.dcm")
    res = subprocess.run(
        [need("storescu"), "-aec", "BACKSCATTER", "-R", "127.0.0.1", str(server.port)]
        + [str(tmp_path / "dx.dcm")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert server.wait_idle(30)
    assert (server.out_dir / stored_name(DICOS_DX_PROCESSING, uid)).is_file()


def test_storescu_mangled_uint64_sample_gets_an_aborted_tdr(
    server: DicosServer, samples: Path, tmp_path: Path
) -> None:
    """storescu re-encodes the V02A uint64 DX and loses its pixels: acknowledged, but the TDR
    says the analysis was aborted (before: Success, no TDR, no forward)."""
    source = samples / "V02A_Data/V02A_NewDataTypes/DX/DX_unsigned64.dcs"
    cfg = write_storescu_config(tmp_path / "storescu.cfg")
    res = subprocess.run(
        [need("storescu"), "-aec", "BACKSCATTER", "-xf", str(cfg), PROFILE, "127.0.0.1"]
        + [str(server.port), str(source)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert server.wait_idle(30)
    sop_class, uid = _meta(source)
    tdr = read_tdr(server.out_dir / stored_name(sop_class, uid).replace(".dcm", ".tdr.dcm"))
    assert (tdr.extras["abort_flag"], tdr.extras["abort_reason"]) == ("ABORT", "INCOMPLETE_SCAN")
    assert tdr.image_refs == [ImageRef(sop_class, uid)]
