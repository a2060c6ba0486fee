"""Fitting the anomaly model on clean scans: features -> Gaussian mixture -> calibration -> ONNX.

Clean inputs are folders/files of scans (any format ``open_scan`` reads) or COCO json files, of
which only the images without any annotation are taken. A share of the scans (``holdout``) is kept
out of the mixture fit and calibrates it: the median clean cell maps to 0 and the 99.9th
percentile to 1.0; the image threshold is the 95th percentile of held-out clean scan scores.
Needs ``onnx`` and ``scikit-learn`` (extra ``train``); no torch.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from backscatter.inference.preprocess import PreprocessSpec, normalise
from backscatter.training.anomaly_model import FEATURE_NAMES, STRIDE, Mixture, build_onnx

#: what the anomaly model expects (the card's ``preprocess``)
ANOMALY_SPEC = PreprocessSpec(input_size=(512, 512), stride=STRIDE, norm="robust")
SCAN_SUFFIXES = frozenset({".png", ".tif", ".tiff", ".dcm", ".raw", ".npy"})


class AnomalyFitError(ValueError):
    """Clean inputs unusable for a fit (none found, unreadable, no clean image in a COCO file)."""


@dataclass(frozen=True)
class FitOptions:
    components: int = 12
    cells_per_scan: int = 400
    holdout: float = 0.2
    seed: int = 0
    max_scans: int | None = None
    threads: int = 2
    #: only the COCO images of this ``scene_family`` (a model per scene family)
    family: str | None = None


@dataclass(frozen=True)
class CleanScan:
    path: Path
    family: str


def clean_scans(inputs: Sequence[str | os.PathLike[str]]) -> list[CleanScan]:
    """Every clean scan named by ``inputs`` (files, folders, COCO json), sorted, de-duplicated."""
    out: dict[Path, CleanScan] = {}
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise AnomalyFitError(f"{p}: no such file or directory")
        if p.suffix.lower() == ".json":
            for s in _coco_clean(p):
                out.setdefault(s.path, s)
        elif p.is_dir():
            for f in sorted(p.rglob("*")):
                if f.is_file() and f.suffix.lower() in SCAN_SUFFIXES and "masks" not in f.parts:
                    out.setdefault(f.resolve(), CleanScan(f.resolve(), "unknown"))
        else:
            out.setdefault(p.resolve(), CleanScan(p.resolve(), "unknown"))
    if not out:
        raise AnomalyFitError(f"no clean scans in {', '.join(str(i) for i in inputs)}")
    return sorted(out.values(), key=lambda s: str(s.path))


def _coco_clean(path: Path) -> Iterator[CleanScan]:
    try:
        data = json.loads(path.read_text())
        images, anns = data["images"], data["annotations"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise AnomalyFitError(f"{path}: not a readable COCO file ({exc})") from exc
    busy = {int(a["image_id"]) for a in anns}
    clean = [im for im in images if int(im["id"]) not in busy]
    if not clean:
        raise AnomalyFitError(f"{path}: no image without annotations (clean scans) in it")
    for im in clean:
        f = (path.parent / str(im["file_name"])).resolve()
        yield CleanScan(f, str(im.get("scene_family", "unknown")))


def load_normalised(path: Path) -> np.ndarray:
    """A scan file -> robust-normalised ``(rows, cols)`` float32, reflect-padded to 8."""
    from backscatter.acquisition import open_scan

    scan = open_scan(path)
    x = normalise(scan.pixels, bits_stored=scan.bits_stored, spec=ANOMALY_SPEC)
    pr, pc = (-x.shape[0]) % STRIDE, (-x.shape[1]) % STRIDE
    return np.pad(x, ((0, pr), (0, pc)), mode="reflect") if pr or pc else x


def _session(model: bytes, threads: int) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, threads)
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


def fit_mixture(samples: np.ndarray, *, components: int, seed: int) -> Mixture:
    """A full-covariance mixture on ``samples (n, C)`` (standardised for the fit, folded back)."""
    from sklearn.mixture import GaussianMixture

    gm, gs = samples.mean(axis=0), samples.std(axis=0) + 1e-6
    z = (samples - gm) / gs
    model = GaussianMixture(n_components=components, covariance_type="full", reg_covar=1e-3,
                            max_iter=200, random_state=seed, init_params="k-means++")  # fmt: skip
    model.fit(z)
    chol_z = model.precisions_cholesky_  # (K, C, C): P_k = L L^T in standardised units
    means = gm + gs * model.means_
    chol = chol_z / gs[None, :, None]  # (f - mu) @ diag(1/gs) @ L
    logdet_cov = -2.0 * np.log(np.diagonal(chol_z, axis1=1, axis2=2)).sum(axis=1)
    const = logdet_cov - 2.0 * np.log(model.weights_)
    return Mixture(means.astype(np.float64), chol.astype(np.float64), const.astype(np.float64))


def fit(
    inputs: Sequence[str | os.PathLike[str]],
    out: str | os.PathLike[str],
    *,
    options: FitOptions = FitOptions(),
    name: str | None = None,
    version: str = "1.0.0",
    progress: bool = False,
) -> dict[str, Any]:
    """Fit on the clean scans of ``inputs``, write ``out`` (.onnx) and its card; returns it."""
    t_start = time.perf_counter()
    scans = clean_scans(inputs)
    if options.family is not None:
        scans = [s for s in scans if s.family == options.family]
        if not scans:
            raise AnomalyFitError(f"no clean scan of family {options.family!r} in the inputs")
    rng = np.random.default_rng(options.seed)
    if options.max_scans is not None and len(scans) > options.max_scans:
        pick = np.sort(rng.choice(len(scans), options.max_scans, replace=False))
        scans = [scans[i] for i in pick]
    if len(scans) < 2:
        raise AnomalyFitError(f"expected at least 2 clean scans, got {len(scans)}")
    order = rng.permutation(len(scans))
    n_hold = max(1, int(round(options.holdout * len(scans))))
    held = [scans[i] for i in sorted(order[:n_hold])]
    train = [scans[i] for i in sorted(order[n_hold:])]
    feats_sess = _session(build_onnx(None), options.threads)
    samples, skipped = [], []
    it: Any = train
    if progress:
        from tqdm import tqdm

        it = tqdm(train, desc="anomaly fit", unit="scan")
    for s in it:
        try:
            x = load_normalised(s.path)
        except (ValueError, OSError) as exc:
            skipped.append(f"{s.path}: {exc}")
            continue
        f = feats_sess.run(["features"], {"image": x[None, None]})[0][0]
        cells = f.reshape(f.shape[0], -1).T
        k = min(options.cells_per_scan, cells.shape[0])
        samples.append(cells[rng.choice(cells.shape[0], k, replace=False)])
    if not samples:
        raise AnomalyFitError("no clean scan could be read: " + "; ".join(skipped[:3]))
    data = np.concatenate(samples).astype(np.float64)
    t_feat = time.perf_counter()
    mixture = fit_mixture(data, components=options.components, seed=options.seed)
    t_gmm = time.perf_counter()
    raw_sess = _session(build_onnx(mixture), options.threads)
    cells_held, scores_held = [], []
    for s in held:
        try:
            x = load_normalised(s.path)
        except (ValueError, OSError) as exc:
            skipped.append(f"{s.path}: {exc}")
            continue
        m = raw_sess.run(["anomaly_map"], {"image": x[None, None]})[0][0, 0]
        cells_held.append(m.reshape(-1))
        scores_held.append(float(m.max()))
    if not cells_held:
        raise AnomalyFitError("no held-out clean scan could be read for the calibration")
    allc = np.concatenate(cells_held)
    offset = float(np.median(allc))
    scale = float(max(np.quantile(allc, 0.999) - offset, 1e-6))
    mixture = Mixture(mixture.means, mixture.chol, mixture.const, offset=offset, scale=scale)
    image_thr = float((np.quantile(scores_held, 0.95) - offset) / scale)
    out_path = Path(out)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    model_name = name or out_path.stem
    meta = {"model_name": model_name, "model_version": version, "task": "anomaly",
            "preprocess": ANOMALY_SPEC.to_json()}  # fmt: skip
    out_path.write_bytes(build_onnx(mixture, metadata=meta))
    fitted = {
        "inputs": [str(i) for i in inputs],
        "n_scans": len(train),
        "n_holdout": len(held),
        "n_cells": int(data.shape[0]),
        "families": dict(Counter(s.family for s in train)),
        "skipped": skipped,
        "options": asdict(options),
        "seconds": {
            "features": round(t_feat - t_start, 1),
            "mixture": round(t_gmm - t_feat, 1),
            "total": round(time.perf_counter() - t_start, 1),
        },
    }
    card = write_card(out_path, mixture=mixture, image_threshold=image_thr, fitted=fitted)
    return card


def write_card(
    onnx_path: Path,
    *,
    mixture: Mixture,
    image_threshold: float,
    fitted: dict[str, Any],
    metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """``NAME.json`` + ``NAME.md`` beside ``onnx_path``."""
    from backscatter.training.card import sha256_file

    card = {
        "file": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "model_name": onnx_path.stem,
        "model_version": "1.0.0",
        "task": "anomaly",
        "default": False,
        "method": "multi-scale local statistics (stride 8) + full-covariance Gaussian mixture "
        "(position-free, min Mahalanobis over components), fitted on clean scans",
        "features": list(FEATURE_NAMES),
        "components": int(mixture.means.shape[0]),
        "preprocess": json.loads(ANOMALY_SPEC.to_json()),
        "calibration": {
            "offset": mixture.offset,
            "scale": mixture.scale,
            "unit": "1.0 = 99.9th percentile of held-out clean cells",
        },  # fmt: skip
        "region_threshold": 1.0,
        "image_threshold": round(image_threshold, 4),
        "min_region_px": 256,
        "opset": 17,
        "inputs": {"image": "float32 (1, 1, H, W) robust-normalised, H and W multiples of 8"},
        "outputs": {
            "anomaly_map": "float32 (1, 1, H/8, W/8) calibrated anomaly units",
            "score": "float32 (1,) the map's maximum",
        },
        "fitted_on": fitted,
        "metrics": metrics,
    }
    save_card(onnx_path, card)
    return card


def save_card(onnx_path: Path, card: dict[str, Any]) -> None:
    onnx_path.with_suffix(".json").write_text(json.dumps(card, indent=2, sort_keys=False) + "\n")
    onnx_path.with_suffix(".md").write_text(card_markdown(card))


def card_markdown(card: dict[str, Any]) -> str:
    fit = card.get("fitted_on") or {}
    lines = [
        f"# {card['model_name']} {card['model_version']} (anomaly map)",
        "",
        f"- file: `{card['file']}`, sha256 `{card['sha256']}`",
        f"- method: {card['method']}; {card['components']} components, "
        f"{len(card['features'])} features",
        f"- fitted on {fit.get('n_scans')} clean scans ({fit.get('n_cells')} cells), calibrated "
        f"on {fit.get('n_holdout')} held out; families {fit.get('families')}",
        f"- inputs: {', '.join(fit.get('inputs', []))}",
        f"- region threshold {card['region_threshold']}, image threshold "
        f"{card['image_threshold']}, regions >= {card['min_region_px']} px",
        "",
        "## Metrics",
        "",
    ]
    metrics = card.get("metrics")
    if not metrics:
        lines.append("not evaluated (run `backscatter anomaly eval --update-card`)")
    else:
        for key in ("data", "image_auroc", "pixel_aupro", "pd_novel_at_0.3_fapi"):
            if key in metrics:
                lines.append(f"- {key}: {metrics[key]}")
        for fam, row in (metrics.get("per_family") or {}).items():
            lines.append(f"- {fam}: {row}")
    return "\n".join(lines) + "\n"
