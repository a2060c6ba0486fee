"""Start training from an exported BSNet (ONNX) when its checkpoint is gone.

The export folds every BatchNorm into the convolution before it, so the ONNX file holds only
``W_f`` and ``b_f`` per conv: ``conv_f(x) = W_f * x + b_f``. To train again the BatchNorm must
come back, and in training mode it normalises with the *batch* statistics of ``z = W_f * x``.
Choosing ``gamma = sigma``, ``beta = mu + b_f`` and running stats ``(mu, sigma**2)``, with
``mu, sigma`` measured on real training images, makes the unfolded block equal to the folded one
in evaluation mode exactly (up to rounding) and close to it in training mode, so the first
training steps start from the exported model's behaviour instead of a distorted copy of it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor, nn

from backscatter.training.config import TrainConfig
from backscatter.training.model import BSNet, build_model, conv_bn_parts


def _conv_bn_pairs(net: nn.Module) -> dict[nn.Conv2d, nn.BatchNorm2d]:
    return dict(p for m in net.modules() if (p := conv_bn_parts(m)) is not None)


def bsnet_from_onnx(onnx_path: str | Path, cfg: TrainConfig, images: Tensor) -> BSNet:
    """An unfolded, trainable BSNet equal to the ONNX file's network.

    ``images`` ``(B, 1, H, W)``: normalised training inputs on which the BatchNorm statistics are
    measured (a few dozen crops are plenty). Raises ``ValueError`` when the file's convolutions
    do not fit ``cfg.model``.
    """
    from backscatter.training.export import conv_execution_order, onnx_conv_arrays

    net = build_model(len(cfg.classes), cfg.model).eval()
    order = conv_execution_order(net, images[:1])
    pairs = _conv_bn_pairs(net)
    folded_bias: dict[nn.Conv2d, Tensor] = {}
    for conv, (weight, bias) in zip(order, onnx_conv_arrays(onnx_path, order), strict=True):
        with torch.no_grad():
            conv.weight.copy_(weight)
            if conv in pairs:
                bn = pairs[conv]
                folded_bias[conv] = bias if bias is not None else torch.zeros(conv.out_channels)
                # identity + bias for now, so the measuring pass below runs the folded network
                assert bn.running_mean is not None and bn.running_var is not None
                bn.weight.fill_(1.0)
                bn.bias.copy_(folded_bias[conv])
                bn.running_mean.zero_()
                bn.running_var.fill_(1.0 - bn.eps)
            elif conv.bias is not None and bias is not None:
                conv.bias.copy_(bias)
    stats: dict[nn.Conv2d, tuple[Tensor, Tensor]] = {}

    def measure(mod: nn.Module, _inp: tuple[Tensor, ...], out: Tensor) -> None:
        assert isinstance(mod, nn.Conv2d)
        z = out.transpose(0, 1).reshape(out.shape[1], -1)
        stats[mod] = (z.mean(dim=1), z.var(dim=1, unbiased=False))

    hooks = [conv.register_forward_hook(measure) for conv in pairs]
    try:
        with torch.no_grad():
            net(images)
    finally:
        for h in hooks:
            h.remove()
    with torch.no_grad():
        for conv, bn in pairs.items():
            mu, var = stats[conv]
            var = var.clamp(min=bn.eps * 10)
            bn.weight.copy_(torch.sqrt(var + bn.eps))
            bn.bias.copy_(mu + folded_bias[conv])
            assert bn.running_mean is not None and bn.running_var is not None
            bn.running_mean.copy_(mu)
            bn.running_var.copy_(var)
    return net
