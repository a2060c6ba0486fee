"""Export a checkpoint to ONNX (decode + top-K in the graph) and check it against PyTorch.

The graph takes ``image`` float32 ``(B, 1, H, W)`` (``preprocess.normalise`` output zero-padded
to multiples of 32; batch, height and width are dynamic) and returns ``boxes (B, K, 4)``,
``scores (B, K)``, ``labels (B, K)`` int64 sorted by score. ``metadata_props`` carry what the
runtime needs: classes, preprocess spec, model name/version, config and dataset hashes.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from backscatter.detections import Detections
from backscatter.training.checkpoint import load_checkpoint
from backscatter.training.config import TrainConfig
from backscatter.training.model import DetectorGraph, build_model, conv_bn_parts
from backscatter.training.predict import OnnxBackend, TorchBackend, preprocess_spec

#: highest opset we emit (higher opsets push nodes off the CUDA provider)
OPSET = 17


class ParityError(ValueError):
    """ONNX Runtime and PyTorch disagree on an input; the message says where and by how much."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    metadata: dict[str, str]
    parity_images: int


def load_graph(checkpoint: str | Path) -> tuple[DetectorGraph, dict[str, str]]:
    """The eval-mode export graph of a checkpoint and the metadata it will carry."""
    ckpt = load_checkpoint(checkpoint)
    cfg = ckpt.config
    net = build_model(len(cfg.classes), cfg.model)
    net.load_state_dict(ckpt.model_state)
    graph = DetectorGraph(net, cfg.model.top_k, cfg.model.nms_iou).eval()
    meta = {
        "classes": json.dumps(list(cfg.classes)),
        "preprocess": preprocess_spec(cfg).to_json(),
        "model_name": "",
        "model_version": cfg.model_version,
        "train_config_sha256": cfg.sha256(),
        "dataset_manifest_sha256": ckpt.dataset_manifest_sha256,
    }
    return graph, meta


def export_onnx(
    checkpoint: str | Path,
    out: str | Path,
    *,
    name: str | None = None,
    version: str | None = None,
    parity_images: int = 4,
    seed: int = 1234,
) -> ExportResult:
    """Write ``out`` (.onnx), then check ONNX Runtime == PyTorch on ``parity_images`` fresh
    synthetic scans of assorted sizes (raises ParityError on disagreement)."""
    import onnx

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    graph, meta = load_graph(checkpoint)
    meta["model_name"] = name or out.stem
    if version:
        meta["model_version"] = version
    dummy = torch.zeros(1, 1, 512, 512)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            (dummy,),
            str(out),
            input_names=["image"],
            output_names=["boxes", "scores", "labels"],
            dynamic_axes={
                "image": {0: "batch", 2: "height", 3: "width"},
                "boxes": {0: "batch"},
                "scores": {0: "batch"},
                "labels": {0: "batch"},
            },
            opset_version=OPSET,
            dynamo=False,
        )
    model = onnx.load(str(out))
    del model.metadata_props[:]
    for key, value in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "backscatter"
    onnx.checker.check_model(model)
    onnx.save(model, str(out))
    if parity_images:
        rng = np.random.default_rng(seed)
        shapes = [(512, 512), (384, 640), (256, 256), (480, 352)]
        images = [parity_scan(rng, shapes[i % len(shapes)]) for i in range(parity_images)]
        check_parity(graph, out, images)
    return ExportResult(out, meta, parity_images)


