"""COCO detection datasets of 16-bit backscatter scans (PNG, TIFF or DICOS).

Boxes are COCO ``[x, y, w, h]`` in the json and ``x0, y0, x1, y1`` (float32, input pixels)
everywhere here. Annotations with ``iscrowd=1`` (objects hidden beyond recognition) are kept apart
as ignore regions: never a positive target, never counted in evaluation.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.inference.preprocess import PreprocessSpec, normalise


class DatasetError(ValueError):
    """A COCO json or an image it names cannot be used; names the file and the reason."""


@dataclass(frozen=True)
class Sample:
    """One scan and its labels. ``pixels`` is ``(rows, cols)`` in its native dtype."""

    image_id: int
    file: str
    pixels: np.ndarray
    bits_stored: int
    boxes: np.ndarray  # (N, 4) float32 x0, y0, x1, y1
    labels: np.ndarray  # (N,) int64 class index
    ignore: np.ndarray  # (M, 4) float32 crowd / hidden regions


def read_pixels(path: Path, *, bits_stored: int | None = None) -> tuple[np.ndarray, int]:
    """Native pixels ``(rows, cols)`` and bits stored of one image file (PNG, TIFF, DICOS...).

    Read with :func:`backscatter.acquisition.open_scan`; ``bits_stored`` (from the COCO image
    entry) overrides what the file says, for PNGs that cannot carry it.
    """
    from backscatter.acquisition import open_scan

    scan = open_scan(path)
    return scan.pixels, int(bits_stored or scan.bits_stored)


class CocoDetection:
    """Random-access COCO dataset: ``ds[i] -> Sample``.

    ``classes`` fixes the label order (the project's THREAT_CLASSES); categories are matched
    by name, so any COCO file with the same class names works regardless of its category ids.
    Bits stored: the image entry's ``bits_stored``, else ``bits_stored``, else the file's.
    """

    def __init__(
        self,
        json_path: str | Path,
        *,
        classes: tuple[str, ...],
        image_root: str | Path | None = None,
        bits_stored: int | None = None,
        cache: bool = False,
    ) -> None:
        self.json_path = Path(json_path)
        try:
            data = json.loads(self.json_path.read_text())
        except OSError as exc:
            raise DatasetError(f"{self.json_path}: cannot read ({exc.strerror or exc})") from exc
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{self.json_path}: not valid JSON ({exc})") from exc
        for key in ("images", "annotations", "categories"):
            if not isinstance(data.get(key), list):
                raise DatasetError(f"{self.json_path}: expected a COCO '{key}' list")
        novel = {int(c["id"]) for c in data["categories"] if c.get("supercategory") == "novel"}
        if novel:  # novel concealments (synth --novel) are no detector class: left out here
            data["categories"] = [c for c in data["categories"] if int(c["id"]) not in novel]
            data["annotations"] = [
                a for a in data["annotations"] if int(a["category_id"]) not in novel
            ]
        self.coco: dict[str, Any] = data
        self.classes = classes
        self.root = Path(image_root) if image_root else self.json_path.parent
        self.bits_stored = bits_stored
        cat_to_label: dict[int, int] = {}
        for cat in data["categories"]:
            if cat["name"] not in classes:
                raise DatasetError(
                    f"{self.json_path}: category {cat['name']!r} not in classes {list(classes)}"
                )
            cat_to_label[int(cat["id"])] = classes.index(cat["name"])
        self.cat_to_label = cat_to_label
        self.images: list[dict[str, Any]] = sorted(data["images"], key=lambda im: int(im["id"]))
        self._anns: dict[int, list[dict[str, Any]]] = {int(im["id"]): [] for im in self.images}
        for ann in data["annotations"]:
            self._anns.setdefault(int(ann["image_id"]), []).append(ann)
        self._cache: dict[int, tuple[np.ndarray, int]] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        return self.root / str(self.images[index]["file_name"])

    def labels(self, index: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(boxes (N,4), labels (N,), ignore (M,4))`` of one image."""
        image_id = int(self.images[index]["id"])
        boxes, labels, ignore = [], [], []
        for ann in self._anns.get(image_id, []):
            x, y, w, h = (float(v) for v in ann["bbox"])
            if w <= 0 or h <= 0:
                continue
            box = [x, y, x + w, y + h]
            if ann.get("iscrowd", 0):
                ignore.append(box)
            else:
                boxes.append(box)
                labels.append(self.cat_to_label[int(ann["category_id"])])
        return (
            np.asarray(boxes, np.float32).reshape(-1, 4),
            np.asarray(labels, np.int64),
            np.asarray(ignore, np.float32).reshape(-1, 4),
        )

    def pixels(self, index: int) -> tuple[np.ndarray, int]:
        if self._cache is not None and index in self._cache:
            return self._cache[index]
        im = self.images[index]
        bits = im.get("bits_stored") or self.bits_stored
        px, bits = read_pixels(self.image_path(index), bits_stored=bits)
        if self._cache is not None:
            self._cache[index] = (px, bits)
        return px, bits

    def __getitem__(self, index: int) -> Sample:
        px, bits = self.pixels(index)
        boxes, labels, ignore = self.labels(index)
        im = self.images[index]
        return Sample(int(im["id"]), str(im["file_name"]), px, bits, boxes, labels, ignore)


def to_unit(pixels: np.ndarray, *, bits_stored: int) -> np.ndarray:
    """Native pixels -> float32 fraction of full scale (what augmentations act on)."""
    return normalise(pixels, bits_stored=bits_stored, spec=PreprocessSpec())


def manifest_sha256(json_path: str | Path) -> str:
    """sha256 of the dataset manifest beside a COCO json, else of the json itself."""
    p = Path(json_path)
    for candidate in (p.parent / "manifest.json", p.parent.parent / "manifest.json", p):
        if candidate.is_file():
            return hashlib.sha256(candidate.read_bytes()).hexdigest()
    return ""
