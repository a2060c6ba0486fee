"""Training targets and losses (TTFNet-style, which converges in few epochs).

Per image, at the output grid ``(h, w)`` (stride 4 or 8, the model's ``out_stride``):
- ``heat (C, h, w)``: elliptical Gaussian per object (sigma = alpha * box side / 6), max-merged;
- ``box (4, h, w)`` and ``box_weight (h, w)``: the object's box, regressed with GIoU at every
  cell inside its (beta-shrunk) Gaussian, weighted by the Gaussian times log(area); smaller
  objects win where they overlap;
- ``ignore (h, w)``: cells under crowd/hidden regions, left out of the negative heatmap loss.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor
from torchvision.ops import generalized_box_iou_loss

from backscatter.training.model import STRIDE_OUT, cell_centres

ALPHA = 0.54
BETA = 0.54


def gaussian_2d(h_rad: int, w_rad: int, sigma_y: float, sigma_x: float) -> np.ndarray:
    ys = np.arange(-h_rad, h_rad + 1, dtype=np.float32)[:, None]
    xs = np.arange(-w_rad, w_rad + 1, dtype=np.float32)[None, :]
    return np.exp(-(xs**2) / (2 * sigma_x**2) - ys**2 / (2 * sigma_y**2)).astype(np.float32)


def _paste_max(dst: np.ndarray, patch: np.ndarray, cy: int, cx: int) -> None:
    h, w = dst.shape
    ry, rx = patch.shape[0] // 2, patch.shape[1] // 2
    y0, y1 = max(cy - ry, 0), min(cy + ry + 1, h)
    x0, x1 = max(cx - rx, 0), min(cx + rx + 1, w)
    if y0 >= y1 or x0 >= x1:
        return
    sub = patch[y0 - cy + ry : y1 - cy + ry, x0 - cx + rx : x1 - cx + rx]
    np.maximum(dst[y0:y1, x0:x1], sub, out=dst[y0:y1, x0:x1])


def build_targets(
    boxes: np.ndarray,
    labels: np.ndarray,
    ignore: np.ndarray,
    *,
    num_classes: int,
    out_shape: tuple[int, int],
    stride: int = STRIDE_OUT,
) -> dict[str, np.ndarray]:
    """Targets of one image; ``boxes`` ``(N, 4)`` in input pixels, ``out_shape`` = (h, w) cells
    of ``stride`` input pixels."""
    h, w = out_shape
    s = float(stride)
    heat = np.zeros((num_classes, h, w), np.float32)
    box_t = np.zeros((4, h, w), np.float32)
    box_w = np.zeros((h, w), np.float32)
    ign = np.zeros((h, w), np.float32)
    for b in ignore:
        x0, y0 = int(math.floor(b[0] / s)), int(math.floor(b[1] / s))
        x1, y1 = int(math.ceil(b[2] / s)), int(math.ceil(b[3] / s))
        ign[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = 1.0
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    for i in np.argsort(-areas):  # large first, so small objects overwrite regression targets
        bx = boxes[i]
        bw, bh = (bx[2] - bx[0]) / s, (bx[3] - bx[1]) / s
        if bw <= 0 or bh <= 0:
            continue
        cx = int(np.clip((bx[0] + bx[2]) / 2 / s - 0.5, 0, w - 1) + 0.5)
        cy = int(np.clip((bx[1] + bx[3]) / 2 / s - 0.5, 0, h - 1) + 0.5)
        cx, cy = min(cx, w - 1), min(cy, h - 1)
        rx, ry = max(int(ALPHA * bw / 2), 0), max(int(ALPHA * bh / 2), 0)
        g = gaussian_2d(ry, rx, max(ALPHA * bh / 6, 0.3), max(ALPHA * bw / 6, 0.3))
        _paste_max(heat[labels[i]], g, cy, cx)
        bry, brx = max(int(BETA * bh / 2), 0), max(int(BETA * bw / 2), 0)
        gb = gaussian_2d(bry, brx, max(BETA * bh / 6, 0.3), max(BETA * bw / 6, 0.3))
        region = np.zeros((h, w), np.float32)
        _paste_max(region, gb, cy, cx)
        mask = region > 0
        if not mask.any():
            continue
        weight = region[mask] / region[mask].sum() * math.log(max(float(areas[i]), 2.0))
        box_t[:, mask] = bx[:, None]
        box_w[mask] = weight
    return {"heat": heat, "box": box_t, "box_weight": box_w, "ignore": ign}


def focal_loss(logits: Tensor, target: Tensor, ignore: Tensor) -> Tensor:
    """CenterNet penalty-reduced focal loss, normalised by the number of object centres.

    ``logits``/``target`` ``(B, C, h, w)``; ``ignore`` ``(B, h, w)`` masks negatives only.
    """
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1.0).float()
    neg = (1.0 - pos) * (1.0 - ignore[:, None])
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred**2 * (1 - target) ** 4 * neg
    num_pos = pos.sum().clamp(min=1.0)
    return -(pos_loss.sum() + neg_loss.sum()) / num_pos


def box_loss(dist: Tensor, target: Tensor, weight: Tensor, *, stride: int = STRIDE_OUT) -> Tensor:
    """Weighted GIoU between predicted boxes (from distances) and target boxes.

    ``dist`` ``(B, 4, h, w)`` (l, t, r, b pixels), ``target`` ``(B, 4, h, w)`` x0, y0, x1, y1,
    ``weight`` ``(B, h, w)``.
    """
    b, _, h, w = dist.shape
    ys, xs = cell_centres(h, w, device=dist.device, stride=stride)
    mask = weight > 0
    if not bool(mask.any()):
        return dist.sum() * 0.0
    xs_b, ys_b = xs.expand(h, w)[None].expand(b, h, w), ys.expand(h, w)[None].expand(b, h, w)
    pred = torch.stack(
        [xs_b - dist[:, 0], ys_b - dist[:, 1], xs_b + dist[:, 2], ys_b + dist[:, 3]], dim=-1
    )[mask]
    tgt = target.permute(0, 2, 3, 1)[mask]
    wts = weight[mask]
    loss = generalized_box_iou_loss(pred, tgt, reduction="none")
    return (loss * wts).sum() / wts.sum().clamp(min=1e-6)
