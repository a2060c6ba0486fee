"""BSNet: a small single-channel, fully convolutional, anchor-free detector (TTFNet-style).

Backbone of depthwise-separable residual blocks down to stride 32, a light FPN back up to the
output stride ``s`` (``model.out_stride``: 4 for the 1.x models, 8 from 2.0), and two heads at
stride ``s``: per-class centre heatmap logits ``(B, C, H/s, W/s)`` and box edge distances
``(B, 4, H/s, W/s)`` (left, top, right, bottom, input pixels, >= 0).
:class:`Decoder` turns them into fixed top-K detections inside the graph without NMS: a 3x3
max-pool keeps local peaks, then top-K over classes x positions. Input height and width must
be multiples of :data:`STRIDE_IN` (32).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from backscatter.training.config import ModelConfig

#: inputs must be padded to a multiple of this
STRIDE_IN = 32
#: output (heatmap) stride of the 1.x models (the default of ``model.out_stride``)
STRIDE_OUT = 4
#: output strides a BSNet can have: the FPN ends at the stride-4 or the stride-8 level
OUT_STRIDES = (4, 8)
#: distances are predicted in units of this many pixels
BOX_SCALE = 16.0


def conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def conv_bn_parts(module: nn.Module) -> tuple[nn.Conv2d, nn.BatchNorm2d] | None:
    """The conv and BatchNorm of a :func:`conv_bn` block (conv, BN, ReLU); None for others."""
    if isinstance(module, nn.Sequential) and len(module) == 3:
        conv, bn = module[0], module[1]
        if isinstance(conv, nn.Conv2d) and isinstance(bn, nn.BatchNorm2d):
            return conv, bn
    return None


class SepConv(nn.Sequential):
    """Depthwise 3x3 (optionally strided) then pointwise 1x1, each with BN + ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__(conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1))


class ResBlock(nn.Module):
    """``x + sep(sep(x))`` at constant width."""

    def __init__(self, ch: int) -> None:
        super().__init__()
        self.body = nn.Sequential(SepConv(ch, ch), SepConv(ch, ch))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


