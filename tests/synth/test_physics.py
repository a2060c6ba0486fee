"""Physics of the simulator: layer transport, materials, detector noise."""

from __future__ import annotations

import numpy as np
import pytest

from backscatter.synth.materials import (
    MATERIALS,
    Material,
    element_mu_rho,
    material_id,
)
from backscatter.synth.physics import (
    PROFILES,
    DetectorState,
    Layer,
    count_and_digitise,
    expected_counts,
    get_profile,
    scatter_signal,
)

SHAPE = (32, 32)


def slab(name: str, thickness_cm: float, depth_cm: float, shape: tuple[int, int] = SHAPE) -> Layer:
    return Layer(material_id(name), np.full(shape, thickness_cm, np.float32), 0, 0, depth_cm)


def signal(*layers: Layer, profile: str = "handheld") -> float:
    return float(scatter_signal(list(layers), SHAPE, get_profile(profile)).mean())


@pytest.mark.parametrize("profile", sorted(PROFILES))
def test_organic_behind_1mm_steel_between_bare_organic_and_steel_alone(profile: str) -> None:
    organic = slab("organic_compound", 5.0, 0.1)
    steel = slab("steel", 0.1, 0.0)
    bare = signal(slab("organic_compound", 5.0, 0.0), profile=profile)
    behind = signal(steel, organic, profile=profile)
    steel_alone = signal(steel, profile=profile)
    assert steel_alone < behind < bare


def test_steel_object_darker_than_organic_background() -> None:
    background = slab("textile", 6.0, 1.0)
    thick = np.zeros(SHAPE, np.float32)
    thick[12:20, 12:20] = 0.3
    knife = Layer(material_id("steel"), thick, 0, 0, 0.5)
    img = scatter_signal([background, knife], SHAPE, get_profile("handheld"))
    inside = img[13:19, 13:19].mean()
    around = np.concatenate([img[:8].ravel(), img[24:].ravel()]).mean()
    assert inside < 0.5 * around


def test_low_z_bright_high_z_dark_for_thick_slabs() -> None:
    water = signal(slab("water", 10.0, 0.0))
    alu = signal(slab("aluminium", 10.0, 0.0))
    steel = signal(slab("steel", 10.0, 0.0))
    assert water > 1.5 * alu > 1.5 * steel


def test_contrast_saturates_with_thickness() -> None:
    values = [signal(slab("water", t, 0.0)) for t in np.arange(0.25, 6.0, 0.5)]
    steps = np.diff(values)
    assert np.all(steps > 0)
    assert np.all(np.diff(steps) < 0)  # diminishing returns
    mu_eff, mu_s = get_profile("handheld").coefficients()
    limit = mu_s[material_id("water")] / mu_eff[material_id("water")]
    assert signal(slab("water", 60.0, 0.0)) == pytest.approx(limit, rel=1e-4)


def test_deeper_layer_is_dimmer_by_detector_solid_angle() -> None:
    near = signal(slab("water", 5.0, 0.0))
    far = signal(slab("water", 5.0, 15.0))
    d = get_profile("handheld").standoff_cm
    assert far / near == pytest.approx((d / (d + 15.0)) ** 2, rel=1e-4)


def test_excluded_layer_leaves_the_rest() -> None:
    a, b = slab("steel", 0.1, 0.0), slab("water", 5.0, 1.0)
    prof = get_profile("handheld")
    without = scatter_signal([a, b], SHAPE, prof, exclude=frozenset({1}))
    assert np.allclose(without, scatter_signal([a], SHAPE, prof))


def test_xcom_values_of_the_table() -> None:
    # NIST XCOM / Hubbell-Seltzer total mu/rho (cm^2/g)
    assert element_mu_rho("Fe", 60.0) == pytest.approx(1.205, rel=1e-3)
    assert MATERIALS[material_id("water")].mu_rho(60.0) == pytest.approx(0.2059, rel=0.01)
    assert MATERIALS[material_id("water")].mu_rho(100.0) == pytest.approx(0.1707, rel=0.01)
    assert MATERIALS[material_id("water")].z_eff == pytest.approx(7.4, abs=0.15)
    assert MATERIALS[material_id("steel")].z_eff == pytest.approx(26.0, abs=0.3)


def test_two_tube_voltages_at_least() -> None:
    kvps = {p.kvp for p in PROFILES.values()}
    assert 120.0 in kvps and 50.0 in kvps


def test_material_rejects_bad_composition() -> None:
    with pytest.raises(ValueError, match="weight fractions"):
        Material("bad", 1.0, (("C", 0.5),))


def test_unknown_material_and_profile_are_named() -> None:
    with pytest.raises(ValueError, match="unobtainium"):
        material_id("unobtainium")
    with pytest.raises(ValueError, match="profile"):
        get_profile("satellite")


@pytest.mark.parametrize("lam", [4.0, 20.0, 100.0, 500.0])
def test_variance_tracks_mean_as_poisson(lam: float) -> None:
    prof = get_profile("handheld")
    rng = np.random.default_rng(3)
    dn = count_and_digitise(np.full((256, 256), lam, np.float32), profile=prof, rng=rng)
    counts = (dn.astype(np.float64) - prof.dark_dn) / prof.gain_dn
    var = counts.var() - (prof.read_noise_dn / prof.gain_dn) ** 2
    assert counts.mean() == pytest.approx(lam, rel=0.02)
    assert var / lam == pytest.approx(1.0, abs=0.05)


def test_dose_sets_the_noise() -> None:
    """Four times the dose halves the relative noise."""
    prof = get_profile("handheld")
    rel = []
    for lam in (100.0, 400.0):
        dn = count_and_digitise(np.full((256, 256), lam, np.float32), profile=prof,
                                rng=np.random.default_rng(1))  # fmt: skip
        counts = (dn - prof.dark_dn) / prof.gain_dn
        rel.append(counts.std() / counts.mean())
    assert rel[0] / rel[1] == pytest.approx(2.0, rel=0.08)


def test_saturation_at_full_scale() -> None:
    prof = get_profile("handheld")
    dn = count_and_digitise(
        np.full((8, 8), 1e6, np.float32), profile=prof, rng=np.random.default_rng(0)
    )
    assert dn.dtype == np.uint16
    assert np.all(dn == prof.full_scale)


def test_dark_offset_without_signal() -> None:
    prof = get_profile("handheld")
    dn = count_and_digitise(
        np.zeros((128, 128), np.float32), profile=prof, rng=np.random.default_rng(0)
    )
    assert dn.mean() == pytest.approx(prof.dark_dn, abs=2.0)
    assert dn.std() == pytest.approx(prof.read_noise_dn, rel=0.05)


def test_gain_per_line_multiplies_counts() -> None:
    prof = get_profile("handheld")
    rows = np.array([1.0, 2.0], np.float32)
    state = DetectorState(gain_rows=rows, line_jitter=np.ones(2, np.float32))
    counts = expected_counts(np.full((2, 4), 0.1, np.float32), profile=prof, state=state,
                             falloff=np.ones((2, 4), np.float32))  # fmt: skip
    assert counts[1, 0] == pytest.approx(2 * counts[0, 0])
