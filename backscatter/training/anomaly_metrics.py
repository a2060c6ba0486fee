"""Anomaly metrics: image AUROC, pixel AUPRO (MVTec AD), flag-to-object matching.

AUPRO follows Bergmann et al. (MVTec AD, IJCV 2021): for each threshold, the per-region overlap
(PRO) is the mean over ground-truth regions of the share of each region's pixels above it; the
false positive rate is the share of normal pixels above it. PRO is integrated over FPR from 0 to
``max_fpr`` (0.3) and divided by ``max_fpr``, so a perfect map scores 1.0 and a random one about
``max_fpr / 2``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backscatter.inference.anomaly import box_hits

__all__ = ["aupro", "auroc", "box_hits", "roc_curve"]


def auroc(scores_pos: Sequence[float], scores_neg: Sequence[float]) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count a half); None without both kinds."""
    pos = np.asarray(scores_pos, np.float64)
    neg = np.asarray(scores_neg, np.float64)
    if pos.size == 0 or neg.size == 0:
        return None
    allv = np.concatenate([pos, neg])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(allv.size, np.float64)
    sorted_v = allv[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_v, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    r_pos = ranks[: pos.size].sum()
    return float((r_pos - pos.size * (pos.size + 1) / 2.0) / (pos.size * neg.size))


def roc_curve(
    scores_pos: Sequence[float], scores_neg: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    """``(fpr, tpr)`` at every distinct threshold, from (0, 0) to (1, 1)."""
    pos = np.sort(np.asarray(scores_pos, np.float64))
    neg = np.sort(np.asarray(scores_neg, np.float64))
    thr = np.unique(np.concatenate([pos, neg]))[::-1]
    tpr = 1.0 - np.searchsorted(pos, thr, side="left") / max(pos.size, 1)
    fpr = 1.0 - np.searchsorted(neg, thr, side="left") / max(neg.size, 1)
    return np.concatenate([[0.0], fpr, [1.0]]), np.concatenate([[0.0], tpr, [1.0]])


def aupro(
    normal: np.ndarray, regions: Sequence[np.ndarray], *, max_fpr: float = 0.3, steps: int = 300
) -> float | None:
    """AUPRO from the scores of all normal pixels (1-D) and each region's pixel scores.

    None without a region or without normal pixels."""
    regions = [np.sort(np.asarray(r, np.float64).ravel()) for r in regions if np.size(r)]
    neg = np.sort(np.asarray(normal, np.float64).ravel())
    if not regions or neg.size == 0:
        return None
    # thresholds at FPR 0 .. max_fpr: quantiles of the normal scores, highest first
    fprs = np.linspace(0.0, max_fpr, steps + 1)
    thr = np.quantile(neg, 1.0 - fprs)
    thr[0] = np.nextafter(neg[-1], np.inf)
    fpr = 1.0 - np.searchsorted(neg, thr, side="left") / neg.size
    pro = np.mean([1.0 - np.searchsorted(r, thr, side="left") / r.size for r in regions], axis=0)
    # integrate on the exact FPR achieved, clipped to max_fpr
    fpr = np.clip(fpr, 0.0, max_fpr)
    area = float(np.sum(np.diff(fpr) * (pro[1:] + pro[:-1]) / 2.0))
    return area / max_fpr
