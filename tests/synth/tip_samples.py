"""Native and projected threat regions on three host kinds, for the TIP detectability check.

- ``png``: the simulator's scans as 16-bit PNG files (no metadata: dose from the scans alone)
- ``dicos``: the simulator's scans as DICOS DX files (the device named in the metadata)
- ``other``: scans of :mod:`tip_other` (another generator: other dose, gain, blur, raster) as TIFF

Native regions are the visible threats each generator rendered itself; projected ones are TIP
threats of the same classes in clean scans of the same kind, the dose and blur pooled over all
the hosts as ``exercise build`` does. Only visible threats on both sides.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from backscatter.acquisition.open import open_scan
from backscatter.scan import Scan
from backscatter.synth.device import simulate_scan
from backscatter.synth.tip import project_threat
from backscatter.synth.tip_check import region_features
from backscatter.synth.tip_dose import device_gain, device_profile, estimate_dose, host_facts
from backscatter.synth.tip_host import TipError, photon_transfer

try:  # as a test helper (tests/synth on sys.path) or from bench/ (repository root on sys.path)
    from tip_other import render_other, write_other
except ImportError:  # pragma: no cover
    from tests.synth.tip_other import render_other, write_other

KINDS = ("png", "dicos", "other")
#: one device, one gain: pool it over the hosts as ``exercise build`` does
POOL_GAIN = True
SIZE = (256, 256)


def _write(kind: str, pixels_or_scan: Scan | np.ndarray, folder: Path, name: str) -> Scan:
    if kind == "png":
        assert isinstance(pixels_or_scan, Scan)
        path = folder / f"{name}.png"
        cv2.imwrite(str(path), pixels_or_scan.pixels)
    elif kind == "dicos":
        from backscatter.dicos import write_dx

        assert isinstance(pixels_or_scan, Scan)
        path = folder / f"{name}.dcm"
        write_dx(pixels_or_scan, path)
    else:
        assert isinstance(pixels_or_scan, np.ndarray)
        path = write_other(folder / f"{name}.tif", pixels_or_scan)
    return open_scan(path)


def _natives(kind: str, n: int, seed: int) -> tuple[list[np.ndarray], list[int]]:
    feats: list[np.ndarray] = []
    classes: list[int] = []
    while len(feats) < n:
        if kind == "other":
            px, found = render_other(seed, size=SIZE)
            scan = Scan(px, 16, f"other-{seed}")
        else:
            scan = simulate_scan(seed, size=SIZE)
            gt = scan.extras["ground_truth"]
            found = [(int(gt.labels[i]), gt.masks[i]) for i in range(len(gt))
                     if gt.masks is not None and gt.masks[i].sum() >= 60]  # fmt: skip
        seed += 1
        noise = photon_transfer(scan.pixels) if found else None
        for cid, mask in found:
            if len(feats) < n:
                feats.append(region_features(scan, mask, noise=noise))
                classes.append(cid)
    return feats, classes


def _hosts(kind: str, n: int, seed: int, folder: Path) -> list[Scan]:
    hosts = []
    for i in range(n):
        if kind == "other":
            px, _ = render_other(seed + i, size=SIZE, clean=True)
            hosts.append(_write(kind, px, folder, f"host{i:03d}"))
        else:
            hosts.append(_write(kind, simulate_scan(seed + i, size=SIZE, clean=True), folder,
                                f"host{i:03d}"))  # fmt: skip
    return hosts


def samples(
    kind: str, n: int, *, seed: int = 0, family: str | None = "auto", dose_factor: float = 1.0
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``n`` native and ``n`` projected feature rows for host ``kind``; ``dose_factor``
    multiplies the pooled dose (a wrong dose, to show the check catches it)."""
    native, classes = _natives(kind, n, 1000 + seed * 7919)
    with tempfile.TemporaryDirectory() as tmp:
        hosts = _hosts(kind, n + n // 2, 50000 + seed * 7919, Path(tmp))
    noises, usable = [], []
    for h in hosts:
        try:
            noises.append(photon_transfer(h.pixels))
            usable.append(h)
        except TipError:
            continue
    gain = device_gain(noises) if POOL_GAIN else None
    facts = [host_facts(h, gain=gain) for h in usable]
    dose = estimate_dose(facts, profile=device_profile(usable[0]))
    if dose_factor != 1.0:
        dose = replace(dose, counts_per_signal=dose.counts_per_signal * dose_factor)
    rng = np.random.default_rng(seed)
    projected: list[np.ndarray] = []
    j = 0
    for cid in classes:
        for _ in range(12):
            host, fact = usable[j % len(usable)], facts[j % len(usable)]
            j += 1
            try:
                tip = project_threat(host, cid, rng=rng, dose=dose, facts=fact, family=family)
            except TipError:
                continue
            if not tip.params["hidden"] and tip.detections.masks is not None:
                mask = tip.detections.masks[0]
                projected.append(region_features(tip.scan, mask, noise=fact.noise))
                break
    return native, projected
