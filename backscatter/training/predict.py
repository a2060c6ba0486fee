"""One postprocess path for the PyTorch checkpoint and the exported ONNX file.

Both backends return the graph's raw outputs for a padded batch ``(B, 1, H, W)``: boxes
``(B, K, 4)``, scores ``(B, K)``, labels ``(B, K)``; :func:`to_detections` then clips boxes to
the unpadded scan and drops scores below ``min_score``. Evaluation calls only :class:`Predictor`,
so a checkpoint and its export are measured the same way.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from backscatter.detections import Detections
from backscatter.inference.preprocess import PreprocessSpec, normalise, pad_to_stride

RawOutputs = tuple[np.ndarray, np.ndarray, np.ndarray]


class Backend(Protocol):
    spec: PreprocessSpec
    class_names: tuple[str, ...]

    def run(self, batch: np.ndarray) -> RawOutputs: ...


def to_detections(
    boxes: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    *,
    shape: tuple[int, int],
    class_names: tuple[str, ...],
    min_score: float,
) -> Detections:
    """Raw outputs of one image ``(K, 4), (K,), (K,)`` -> Detections inside ``(rows, cols)``,
    the same rule as the runtime (``backscatter.inference.detector``): score >= ``min_score``,
    boxes clipped to the scan, empty boxes dropped."""
    rows, cols = shape
    keep = (scores >= min_score) & (labels >= 0) & (labels < len(class_names))
    b = boxes[keep].astype(np.float32).copy()
    np.clip(b[:, 0::2], 0, cols, out=b[:, 0::2])
    np.clip(b[:, 1::2], 0, rows, out=b[:, 1::2])
    ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])  # boxes wholly outside the scan
    s, lab = scores[keep][ok], labels[keep][ok].astype(np.int64)
    return Detections(b[ok], s, lab, class_names=class_names)


class Predictor:
    """Native pixels -> Detections through a backend (torch checkpoint or ONNX Runtime)."""

    def __init__(self, backend: Backend, *, min_score: float = 0.01) -> None:
        self.backend = backend
        self.min_score = min_score

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.backend.class_names

    def __call__(self, pixels: np.ndarray, *, bits_stored: int) -> Detections:
        spec = self.backend.spec
        x = pad_to_stride(normalise(pixels, bits_stored=bits_stored, spec=spec), stride=spec.stride)
        boxes, scores, labels = self.backend.run(x[None, None])
        return to_detections(
            boxes[0],
            scores[0],
            labels[0],
            shape=pixels.shape[:2],
            class_names=self.backend.class_names,
            min_score=self.min_score,
        )


class TorchBackend:
    """A PyTorch network run in eval mode with the in-graph decode."""

    def __init__(
        self, graph: Any, *, spec: PreprocessSpec, class_names: tuple[str, ...], device: str
    ) -> None:
        import torch

        self.graph = graph
        self.spec = spec
        self.class_names = class_names
        self.device = device
        self._torch = torch

    @classmethod
    def from_checkpoint(cls, checkpoint: str | Path, *, device: str = "cpu") -> TorchBackend:
        from backscatter.training.checkpoint import load_checkpoint
        from backscatter.training.model import DetectorGraph, build_model

        ckpt = load_checkpoint(checkpoint)
        cfg = ckpt.config
        net = build_model(len(cfg.classes), cfg.model)
        net.load_state_dict(ckpt.model_state)
        graph = DetectorGraph(net, cfg.model.top_k, cfg.model.nms_iou).eval().to(device)
        return cls(graph, spec=preprocess_spec(cfg), class_names=tuple(cfg.classes), device=device)

    def run(self, batch: np.ndarray) -> RawOutputs:
        torch = self._torch
        was_training = self.graph.training
        self.graph.eval()
        with torch.no_grad():
            x = torch.from_numpy(np.ascontiguousarray(batch)).to(self.device)
            b, s, lab = self.graph(x)
        self.graph.train(was_training)
        return b.cpu().numpy(), s.cpu().numpy(), lab.cpu().numpy()


class OnnxBackend:
    """An exported ``.onnx`` run in ONNX Runtime; spec and classes from its metadata."""

    def __init__(self, path: str | Path, *, threads: int = 0) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
        self.session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        meta: dict[str, Any] = self.session.get_modelmeta().custom_metadata_map
        if "preprocess" not in meta or "classes" not in meta:
            raise ValueError(f"{path}: expected 'preprocess' and 'classes' in ONNX metadata")
        self.spec = PreprocessSpec.from_json(meta["preprocess"])
        self.class_names = tuple(json.loads(meta["classes"]))
        self.metadata = dict(meta)

    def run(self, batch: np.ndarray) -> RawOutputs:
        boxes, scores, labels = self.session.run(
            ["boxes", "scores", "labels"], {"image": batch.astype(np.float32, copy=False)}
        )
        return boxes, scores, labels


def preprocess_spec(cfg: Any) -> PreprocessSpec:
    """The PreprocessSpec a training config implies (input size = training crop or 512)."""
    from backscatter.training.model import STRIDE_IN

    p = cfg.preprocess
    return PreprocessSpec(
        input_size=(512, 512),
        stride=STRIDE_IN,
        window_low=p.window_low,
        window_high=p.window_high,
        mean=p.mean,
        std=p.std,
        norm=getattr(p, "norm", "window"),
        robust_low=getattr(p, "robust_low", 1.0),
        robust_high=getattr(p, "robust_high", 99.0),
        clip_low=getattr(p, "clip_low", -0.25),
        clip_high=getattr(p, "clip_high", 1.5),
    )


def load_predictor(model: str | Path, *, min_score: float = 0.01) -> Predictor:
    """A Predictor for an ``.onnx`` file or a training checkpoint (any other suffix)."""
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: model not found")
    backend: Backend
    if path.suffix.lower() == ".onnx":
        backend = OnnxBackend(path)
    else:
        backend = TorchBackend.from_checkpoint(path)
    return Predictor(backend, min_score=min_score)
