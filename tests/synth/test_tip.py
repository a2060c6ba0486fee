"""Threat image projection: physics of the composition, placement, ground truth, bad input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from backscatter.scan import AcquisitionMetadata, Scan
from backscatter.synth.device import simulate_scan
from backscatter.synth.tip import TipError, project_threat
from backscatter.synth.tip_host import HostNoise, estimate_noise, plausible_region


@pytest.fixture(scope="module")
def host() -> Scan:
    return simulate_scan(4, size=(256, 256), clean=True, family="luggage")


def _flat_host(level: float = 20000.0, seed: int = 0) -> Scan:
    """A uniform object (Poisson, gain 64 DN/photon, dark 1200 DN) filling the field, read as
    the simulated hand-held device (so the dose scale is the profile's)."""
    rng = np.random.default_rng(seed)
    lam = (level - 1200.0) / 64.0
    px = 1200.0 + 64.0 * rng.poisson(lam, (192, 192)) + rng.normal(0, 40, (192, 192))
    meta = AcquisitionMetadata(manufacturer="backscatter-sim", model="handheld")
    return Scan(np.clip(np.rint(px), 0, 65535).astype(np.uint16), 16, "flat", metadata=meta)


#: a flat host has one grey level: its noise model and object region are given, not estimated
KNOWN = {"noise": HostNoise(gain=64.0, dark=1200.0, floor_var=1600.0),
         "region": np.ones((192, 192), bool)}  # fmt: skip


def test_noise_model_recovers_gain_and_dark() -> None:
    rng = np.random.default_rng(1)
    mean = np.linspace(2000, 30000, 256)[None, :] * np.ones((256, 1))
    px = rng.normal(mean, np.sqrt(64.0 * (mean - 1200.0) + 1600.0))
    noise = estimate_noise(px)
    assert noise.gain == pytest.approx(64.0, rel=0.1)
    assert noise.dark == pytest.approx(1200.0, abs=600.0)


def test_host_is_unchanged_and_only_the_threat_area_moves(host: Scan) -> None:
    before = host.pixels.copy()
    tip = project_threat(host, "firearm", rng=np.random.default_rng(3))
    assert np.array_equal(host.pixels, before)
    changed = tip.scan.pixels != host.pixels
    x0, y0, x1, y1 = tip.detections.boxes[0]
    ys, xs = np.nonzero(changed)
    # everything that changed lies near the threat (box of its visible part + blur margin)
    assert ys.min() >= y0 - 12 and ys.max() <= y1 + 12
    assert xs.min() >= x0 - 12 and xs.max() <= x1 + 12
    assert tip.scan.pixels.dtype == host.pixels.dtype
    assert tip.scan.scan_id != host.scan_id
    assert tip.detections.label_names == ["firearm"]


@pytest.mark.parametrize("cls", ["organic_package", "currency", "firearm", "blade", "liquid"])
def test_threat_lies_inside_the_object_region(host: Scan, cls: str) -> None:
    noise = estimate_noise(host.pixels)
    region = plausible_region(host.pixels, noise=noise)
    tip = project_threat(host, cls, rng=np.random.default_rng(7), noise=noise, region=region)
    mask = tip.detections.masks[0]
    assert mask.any()
    assert np.count_nonzero(mask & region) >= 0.95 * mask.sum()


def test_metal_casts_a_shadow_and_organic_adds_scatter() -> None:
    flat = _flat_host(30000.0)
    near = {"cover": ("plastic", 0.3), "depth_cm": 1.0, "filler": 0.0, **KNOWN}
    steel = project_threat(flat, "firearm", rng=np.random.default_rng(1), **near)
    organic = project_threat(_flat_host(6000.0), "organic_package", rng=np.random.default_rng(2),
                             **near)  # fmt: skip
    m_steel = steel.detections.masks[0]
    m_org = organic.detections.masks[0]
    # the steel slide is a shadow (a nylon frame may scatter brightly: a low percentile)
    assert np.percentile(steel.scan.pixels[m_steel], 10) < 0.5 * flat.pixels[m_steel].mean()
    host_org = _flat_host(6000.0).pixels[m_org].mean()
    assert organic.scan.pixels[m_org].mean() > 1.3 * host_org


def test_organic_behind_steel_is_dimmer_than_behind_plastic() -> None:
    flat = _flat_host(6000.0)
    kw = {"scale": 1.0, "depth_cm": 1.0, "filler": 0.0, **KNOWN}
    plastic = project_threat(flat, 0, rng=np.random.default_rng(5), cover=("plastic", 0.3), **kw)
    steel = project_threat(flat, 0, rng=np.random.default_rng(5), cover=("steel", 0.15), **kw)
    m = plastic.detections.masks[0] & steel.detections.masks[0]
    gain_plastic = plastic.scan.pixels[m].mean() - flat.pixels[m].mean()
    gain_steel = steel.scan.pixels[m].mean() - flat.pixels[m].mean()
    assert gain_plastic > 0 and gain_steel < 0.8 * gain_plastic


def test_projected_noise_matches_the_host_dose() -> None:
    """Inside the threat the pixel noise is the Poisson + read noise of the new local mean
    (measured with second differences, which cancel the ramps of the threat's profile). Pooled
    over eight firearms: one small outline's few hundred pixels put the median anywhere from
    0.65 to 2.5 of the prediction, by where its part edges fall."""
    flat = _flat_host(30000.0, seed=3)
    ratios = []
    for seed in range(8):
        tip = project_threat(
            flat, "firearm", rng=np.random.default_rng(seed), cover=("plastic", 0.3),
            depth_cm=1.0, filler=0.0, **KNOWN,
        )  # fmt: skip
        px = tip.scan.pixels.astype(float)
        d2 = (px[:, 1:-1] - 0.5 * (px[:, :-2] + px[:, 2:])) ** 2 / 1.5
        mean = cv2.GaussianBlur(px, (0, 0), 1.5)[:, 1:-1]
        inner = cv2.erode(tip.detections.masks[0].astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        predicted = 64.0 * np.maximum(mean - 1200.0, 0.0) + 1600.0
        ratios.append(d2[inner[:, 1:-1]] / predicted[inner[:, 1:-1]])
    ratio = float(np.median(np.concatenate(ratios)))
    assert ratio / 0.455 == pytest.approx(1.0, abs=0.25)  # median of chi2(1) is 0.455


def test_ground_truth_travels_with_the_scan(host: Scan) -> None:
    one = project_threat(host, "blade", rng=np.random.default_rng(8))
    two = project_threat(one.scan, "currency", rng=np.random.default_rng(9))
    gt = two.scan.extras["ground_truth"]
    assert gt.label_names == ["blade", "currency"]
    assert len(two.scan.extras["tip"]) == 2


def test_blank_host_is_refused() -> None:
    blank = Scan(np.full((128, 128), 1000, np.uint16), 16, "blank")
    with pytest.raises(TipError, match="blank"):
        project_threat(blank, "blade", rng=np.random.default_rng(0))


def test_unknown_class_is_refused(host: Scan) -> None:
    with pytest.raises(TipError, match="expected one of"):
        project_threat(host, "grenade", rng=np.random.default_rng(0))


def _member_host(seed: int = 0, width: int = 24) -> Scan:
    """A flat object (as :func:`_flat_host`) crossed by a steel member: a vertical bar ``width``
    px wide at a tenth of the counts, in the middle of the field."""
    rng = np.random.default_rng(seed)
    lam = np.full((192, 192), (20000.0 - 1200.0) / 64.0)
    lam[:, 96 - width // 2 : 96 + width // 2] *= 0.1
    px = 1200.0 + 64.0 * rng.poisson(lam) + rng.normal(0, 40, lam.shape)
    meta = AcquisitionMetadata(manufacturer="backscatter-sim", model="handheld")
    return Scan(np.clip(np.rint(px), 0, 65535).astype(np.uint16), 16, "member", metadata=meta)


@pytest.mark.parametrize("width", [24, 6])
def test_threats_keep_off_structural_members_unless_asked(width: int) -> None:
    """A wide member (the blade would lie on it) and a thin one (it would lie across it)."""
    host = _member_host(width=width)
    left, right = np.zeros(host.shape, bool), np.zeros(host.shape, bool)
    left[:, : 96 - width // 2], right[:, 96 + width // 2 :] = True, True
    bar = ~left & ~right
    kw = {"noise": KNOWN["noise"], "region": KNOWN["region"], "family": "crate"}
    across = {"scene": 0, "anywhere": 0}
    for placement in across:
        # 80 draws: of the 8 blade sub-types several are short and rarely reach across
        for seed in range(80):
            tip = project_threat(host, "blade", rng=np.random.default_rng(seed),
                                 placement=placement, **kw)  # fmt: skip
            full = tip.detections.masks[0]
            on_both = min(np.count_nonzero(full & left), np.count_nonzero(full & right))
            on_bar = np.count_nonzero(full & bar)
            # the rule lets a tip reach over a member by < 15 % of the outline; measured on the
            # visible part (what lies on a steel member does not show) that reads up to ~21 %
            across[placement] += int(on_both >= 0.25 * full.sum() or on_bar >= 0.35 * full.sum())
    assert across["scene"] == 0  # never on or across the member
    assert across["anywhere"] >= 2  # where the trainer asked for anywhere, it happens


def test_projected_counts_carry_the_hosts_line_gain() -> None:
    """A host with a 4 % per-line gain: the counts a bright organic package adds follow it."""
    rng = np.random.default_rng(5)
    gain = 1 + 0.04 * rng.standard_normal(192)
    lam = np.full((192, 192), (6000.0 - 1200.0) / 64.0) * gain[:, None]
    px = 1200.0 + 64.0 * rng.poisson(lam) + rng.normal(0, 40, lam.shape)
    meta = AcquisitionMetadata(manufacturer="backscatter-sim", model="handheld")
    host = Scan(np.clip(np.rint(px), 0, 65535).astype(np.uint16), 16, "lines", metadata=meta)
    tip = project_threat(host, "organic_package", rng=np.random.default_rng(6),
                         cover=("plastic", 0.3), depth_cm=1.0, filler=0.0, **KNOWN)  # fmt: skip
    mask = tip.detections.masks[0]
    added = tip.scan.pixels.astype(float) - host.pixels.astype(float)
    rows = np.flatnonzero(mask.sum(axis=1) >= 20)
    per_row = np.array([added[r, mask[r]].mean() for r in rows])
    trend = np.convolve(np.pad(per_row, 3, mode="edge"), np.ones(7) / 7, mode="valid")
    assert np.corrcoef(per_row / trend, gain[rows])[0, 1] > 0.5


def test_unknown_hosts_take_the_family_that_scatters_as_much() -> None:
    from backscatter.synth.tip_dose import estimate_dose, host_facts, infer_family

    def strip(s: Scan) -> Scan:
        return Scan(s.pixels, s.bits_stored, s.scan_id)

    door = strip(simulate_scan(21, size=(256, 256), clean=True, family="door"))
    tyre = strip(simulate_scan(22, size=(256, 256), clean=True, family="tyre"))
    facts = [host_facts(door), host_facts(tyre)]
    dose = estimate_dose(facts)
    assert infer_family(facts[0], dose) == "door"  # behind a steel skin: 4x dimmer
    assert infer_family(facts[1], dose) != "door"
    tip = project_threat(door, "currency", rng=np.random.default_rng(0), dose=dose,
                         facts=facts[0])  # fmt: skip
    assert tip.params["family"] == "door" and tip.params["cover"][0] == "steel"
