"""Novel concealments (synth --novel): placed, labelled under their own categories, ignored by the
detector's data set."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from backscatter.synth.dataset import build_dataset
from backscatter.synth.materials import MATERIALS, material_id
from backscatter.synth.novel import NOVEL_GENERATORS, NOVEL_KINDS, novel_category
from backscatter.synth.render import render_scene


def test_novel_zero_leaves_the_scene_unchanged() -> None:
    a = render_scene(11, family="luggage", size=(128, 128))
    b = render_scene(11, family="luggage", size=(128, 128), novel=0)
    assert np.array_equal(a.pixels, b.pixels)
    assert b.novel_annotations == []


def test_novel_objects_change_the_pixels_where_they_are_labelled() -> None:
    clean = render_scene(3, family="luggage", classes=[], size=(256, 256))
    res = render_scene(3, family="luggage", classes=[], size=(256, 256), novel=2)
    assert res.annotations == []
    assert len(res.novel_annotations) >= 1
    diff = clean.pixels.astype(np.int64) != res.pixels.astype(np.int64)
    for ann in res.novel_annotations:
        assert ann.kind in NOVEL_KINDS
        assert ann.mask.shape == (256, 256)
        assert diff[ann.mask].mean() > 0.3


@pytest.mark.parametrize("kind", NOVEL_KINDS)
def test_each_generator_adds_slabs_inside_its_patch(kind: str) -> None:
    rng = np.random.default_rng(0)
    obj = NOVEL_GENERATORS[kind](rng, center=(200.0, 200.0), ppc=5.0, depth_cm=1.0)
    assert obj.kind == kind
    assert obj.patch.area > 50
    assert any(float(lay.thickness.max()) > 0 for lay in obj.layers)


def test_heavy_materials_absorb_more_than_steel() -> None:
    steel = MATERIALS[material_id("steel")].mu_rho(60.0)
    assert MATERIALS[material_id("gold")].mu_rho(60.0) == pytest.approx(4.528, rel=0.01)
    assert MATERIALS[material_id("lead")].mu_rho(60.0) > steel
    assert MATERIALS[material_id("gold")].z_eff == pytest.approx(79.0, abs=0.1)


def test_dataset_writes_novel_categories_the_detector_data_set_skips(tmp_path: Path) -> None:
    build_dataset(tmp_path, scenes=6, seed=4, size=(128, 128), clean_fraction=0.0,
                  workers=1, progress=False, novel=2, only_split="test")  # fmt: skip
    coco = json.loads((tmp_path / "test.json").read_text())
    novel_ids = {c["id"] for c in coco["categories"] if c["supercategory"] == "novel"}
    assert novel_ids == {novel_category(k)[0] for k in NOVEL_KINDS}
    assert {c["name"] for c in coco["categories"]} >= {"novel/gold", "novel/cigarettes"}
    novel = [a for a in coco["annotations"] if a["category_id"] in novel_ids]
    assert novel and all(a["attributes"]["novel"] for a in novel)
    # odd-index non-clean scenes hold novel objects only
    odd = {im["id"] for im in coco["images"] if (im["id"] - 1) % 2 == 1}
    assert all(a["category_id"] in novel_ids for a in coco["annotations"] if a["image_id"] in odd)

    from backscatter.classes import THREAT_CLASSES
    from backscatter.training.data import CocoDetection

    ds = CocoDetection(tmp_path / "test.json", classes=THREAT_CLASSES)
    n_threats = sum(len(ds.labels(i)[1]) + len(ds.labels(i)[2]) for i in range(len(ds)))
    assert n_threats == len(coco["annotations"]) - len(novel)
