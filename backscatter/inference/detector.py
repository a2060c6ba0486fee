"""The ONNX Runtime detector: ``Detector.load(model, provider)(scan) -> Detections``.

Model contract: input ``image`` float32 ``(B, 1, H, W)`` = :func:`preprocess.normalise` output
zero-padded at the bottom/right to the stride (or to the model's fixed H, W); outputs ``boxes``
``(B, K, 4)`` x0, y0, x1, y1 in input pixels, ``scores`` ``(B, K)``, ``labels`` ``(B, K)``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import onnxruntime as ort

from backscatter.detections import Detections
from backscatter.inference import providers
from backscatter.inference.models import ModelCard, ModelError, default_model_path, load_card
from backscatter.inference.preprocess import PreprocessSpec, normalise, normalise_lut
from backscatter.inference.tiling import Tile, inner_edge_flags, merge_tiles, tile_grid
from backscatter.scan import Scan

log = logging.getLogger(__name__)

INPUT = "image"
OUTPUTS = ("boxes", "scores", "labels")


@dataclass(frozen=True)
class TileOptions:
    """``mode`` "auto" tiles scans larger than ``size`` (default: the model's input size);
    "off" runs any scan whole (only for models with dynamic H, W). ``batch`` tiles go through
    the model per call; ``None`` means 8 on a GPU and 1 on CPU, where batches of one were
    measured fastest (bench/pipeline_speed.py: cache-sized work per call). ``overlap`` (px)
    is about a fifth of a 512 tile, the size of most threats in a van scan, so an object cut
    by one tile is whole in its neighbour."""

    mode: str = "auto"
    size: tuple[int, int] | None = None
    overlap: int = 96
    batch: int | None = None

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "off"):
            raise ValueError(f"tile: expected 'auto' or 'off', got {self.mode!r}")
        if self.batch is not None and self.batch < 1:
            raise ValueError(f"tile batch: expected >= 1, got {self.batch}")


def _meta_spec(card: ModelCard, meta: dict[str, str]) -> PreprocessSpec | None:
    if "preprocess" not in meta:
        return None
    try:
        return PreprocessSpec.from_json(meta["preprocess"])
    except (TypeError, KeyError, ValueError) as exc:
        raise ModelError(card.onnx_path, f"bad 'preprocess' metadata: {exc}") from exc


def _agreed_spec(card: ModelCard, meta: dict[str, str]) -> PreprocessSpec:
    """The card's preprocessing, which must agree with the ONNX metadata when both exist."""
    in_graph = _meta_spec(card, meta)
    if card.preprocess is not None and in_graph is not None and card.preprocess != in_graph:
        raise ModelError(
            card.onnx_path,
            f"card preprocess {card.preprocess} disagrees with the ONNX metadata {in_graph}",
        )
    spec = card.preprocess or in_graph
    if spec is None:
        raise ModelError(card.onnx_path, "no preprocessing spec in the card or the ONNX metadata")
    return spec


def _agreed_classes(card: ModelCard, meta: dict[str, str]) -> tuple[str, ...]:
    """The class list, from the card and/or the ONNX metadata (they must agree)."""
    in_graph: tuple[str, ...] | None = None
    if "classes" in meta:
        try:
            in_graph = tuple(str(c) for c in json.loads(meta["classes"]))
        except (TypeError, ValueError) as exc:
            raise ModelError(card.onnx_path, f"bad 'classes' metadata: {exc}") from exc
    if card.classes is not None and in_graph is not None and card.classes != in_graph:
        raise ModelError(
            card.onnx_path,
            f"card classes {card.classes} disagree with the ONNX metadata {in_graph}",
        )
    classes = card.classes or in_graph
    if not classes:
        raise ModelError(card.onnx_path, "no class list in the card or the ONNX metadata")
    return classes


class Detector:
    """A loaded model on one ONNX Runtime session; calling it is thread-safe."""

    def __init__(
        self,
        session: ort.InferenceSession,
        card: ModelCard,
        info: providers.SessionInfo,
        *,
        min_score: float = 0.05,
        tile: TileOptions | None = None,
    ) -> None:
        self.session = session
        self.card = card
        self.info = info
        self.min_score = float(min_score)
        self.tile = tile or TileOptions()
        meta = session.get_modelmeta().custom_metadata_map
        if card.path is None:  # no card: name and version come from the ONNX metadata
            card = dataclasses.replace(
                card,
                name=meta.get("model_name", card.name),
                version=meta.get("model_version", card.version),
            )
            self.card = card
        source = card.onnx_path
        names_in = [i.name for i in session.get_inputs()]
        names_out = [o.name for o in session.get_outputs()]
        if names_in != [INPUT] or any(n not in names_out for n in OUTPUTS):
            raise ModelError(
                source,
                f"expected input {INPUT!r} and outputs {OUTPUTS}, got {names_in} -> {names_out}",
            )
        self.spec: PreprocessSpec = _agreed_spec(card, meta)
        self.class_names: tuple[str, ...] = _agreed_classes(card, meta)
        shape = session.get_inputs()[0].shape
        self.fixed_batch: int | None = shape[0] if isinstance(shape[0], int) else None
        fixed = all(isinstance(v, int) for v in shape[2:4])
        self.fixed_hw: tuple[int, int] | None = (int(shape[2]), int(shape[3])) if fixed else None
        self.threshold = card.threshold if card.threshold is not None else 0.5
        self.model_id = card.model_id

    @classmethod
    def load(
        cls,
        model: str | os.PathLike[str] | None = None,
        provider: str | None = None,
        *,
        threads: int | None = None,
        min_score: float = 0.05,
        tile: TileOptions | None = None,
        spin: bool = False,
    ) -> Detector:
        """Load ``model`` (default :func:`default_model_path`) after checking its card's sha256."""
        card = load_card(model if model is not None else default_model_path())
        try:
            session, info = providers.create_session(
                card.onnx_path, provider=provider, threads=threads, spin=spin
            )
        except ValueError:
            raise
        except Exception as exc:  # onnxruntime raises its own types for a corrupt graph
            raise ModelError(card.onnx_path, f"ONNX Runtime cannot load it: {exc}") from exc
        return cls(session, card, info, min_score=min_score, tile=tile)

    @property
    def provider(self) -> str:
        """Short name of the provider that actually runs: "cpu", "cuda" or "tensorrt"."""
        return self.info.short

    # -- raw model calls -------------------------------------------------------------------
    def run_batch(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(B, 1, H, W)`` float32 -> boxes ``(B, K, 4)``, scores ``(B, K)``, labels ``(B, K)``."""
        if self.fixed_batch is not None and batch.shape[0] != self.fixed_batch:
            parts = [
                self._run(batch[i : i + self.fixed_batch])
                for i in range(0, batch.shape[0], self.fixed_batch)
            ]
            return tuple(np.concatenate(p, axis=0) for p in zip(*parts, strict=True))  # type: ignore[return-value]
        return self._run(batch)

    def _run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if self.info.on_gpu:
            binding = self.session.io_binding()
            binding.bind_cpu_input(INPUT, batch)
            for name in OUTPUTS:
                binding.bind_output(name, "cuda")
            self.session.run_with_iobinding(binding)
            b, s, lab = binding.copy_outputs_to_cpu()  # in binding order: OUTPUTS
        else:
            b, s, lab = self.session.run(list(OUTPUTS), {INPUT: batch})
        return np.asarray(b, np.float32), np.asarray(s, np.float32), np.asarray(lab, np.int64)

    # -- per scan ----------------------------------------------------------------------------
    def tiles_for(self, shape: tuple[int, int]) -> list[Tile]:
        rows, cols = shape
        size = self.fixed_hw or self.tile.size or self.spec.input_size
        if self.tile.mode == "off":
            if self.fixed_hw and (rows > size[0] or cols > size[1]):
                raise ValueError(
                    f"tile off: the model input is fixed at {size[0]}x{size[1]}, "
                    f"got a {rows}x{cols} scan (use tiling)"
                )
            return [Tile(0, 0, rows, cols)]
        return tile_grid(shape, tile=size, overlap=self.tile.overlap, stride=self.spec.stride)

    def _padded_shape(self, rows: int, cols: int) -> tuple[int, int]:
        if self.fixed_hw is not None:
            return self.fixed_hw
        s = self.spec.stride
        return (rows + (-rows) % s, cols + (-cols) % s)

    def __call__(self, scan: Scan) -> Detections:
        """Detections in scan pixel coordinates, score >= ``min_score``, best first.

        ``extras["timings_ms"]`` holds preprocess / infer / postprocess times.
        """
        t0 = time.perf_counter()
        px = scan.pixels
        lut = normalise_lut(px.dtype, bits_stored=scan.bits_stored, spec=self.spec)
        # uint8/16: normalise each tile straight into the batch through the table (one pass);
        # other dtypes: normalise the whole scan, then copy tiles
        image = (
            px if lut is not None else normalise(px, bits_stored=scan.bits_stored, spec=self.spec)
        )
        tiles = self.tiles_for(scan.shape)
        ph, pw = self._padded_shape(tiles[0].rows, tiles[0].cols)
        pre_ms = (time.perf_counter() - t0) * 1000
        infer_ms = post_ms = 0.0
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
        step = self.tile.batch or (8 if self.info.on_gpu else 1)
        for start in range(0, len(tiles), step):
            tp = time.perf_counter()
            group = tiles[start : start + step]
            batch = np.zeros((len(group), 1, ph, pw), np.float32)
            for k, t in enumerate(group):
                region = image[t.y0 : t.y0 + t.rows, t.x0 : t.x0 + t.cols]
                dest = batch[k, 0, : t.rows, : t.cols]
                if lut is not None:
                    np.take(lut, region, out=dest, mode="clip")
                else:
                    dest[...] = region
            ti = time.perf_counter()
            boxes, scores, labels = self.run_batch(batch)
            tq = time.perf_counter()
            for k, t in enumerate(group):
                parts.append(self._tile_dets(boxes[k], scores[k], labels[k], t, start + k, scan))
            pre_ms += (ti - tp) * 1000
            infer_ms += (tq - ti) * 1000
            post_ms += (time.perf_counter() - tq) * 1000
        t2 = time.perf_counter()
        cat = [np.concatenate(c) for c in zip(*parts, strict=True)]
        b, s, lab = merge_tiles(*cat)
        post_ms += (time.perf_counter() - t2) * 1000
        dets = Detections(
            boxes=b,
            scores=s,
            labels=lab,
            class_names=self.class_names,
            extras={
                "model_id": self.model_id,
                "provider": self.provider,
                "tiles": len(tiles),
                "timings_ms": {"preprocess": pre_ms, "infer": infer_ms, "postprocess": post_ms},
            },
        )
        return dets

    def _tile_dets(
        self,
        boxes: np.ndarray,
        scores: np.ndarray,
        labels: np.ndarray,
        tile: Tile,
        tile_id: int,
        scan: Scan,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        keep = scores >= self.min_score
        keep &= (labels >= 0) & (labels < len(self.class_names))
        b = boxes[keep].copy()
        np.clip(b[:, 0::2], 0, tile.cols, out=b[:, 0::2])
        np.clip(b[:, 1::2], 0, tile.rows, out=b[:, 1::2])
        ok = (b[:, 2] > b[:, 0]) & (b[:, 3] > b[:, 1])
        b = b[ok]
        b[:, 0::2] += tile.x0
        b[:, 1::2] += tile.y0
        s, lab = scores[keep][ok], labels[keep][ok]
        clipped = inner_edge_flags(b, tile, scan.shape)
        ids = np.full(len(s), tile_id, np.int64)
        return b, s, lab, ids, clipped

    def describe(self) -> dict[str, Any]:
        """What `detect --json` and logs report about the runtime."""
        return {
            "model_id": self.model_id,
            "model": str(self.card.onnx_path),
            "provider": self.provider,
            "provider_requested": self.info.requested,
            "available_providers": providers.available(),
            "threads": self.info.threads,
            "warnings": list(self.info.warnings),
            "classes": list(self.class_names),
            "input_size": list(self.fixed_hw or self.spec.input_size),
            "threshold": self.threshold,
        }
