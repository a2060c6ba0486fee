"""Seed inputs for the fuzzers: files our own writers make, plus the shared DICOS samples.

Each seed is a :class:`Seed`: the bytes of the file, its target (``"scan"`` for
``open_scan``, ``"tdr"`` for ``read_tdr``) and, for raw scans, the YAML sidecar text.
The shared samples are read from ``../shared/interop/dicos-samples`` at run time, never copied.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
SAMPLES = REPO / ".." / "shared" / "interop" / "dicos-samples"
#: samples above this size are skipped (fuzzing them is slow and adds little)
MAX_SAMPLE_BYTES = 400_000


@dataclass(frozen=True)
class Seed:
    name: str
    data: bytes
    target: str  # "scan" | "tdr"
    sidecar: str | None = None  # YAML text for raw scans
    suffix: str = ".dcm"


def _scan(rows: int = 48, cols: int = 64, seed: int = 0) -> object:
    from backscatter.scan import Scan

    rng = np.random.default_rng(seed)
    px = rng.integers(0, 4096, size=(rows, cols), dtype=np.uint16)
    px[10:20, 12:30] = 4000
    return Scan(px, bits_stored=12, scan_id=f"fuzz-seed-{seed}", window=(2048.0, 4096.0))


def _dicom_bytes(ds: object) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)  # type: ignore[attr-defined]
    return buf.getvalue()


def own_seeds(tmp: Path) -> list[Seed]:
    """Files written by our writers (DX, TDR) and by the libraries our readers use."""
    import cv2
    import tifffile
    from pydicom import dcmread
    from pydicom.encaps import encapsulate
    from pydicom.uid import JPEGBaseline8Bit, RLELossless

    from backscatter.detections import Detections
    from backscatter.dicos.dx import write_dx
    from backscatter.dicos.tdr import write_machine_tdr

    tmp.mkdir(parents=True, exist_ok=True)
    scan = _scan()
    seeds: list[Seed] = []
    dx = tmp / "dx.dcm"
    write_dx(scan, dx)  # type: ignore[arg-type]
    seeds.append(Seed("own-dx", dx.read_bytes(), "scan"))

    ds = dcmread(dx)
    ds.compress(RLELossless)
    seeds.append(Seed("own-dx-rle", _dicom_bytes(ds), "scan"))

    ds = dcmread(dx)
    px8 = (ds.pixel_array >> 4).astype(np.uint8)
    ok, jpg = cv2.imencode(".jpg", px8)
    assert ok
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([jpg.tobytes()])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = JPEGBaseline8Bit
    seeds.append(Seed("own-dx-jpeg", _dicom_bytes(ds), "scan"))

    dets = Detections(
        boxes=np.array([[5, 6, 20, 30], [30, 10, 60, 40]], np.float32),
        scores=np.array([0.9, 0.3], np.float32),
        labels=np.array([2, 0]),
    )
    tdr = tmp / "tdr.dcm"
    write_machine_tdr(scan, dets, tdr, model_id="fuzz:1:0", alarm_threshold=0.5)  # type: ignore[arg-type]
    seeds.append(Seed("own-tdr", tdr.read_bytes(), "tdr"))

    px = scan.pixels  # type: ignore[attr-defined]
    for name, image in (("png16", px), ("png8", (px >> 4).astype(np.uint8))):
        ok, png = cv2.imencode(".png", image)
        assert ok
        seeds.append(Seed(f"own-{name}", png.tobytes(), "scan", suffix=".png"))
    for name, kw in (("tiff", {}), ("tiff-zlib", {"compression": "zlib"})):
        buf = io.BytesIO()
        tifffile.imwrite(buf, px, **kw)  # type: ignore[arg-type]
        seeds.append(Seed(f"own-{name}", buf.getvalue(), "scan", suffix=".tif"))
    side = "width: 64\nheight: 48\ndtype: uint16\nbyte_order: little\nbits_stored: 12\n"
    side += "pixel_spacing_mm: [0.8, 0.8]\nwindow: [2048, 4096]\nmetadata: {kvp: 450}\n"
    seeds.append(Seed("own-raw", px.astype("<u2").tobytes(), "scan", sidecar=side, suffix=".raw"))
    return seeds


def sample_seeds() -> list[Seed]:
    """The shared DICOS samples (empty when they are absent); TDRs go to ``read_tdr``."""
    if not SAMPLES.is_dir():
        return []
    seeds = []
    for path in sorted(SAMPLES.rglob("*.dcs")):
        size = path.stat().st_size
        if size > MAX_SAMPLE_BYTES:
            continue
        target = "tdr" if "tdr" in path.name.lower() else "scan"
        name = "sample-" + str(path.relative_to(SAMPLES)).replace("/", "-")
        seeds.append(Seed(name, path.read_bytes(), target))
    return seeds
