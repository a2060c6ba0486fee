"""A contact sheet of the threat and look-alike library for the documentation (not model input).

Each tile is one object through the simulator's physics: the object 1 cm behind a 2 mm plastic
cover, 4 cm of clothes at 7 cm and a 1.5 cm plywood back panel at 12 cm behind it (so steel
casts a shadow on them), the handheld
profile's layer transport and beam spot, shown as the expected counts without the counting
noise (noise does not compress, and a picture of the shapes wants none). Display window: the
0.5-99.5 percentile range over the whole sheet.

    python -m backscatter.synth.montage docs/images/threat_library.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.clutter import CLUTTER, LOOKALIKE_OF
from backscatter.synth.physics import Layer, blur_spot, clip_layer, get_profile, scatter_signal
from backscatter.synth.shapes import Patch
from backscatter.synth.threats import GENERATORS, SUBTYPES, slab

#: tile side in px and in cm
TILE_PX = 150
TILE_CM = 60.0
_SHORT = {"organic_package": "organic"}


def _tile_signal(layers: list[Layer]) -> np.ndarray:
    prof = get_profile("handheld")
    shape = (TILE_PX, TILE_PX)
    ones = np.ones(shape, np.float32)
    full = Patch(ones, 0, 0)
    scene = [
        slab("plastic", ones * 0.2, full, 0.0),
        slab("textile", ones * 4.0, full, 7.0),
        slab("plywood", ones * 1.5, full, 12.0),
    ]
    scene += [c for lay in layers if (c := clip_layer(lay, shape)) is not None]
    ppc = TILE_PX / TILE_CM
    sigma = prof.spot_sigma_px * ppc / (512 / prof.fov_cm[0])
    return blur_spot(scatter_signal(scene, shape, prof), sigma_px=sigma)


def library_tiles(seed: int = 7) -> list[tuple[str, np.ndarray]]:
    """(label, signal) of one example of every threat sub-type (``class:subtype``), then every
    look-alike (``~class:kind``, grouped by the class it imitates)."""
    ppc = TILE_PX / TILE_CM
    c = (TILE_PX / 2, TILE_PX / 2)
    out = []
    for cid, cls in enumerate(THREAT_CLASSES):
        for k, sub in enumerate(SUBTYPES[cls]):
            rng = np.random.default_rng([seed, cid, k])
            t = GENERATORS[cid](rng, center=c, ppc=ppc, depth_cm=1.0, subtypes=[sub])
            out.append((f"{_SHORT.get(cls, cls)}:{sub}", _tile_signal(t.layers)))
    for k, kind in enumerate(sorted(LOOKALIKE_OF, key=lambda n: (LOOKALIKE_OF[n], n))):
        rng = np.random.default_rng([seed, 99, k])
        layers = CLUTTER[kind](rng, c, ppc, 1.0)
        cls = LOOKALIKE_OF[kind]
        out.append((f"~{_SHORT.get(cls, cls)}:{kind}", _tile_signal(layers)))
    return out


def montage(tiles: list[tuple[str, np.ndarray]], *, cols: int = 10) -> np.ndarray:
    """Grey uint8 sheet of labelled tiles, ``cols`` a row."""
    stack = np.stack([s for _, s in tiles])
    lo, hi = np.percentile(stack, [0.5, 99.5])
    rows = -(-len(tiles) // cols)
    sheet = np.full((rows * TILE_PX, cols * TILE_PX), 255, np.uint8)
    for i, (label, sig) in enumerate(tiles):
        r, c = divmod(i, cols)
        img = np.clip((sig - lo) / max(hi - lo, 1e-9) * 255.0, 0, 255).astype(np.uint8)
        cv2.rectangle(img, (0, 0), (TILE_PX - 1, 12), 255, -1)
        cv2.putText(img, label, (2, 10), cv2.FONT_HERSHEY_SIMPLEX, 0.3, 0, 1, cv2.LINE_AA)
        cv2.rectangle(img, (0, 0), (TILE_PX - 1, TILE_PX - 1), 255, 1)
        sheet[r * TILE_PX : (r + 1) * TILE_PX, c * TILE_PX : (c + 1) * TILE_PX] = img
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser(description="write the threat/look-alike library contact sheet")
    ap.add_argument("out", type=Path)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    sheet = montage(library_tiles(args.seed))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(args.out, args.out.stat().st_size)


if __name__ == "__main__":
    main()
