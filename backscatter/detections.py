"""Column-array detection results passed between every stage.

Boxes are ``(N, 4)`` float32 as ``x0, y0, x1, y1`` in scan pixel coordinates (x = column,
y = row, x1/y1 exclusive edges), scores ``(N,)`` float32 in [0, 1], labels ``(N,)`` int64
indexing ``class_names``. Optional masks are ``(N, rows, cols)`` bool. Optional
``class_scores`` ``(N, C)`` float32 (C = ``len(class_names)``) hold, for a *flag* (one object,
see :mod:`backscatter.inference.flags`), the best score of every class found on that object;
``class_scores[i, labels[i]] == scores[i]`` and 0 means the class was not proposed there.
Filtering is one boolean mask: ``dets[dets.scores >= 0.5]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backscatter.classes import THREAT_CLASSES


@dataclass(frozen=True)
class Detections:
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...] = THREAT_CLASSES
    masks: np.ndarray | None = None
    #: ``(N, C)`` per-class scores of each object (flags only), else None
    class_scores: np.ndarray | None = None
    #: free per-result information (model id, provider, timings...), not per-box
    extras: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float32)
        if boxes.size == 0:
            boxes = boxes.reshape(0, 4)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"boxes: expected shape (N, 4), got {boxes.shape}")
        n = boxes.shape[0]
        scores = np.asarray(self.scores, dtype=np.float32).reshape(-1)
        labels = np.asarray(self.labels)
        if (
            labels.size
            and not np.issubdtype(labels.dtype, np.integer)
            and not np.all(np.equal(np.mod(labels, 1), 0))
        ):
            raise ValueError(f"labels: expected integer class ids, got {labels.dtype}")
        labels = labels.astype(np.int64).reshape(-1)
        if scores.shape != (n,):
            raise ValueError(f"scores: expected shape ({n},), got {scores.shape}")
        if labels.shape != (n,):
            raise ValueError(f"labels: expected shape ({n},), got {labels.shape}")
        if not np.all(np.isfinite(boxes)):
            raise ValueError("boxes: expected finite coordinates, got NaN or inf")
        if np.any(boxes[:, 2] < boxes[:, 0]) or np.any(boxes[:, 3] < boxes[:, 1]):
            raise ValueError("boxes: expected x1 >= x0 and y1 >= y0 for every box")
        if not np.all(np.isfinite(scores)):
            raise ValueError("scores: expected finite values, got NaN or inf")
        names = tuple(self.class_names)
        if n and (labels.min() < 0 or labels.max() >= len(names)):
            raise ValueError(
                f"labels: expected ids in 0..{len(names) - 1}, got {labels.min()}..{labels.max()}"
            )
        masks = self.masks
        if masks is not None:
            masks = np.asarray(masks).astype(bool, copy=False)
            if masks.ndim != 3 or masks.shape[0] != n:
                raise ValueError(f"masks: expected shape ({n}, rows, cols), got {masks.shape}")
        cs = self.class_scores
        if cs is not None:
            cs = np.asarray(cs, dtype=np.float32)
            if cs.size == 0:
                cs = cs.reshape(0, len(names))
            if cs.shape != (n, len(names)):
                raise ValueError(
                    f"class_scores: expected shape ({n}, {len(names)}), got {cs.shape}"
                )
            if not np.all(np.isfinite(cs)):
                raise ValueError("class_scores: expected finite values, got NaN or inf")
        object.__setattr__(self, "class_scores", cs)
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "labels", labels)
        object.__setattr__(self, "class_names", names)
        object.__setattr__(self, "masks", masks)

    @classmethod
    def empty(cls, class_names: Sequence[str] = THREAT_CLASSES) -> Detections:
        return cls(
            boxes=np.zeros((0, 4), np.float32),
            scores=np.zeros((0,), np.float32),
            labels=np.zeros((0,), np.int64),
            class_names=tuple(class_names),
        )

    def __len__(self) -> int:
        return int(self.boxes.shape[0])

    def __getitem__(self, index: np.ndarray | slice | Sequence[int] | int) -> Detections:
        """Select by boolean mask, index array, slice or a single index (kept as N=1)."""
        if isinstance(index, int | np.integer):
            index = [int(index)]
        return Detections(
            boxes=self.boxes[index],
            scores=self.scores[index],
            labels=self.labels[index],
            class_names=self.class_names,
            masks=None if self.masks is None else self.masks[index],
            class_scores=None if self.class_scores is None else self.class_scores[index],
            extras=dict(self.extras),
        )

    @property
    def label_names(self) -> list[str]:
        return [self.class_names[i] for i in self.labels]

    def above(self, threshold: float) -> Detections:
        """Detections whose score is at least ``threshold``."""
        return self[self.scores >= threshold]

    @classmethod
    def concatenate(cls, parts: Iterable[Detections]) -> Detections:
        items = list(parts)
        if not items:
            return cls.empty()
        names = items[0].class_names
        for d in items[1:]:
            if d.class_names != names:
                raise ValueError(f"class_names: expected {names}, got {d.class_names}")
        with_masks = [d.masks is not None for d in items]
        masks = None
        if all(with_masks) and items:
            masks = np.concatenate([d.masks for d in items if d.masks is not None], axis=0)
        class_scores = None
        if all(d.class_scores is not None for d in items):
            class_scores = np.concatenate(
                [d.class_scores for d in items if d.class_scores is not None], axis=0
            )
        return cls(
            boxes=np.concatenate([d.boxes for d in items], axis=0),
            scores=np.concatenate([d.scores for d in items]),
            labels=np.concatenate([d.labels for d in items]),
            class_names=names,
            masks=masks,
            class_scores=class_scores,
        )

    def alternatives(self, i: int) -> dict[str, float]:
        """The other classes proposed on object ``i``, ``{name: score}`` best first ({} if none)."""
        if self.class_scores is None:
            return {}
        row = self.class_scores[i]
        top = int(self.labels[i])
        order = np.argsort(-row, kind="stable")
        return {self.class_names[int(c)]: float(row[c]) for c in order if c != top and row[c] > 0}

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready list: ``{"label", "class_name", "score", "box": [x0, y0, x1, y1]}``,
        plus ``"alternatives": {class_name: score}`` (other classes on the object, best first)
        when the rows are flags."""
        out: list[dict[str, Any]] = []
        for i, (b, s, lab) in enumerate(zip(self.boxes, self.scores, self.labels, strict=True)):
            rec: dict[str, Any] = {
                "label": int(lab),
                "class_name": self.class_names[int(lab)],
                "score": float(s),
                "box": [float(v) for v in b],
            }
            if self.class_scores is not None:
                rec["alternatives"] = self.alternatives(i)
            out.append(rec)
        return out

    @classmethod
    def from_records(
        cls, records: Sequence[dict[str, Any]], class_names: Sequence[str] = THREAT_CLASSES
    ) -> Detections:
        """Inverse of :meth:`to_records`; ``class_name`` wins over ``label`` when both exist.

        Records carrying ``alternatives`` (all of them) give flags with ``class_scores``;
        alternative class names outside ``class_names`` are ignored (tolerant reading).
        """
        names = tuple(class_names)
        labels = []
        for r in records:
            if "class_name" in r:
                if r["class_name"] not in names:
                    got = r["class_name"]
                    raise ValueError(f"class_name: expected one of {names}, got {got!r}")
                labels.append(names.index(r["class_name"]))
            else:
                labels.append(int(r["label"]))
        scores = np.array([r["score"] for r in records], np.float32)
        class_scores = None
        if records and all(isinstance(r.get("alternatives"), dict) for r in records):
            class_scores = np.zeros((len(records), len(names)), np.float32)
            for i, r in enumerate(records):
                for name, value in r["alternatives"].items():
                    if name in names:
                        class_scores[i, names.index(name)] = float(value)
                class_scores[i, labels[i]] = scores[i]
        return cls(
            boxes=np.array([r["box"] for r in records], np.float32).reshape(-1, 4),
            scores=scores,
            labels=np.array(labels, np.int64),
            class_names=names,
            class_scores=class_scores,
        )
