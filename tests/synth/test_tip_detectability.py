"""Can a classifier tell projected threats from native ones? It must not, on any host kind.

Native regions: the visible threats a generator rendered into its own scenes. Projected regions:
TIP threats of the same classes in clean scans of the same kind (see ``tip_samples``): the
simulator's scans as PNG files (no metadata: the dose from the scans alone), as DICOS files
(device named), and scans of a second generator (``tip_other``: other dose, gain, blur, raster)
as TIFF files. Features: contrast, edge, edge sharpness, noise, raster, texture
(:mod:`backscatter.synth.tip_check`); logistic regression and gradient boosting, 5-fold CV AUROC.
Target: at most 0.65 for each classifier on each host kind. ``bench/tip_detectability.py``
prints the same with more regions and the feature importances.
"""

from __future__ import annotations

import pytest
from tip_samples import KINDS, samples

from backscatter.synth.tip_check import detectability, is_available

N = 60

pytestmark = pytest.mark.skipif(not is_available(), reason="needs scikit-learn (train extra)")


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_projected_threats_cannot_be_told_from_native_ones(kind: str) -> None:
    native, projected = samples(kind, N)
    assert len(native) == N and len(projected) >= N - 2
    d = detectability(native, projected)
    print(
        f"\nTIP detectability on {kind} hosts ({d.n_native} native, {d.n_projected} projected):"
        f" logistic AUROC {d.auroc_logistic:.3f}, gradient boosting {d.auroc_boosting:.3f}"
    )
    assert d.auroc_logistic <= 0.65
    assert d.auroc_boosting <= 0.65


@pytest.mark.slow
def test_the_check_finds_a_projection_with_the_wrong_dose() -> None:
    """The check can fail: with the old fallback's dose error (0.4x, the issue's ~600 counts per
    unit signal where the device gives 1500) organics turn into dark silhouettes, and the
    classifiers see it."""
    native, projected = samples("png", 30, seed=1, dose_factor=0.4)
    d = detectability(native, projected)
    print(f"\nwrong dose: logistic AUROC {d.auroc_logistic:.3f}, boosting {d.auroc_boosting:.3f}")
    assert d.worst > 0.75
