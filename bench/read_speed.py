"""Read speed of ``open_scan`` for DICOM: uncompressed 16-bit vs JPEG Lossless per decoder.

Prints MB/s of decoded pixels (rows x cols x 2 bytes per second) for:
  * an uncompressed 16-bit explicit-VR DICOM (2048 x 1024, synthetic, seeded),
  * the same image JPEG Lossless (Process 14 SV1) encoded by dcmtk's ``dcmcjpeg``,
    decoded with pylibjpeg(-libjpeg) and with python-gdcm,
  * the shared DICOS sample ``V03_Data/DXwithTDR/dx.dcs`` (JPEG Lossless, 200 x 100), repeated.
Each figure is the fastest of several full ``open_scan`` calls (file read + sha256 + parse +
decode), so other load on the machine disturbs it least.
Usage: ``.venv/bin/python bench/read_speed.py [--repeat N]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from backscatter.acquisition import ReadPolicy, open_scan

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / ".." / "shared" / "interop" / "dicos-samples" / "V03_Data" / "DXwithTDR" / "dx.dcs"


def synthetic_image(
    rows: int = 1024, cols: int = 2048, seed: int = 0, noise: float = 300.0
) -> np.ndarray:
    """A backscatter-like 16-bit image: smooth structure plus Gaussian noise (sd in counts)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float32)
    base = 12000 + 8000 * np.sin(x / 97.0) * np.cos(y / 61.0)
    base += 15000 * ((x - cols / 2) ** 2 + (y - rows / 2) ** 2 < (rows / 4) ** 2)
    noisy = base + rng.normal(0, noise, size=base.shape)
    return np.clip(noisy, 0, 65535).astype(np.uint16)


def write_uncompressed(pixels: np.ndarray, path: Path) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.501.2.2")
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = pixels.tobytes()
    ds.save_as(path, enforce_file_format=True)


def time_open(path: Path, policy: ReadPolicy, repeat: int) -> tuple[float, int]:
    """Fastest seconds per open_scan over ``repeat`` calls (robust to a shared, busy machine)
    and the decoded byte count."""
    scan = open_scan(path, policy=policy)  # warm-up (imports, plugin load)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        scan = open_scan(path, policy=policy)
        times.append(time.perf_counter() - t0)
    return min(times), scan.pixels.nbytes


def jpeg_plugins() -> list[str]:
    """The JPEG Lossless decoders installed here, among those we compare."""
    from pydicom.pixels import get_decoder
    from pydicom.uid import JPEGLosslessSV1

    installed = get_decoder(JPEGLosslessSV1).available_plugins
    for plugin in ("pylibjpeg", "gdcm"):
        if plugin not in installed:
            print(f"{plugin} not installed: its figures are skipped")
    return [p for p in ("pylibjpeg", "gdcm") if p in installed]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    plugins = jpeg_plugins()
    tmp = Path(tempfile.mkdtemp(prefix="read_speed-"))
    try:
        pixels = synthetic_image()
        raw = tmp / "native.dcm"
        write_uncompressed(pixels, raw)
        rows = []
        sec, nbytes = time_open(raw, ReadPolicy(), args.repeat)
        rows.append(("uncompressed 16-bit 2048x1024", "native", sec, nbytes, raw.stat().st_size))
        if shutil.which("dcmcjpeg"):
            for label, noise in (("noisy", 300.0), ("smooth", 20.0)):
                image = synthetic_image(noise=noise)
                native = tmp / f"{label}.dcm"
                write_uncompressed(image, native)
                jpeg = tmp / f"{label}-jpegll.dcm"
                subprocess.run(["dcmcjpeg", "+e1", str(native), str(jpeg)], check=True)
                if not np.array_equal(open_scan(jpeg).pixels, image):
                    print("error: JPEG Lossless round trip is not lossless", file=sys.stderr)
                    return 1
                name = f"JPEG Lossless SV1 {label} 2048x1024"
                for plugin in plugins:
                    sec, nbytes = time_open(jpeg, ReadPolicy(decoding_plugin=plugin), args.repeat)
                    rows.append((name, plugin, sec, nbytes, jpeg.stat().st_size))
        else:
            print("dcmcjpeg not found (apt-get install dcmtk): synthetic JPEG Lossless skipped")
        if SAMPLE.is_file():
            for plugin in ("pylibjpeg", "gdcm"):
                sec, nbytes = time_open(
                    SAMPLE, ReadPolicy(decoding_plugin=plugin), args.repeat * 20
                )
                rows.append(
                    ("DICOS sample dx.dcs 200x100", plugin, sec, nbytes, SAMPLE.stat().st_size)
                )
        print(f"{'file':36} {'decoder':10} {'ms/read':>9} {'MB/s':>9} {'ratio':>7}")
        for name, plugin, sec, nbytes, size in rows:
            print(
                f"{name:36} {plugin:10} {sec * 1e3:9.2f} {nbytes / sec / 1e6:9.1f} "
                f"{nbytes / size:7.2f}"
            )
        by = {(n, p): s for n, p, s, _, _ in rows}
        for name in dict.fromkeys(n for n, _, _, _, _ in rows):
            if (name, "pylibjpeg") in by and (name, "gdcm") in by:
                ratio = by[(name, "gdcm")] / by[(name, "pylibjpeg")]
                print(f"{name}: gdcm time / pylibjpeg time = {ratio:.2f}")
        print("(MB/s = decoded pixel bytes per second of open_scan; ratio = pixels / file size)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
