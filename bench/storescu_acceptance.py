"""Acceptance run: storescu sends every shared DICOS sample plus N generated DX files to the
receiver; every one must arrive intact (pixel-identical) and every 2-D image must get a TDR.

    .venv/bin/python bench/storescu_acceptance.py [--count 200]

Prints the counts and exits non-zero on any miss. (tests/dicos runs the same check with 20.)
"""

from __future__ import annotations

import argparse
import logging
import subprocess
import sys
import tempfile
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom

from backscatter.acquisition.open import open_scan
from backscatter.detections import Detections
from backscatter.dicos.dx import write_dx
from backscatter.dicos.peers import PROFILE, write_storescu_config
from backscatter.dicos.received import stored_name, tdr_path_for
from backscatter.dicos.server import DicosServer, ServerConfig
from backscatter.dicos.tdr import read_tdr
from backscatter.dicos.uids import IMAGE_2D_CLASSES
from backscatter.scan import Scan

SAMPLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "interop" / "dicos-samples"
#: storescu's own parser loses these files' pixels (OD length without reserved bytes)
DCMTK_MANGLED = ("_unsigned64.dcs",)


def detect(scan: Scan) -> Detections:
    hot = scan.pixels >= 0.9 * scan.full_scale
    if not hot.any():
        return Detections.empty()
    rows, cols = np.nonzero(hot)
    return Detections([[cols.min(), rows.min(), cols.max() + 1, rows.max() + 1]], [0.9], [2])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--count", type=int, default=200)
    args = p.parse_args()
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    logging.getLogger("pydicom").setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    samples = sorted(SAMPLES.resolve().rglob("*.dcs")) if SAMPLES.is_dir() else []
    with tempfile.TemporaryDirectory(prefix="storescu-acceptance-") as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        rng = np.random.default_rng(0)
        ours: dict[Path, np.ndarray] = {}
        for i in range(args.count):
            px = rng.integers(0, 1024, size=(128 + i % 7, 160), dtype=np.uint16)
            px[10:30, 20:50] = 4095
            path = root / "src" / f"{i:04d}.dcm"
            write_dx(Scan(pixels=px, bits_stored=12, scan_id=f"acc-{i}"), path)
            ours[path] = px
        cfg = ServerConfig(out_dir=root / "in", port=0, detect=detect, model_id="acceptance")
        with DicosServer(cfg) as srv:
            started = time.perf_counter()
            res = subprocess.run(
                ["storescu", "-xf", str(write_storescu_config(root / "s.cfg")), PROFILE, "-nh"]
                + ["-aec", "BACKSCATTER", "127.0.0.1", str(srv.port)]
                + [str(f) for f in samples + list(ours)],
                capture_output=True,
                text=True,
            )
            srv.wait_idle(600)
            elapsed = time.perf_counter() - started
        out = root / "in"
        missing: list[str] = []
        for path, px in ours.items():
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            got = out / stored_name(str(ds.SOPClassUID), str(ds.SOPInstanceUID))
            if not got.exists() or not np.array_equal(pydicom.dcmread(got).pixel_array, px):
                missing.append(f"{path.name}: not stored intact")
            elif not tdr_path_for(got).exists() or len(read_tdr(tdr_path_for(got)).detections) != 1:
                missing.append(f"{path.name}: no TDR")
        groups: dict[str, list[Path]] = defaultdict(list)
        for f in samples:
            ds = pydicom.dcmread(f, stop_before_pixels=True)
            groups[stored_name(str(ds.SOPClassUID), str(ds.SOPInstanceUID))].append(f)
        image_groups = 0
        for name, members in groups.items():
            got = out / name
            ds = pydicom.dcmread(members[0], stop_before_pixels=True)
            if not got.exists():
                missing.append(f"{members[0].name}: not stored")
                continue
            if str(ds.SOPClassUID) not in IMAGE_2D_CLASSES:
                continue
            image_groups += 1
            if members[0].name.endswith(DCMTK_MANGLED):
                continue
            px = open_scan(got).pixels
            if not any(np.array_equal(px, open_scan(m).pixels) for m in members):
                missing.append(f"{members[0].name}: pixels differ")
            if not tdr_path_for(got).exists():
                missing.append(f"{members[0].name}: no TDR")
    print(
        f"storescu exit status {res.returncode}; sent {len(samples)} sample files "
        f"({len(groups)} distinct class+UID, {image_groups} 2-D images) + {len(ours)} DX"
    )
    rate = (len(samples) + len(ours)) / elapsed
    print(f"all arrived and processed in {elapsed:.1f} s ({rate:.1f} files/s)")
    print(f"problems: {len(missing)}")
    for m in missing:
        print("  " + m)
    return 1 if missing or res.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
