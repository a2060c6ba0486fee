"""Can a projected threat be told from a native one? Region features and a cross-validated check.

Features of one threat region (its mask on its scan), each what a trained eye or a classifier
could use, none the class or the size:

- ``contrast``: log of the mean photons inside over the mean in a ring around (about 2-7 px out)
- ``edge``: gradient energy on the outline over the gradient energy inside (a pasted object
  shows a crisp outline on a flat interior)
- ``edge_sharp``: gradient energy on the outline per unit of squared step
- ``noise``: index of dispersion inside over that in the ring (noise power over what the local
  photons predict)
- ``raster``: correlation of the region's line means (less their vertical trend) with the rest of
  those lines (a line's gain moves both)
- ``texture``: band-pass (DoG 1.5 / 4 px) energy inside over that in the ring, less what noise
  alone gives

The check (:func:`detectability`) fits a logistic regression and a gradient boosting classifier
(scikit-learn, the ``train`` extra) with 5-fold stratified cross-validation (5 shuffles of the
folds, averaged) and reports the AUROC of each and the features' importances.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from backscatter.scan import Scan
from backscatter.synth.tip_host import HostNoise, photon_transfer

FEATURES: tuple[str, ...] = ("contrast", "edge", "edge_sharp", "noise", "raster", "texture")


def is_available() -> bool:
    """True when scikit-learn (the ``train`` extra) is installed."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True


def region_features(scan: Scan, mask: np.ndarray, *, noise: HostNoise | None = None) -> np.ndarray:
    """The :data:`FEATURES` of the threat under ``mask`` ``(rows, cols)`` bool in ``scan``."""
    px = scan.pixels.astype(np.float64)
    noise = noise if noise is not None else photon_transfer(px)
    counts = np.maximum(px - noise.dark, 0.0) / noise.gain
    m8 = mask.astype(np.uint8)
    k3, k5 = np.ones((3, 3), np.uint8), np.ones((5, 5), np.uint8)
    inner = cv2.erode(m8, k5) > 0
    inner = inner if inner.sum() >= 10 else mask
    border = (cv2.dilate(m8, k3) > 0) & ~(cv2.erode(m8, k3) > 0)
    ring = (cv2.dilate(m8, np.ones((15, 15), np.uint8)) > 0) & ~(cv2.dilate(m8, k5) > 0)
    sm = cv2.GaussianBlur(counts, (0, 0), 1.0)
    gy, gx = np.gradient(sm)
    grad = gx**2 + gy**2
    c_in, c_out = float(np.mean(counts[inner])), float(np.mean(counts[ring]))
    contrast = np.log((c_in + 1.0) / (c_out + 1.0))
    edge = np.log((np.mean(grad[border]) + 1e-9) / (np.mean(grad[inner]) + 1e-9))
    step2 = (c_in - c_out) ** 2
    noise_var = float(np.mean(counts[ring])) + 1.0
    edge_sharp = np.log((np.mean(grad[border]) + 1e-9) / (step2 + noise_var))
    d = np.zeros_like(counts)
    d[:, 1:-1] = counts[:, 1:-1] - 0.5 * (counts[:, :-2] + counts[:, 2:])
    power = d**2 / 1.5
    local = np.maximum(cv2.GaussianBlur(counts, (0, 0), 2.0), 1.0)
    disp = power / local
    noise_f = np.log(float(np.median(disp[inner])) / max(float(np.median(disp[ring])), 1e-9))
    dog = cv2.GaussianBlur(counts, (0, 0), 1.5) - cv2.GaussianBlur(counts, (0, 0), 4.0)
    # white Poisson noise through this DoG keeps ~0.0215 of its variance (measured on noise)
    tex_in = float(np.var(dog[inner]) - 0.0215 * np.mean(local[inner]))
    tex_out = float(np.var(dog[ring]) - 0.0215 * np.mean(local[ring]))
    texture = np.log((max(tex_in, 0.0) / np.mean(local[inner]) ** 2 + 1e-6)
                     / (max(tex_out, 0.0) / np.mean(local[ring]) ** 2 + 1e-6))  # fmt: skip
    return np.array([contrast, edge, edge_sharp, noise_f, _raster(counts, mask), texture])


