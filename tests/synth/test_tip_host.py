"""What TIP measures on a host from its pixels: photon transfer, dose, line gain, blur, members."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from tip_other import K as OTHER_K
from tip_other import render_other

from backscatter.scan import AcquisitionMetadata, Scan
from backscatter.synth.device import simulate_scan
from backscatter.synth.tip_dose import device_profile, estimate_dose, host_facts
from backscatter.synth.tip_host import TipError, edge_spread, photon_transfer, raster


def _poisson_host(gain: float, dark: float, seed: int = 0) -> np.ndarray:
    """Smooth ramps and blocks of 5..400 photons, Poisson, ``gain`` DN each above ``dark``."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:256, 0:256]
    lam = 5.0 + 1.5 * x + 120.0 * (y > 128)
    return dark + gain * rng.poisson(lam) + rng.normal(0.0, 1.0, lam.shape)


@pytest.mark.parametrize(("gain", "dark"), [(3.5, 100.0), (64.0, 1200.0), (0.8, 20.0)])
def test_photon_transfer_recovers_the_gain_within_its_error(gain: float, dark: float) -> None:
    noise = photon_transfer(_poisson_host(gain, dark))
    assert noise.gain == pytest.approx(gain, rel=0.08)
    assert abs(noise.gain - gain) <= 4 * noise.gain_se + 0.02 * gain
    assert 0 < noise.gain_se < 0.1 * gain and noise.n_tiles > 100


def test_noise_that_does_not_grow_with_the_signal_is_refused_in_one_line() -> None:
    rng = np.random.default_rng(1)
    x = np.mgrid[0:256, 0:256][1]
    gaussian = 2000.0 + 20.0 * x + rng.normal(0.0, 30.0, x.shape)  # a rendered, not counted, image
    with pytest.raises(TipError, match=r"^render\.png: noise is not Poisson-like") as info:
        photon_transfer(gaussian, name="render.png")
    assert "\n" not in str(info.value)


def test_blank_host_is_refused() -> None:
    with pytest.raises(TipError, match="blank"):
        photon_transfer(np.full((128, 128), 1000.0), name="blank.png")


def _strip(scan: Scan) -> Scan:
    """The scan as a PNG file would give it: pixels only."""
    return Scan(scan.pixels, scan.bits_stored, scan.scan_id)


def test_dose_from_the_scans_alone_is_the_devices() -> None:
    """Simulated scans with no metadata (1500 counts per unit signal) and the second generator's
    (380): the pooled scan estimate lands within 2.5 of its own standard errors + 10 %."""
    sims = [host_facts(_strip(simulate_scan(600 + i, size=(256, 256), clean=True)))
            for i in range(24)]  # fmt: skip
    dose = estimate_dose(sims)
    assert dose.source == "scan" and dose.n_hosts == 24 and 0 < dose.rel_se < 0.25
    assert abs(np.log(dose.counts_per_signal / 1500.0)) <= 2.5 * dose.rel_se + 0.1
    others = [host_facts(Scan(render_other(700 + i, clean=True)[0], 16, f"o{i}"))
              for i in range(24)]  # fmt: skip
    other = estimate_dose(others)
    assert abs(np.log(other.counts_per_signal / OTHER_K)) <= 2.5 * other.rel_se + 0.1


def test_metadata_gives_the_dose_and_the_estimate_stands_beside_it() -> None:
    scan = simulate_scan(610, size=(256, 256), clean=True)
    prof = device_profile(scan)
    assert prof is not None and prof.name == "handheld"
    dose = estimate_dose([host_facts(scan)], profile=prof)
    assert dose.source == "metadata" and dose.counts_per_signal == 1500.0
    assert dose.estimate is not None and dose.estimate_rel_se is not None
    assert device_profile(_strip(scan)) is None
    other = Scan(scan.pixels, 16, "x", metadata=AcquisitionMetadata(manufacturer="Acme"))
    assert device_profile(other) is None


def test_line_and_column_gain_are_measured() -> None:
    rng = np.random.default_rng(2)
    rows, cols = 1 + 0.03 * rng.standard_normal(256), 1 + 0.02 * rng.standard_normal(256)
    y, x = np.mgrid[0:256, 0:256]
    lam = (300.0 + 200.0 * np.sin(x / 40.0) ** 2 + y) * rows[:, None] * cols[None, :]
    px = 100.0 + 4.0 * rng.poisson(lam)
    noise = photon_transfer(px)
    r = raster(px, noise=noise, region=np.ones(px.shape, bool))
    # line to line (a smooth trend is a drift or the scene: not what is compared here)
    assert np.corrcoef(np.diff(r.rows[3:-3]), np.diff(rows[3:-3]))[0, 1] > 0.8
    assert np.corrcoef(np.diff(r.cols[3:-3]), np.diff(cols[3:-3]))[0, 1] > 0.8
    flat = raster(100.0 + 4.0 * rng.poisson(np.full((256, 256), 400.0)), noise=noise,
                  region=np.ones(px.shape, bool))  # fmt: skip
    # noise alone is not read as a line gain
    assert np.std(np.diff(flat.rows)) < 0.3 * np.std(np.diff(r.rows))


def _edges(sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lam = np.full((256, 256), 200.0)
    for k in range(4):
        lam[:, 8 + 64 * k : 40 + 64 * k] = 2000.0  # vertical bars
        lam[8 + 64 * k : 40 + 64 * k, :] += 1000.0  # and horizontal ones
    lam = cv2.GaussianBlur(lam, (0, 0), sigma)
    return 50.0 + 2.0 * rng.poisson(lam)


def test_edge_spread_follows_the_blur() -> None:
    noise = photon_transfer(_edges(1.0))
    narrow = edge_spread(_edges(1.0), noise=noise)
    wide = edge_spread(_edges(2.0), noise=noise)
    assert narrow is not None and wide is not None
    # what is measured is the blur less the objects' own softness: squares differ by 4 - 1
    # (read over +-4 px, a 2 px blur's tails are cut: a little less)
    assert 1.8 <= wide**2 - narrow**2 <= 3.6


def test_another_vendors_drawn_dx_is_refused_in_one_line() -> None:
    """The Stratovan SDICOS example DX (a drawing: three grey levels, no counting noise) cannot
    give a dose; it is refused naming the file, not projected into with a made-up one."""
    from pathlib import Path

    from backscatter.acquisition.open import open_scan

    root = Path(__file__).resolve().parents[2] / ".." / "shared" / "interop" / "dicos-samples"
    path = root / "V03_Data" / "DX_01_ExplicitLittlEndian" / "DX_01_ExplicitLittlEndian.dcs"
    if not path.is_file():
        pytest.skip(f"{path} not present")
    with pytest.raises(TipError, match=r"^DX_01_ExplicitLittlEndian\.dcs: ") as info:
        host_facts(open_scan(path), name=path.name)
    assert "\n" not in str(info.value)
