"""The generalisation protocol: gain/offset views of a split, recall per threat sub-type."""

import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.detections import Detections
from backscatter.synth.dataset import build_dataset
from backscatter.training.data import CocoDetection
from backscatter.training.protocol import (
    GainOffset,
    gain_sweep,
    object_subtypes,
    recall_by_subtype,
    subtype_of,
)


@pytest.fixture(scope="module")
def sim_split(tmp_path_factory: pytest.TempPathFactory) -> CocoDetection:
    out = tmp_path_factory.mktemp("proto")
    build_dataset(
        out,
        scenes=10,
        seed=5,
        size=(128, 128),
        clean_fraction=0.2,
        workers=1,
        progress=False,
        domain=True,
        only_split="test",
    )
    return CocoDetection(out / "test.json", classes=THREAT_CLASSES, cache=True)


def _truth(coco: CocoDetection, i: int, score: float = 0.9) -> Detections:
    boxes, labels, _ = coco.labels(i)
    return Detections(
        boxes, np.full(len(boxes), score, np.float32), labels, class_names=THREAT_CLASSES
    )


def test_every_scene_lands_in_the_asked_split(sim_split: CocoDetection) -> None:
    assert len(sim_split) == 10
    assert all("domain" in im for im in sim_split.images)


def test_gain_offset_view_scales_the_fraction_of_full_scale(sim_split: CocoDetection) -> None:
    px, bits = sim_split.pixels(0)
    view, vbits = GainOffset(sim_split, gain=4.0, offset=0.1).pixels(0)
    assert vbits == bits and view.dtype == np.float32
    np.testing.assert_allclose(view, px / (2**bits - 1) * 4.0 + 0.1, rtol=1e-5)


def test_recall_per_subtype_counts_each_object_once(sim_split: CocoDetection) -> None:
    dets = [_truth(sim_split, i) for i in range(len(sim_split))]
    names = [n for i in range(len(sim_split)) for n in object_subtypes(sim_split, i)]
    perfect = recall_by_subtype(sim_split, dets, threshold=0.5)
    assert sum(s["n"] for s in perfect.values()) == len(names) > 0
    assert all(s["recall"] == 1.0 for s in perfect.values())
    # below the threshold nothing is found
    low = [_truth(sim_split, i, 0.3) for i in range(len(sim_split))]
    assert all(s["found"] == 0 for s in recall_by_subtype(sim_split, low, threshold=0.5).values())


def test_gain_sweep_of_a_gain_blind_predictor_is_flat(sim_split: CocoDetection) -> None:
    answers = {i: _truth(sim_split, i) for i in range(len(sim_split))}
    calls = iter(range(10**6))

    def oracle(pixels: np.ndarray, *, bits_stored: int) -> Detections:
        return answers[next(calls) % len(sim_split)]

    sweep = gain_sweep(oracle, sim_split, gains=(0.5, 1.0, 2.0))
    assert set(sweep) == {"x0.5", "x1", "x2", "x1+0.1FS"}
    assert len({round(s["map50"], 6) for s in sweep.values()}) == 1


@pytest.mark.parametrize(
    ("name", "params", "want"),
    [
        ("firearm", {"steel_frame": True}, "pistol_steel"),
        ("firearm", {"steel_frame": False}, "pistol_polymer"),
        ("blade", {"dagger": True, "handle": "steel"}, "dagger"),
        ("blade", {"dagger": False, "handle": "steel"}, "steel_handle"),
        ("currency", {"count": 3}, "multi_bundle"),
        ("liquid", {"kind": "jerrycan"}, "jerrycan"),
        ("liquid", {"subtype": "flask", "kind": "pet"}, "flask"),
    ],
)
def test_subtype_names(name: str, params: dict[str, object], want: str) -> None:
    assert subtype_of(name, params) == want