def _raster(counts: np.ndarray, mask: np.ndarray) -> float:
    """Correlation of the region's per-line means with the rest of each line's, both less a
    5-line running mean (what remains is the line's gain and noise)."""
    rows = np.flatnonzero(mask.sum(axis=1) >= 3)
    if rows.size < 8:
        return 0.0
    cols = np.flatnonzero(mask.any(axis=0))
    outside = np.ones(counts.shape[1], bool)
    outside[max(cols[0] - 4, 0) : cols[-1] + 5] = False
    if outside.sum() < 16:
        return 0.0
    inside = np.array([counts[r, mask[r]].mean() for r in rows])
    rest = counts[rows][:, outside].mean(axis=1)

    def detrend(v: np.ndarray) -> np.ndarray:
        trend = np.convolve(np.pad(v, 2, mode="edge"), np.ones(5) / 5, mode="valid")
        return np.asarray(v / np.maximum(trend, 1e-9) - 1.0)

    a, b = detrend(inside), detrend(rest)
    if a.std() == 0 or b.std() == 0:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])


@dataclass(frozen=True)
class Detectability:
    """Cross-validated AUROC of each classifier telling projected (1) from native (0) regions."""

    n_native: int
    n_projected: int
    auroc_logistic: float
    auroc_boosting: float
    #: standardised logistic coefficients and gradient boosting importances, per feature
    logistic_coef: dict[str, float]
    boosting_importance: dict[str, float]

    @property
    def worst(self) -> float:
        return max(self.auroc_logistic, self.auroc_boosting)


def detectability(
    native: Sequence[np.ndarray],
    projected: Sequence[np.ndarray],
    *,
    seed: int = 0,
    repeats: int = 5,
) -> Detectability:
    """5-fold stratified CV AUROC of logistic regression and gradient boosting on the features
    of ``native`` and ``projected`` regions (each a :func:`region_features` row), averaged over
    ``repeats`` shuffles of the folds (the split alone moves a 5-fold AUROC by a few points)."""
    try:
        from sklearn.ensemble import GradientBoostingClassifier
        from sklearn.linear_model import LogisticRegression
        from sklearn.metrics import roc_auc_score
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler
    except ImportError as exc:
        raise ImportError(
            "the TIP detectability check needs scikit-learn: pip install 'backscatter[train]'"
        ) from exc
    x = np.vstack([np.asarray(native), np.asarray(projected)])
    y = np.r_[np.zeros(len(native)), np.ones(len(projected))]
    logistic = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000))
    # shallow, shrunk trees with at least 8 regions a leaf: a boosting model that does not
    # memorise 100-200 samples (it still finds a 0.4x dose error at AUROC ~0.84)
    boosting = GradientBoostingClassifier(
        n_estimators=100,
        max_depth=2,
        learning_rate=0.05,
        subsample=0.8,
        min_samples_leaf=8,
        random_state=seed,
    )
    auc_log, auc_gb = [], []
    for r in range(repeats):
        folds = StratifiedKFold(5, shuffle=True, random_state=seed + r)
        p_log = cross_val_predict(logistic, x, y, cv=folds, method="predict_proba")[:, 1]
        p_gb = cross_val_predict(boosting, x, y, cv=folds, method="predict_proba")[:, 1]
        auc_log.append(float(roc_auc_score(y, p_log)))
        auc_gb.append(float(roc_auc_score(y, p_gb)))
    logistic.fit(x, y)
    boosting.fit(x, y)
    coef = logistic[-1].coef_[0]
    return Detectability(
        n_native=len(native),
        n_projected=len(projected),
        auroc_logistic=float(np.mean(auc_log)),
        auroc_boosting=float(np.mean(auc_gb)),
        logistic_coef={f: float(c) for f, c in zip(FEATURES, coef, strict=True)},
        boosting_importance={
            f: float(v) for f, v in zip(FEATURES, boosting.feature_importances_, strict=True)
        },
    )
