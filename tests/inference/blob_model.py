"""A small real ONNX model that honours the detector contract, for runtime tests.

It finds the bounding box of all input pixels above 0.5 (normalised intensity) and reports it
as one detection with score 0.9 and class ``clip(floor((max - 0.5) * 10), 0, 4)``; a second
slot holds a dummy ``[0, 0, 1, 1]`` box scored 0.01 (0 when nothing is bright), so K = 2.
With ``twin_score`` a third slot repeats the blob's box under the next class (``(class + 1) %
5``) with that score: one object proposed under two classes, as real detectors do (K = 3).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from backscatter.classes import THREAT_CLASSES
from backscatter.inference.preprocess import PreprocessSpec

SPEC = PreprocessSpec(input_size=(128, 128), stride=32, window_low=0.0, window_high=1.0)


def _const(name: str, value: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name))


def build_blob_model(
    *,
    fixed_hw: tuple[int, int] | None = None,
    fixed_batch: int | None = None,
    spec: PreprocessSpec = SPEC,
    extra_conv: int = 0,
    twin_score: float | None = None,
) -> onnx.ModelProto:
    """The graph; ``extra_conv`` adds that many 3x3 convolutions (compute load, same result)."""
    h, w = fixed_hw or ("height", "width")
    b = fixed_batch or "batch"
    f32 = np.float32
    nodes = [
        _const("half", np.array(0.5, f32)),
        _const("ten", np.array(10.0, f32)),
        _const("zero", np.array(0.0, f32)),
        _const("four", np.array(4.0, f32)),
        _const("hi_score", np.array(0.9, f32)),
        _const("lo_score", np.array(0.01, f32)),
        _const("one_i", np.array(1, np.int64)),
        _const("dummy_box", np.array([[[0.0, 0.0, 1.0, 1.0]]], f32)),
        _const("ax1", np.array([1], np.int64)),
    ]
    src = "image"
    for i in range(extra_conv):
        wname, out = f"cw{i}", f"conv{i}"
        kernel = np.zeros((1, 1, 3, 3), f32)
        kernel[0, 0, 1, 1] = 1.0  # identity convolution: same values, real work
        nodes += [
            _const(wname, kernel),
            helper.make_node("Conv", [src, wname], [out], pads=[1, 1, 1, 1]),
        ]
        src = out
    nodes += [
        helper.make_node("Greater", [src, "half"], ["gt"]),
        helper.make_node("Cast", ["gt"], ["mask"], to=TensorProto.FLOAT),
        helper.make_node("ReduceMax", ["mask"], ["colany"], axes=[1, 2], keepdims=0),
        helper.make_node("ReduceMax", ["mask"], ["rowany"], axes=[1, 3], keepdims=0),
        helper.make_node("ArgMax", ["colany"], ["x0i"], axis=1, keepdims=1),
        helper.make_node("ArgMax", ["colany"], ["x1l"], axis=1, keepdims=1, select_last_index=1),
        helper.make_node("ArgMax", ["rowany"], ["y0i"], axis=1, keepdims=1),
        helper.make_node("ArgMax", ["rowany"], ["y1l"], axis=1, keepdims=1, select_last_index=1),
        helper.make_node("Add", ["x1l", "one_i"], ["x1i"]),
        helper.make_node("Add", ["y1l", "one_i"], ["y1i"]),
        helper.make_node("Concat", ["x0i", "y0i", "x1i", "y1i"], ["box_i"], axis=1),
        helper.make_node("Cast", ["box_i"], ["box_f"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["box_f", "ax1"], ["box1"]),
        helper.make_node("ReduceMax", ["mask"], ["anyb"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("ReduceMax", [src], ["maxv"], axes=[1, 2, 3], keepdims=1),
        # anyb, maxv: (B, 1, 1, 1) -> (B, 1)
        helper.make_node("Flatten", ["anyb"], ["any2"], axis=1),
        helper.make_node("Flatten", ["maxv"], ["max2"], axis=1),
        helper.make_node("Mul", ["any2", "hi_score"], ["score1"]),
        helper.make_node("Mul", ["any2", "lo_score"], ["score2"]),
        helper.make_node("Sub", ["max2", "half"], ["m1"]),
        helper.make_node("Mul", ["m1", "ten"], ["m2"]),
        helper.make_node("Floor", ["m2"], ["m3"]),
        helper.make_node("Clip", ["m3", "zero", "four"], ["m4"]),
        helper.make_node("Cast", ["m4"], ["label1"], to=TensorProto.INT64),
        helper.make_node("Mul", ["label1", "one_i"], ["l1b"]),
        helper.make_node("Sub", ["label1", "label1"], ["label2"]),
        helper.make_node("Mul", ["box1", "zero"], ["zbox"]),
        helper.make_node("Add", ["zbox", "dummy_box"], ["box2"]),
    ]
    slots = (["box1", "box2"], ["score1", "score2"], ["l1b", "label2"])
    if twin_score is not None:
        nodes += [
            _const("twin_score", np.array(twin_score, f32)),
            _const("five_i", np.array(5, np.int64)),
            helper.make_node("Mul", ["any2", "twin_score"], ["score3"]),
            helper.make_node("Add", ["label1", "one_i"], ["l3a"]),
            helper.make_node("Mod", ["l3a", "five_i"], ["label3"]),
        ]
        slots = (slots[0] + ["box1"], slots[1] + ["score3"], slots[2] + ["label3"])
    nodes += [
        helper.make_node("Concat", slots[0], ["boxes"], axis=1),
        helper.make_node("Concat", slots[1], ["scores"], axis=1),
        helper.make_node("Concat", slots[2], ["labels"], axis=1),
    ]
    k = len(slots[0])
    graph = helper.make_graph(
        nodes,
        "blob_detector",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [b, 1, h, w])],
        [
            helper.make_tensor_value_info("boxes", TensorProto.FLOAT, [b, k, 4]),
            helper.make_tensor_value_info("scores", TensorProto.FLOAT, [b, k]),
            helper.make_tensor_value_info("labels", TensorProto.INT64, [b, k]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "classes": json.dumps(list(THREAT_CLASSES)),
        "preprocess": spec.to_json(),
        "model_name": "blob",
        "model_version": "1",
        "train_config_sha256": "0" * 64,
        "dataset_manifest_sha256": "0" * 64,
    }
    helper.set_model_props(model, meta)
    onnx.checker.check_model(model)
    return model


def write_blob_model(
    directory: Path, name: str = "blob", *, card: bool = True, **kwargs: object
) -> Path:
    """Write ``NAME.onnx`` (+ ``NAME.json`` card with the right sha256); returns the .onnx path."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.onnx"
    spec = kwargs.get("spec", SPEC)
    assert isinstance(spec, PreprocessSpec)
    onnx.save(build_blob_model(**kwargs), path)  # type: ignore[arg-type]
    if card:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        data = {
            "file": path.name,
            "sha256": digest,
            "model_name": name,
            "model_version": "1",
            "classes": list(THREAT_CLASSES),
            "preprocess": json.loads(spec.to_json()),
            "threshold": 0.5,
        }
        (directory / f"{name}.json").write_text(json.dumps(data, indent=1))
    return path
