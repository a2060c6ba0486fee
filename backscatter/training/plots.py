"""Report plots (PNG): precision-recall per class, FROC, confusion matrix."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_pr(precision50: np.ndarray, classes: tuple[str, ...], path: Path) -> None:
    """``precision50`` ``(101 recall points, C)`` from COCOeval at IoU 0.5."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    recall = np.linspace(0, 1, precision50.shape[0])
    for k, name in enumerate(classes):
        p = precision50[:, k]
        if np.all(p < 0):
            continue
        ap = float(p[p > -1].mean())
        ax.plot(recall, np.clip(p, 0, 1), label=f"{name} (AP50 {ap:.3f})")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Precision-recall per class, IoU 0.5")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_froc(fapi: np.ndarray, pd: np.ndarray, path: Path) -> None:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.plot(np.maximum(fapi, 1e-3), pd, drawstyle="steps-post")
    for f in (0.1, 0.3, 1.0):
        ax.axvline(f, color="grey", ls=":", lw=1)
    ax.set_xscale("log")
    ax.set(xlabel="false alarms per image", ylabel="probability of detection", ylim=(0, 1.02))
    ax.set_title("FROC (IoU >= 0.5, same class)")
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(
    matrix: np.ndarray, classes: tuple[str, ...], threshold: float, path: Path
) -> None:
    plt = _plt()
    rows = [*classes, "background"]
    cols = [*classes, "missed"]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.imshow(np.log1p(matrix), cmap="Blues")
    for i in range(matrix.shape[0]):
        for j in range(matrix.shape[1]):
            ax.text(j, i, str(int(matrix[i, j])), ha="center", va="center", fontsize=8)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.set(xlabel="predicted", ylabel="true")
    ax.set_title(f"Confusion matrix at score >= {threshold:.3f}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