def parity_scan(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """A 16-bit scan the export never saw: textured background with bright and dark blobs."""
    rows, cols = shape
    yy, xx = np.mgrid[0:rows, 0:cols].astype(np.float32)
    img = 8000 + 3000 * np.sin(xx / rng.uniform(20, 60)) * np.cos(yy / rng.uniform(20, 60))
    for _ in range(int(rng.integers(2, 6))):
        cy, cx = rng.uniform(0, rows), rng.uniform(0, cols)
        ry, rx = rng.uniform(8, 60, size=2)
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1
        img[blob] = rng.uniform(2000, 40000)
    img += rng.normal(0, 600, img.shape)
    return np.clip(img, 0, 65535).astype(np.uint16)


def check_parity(
    graph: DetectorGraph | str | Path,
    onnx_path: str | Path,
    images: list[np.ndarray],
    *,
    bits_stored: int = 16,
    min_score: float = 0.05,
    score_tol: float = 1e-4,
    box_tol: float = 1e-2,
) -> int:
    """Same detections (labels, boxes within ``box_tol`` px) and scores within ``score_tol`` for
    every image, through the shared Predictor path. Returns the number of detections compared."""
    from backscatter.training.predict import Predictor

    ort_backend = OnnxBackend(onnx_path)
    if isinstance(graph, str | Path):
        torch_backend = TorchBackend.from_checkpoint(graph)
    else:
        torch_backend = TorchBackend(
            graph,
            spec=ort_backend.spec,
            class_names=ort_backend.class_names,
            device="cpu",
        )
    p_torch = Predictor(torch_backend, min_score=min_score)
    p_ort = Predictor(ort_backend, min_score=min_score)
    compared = 0
    top_k = None
    for i, img in enumerate(images):
        a, b = p_torch(img, bits_stored=bits_stored), p_ort(img, bits_stored=bits_stored)
        compared += _compare(a, b, f"parity image {i} {img.shape}", min_score=min_score,
                             score_tol=score_tol, box_tol=box_tol, top_k=top_k)  # fmt: skip
    return compared


def _compare(
    a: Detections,
    b: Detections,
    where: str,
    *,
    min_score: float,
    score_tol: float,
    box_tol: float,
    top_k: int | None,
) -> int:
    """Score-sorted detections must agree; runs of scores closer than ``2 * score_tol`` may come
    in either order (compared as sets), and a run touching the score threshold or the top-K cut
    may differ in membership (floating-point ties)."""
    n = min(len(a), len(b))
    for extra in (a.scores[n:], b.scores[n:]):
        if np.any(extra > min_score + score_tol):
            raise ParityError(f"{where}: PyTorch gives {len(a)} detections, ONNX {len(b)}")
    ds = float(np.abs(a.scores[:n] - b.scores[:n]).max(initial=0.0))
    if ds > score_tol:
        raise ParityError(f"{where}: scores differ by {ds:.2e} (> {score_tol})")
    start = 0
    while start < n:
        end = start + 1
        while end < n and a.scores[end - 1] - a.scores[end] <= 2 * score_tol:
            end += 1
        boundary = end == n and (n == len(a) or a.scores[end - 1] <= min_score + score_tol)
        if end - start > 1 and boundary:
            break
        ga, gb = a[np.arange(start, end)], b[np.arange(start, end)]
        ka = np.lexsort((ga.boxes[:, 1], ga.boxes[:, 0], ga.labels))
        kb = np.lexsort((gb.boxes[:, 1], gb.boxes[:, 0], gb.labels))
        if not np.array_equal(ga.labels[ka], gb.labels[kb]):
            raise ParityError(f"{where}: labels differ at ranks {start}..{end - 1}")
        db = float(np.abs(ga.boxes[ka] - gb.boxes[kb]).max(initial=0.0))
        if db > box_tol:
            raise ParityError(f"{where}: boxes differ by {db:.2e} px (> {box_tol})")
        start = end
    return start


def onnx_conv_arrays(
    onnx_path: str | Path, convs: list[torch.nn.Conv2d]
) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """Weight and bias of each ONNX Conv node, in graph order, checked against ``convs`` (the
    PyTorch convolutions in execution order: the order the export traced them in)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    arrays = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    arrays.update(
        {
            n.output[0]: numpy_helper.to_array(n.attribute[0].t)
            for n in model.graph.node
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"
        }
    )
    nodes = [n for n in model.graph.node if n.op_type == "Conv"]
    if len(nodes) != len(convs):
        raise ValueError(f"{onnx_path}: {len(nodes)} Conv nodes, model config has {len(convs)}")
    out: list[tuple[torch.Tensor, torch.Tensor | None]] = []
    for node, conv in zip(nodes, convs, strict=True):
        weight = torch.from_numpy(arrays[node.input[1]].copy())
        if weight.shape != conv.weight.shape:
            raise ValueError(f"{onnx_path}: Conv {node.name} {tuple(weight.shape)} does not fit")
        bias = torch.from_numpy(arrays[node.input[2]].copy()) if len(node.input) > 2 else None
        out.append((weight, bias))
    return out


def conv_execution_order(net: torch.nn.Module, probe: torch.Tensor) -> list[torch.nn.Conv2d]:
    """The network's convolutions in the order one forward pass runs them."""
    order: list[torch.nn.Conv2d] = []
    hooks = [
        m.register_forward_hook(lambda mod, _i, _o: order.append(mod))
        for m in net.modules()
        if isinstance(m, torch.nn.Conv2d)
    ]
    try:
        with torch.no_grad():
            net(probe)
    finally:
        for h in hooks:
            h.remove()
    return order


def torch_graph_from_onnx(onnx_path: str | Path, cfg: TrainConfig) -> DetectorGraph:
    """Rebuild the PyTorch graph of an exported BSNet from the ONNX file's own weights.

    The export folds each BatchNorm into its convolution; this folds the fresh model the same
    way, then loads the ONNX Conv weights in execution order. Lets the parity check run on a
    shipped model whose checkpoint is not shipped.
    """
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    net = build_model(len(cfg.classes), cfg.model).eval()
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            parts = conv_bn_parts(child)
            if parts is not None:
                fused = fuse_conv_bn_eval(*parts)
                setattr(module, name, torch.nn.Sequential(fused, *list(child.children())[2:]))
    order = conv_execution_order(net, torch.zeros(1, 1, 64, 64))
    for conv, (weight, bias) in zip(order, onnx_conv_arrays(onnx_path, order), strict=True):
        conv.weight.data.copy_(weight)
        if bias is not None and conv.bias is not None:
            conv.bias.data.copy_(bias)
    return DetectorGraph(net, cfg.model.top_k, cfg.model.nms_iou).eval()
