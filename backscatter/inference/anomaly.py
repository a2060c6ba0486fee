"""The anomaly map: a second, unsupervised opinion fitted on clean scans (``anomaly fit``).

An anomaly model is ``models/NAME-anomaly.onnx`` with its card ``NAME-anomaly.json`` (``"task":
"anomaly"``; sha256 checked like a detector's). Its input is the scan normalised by its *own*
robust range (:func:`~backscatter.inference.preprocess.normalise`, ``norm="robust"``: a device's
gain and offset do not matter), padded to a multiple of its stride (8: the card's
``preprocess.stride``); its output a map at 1/8 resolution in calibrated units: 1.0 is the fit's
clean pixel threshold (the 99.9th percentile of clean cells), 0 the clean median. The runtime
cuts regions on that map (connected cells above the card's ``region_threshold``, at least
``min_region_px`` pixels) and upsamples map and regions to the scan's pixels.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort

from backscatter.inference import providers
from backscatter.inference.models import ModelCard, ModelError, load_card
from backscatter.inference.preprocess import PreprocessSpec, normalise
from backscatter.scan import Scan

TASK = "anomaly"
STRIDE = 8
#: a region is flagged with probability ``clip(0.5 * peak / region_threshold, 0, 1)``: 0.5 at the
#: threshold, 1.0 at twice it
DEFAULT_REGION_THRESHOLD = 1.0
DEFAULT_MIN_REGION_PX = 256
#: the display range of the map: no tint below HEAT_LOW, full tint from HEAT_HIGH
HEAT_LOW, HEAT_HIGH = 0.5, 3.0


@dataclass(frozen=True)
class AnomalyResult:
    """One scan's anomaly opinion. ``map`` (rows, cols) float32 calibrated units; ``boxes``
    (N, 4) x0, y0, x1, y1 px (x1/y1 exclusive); ``peaks`` (N,) the map's maximum in each region;
    ``labels`` (rows, cols) int32, region k+1 where box k is, 0 elsewhere."""

    map: np.ndarray
    score: float
    boxes: np.ndarray
    peaks: np.ndarray
    labels: np.ndarray
    threshold: float
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.map.ndim != 2 or self.labels.shape != self.map.shape:
            raise ValueError(
                f"anomaly: expected map and labels of one (rows, cols) shape, got "
                f"{self.map.shape} and {self.labels.shape}"
            )
        if self.boxes.shape != (len(self.peaks), 4):
            raise ValueError(f"anomaly: expected boxes (N, 4), got {self.boxes.shape}")

    def probabilities(self) -> np.ndarray:
        """Per region, ``clip(0.5 * peak / threshold, 0, 1)`` (the TDR's probability)."""
        return np.clip(0.5 * self.peaks / max(self.threshold, 1e-6), 0.0, 1.0).astype(np.float32)

    def heat(self) -> np.ndarray:
        """The map in [0, 1] for display: ``(map - HEAT_LOW) / (HEAT_HIGH - HEAT_LOW)``."""
        return np.clip((self.map - HEAT_LOW) / (HEAT_HIGH - HEAT_LOW), 0.0, 1.0).astype(np.float32)

    def mask(self, k: int) -> np.ndarray:
        """Region ``k``'s pixels, (rows, cols) bool."""
        return self.labels == k + 1


def upsample(small: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """A 1/8-resolution map -> ``shape`` (rows, cols) scan pixels (bilinear, pixel centres)."""
    big = cv2.resize(small, (small.shape[1] * STRIDE, small.shape[0] * STRIDE),
                     interpolation=cv2.INTER_LINEAR)  # fmt: skip
    return np.ascontiguousarray(big[: shape[0], : shape[1]])


def regions(
    amap: np.ndarray, *, threshold: float, min_px: int = DEFAULT_MIN_REGION_PX
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Connected parts of ``amap`` (rows, cols) >= ``threshold`` with >= ``min_px`` pixels.

    Returns ``(boxes (N, 4) float32, peaks (N,) float32, labels (rows, cols) int32)``, strongest
    region first."""
    hot = (amap >= threshold).astype(np.uint8)
    n, lab, stats, _ = cv2.connectedComponentsWithStats(hot, connectivity=8)
    keep = [k for k in range(1, n) if stats[k, cv2.CC_STAT_AREA] >= min_px]
    peaks = np.array([float(amap[lab == k].max()) for k in keep], np.float32)
    order = np.argsort(-peaks, kind="stable")
    keep = [keep[i] for i in order]
    boxes = np.array(
        [
            [
                stats[k, cv2.CC_STAT_LEFT],
                stats[k, cv2.CC_STAT_TOP],
                stats[k, cv2.CC_STAT_LEFT] + stats[k, cv2.CC_STAT_WIDTH],
                stats[k, cv2.CC_STAT_TOP] + stats[k, cv2.CC_STAT_HEIGHT],
            ]
            for k in keep
        ],
        np.float32,
    ).reshape(-1, 4)
    relabel = np.zeros(n, np.int32)
    for new, k in enumerate(keep, start=1):
        relabel[k] = new
    return boxes, peaks[order], relabel[lab]


def box_hits(flags: np.ndarray, objects: np.ndarray, *, iou: float = 0.1) -> np.ndarray:
    """``(F, O)`` bool: flag f points at object o when their IoU >= ``iou`` or their
    intersection is at least half of the smaller box (a tight region inside a large carton
    stack, or a box around a small bar). Boxes ``x0, y0, x1, y1``."""
    f = np.asarray(flags, np.float64).reshape(-1, 4)
    o = np.asarray(objects, np.float64).reshape(-1, 4)
    if f.size == 0 or o.size == 0:
        return np.zeros((f.shape[0], o.shape[0]), bool)
    ix = np.clip(
        np.minimum(f[:, None, 2], o[None, :, 2]) - np.maximum(f[:, None, 0], o[None, :, 0]), 0, None
    )
    iy = np.clip(
        np.minimum(f[:, None, 3], o[None, :, 3]) - np.maximum(f[:, None, 1], o[None, :, 1]), 0, None
    )
    inter = ix * iy
    af = ((f[:, 2] - f[:, 0]) * (f[:, 3] - f[:, 1]))[:, None]
    ao = ((o[:, 2] - o[:, 0]) * (o[:, 3] - o[:, 1]))[None, :]
    union = af + ao - inter
    return (inter >= iou * np.maximum(union, 1e-9)) | (inter >= 0.5 * np.minimum(af, ao))


def scan_regions(
    small: np.ndarray, shape: tuple[int, ...], *, threshold: float, min_px: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`regions` cut on the 1/8-resolution map, returned in scan pixels ``shape``
    (rows, cols): boxes scaled and clipped, labels repeated over each cell's 8 x 8 pixels."""
    rows, cols = int(shape[0]), int(shape[1])
    cells = max(1, -(-int(min_px) // (STRIDE * STRIDE)))
    boxes, peaks, lab = regions(small, threshold=threshold, min_px=cells)
    boxes = boxes * np.float32(STRIDE)
    np.minimum(boxes, np.array([cols, rows, cols, rows], np.float32), out=boxes)
    labels = np.repeat(np.repeat(lab, STRIDE, axis=0), STRIDE, axis=1)[:rows, :cols]
    return boxes, peaks, np.ascontiguousarray(labels)


class AnomalyModel:
    """An anomaly ONNX model with its card, on ONNX Runtime (CPU or the provider asked for)."""

    def __init__(self, session: ort.InferenceSession, card: ModelCard, provider: str) -> None:
        self.session = session
        self.card = card
        self.provider = provider
        raw = card.raw
        if card.path is not None and raw.get("task") != TASK:
            raise ModelError(card.path, f"card: expected \"task\": \"{TASK}\", got "
                             f"{raw.get('task')!r} (is this a detector?)")  # fmt: skip
        names = [o.name for o in session.get_outputs()]
        if [i.name for i in session.get_inputs()] != ["image"] or "anomaly_map" not in names:
            raise ModelError(card.onnx_path, f"expected input 'image' and output 'anomaly_map', "
                             f"got {names}")  # fmt: skip
        self.spec = card.preprocess or PreprocessSpec(norm="robust", stride=STRIDE)
        if self.spec.norm != "robust" or self.spec.stride != STRIDE:
            raise ModelError(card.onnx_path, f"expected robust normalisation at stride {STRIDE}, "
                             f"got {self.spec.norm} at {self.spec.stride}")  # fmt: skip
        self.region_threshold = float(raw.get("region_threshold", DEFAULT_REGION_THRESHOLD))
        self.image_threshold = float(raw.get("image_threshold", DEFAULT_REGION_THRESHOLD))
        self.min_region_px = int(raw.get("min_region_px", DEFAULT_MIN_REGION_PX))
        self.model_id = card.model_id

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str],
        *,
        provider: str | None = None,
        threads: int | None = None,
    ) -> AnomalyModel:
        """Load ``model`` (an .onnx or its card .json) after checking the card's sha256."""
        card = load_card(model)
        try:
            session, info = providers.create_session(
                card.onnx_path, provider=provider, threads=threads
            )
        except ValueError:
            raise
        except Exception as exc:  # onnxruntime raises its own types for a corrupt graph
            raise ModelError(card.onnx_path, f"ONNX Runtime cannot load it: {exc}") from exc
        return cls(session, card, info.short)

    def input_for(self, pixels: np.ndarray, *, bits_stored: int) -> np.ndarray:
        """``(rows, cols)`` native pixels -> ``(1, 1, H, W)`` normalised, reflect-padded to 8."""
        x = normalise(pixels, bits_stored=bits_stored, spec=self.spec)
        rows, cols = x.shape
        pr, pc = (-rows) % STRIDE, (-cols) % STRIDE
        if pr or pc:
            x = np.pad(x, ((0, pr), (0, pc)), mode="reflect" if min(rows, cols) > 4 else "edge")
        return np.ascontiguousarray(x[None, None], dtype=np.float32)

    def raw_map(self, pixels: np.ndarray, *, bits_stored: int) -> np.ndarray:
        """The model's own map at 1/8 resolution, ``(ceil(rows/8), ceil(cols/8))`` float32."""
        out = self.session.run(
            ["anomaly_map"], {"image": self.input_for(pixels, bits_stored=bits_stored)}
        )
        return np.asarray(out[0][0, 0], np.float32)

    def __call__(self, scan: Scan | np.ndarray, *, bits_stored: int | None = None) -> AnomalyResult:
        """The map at the scan's pixels and its regions. A bare array needs ``bits_stored``
        only for the record (robust normalisation does not use it)."""
        t0 = time.perf_counter()
        if isinstance(scan, Scan):
            pixels, bits = scan.pixels, scan.bits_stored
        else:
            pixels, bits = np.asarray(scan), int(bits_stored or 16)
        if pixels.ndim != 2 or min(pixels.shape) < 1:
            raise ValueError(f"anomaly: expected a (rows, cols) scan, got shape {pixels.shape}")
        small = self.raw_map(pixels, bits_stored=bits)
        t1 = time.perf_counter()
        full = upsample(small, pixels.shape)
        boxes, peaks, labels = scan_regions(
            small, pixels.shape, threshold=self.region_threshold, min_px=self.min_region_px
        )
        t2 = time.perf_counter()
        return AnomalyResult(
            map=full,
            score=float(small.max()),
            boxes=boxes,
            peaks=peaks,
            labels=labels,
            threshold=self.region_threshold,
            timings_ms={"anomaly": (t1 - t0) * 1000, "anomaly_regions": (t2 - t1) * 1000},
        )

    def describe(self) -> dict[str, Any]:
        return {
            "anomaly_model_id": self.model_id,
            "anomaly_provider": self.provider,
            "region_threshold": self.region_threshold,
        }


def find_anomaly_model(path: str | os.PathLike[str]) -> Path:
    """``path`` as given, or a shipped model ``models/anomaly/NAME[.onnx]`` (or ``models/NAME``)
    when only a name is given."""
    p = Path(path)
    if p.exists():
        return p
    from backscatter.inference.models import ModelNotFoundError, models_dir

    roots = (models_dir() / "anomaly", models_dir())
    for cand in [r / n for r in roots for n in (p.name, f"{p.name}.onnx")]:
        if cand.exists():
            return cand
    raise ModelNotFoundError(p, "anomaly model not found (expected an .onnx or its card .json)")
