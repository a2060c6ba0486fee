"""The in-graph decode: peaks, top-K and the fixed-shape overlap suppression."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from backscatter.training.model import Decoder, suppress_overlaps


def _sorted(boxes: list[list[float]], scores: list[float], labels: list[int]):
    return (
        torch.tensor([boxes], dtype=torch.float32),
        torch.tensor([scores], dtype=torch.float32),
        torch.tensor([labels], dtype=torch.int64),
    )


def test_same_class_duplicate_is_suppressed_other_class_and_distant_boxes_kept() -> None:
    boxes, scores, labels = _sorted(
        [
            [0, 0, 100, 100],  # best
            [5, 5, 100, 100],  # same class, IoU 0.9 with the best: suppressed
            [5, 5, 100, 100],  # other class at the same place: kept
            [200, 200, 260, 260],  # same class, elsewhere: kept
            [0, 0, 100, 50],  # same class, IoU 0.5 with the best: above 0.4, suppressed
        ],
        [0.9, 0.8, 0.7, 0.6, 0.5],
        [2, 2, 1, 2, 2],
    )
    b, s, lab = suppress_overlaps(boxes, scores, labels, iou=0.4)
    assert s[0].tolist() == pytest.approx([0.9, 0.7, 0.6, 0.0, 0.0])
    assert lab[0, :3].tolist() == [2, 1, 2]
    assert b[0, 2].tolist() == [200, 200, 260, 260]
    # a looser threshold keeps the half-overlapping box
    _, s2, _ = suppress_overlaps(boxes, scores, labels, iou=0.6)
    assert s2[0].tolist() == pytest.approx([0.9, 0.7, 0.6, 0.5, 0.0])


def test_decoder_with_suppression_exports_to_onnx_and_agrees(tmp_path) -> None:
    torch.manual_seed(0)
    heat = torch.randn(2, 5, 24, 32) * 3
    dist = torch.rand(2, 4, 24, 32) * 40 + 4
    decoder = Decoder(top_k=30, nms_iou=0.4).eval()
    path = tmp_path / "decode.onnx"
    torch.onnx.export(
        decoder, (heat, dist), str(path), input_names=["heat", "dist"],
        output_names=["boxes", "scores", "labels"], opset_version=17, dynamo=False,
    )  # fmt: skip
    with torch.no_grad():
        tb, ts, tl = decoder(heat, dist)
    ob, os_, ol = ort.InferenceSession(str(path)).run(
        None, {"heat": heat.numpy(), "dist": dist.numpy()}
    )
    live = ts.numpy() > 0
    assert live.sum() < ts.numel()  # something was suppressed
    np.testing.assert_allclose(os_, ts.numpy(), atol=1e-6)
    np.testing.assert_array_equal(ol[live], tl.numpy()[live])
    np.testing.assert_allclose(ob[live], tb.numpy()[live], atol=1e-4)
    assert np.all(np.diff(os_, axis=1) <= 0)


@pytest.mark.parametrize("stride", [4, 8])
def test_decoder_places_a_peak_at_its_cell_centre_for_the_model_stride(stride: int) -> None:
    from backscatter.training.config import ModelConfig
    from backscatter.training.model import BSNet

    heat = torch.full((1, 5, 16, 16), -9.0)
    heat[0, 3, 5, 9] = 4.0  # row 5, column 9, class 3
    dist = torch.full((1, 4, 16, 16), 10.0)
    boxes, scores, labels = Decoder(top_k=3, stride=stride)(heat, dist)
    cx, cy = (9 + 0.5) * stride, (5 + 0.5) * stride
    assert boxes[0, 0].tolist() == pytest.approx([cx - 10, cy - 10, cx + 10, cy + 10])
    assert int(labels[0, 0]) == 3
    net = BSNet(
        5, ModelConfig(widths=(8, 8, 16, 16), depths=(1, 1, 1, 1), neck=8, out_stride=stride)
    )
    h, d = net.eval()(torch.zeros(1, 1, 64, 96))
    assert h.shape[-2:] == d.shape[-2:] == (64 // stride, 96 // stride)