class BSNet(nn.Module):
    """``forward(image (B,1,H,W)) -> (heatmap logits (B,C,H/s,W/s), distances (B,4,H/s,W/s))``
    with ``s = out_stride``."""

    def __init__(self, num_classes: int, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        cfg = cfg or ModelConfig()
        if cfg.out_stride not in OUT_STRIDES:
            raise ValueError(f"out_stride: expected one of {OUT_STRIDES}, got {cfg.out_stride}")
        self.num_classes = num_classes
        self.out_stride = int(cfg.out_stride)
        #: index of the first backbone stage the FPN reads (stage i is at stride 4 * 2**i)
        self.first_level = OUT_STRIDES.index(self.out_stride)
        w4, w8, w16, w32 = cfg.widths
        stem = 16
        self.stem = nn.Sequential(conv_bn(1, stem, 3, 2), SepConv(stem, w4, 2))
        self.stages = nn.ModuleList()
        widths = (w4, w8, w16, w32)
        for i, (width, depth) in enumerate(zip(widths, cfg.depths, strict=True)):
            down: list[nn.Module] = [] if i == 0 else [SepConv(widths[i - 1], width, 2)]
            self.stages.append(nn.Sequential(*down, *[ResBlock(width) for _ in range(depth)]))
        n = cfg.neck
        used = widths[self.first_level :]
        self.lateral = nn.ModuleList(conv_bn(w, n, 1) for w in used)
        self.smooth = nn.ModuleList(SepConv(n, n) for _ in used[:-1])
        self.hm_head = nn.Sequential(SepConv(n, n), nn.Conv2d(n, num_classes, 1))
        self.box_head = nn.Sequential(SepConv(n, n), nn.Conv2d(n, 4, 1))
        self._init_heads()

    def _init_heads(self) -> None:
        last = self.hm_head[-1]
        assert isinstance(last, nn.Conv2d) and last.bias is not None
        nn.init.normal_(last.weight, std=0.01)
        nn.init.constant_(last.bias, -4.6)  # prior 0.01 for focal loss
        box = self.box_head[-1]
        assert isinstance(box, nn.Conv2d) and box.bias is not None
        nn.init.normal_(box.weight, std=0.01)
        nn.init.constant_(box.bias, 0.0)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        feats = feats[self.first_level :]
        y = self.lateral[-1](feats[-1])
        for i in range(len(feats) - 2, -1, -1):
            y = F.interpolate(y, scale_factor=2.0, mode="nearest") + self.lateral[i](feats[i])
            y = self.smooth[i](y)
        heat = self.hm_head(y)
        dist = F.relu(self.box_head(y)) * BOX_SCALE
        return heat, dist


def cell_centres(
    rows: int, cols: int, *, device: torch.device, stride: int = STRIDE_OUT
) -> tuple[Tensor, Tensor]:
    """Input-pixel centres ``(ys (rows,1), xs (1,cols))`` of the output cells."""
    ys = (torch.arange(rows, device=device, dtype=torch.float32) + 0.5) * stride
    xs = (torch.arange(cols, device=device, dtype=torch.float32) + 0.5) * stride
    return ys[:, None], xs[None, :]


def suppress_overlaps(
    boxes: Tensor, scores: Tensor, labels: Tensor, *, iou: float
) -> tuple[Tensor, Tensor, Tensor]:
    """Fast NMS with fixed shapes (exports to plain ONNX ops, no NonMaxSuppression).

    Inputs ``(B,K,4), (B,K), (B,K)`` sorted by descending score. A box whose IoU with any
    higher-scored box of its class exceeds ``iou`` gets score 0 (a suppressed box still
    suppresses others, slightly stricter than greedy NMS); the outputs are re-sorted by score.
    """
    b, k = scores.shape
    x0, y0, x1, y1 = boxes.unbind(dim=2)
    area = (x1 - x0).clamp(min=0) * (y1 - y0).clamp(min=0)
    iw = torch.minimum(x1[:, :, None], x1[:, None, :]) - torch.maximum(
        x0[:, :, None], x0[:, None, :]
    )
    ih = torch.minimum(y1[:, :, None], y1[:, None, :]) - torch.maximum(
        y0[:, :, None], y0[:, None, :]
    )
    inter = iw.clamp(min=0) * ih.clamp(min=0)
    overlap = inter / (area[:, :, None] + area[:, None, :] - inter).clamp(min=1e-6)
    overlap = overlap * (labels[:, :, None] == labels[:, None, :]).to(overlap.dtype)
    worst = torch.triu(overlap, diagonal=1).max(dim=1).values  # (B, K): vs higher-scored boxes
    scores = torch.where(worst > iou, torch.zeros_like(scores), scores)
    scores, order = torch.topk(scores, k, dim=1)
    boxes = torch.gather(boxes, 1, order[:, :, None].expand(b, k, 4))
    return boxes, scores, torch.gather(labels, 1, order)


class Decoder(nn.Module):
    """Heatmap + distances -> ``boxes (B,K,4), scores (B,K), labels (B,K) int64``, by score.

    Peaks (3x3 max-pool) then top-K, then :func:`suppress_overlaps` when ``nms_iou`` > 0.
    """

    def __init__(self, top_k: int = 100, nms_iou: float = 0.0, stride: int = STRIDE_OUT) -> None:
        super().__init__()
        self.top_k = top_k
        self.nms_iou = float(nms_iou)
        self.stride = int(stride)

    def forward(self, heat_logits: Tensor, dist: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        b, c, h, w = heat_logits.shape
        heat = torch.sigmoid(heat_logits)
        peak = F.max_pool2d(heat, 3, stride=1, padding=1)
        heat = heat * (peak == heat).to(heat.dtype)
        scores, idx = torch.topk(heat.reshape(b, -1), self.top_k, dim=1)
        labels = torch.div(idx, h * w, rounding_mode="floor")
        pix = idx - labels * (h * w)
        ys = (torch.div(pix, w, rounding_mode="floor").to(torch.float32) + 0.5) * self.stride
        xs = ((pix % w).to(torch.float32) + 0.5) * self.stride
        d = torch.gather(dist.reshape(b, 4, h * w), 2, pix[:, None, :].expand(b, 4, self.top_k))
        boxes = torch.stack([xs - d[:, 0], ys - d[:, 1], xs + d[:, 2], ys + d[:, 3]], dim=2)
        if self.nms_iou > 0:
            return suppress_overlaps(boxes, scores, labels, iou=self.nms_iou)
        return boxes, scores, labels


class DetectorGraph(nn.Module):
    """Network + in-graph decode: what gets exported to ONNX."""

    def __init__(self, net: BSNet, top_k: int = 100, nms_iou: float = 0.0) -> None:
        super().__init__()
        self.net = net
        self.decode = Decoder(top_k, nms_iou, net.out_stride)

    def forward(self, image: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        heat, dist = self.net(image)
        return self.decode(heat, dist)


def build_model(num_classes: int, cfg: ModelConfig) -> BSNet:
    if cfg.name != "bsnet":
        raise ValueError(f"model.name: expected 'bsnet', got {cfg.name!r}")
    return BSNet(num_classes, cfg)
