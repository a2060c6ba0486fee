"""Dataset builder: N simulated scans -> images, COCO train/val/test json, masks, manifest.

Layout of ``out_dir``::

    manifest.json                  seed, every parameter, per-split counts, file hashes
    train.json / val.json / test.json   COCO; category_id = class id + 1, names = THREAT_CLASSES
    images/000042.png              uint16 PNG (bits stored 16) or .dcm (DICOS DX)
    masks/000042.png               uint8 instance map: k = the k-th annotation of that image

With ``novel`` > 0 (``synth --novel N``), every non-clean scene also gets N novel concealments
(:mod:`backscatter.synth.novel`) under their own categories, ids 101+ named ``novel/KIND``
(supercategory ``novel``; detector evaluation ignores them), and every other non-clean scene (odd
index) has no threats, only the novel objects.

Boxes are COCO ``[x, y, w, h]``, the tight box of the *visible* part of a threat. A threat hidden
beyond recognition keeps its full outline with ``iscrowd = 1`` (an ignore region) and
``attributes.hidden = true``. Scene ``i`` of seed ``s`` uses the seed ``SeedSequence(s, i)``, so the
output is the same bytes whatever the number of workers.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from backscatter.classes import THREAT_CLASSES
from backscatter.synth.domain import DomainRanges
from backscatter.synth.novel import NOVEL_KINDS, novel_category
from backscatter.synth.physics import get_profile
from backscatter.synth.render import SceneResult, render_scene
from backscatter.synth.scenes import FAMILIES

FORMATS = ("png16", "dicos")
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
DATASET_VERSION = 1


@dataclass(frozen=True)
class SceneJob:
    index: int
    seed: int
    family: str
    clean: bool
    split: str


def scene_seed(seed: int, index: int) -> int:
    """The per-scene seed: independent of the order and the number of workers."""
    return int(
        np.random.SeedSequence(entropy=int(seed), spawn_key=(int(index),)).generate_state(1)[0]
    )


def plan(
    scenes: int, *, seed: int, clean_fraction: float, only_split: str | None = None
) -> list[SceneJob]:
    """Which scene is which: families balanced, an exact clean share, 80/10/10 splits (or every
    scene in ``only_split``, for evaluation sets)."""
    if scenes < 1:
        raise ValueError(f"scenes: expected >= 1, got {scenes}")
    if not 0.0 <= clean_fraction <= 1.0:
        raise ValueError(f"clean_fraction: expected 0..1, got {clean_fraction}")
    rng = np.random.default_rng(np.random.SeedSequence(entropy=int(seed), spawn_key=(2**31,)))
    n_clean = int(round(scenes * clean_fraction))
    clean = np.zeros(scenes, bool)
    clean[rng.permutation(scenes)[:n_clean]] = True
    families = [FAMILIES[k % len(FAMILIES)] for k in rng.permutation(scenes)]
    n_train = int(round(scenes * SPLIT_FRACTIONS[0]))
    n_val = int(round(scenes * SPLIT_FRACTIONS[1])) if scenes >= 3 else 0
    order = rng.permutation(scenes)
    split = np.empty(scenes, object)
    split[order[:n_train]] = "train"
    split[order[n_train : n_train + n_val]] = "val"
    split[order[n_train + n_val :]] = "test"
    if only_split is not None:
        if only_split not in SPLITS:
            raise ValueError(f"split: expected one of {SPLITS}, got {only_split!r}")
        split[:] = only_split
    return [
        SceneJob(i, scene_seed(seed, i), families[i], bool(clean[i]), str(split[i]))
        for i in range(scenes)
    ]


def _rle(mask: np.ndarray) -> dict[str, Any]:
    """Uncompressed COCO RLE (column-major run lengths, starting with a run of zeros)."""
    flat = np.asarray(mask, bool).ravel(order="F")
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0, *counts]
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _write_png(path: Path, pixels: np.ndarray) -> None:
    """Lossless PNG (8 or 16 bit). Huffman-only: the noise does not deflate, and this is 2x faster
    than the default strategy for slightly smaller files."""
    params = [cv2.IMWRITE_PNG_COMPRESSION, 1, cv2.IMWRITE_PNG_STRATEGY,
              cv2.IMWRITE_PNG_STRATEGY_HUFFMAN_ONLY]  # fmt: skip
    if not cv2.imwrite(str(path), pixels, params):
        raise OSError(f"{path}: could not write PNG")


def _write_dicos(path: Path, result: SceneResult, *, source_uri: str) -> None:
    """DICOS DX through the dicos part, created-time = simulated acquisition time, so that the
    same seed gives the same bytes."""
    from backscatter.synth.device import scan_from_result

    try:
        from backscatter.dicos.content import save_atomic
        from backscatter.dicos.dx import dx_dataset
    except ImportError as exc:  # pragma: no cover - the dicos part ships with the package
        raise OSError(f"{path}: --format dicos needs backscatter.dicos ({exc})") from exc
    scan = scan_from_result(result, source_uri=source_uri)
    save_atomic(dx_dataset(scan, created=scan.metadata.acquisition_time), path)


Task = tuple[
    SceneJob, str, tuple[int, int], str, str, DomainRanges | None, dict[str, list[str]] | None, int
]


def _render_job(args: Task) -> dict[str, Any]:
    job, profile, size, fmt, out_dir, domain, subtypes, novel = args
    n_novel = 0 if job.clean else novel
    result = render_scene(
        job.seed,
        profile=profile,
        size=size,
        family=job.family,
        clean=job.clean,
        classes=[] if n_novel and job.index % 2 else None,
        domain=domain,
        subtypes=subtypes,
        novel=n_novel,
    )
    root = Path(out_dir)
    name = f"{job.index:06d}"
    if fmt == "png16":
        file_name = f"images/{name}.png"
        _write_png(root / file_name, result.pixels)
    else:
        file_name = f"images/{name}.dcm"
        _write_dicos(root / file_name, result, source_uri=f"backscatter-synth:{job.index}")
    instance = np.zeros(result.pixels.shape, np.uint8)
    masks = [a.mask for a in result.annotations] + [a.mask for a in result.novel_annotations]
    for k, mask in enumerate(masks, start=1):
        instance[mask & (instance == 0)] = k
    _write_png(root / f"masks/{name}.png", instance)
    return _records(job, result, file_name)


def _records(job: SceneJob, result: SceneResult, file_name: str) -> dict[str, Any]:
    rows, cols = result.pixels.shape
    image = {
        "id": job.index + 1,
        "file_name": file_name,
        "height": rows,
        "width": cols,
        "bits_stored": result.bits_stored,
        "scene_family": result.family,
        "profile": result.profile,
        "seed": job.seed,
        "clean": job.clean,
        "mask_file": f"masks/{job.index:06d}.png",
        "pixel_spacing_mm": list(result.pixel_spacing_mm),
    }
    if "domain" in result.params:
        image["domain"] = result.params["domain"]
    anns = []
    for k, a in enumerate(result.annotations, start=1):
        x0, y0, x1, y1 = a.box
        anns.append(
            {
                "image_id": job.index + 1,
                "category_id": a.class_id + 1,
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": float(a.mask.sum()),
                "iscrowd": int(a.hidden),
                "segmentation": _rle(a.mask),
                "attributes": {
                    "hidden": a.hidden,
                    "visible_fraction": round(a.visible_fraction, 4),
                    "mean_snr": round(a.mean_snr, 3),
                    "depth_cm": round(a.depth_cm, 2),
                    "instance": k,
                    "params": _jsonable(a.params),
                },
            }
        )
    for k, n in enumerate(result.novel_annotations, start=len(anns) + 1):
        x0, y0, x1, y1 = n.box
        anns.append(
            {
                "image_id": job.index + 1,
                "category_id": novel_category(n.kind)[0],
                "bbox": [x0, y0, x1 - x0, y1 - y0],
                "area": float(n.mask.sum()),
                "iscrowd": int(n.hidden),
                "segmentation": _rle(n.mask),
                "attributes": {
                    "hidden": n.hidden,
                    "novel": True,
                    "visible_fraction": round(n.visible_fraction, 4),
                    "mean_snr": round(n.mean_snr, 3),
                    "depth_cm": round(n.depth_cm, 2),
                    "instance": k,
                    "params": _jsonable(n.params),
                },
            }
        )
    return {"split": job.split, "image": image, "annotations": anns}


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float):
        return round(obj, 4)
    return obj


def _worker_init() -> None:
    cv2.setNumThreads(1)  # one process per core; OpenCV threads would oversubscribe


def _iter_results(tasks: list[Task], workers: int) -> Iterator[dict[str, Any]]:
    if workers <= 1:
        for t in tasks:
            yield _render_job(t)
        return
    # a fresh interpreter per worker: forking a process whose OpenCV thread pool has run can
    # deadlock the child
    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init) as pool:
        yield from pool.map(_render_job, tasks, chunksize=4)


def build_dataset(
    out_dir: str | os.PathLike[str],
    *,
    scenes: int,
    seed: int,
    size: tuple[int, int] = (512, 512),
    profile: str = "handheld",
    clean_fraction: float = 0.2,
    fmt: str = "png16",
    workers: int | None = None,
    progress: bool = True,
    domain: DomainRanges | bool = False,
    subtypes: dict[str, list[str]] | None = None,
    only_split: str | None = None,
    novel: int = 0,
) -> Path:
    """Write a simulated dataset into ``out_dir``; returns the path of its ``manifest.json``.

    ``size`` is ``(rows, cols)``. ``workers`` defaults to the CPU count (capped at 8).
    ``domain``: each scene's device and artefacts drawn from these
    :class:`~backscatter.synth.domain.DomainRanges` (True: the defaults); bits stored per image
    then vary.
    ``subtypes``: per class name, the only threat sub-types drawn.
    ``novel``: novel concealments per non-clean scene (see the module docstring).
    """
    get_profile(profile)
    if fmt not in FORMATS:
        raise ValueError(f"fmt: expected one of {FORMATS}, got {fmt!r}")
    rows, cols = (int(v) for v in size)
    if rows < 32 or cols < 32:
        raise ValueError(f"size: expected at least 32x32, got {rows}x{cols}")
    out = Path(out_dir)
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    jobs = plan(scenes, seed=seed, clean_fraction=clean_fraction, only_split=only_split)
    n_workers = min(8, os.cpu_count() or 1) if workers is None else max(1, int(workers))
    ranges = DomainRanges() if domain is True else (domain or None)
    if novel < 0:
        raise ValueError(f"novel: expected >= 0, got {novel}")
    tasks: list[Task] = [
        (j, profile, (rows, cols), fmt, str(out), ranges, subtypes, int(novel)) for j in jobs
    ]
    results: Iterable[dict[str, Any]] = _iter_results(tasks, n_workers)
    if progress:
        from tqdm import tqdm

        results = tqdm(results, total=len(tasks), desc="synth", unit="scene")
    per_split: dict[str, dict[str, list[Any]]] = {
        s: {"images": [], "annotations": []} for s in SPLITS
    }
    for rec in results:
        per_split[rec["split"]]["images"].append(rec["image"])
        per_split[rec["split"]]["annotations"].extend(rec["annotations"])
    categories = [
        {"id": i + 1, "name": n, "supercategory": "threat"} for i, n in enumerate(THREAT_CLASSES)
    ]
    if novel:
        categories += [
            {"id": novel_category(k)[0], "name": novel_category(k)[1], "supercategory": "novel"}
            for k in NOVEL_KINDS
        ]
    params = {
        "scenes": scenes,
        "seed": seed,
        "size": [rows, cols],
        "profile": profile,
        "clean_fraction": clean_fraction,
        "format": fmt,
        "families": list(FAMILIES),
        "split_fractions": list(SPLIT_FRACTIONS),
        "only_split": only_split,
        "domain": None if ranges is None else _jsonable(dataclasses.asdict(ranges)),
        "subtypes": subtypes,
        **({"novel": int(novel)} if novel else {}),
    }
    files: dict[str, str] = {}
    counts: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        data = per_split[split]
        for k, ann in enumerate(data["annotations"], start=1):
            ann["id"] = k
        coco = {
            "info": {"description": "backscatter-sim", "version": DATASET_VERSION, **params},
            "licenses": [],
            "categories": categories,
            "images": data["images"],
            "annotations": data["annotations"],
        }
        text = json.dumps(coco, separators=(",", ":"), sort_keys=True)
        (out / f"{split}.json").write_text(text)
        files[f"{split}.json"] = hashlib.sha256(text.encode()).hexdigest()
        counts[split] = _counts(data["images"], data["annotations"])
    manifest = {
        "generator": "backscatter.synth",
        "dataset_version": DATASET_VERSION,
        "parameters": params,
        "profile": _profile_dict(profile),
        "classes": list(THREAT_CLASSES),
        "category_id": "class id + 1",
        "bits_stored": get_profile(profile).bits_stored,
        "splits": counts,
        "files": files,
    }
    path = out / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return path


def _counts(images: list[dict[str, Any]], anns: list[dict[str, Any]]) -> dict[str, int]:
    c = {"images": len(images), "clean": sum(1 for im in images if im["clean"])}
    c["hidden"] = sum(1 for a in anns if a["iscrowd"])
    for i, name in enumerate(THREAT_CLASSES):
        c[name] = sum(1 for a in anns if a["category_id"] == i + 1 and not a["iscrowd"])
    for kind in NOVEL_KINDS:
        cid = novel_category(kind)[0]
        n = sum(1 for a in anns if a["category_id"] == cid and not a["iscrowd"])
        if n:
            c[f"novel/{kind}"] = n
    return c


def _profile_dict(name: str) -> dict[str, Any]:
    from dataclasses import asdict

    out: dict[str, Any] = _jsonable(asdict(get_profile(name)))
    return out
