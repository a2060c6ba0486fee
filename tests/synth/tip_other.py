"""A second, small backscatter generator for TIP tests: other device, other noise, other raster.

It shares the simulator's scene and threat geometry (what a scene *is*) but not its detector:
a quarter of the dose (noisier), 3.1 DN per photon on a 200 DN offset in 12 bits, a wider
beam spot (sigma 1.3 px), a fixed per-column gain pattern (+-2 %), per-line gain jitter of 2 %
with no slow drift, a linear fall-off across the sweep instead of a cos^3 one, and no sweep
geometry. Scans are written as TIFF files with no metadata, so TIP knows nothing of it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import tifffile

from backscatter.synth.physics import PROFILES, clip_layer, scatter_signal
from backscatter.synth.render import FEATURE_CM, MIN_VISIBLE_FRACTION, VISIBLE_SNR
from backscatter.synth.scenes import BUILDERS, FAMILIES, add_clutter
from backscatter.synth.threats import GENERATORS

K = 380.0  # counts per unit signal (the simulator's hand-held: 1500)
GAIN, DARK, READ, FULL = 3.1, 200.0, 3.0, 4095
SPOT = 1.3


def render_other(
    seed: int, *, size: tuple[int, int] = (256, 256), clean: bool = False
) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """``(pixels uint16, [(class id, visible mask), ...])`` of one scene of this generator."""
    prof = PROFILES["handheld"]
    rng = np.random.default_rng(seed)
    shape = size
    ppc = min(shape[0] / prof.fov_cm[0], shape[1] / prof.fov_cm[1])
    fam = str(rng.choice(FAMILIES))
    layout = BUILDERS[fam](rng, shape, ppc)
    layers = [c for lay in layout.layers + add_clutter(layout, rng, ppc)
              if (c := clip_layer(lay, shape)) is not None]  # fmt: skip
    threats: list[tuple[int, np.ndarray, frozenset[int]]] = []
    n = 0 if clean else int(rng.integers(1, 3))
    ys, xs = np.nonzero(layout.region)
    for _ in range(n):
        cid = int(rng.integers(len(GENERATORS)))
        i = int(rng.integers(ys.size))
        t = GENERATORS[cid](rng, center=(float(xs[i]), float(ys[i])), ppc=ppc,
                            depth_cm=float(rng.uniform(*layout.depth_range)))  # fmt: skip
        own = []
        for lay in t.layers:
            c = clip_layer(lay, shape)
            if c is not None:
                own.append(len(layers))
                layers.append(c)
        full = np.zeros(shape, bool)
        p = t.patch
        r0, c0 = max(p.row0, 0), max(p.col0, 0)
        r1, c1 = min(p.row0 + p.cov.shape[0], shape[0]), min(p.col0 + p.cov.shape[1], shape[1])
        if r1 > r0 and c1 > c0:
            full[r0:r1, c0:c1] = p.mask[r0 - p.row0 : r1 - p.row0, c0 - p.col0 : c1 - p.col0]
        threats.append((cid, full, frozenset(own)))
    signal = scatter_signal(layers, shape, prof)
    cols = np.linspace(-1, 1, shape[1])
    column_gain = (1.0 - 0.12 * np.abs(cols)) * (1 + 0.02 * rng.standard_normal(shape[1]))
    line_gain = 1 + 0.02 * rng.standard_normal(shape[0])
    dose = K * line_gain[:, None] * column_gain[None, :]
    lam = cv2.GaussianBlur((signal + 0.003) * dose, (0, 0), SPOT)
    px = DARK + GAIN * rng.poisson(lam) + rng.normal(0, READ, shape)
    pixels = np.clip(np.rint(px), 0, FULL).astype(np.uint16)
    out = []
    k = max(3, round(FEATURE_CM * ppc))
    for cid, full, own in threats:
        if full.sum() < 60:
            continue
        without = scatter_signal(layers, shape, prof, exclude=own)
        delta = cv2.GaussianBlur((signal - without) * dose, (0, 0), SPOT)
        snr = np.abs(cv2.blur(delta, (k, k))) * k / np.sqrt(cv2.blur(lam, (k, k)) + 1.0)
        vis = full & (snr >= VISIBLE_SNR)
        if vis.sum() >= MIN_VISIBLE_FRACTION * full.sum() and vis.sum() >= 60:
            out.append((cid, vis))
    return pixels, out


def write_other(path: Path, pixels: np.ndarray) -> Path:
    """A plain 16-bit TIFF: no spacing, no device, nothing but the pixels."""
    tifffile.imwrite(path, pixels)
    return path
