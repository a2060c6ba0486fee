"""The detector runtime with real ONNX Runtime on small contract-following models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from backscatter.inference.detector import Detector, TileOptions
from backscatter.inference.models import ModelError

from .blob_model import write_blob_model
from .conftest import blob_scan


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_bright_blob_gives_its_exact_box_and_class(detector: Detector, dtype: str) -> None:
    scan = blob_scan((100, 90), [(20, 30, 45, 61)], value=0.75, dtype=dtype)
    dets = detector(scan)
    assert len(dets) == 1  # the 0.01 dummy slot is under min_score
    np.testing.assert_array_equal(dets.boxes[0], [20, 30, 45, 61])
    assert dets.label_names == ["firearm"]  # floor((0.75 - 0.5) * 10) = 2
    assert dets.scores[0] == pytest.approx(0.9)
    assert dets.extras["model_id"] == detector.model_id
    assert set(dets.extras["timings_ms"]) == {"preprocess", "infer", "postprocess"}


def test_window_from_the_card_not_from_the_image(tmp_path: Path) -> None:
    from backscatter.inference.preprocess import PreprocessSpec

    spec = PreprocessSpec(input_size=(128, 128), stride=32, window_low=0.0, window_high=0.5)
    det = Detector.load(write_blob_model(tmp_path, "w", spec=spec), "cpu", threads=1)
    # 0.3 of full scale becomes 0.6 under a 0..0.5 window: bright for the model
    scan = blob_scan((64, 64), [(10, 10, 20, 20)], value=0.3)
    scan = scan.with_pixels(np.minimum(scan.pixels, 9000).astype(np.uint16))
    scan.pixels[10:20, 10:20] = round(0.3 * 65535)
    dets = det(scan)
    np.testing.assert_array_equal(dets.boxes, [[10, 10, 20, 20]])


def test_empty_scan_gives_no_detections(detector: Detector) -> None:
    dets = detector(blob_scan((64, 64), []))
    assert len(dets) == 0
    assert dets.class_names == detector.class_names


def test_min_score_keeps_low_scores_when_asked(blob_model: Path) -> None:
    det = Detector.load(blob_model, "cpu", threads=1, min_score=0.005)
    dets = det(blob_scan((64, 64), [(5, 6, 7, 8)]))
    assert dets.scores.tolist() == pytest.approx([0.9, 0.01])
    np.testing.assert_array_equal(dets.boxes[1], [0, 0, 1, 1])


@pytest.mark.parametrize(("fixed_hw", "fixed_batch"), [((128, 128), None), (None, 1)])
def test_fixed_shape_models_give_the_same_boxes(
    tmp_path: Path,
    detector: Detector,
    fixed_hw: tuple[int, int] | None,
    fixed_batch: int | None,
) -> None:
    path = write_blob_model(tmp_path, "fixed", fixed_hw=fixed_hw, fixed_batch=fixed_batch)
    det = Detector.load(path, "cpu", threads=1)
    assert det.fixed_hw == fixed_hw and det.fixed_batch == fixed_batch
    scan = blob_scan((300, 200), [(150, 100, 190, 160)], seed=3)
    a, b = det(scan), detector(scan)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.labels, b.labels)


def test_tile_off_on_a_fixed_size_model_is_refused(tmp_path: Path) -> None:
    path = write_blob_model(tmp_path, "fixed", fixed_hw=(128, 128))
    det = Detector.load(path, "cpu", threads=1, tile=TileOptions(mode="off"))
    with pytest.raises(ValueError, match="fixed at 128x128, got a 300x200 scan"):
        det(blob_scan((300, 200), []))


def test_model_with_wrong_output_names_is_refused(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["image"], ["out"])],
        "wrong",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["b", 1, "h", "w"])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["b", 1, "h", "w"])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "wrong.onnx"
    onnx.save(model, path)
    with pytest.raises(ModelError, match=r"expected input 'image' and outputs \('boxes'"):
        Detector.load(path, "cpu")


def test_corrupt_onnx_file_is_a_model_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.onnx"
    path.write_bytes(b"this is not a protobuf")
    with pytest.raises(ModelError, match=r"junk\.onnx: ONNX Runtime cannot load it"):
        Detector.load(path, "cpu")
