import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections


def _dets() -> Detections:
    return Detections(
        boxes=[[0, 0, 10, 10], [5, 5, 20, 30], [1, 2, 3, 4]],
        scores=[0.9, 0.2, 0.6],
        labels=[0, 2, 4],
    )


def test_columns_have_fixed_dtypes_and_shapes() -> None:
    d = _dets()
    assert d.boxes.dtype == np.float32 and d.boxes.shape == (3, 4)
    assert d.scores.dtype == np.float32 and d.labels.dtype == np.int64
    assert d.label_names == ["organic_package", "firearm", "liquid"]


def test_filter_by_one_boolean_mask() -> None:
    d = _dets()
    kept = d[d.scores >= 0.5]
    assert len(kept) == 2
    np.testing.assert_array_equal(kept.labels, [0, 4])
    assert len(d.above(0.95)) == 0


def test_single_index_keeps_a_detections() -> None:
    d = _dets()[1]
    assert len(d) == 1 and d.label_names == ["firearm"]


def test_records_round_trip() -> None:
    d = _dets()
    back = Detections.from_records(d.to_records())
    np.testing.assert_array_equal(back.boxes, d.boxes)
    np.testing.assert_array_equal(back.labels, d.labels)
    np.testing.assert_allclose(back.scores, d.scores)


def test_empty_and_concatenate() -> None:
    e = Detections.empty()
    assert len(e) == 0 and e.boxes.shape == (0, 4)
    both = Detections.concatenate([_dets(), e, _dets()])
    assert len(both) == 6 and both.class_names == THREAT_CLASSES


def test_masks_follow_the_filter() -> None:
    masks = np.zeros((3, 8, 8), bool)
    masks[1, 2:4, 2:4] = True
    d = Detections(boxes=np.zeros((3, 4)), scores=[0.1, 0.9, 0.3], labels=[0, 1, 2], masks=masks)
    kept = d[d.scores > 0.5]
    assert kept.masks is not None and kept.masks.shape == (1, 8, 8)
    assert kept.masks[0].sum() == 4


def test_rejects_label_outside_class_list() -> None:
    with pytest.raises(ValueError, match=r"labels: expected ids in 0\.\.4"):
        Detections(boxes=[[0, 0, 1, 1]], scores=[0.5], labels=[5])


def test_rejects_inverted_box() -> None:
    with pytest.raises(ValueError, match="x1 >= x0"):
        Detections(boxes=[[5, 0, 1, 1]], scores=[0.5], labels=[0])


def test_rejects_score_count_mismatch() -> None:
    with pytest.raises(ValueError, match=r"scores: expected shape \(1,\)"):
        Detections(boxes=[[0, 0, 1, 1]], scores=[0.5, 0.1], labels=[0])


def test_rejects_unknown_class_name_in_records() -> None:
    with pytest.raises(ValueError, match="class_name"):
        Detections.from_records([{"class_name": "cat", "score": 1.0, "box": [0, 0, 1, 1]}])
