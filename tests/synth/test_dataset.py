"""Dataset builder: COCO content, masks, manifest, determinism, class coverage."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.dataset import build_dataset, plan


def _tree_hashes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _rle_decode(rle: dict[str, Any]) -> np.ndarray:
    rows, cols = rle["size"]
    flat = np.zeros(rows * cols, bool)
    pos, value = 0, False
    for run in rle["counts"]:
        flat[pos : pos + run] = value
        pos += run
        value = not value
    return flat.reshape((cols, rows)).T


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """200 small scenes: enough for every class, quick to build."""
    out = tmp_path_factory.mktemp("ds200")
    build_dataset(out, scenes=200, seed=42, size=(96, 96), workers=1, progress=False)
    return out


def _load(root: Path) -> dict[str, dict[str, Any]]:
    return {s: json.loads((root / f"{s}.json").read_text()) for s in ("train", "val", "test")}


def test_every_class_appears_as_a_positive(big: Path) -> None:
    anns = [a for d in _load(big).values() for a in d["annotations"] if not a["iscrowd"]]
    seen = {THREAT_CLASSES[a["category_id"] - 1] for a in anns}
    assert seen == set(THREAT_CLASSES)


def test_categories_splits_and_clean_share(big: Path) -> None:
    data = _load(big)
    for d in data.values():
        assert [c["name"] for c in d["categories"]] == list(THREAT_CLASSES)
        assert [c["id"] for c in d["categories"]] == [1, 2, 3, 4, 5]
    sizes = {s: len(d["images"]) for s, d in data.items()}
    assert sizes == {"train": 160, "val": 20, "test": 20}
    images = [im for d in data.values() for im in d["images"]]
    assert sum(im["clean"] for im in images) == 40
    ids = [im["id"] for im in images]
    assert len(set(ids)) == 200
    with_anns = {a["image_id"] for d in data.values() for a in d["annotations"]}
    assert not with_anns & {im["id"] for im in images if im["clean"]}


def test_images_are_16_bit_and_masks_match_annotations(big: Path) -> None:
    data = _load(big)["val"]
    by_image: dict[int, list[dict[str, Any]]] = {}
    for a in data["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    checked = 0
    for im in data["images"]:
        px = cv2.imread(str(big / im["file_name"]), cv2.IMREAD_UNCHANGED)
        assert px.dtype == np.uint16 and px.shape == (im["height"], im["width"])
        assert im["bits_stored"] == 16
        inst = cv2.imread(str(big / im["mask_file"]), cv2.IMREAD_UNCHANGED)
        for a in by_image.get(im["id"], []):
            mask = _rle_decode(a["segmentation"])
            x, y, w, h = a["bbox"]
            rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
            assert (x, y, x + w, y + h) == (cols[0], rows[0], cols[-1] + 1, rows[-1] + 1)
            assert a["area"] == mask.sum()
            assert a["iscrowd"] == int(a["attributes"]["hidden"])
            own = inst == a["attributes"]["instance"]
            assert np.all(mask[own])  # the instance map never claims pixels outside the mask
            checked += 1
    assert checked > 0


def test_manifest_records_parameters_and_hashes(big: Path) -> None:
    m = json.loads((big / "manifest.json").read_text())
    assert m["parameters"]["seed"] == 42 and m["parameters"]["scenes"] == 200
    assert m["parameters"]["size"] == [96, 96] and m["parameters"]["profile"] == "handheld"
    assert m["classes"] == list(THREAT_CLASSES)
    for name, digest in m["files"].items():
        assert hashlib.sha256((big / name).read_bytes()).hexdigest() == digest
    assert sum(m["splits"][s]["images"] for s in m["splits"]) == 200


def test_same_seed_same_bytes_regardless_of_workers(tmp_path: Path) -> None:
    build_dataset(tmp_path / "a", scenes=6, seed=9, size=(64, 80), workers=1, progress=False)
    build_dataset(tmp_path / "b", scenes=6, seed=9, size=(64, 80), workers=2, progress=False)
    build_dataset(tmp_path / "c", scenes=6, seed=10, size=(64, 80), workers=1, progress=False)
    a, b, c = (_tree_hashes(tmp_path / k) for k in "abc")
    assert a == b
    assert a["images/000000.png"] != c["images/000000.png"]


def test_dicos_format_writes_dx_readable_by_pydicom(tmp_path: Path) -> None:
    import pydicom

    build_dataset(tmp_path, scenes=2, seed=1, size=(64, 64), fmt="dicos", workers=1, progress=False)
    coco = json.loads((tmp_path / "train.json").read_text())
    first = sorted(im["file_name"] for im in coco["images"])[0]
    assert first.endswith(".dcm")
    ds = pydicom.dcmread(tmp_path / first)
    assert ds.Modality == "DX" and ds.BitsStored == 16 and ds.Manufacturer == "backscatter-sim"
    assert ds.pixel_array.shape == (64, 64) and ds.pixel_array.dtype == np.uint16


def test_dicos_and_png_hold_the_same_pixels_and_open_scan_reads_both(tmp_path: Path) -> None:
    from backscatter.acquisition import open_scan

    for fmt in ("png16", "dicos"):
        build_dataset(tmp_path / fmt, scenes=1, seed=3, size=(48, 64), fmt=fmt, workers=1,
                      progress=False)  # fmt: skip
    png = open_scan(next((tmp_path / "png16" / "images").iterdir()))
    dx = open_scan(next((tmp_path / "dicos" / "images").iterdir()))
    assert np.array_equal(png.pixels, dx.pixels)
    assert dx.bits_stored == 16 and dx.metadata.kvp == 120.0
    assert dx.metadata.manufacturer == "backscatter-sim"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"scenes": 0}, "scenes"),
        ({"scenes": 2, "clean_fraction": 1.5}, "clean_fraction"),
        ({"scenes": 2, "fmt": "jpeg"}, "fmt"),
        ({"scenes": 2, "profile": "drone"}, "profile"),
        ({"scenes": 2, "size": (8, 8)}, "size"),
    ],
)
def test_bad_parameters_are_named(tmp_path: Path, kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        build_dataset(tmp_path, seed=0, workers=1, progress=False, **kwargs)


def test_plan_balances_families() -> None:
    jobs = plan(100, seed=0, clean_fraction=0.2)
    fams = [j.family for j in jobs]
    assert all(fams.count(f) == 20 for f in set(fams))
    assert sum(j.clean for j in jobs) == 20


def test_coco_json_evaluates_itself_perfectly(big: Path) -> None:
    """Ground truth scored against itself: AP 1 for boxes and masks (format check)."""
    pytest.importorskip("pycocotools")
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(big / "train.json"))
        dets = [
            {"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"],
             "segmentation": gt.annToRLE(a), "score": 1.0}
            for a in gt.dataset["annotations"] if not a["iscrowd"]
        ]  # fmt: skip
        dt = gt.loadRes(dets)
        for kind in ("bbox", "segm"):
            ev = COCOeval(gt, dt, kind)
            ev.evaluate()
            ev.accumulate()
            ev.summarize()
            assert ev.stats[1] == pytest.approx(1.0)  # AP at IoU 0.5
