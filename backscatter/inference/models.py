"""Finding shipped models and checking them against their cards.

A model is ``models/NAME.onnx`` with a machine-readable card ``models/NAME.json`` beside it
(keys used here: ``file``, ``sha256``, ``classes``, ``preprocess``; optional ``threshold``,
``default``). The runtime refuses an ONNX file whose sha256 differs from the card's.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backscatter.inference.preprocess import PreprocessSpec

log = logging.getLogger(__name__)

#: environment variable naming the default model (an .onnx or its card .json)
MODEL_ENV = "BACKSCATTER_MODEL"


class ModelError(ValueError):
    """A model file or card is unusable (bad card, wrong contents, wrong outputs)."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class ModelIntegrityError(ModelError):
    """The ONNX file's sha256 does not match the one its card records."""


class ModelNotFoundError(OSError):
    """No model at the given path, or no shipped model at all."""

    def __init__(self, source: str | os.PathLike[str], reason: str) -> None:
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


@dataclass(frozen=True)
class ModelCard:
    """The parts of a model card the runtime needs; ``raw`` keeps the whole JSON."""

    path: Path | None
    onnx_path: Path
    sha256: str | None
    name: str
    version: str
    classes: tuple[str, ...] | None
    preprocess: PreprocessSpec | None
    threshold: float | None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def model_id(self) -> str:
        """``name:version:sha256[:12]``: what results, TDRs and audit rows carry."""
        digest = (self.sha256 or "unverified")[:12]
        return f"{self.name}:{self.version}:{digest}"


def models_dir() -> Path:
    """``models/`` beside the package (a source checkout or editable install)."""
    return Path(__file__).resolve().parents[2] / "models"


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def default_model_path() -> Path:
    """The model every detecting command uses unless told otherwise.

    Order: ``$BACKSCATTER_MODEL``; else the card in ``models/`` marked ``"default": true``;
    else the only card there; else the last card by name (anomaly maps' cards, ``"task":
    "anomaly"``, are never taken). Raises ModelNotFoundError.
    """
    env = os.environ.get(MODEL_ENV)
    if env:
        p = Path(env)
        if not p.exists():
            raise ModelNotFoundError(p, f"${MODEL_ENV} names a file that does not exist")
        return p
    root = models_dir()
    cards = sorted(
        p for p in root.glob("*.json") if p.with_suffix(".onnx").exists() and not _is_anomaly(p)
    )
    if not cards:
        onnx = sorted(root.glob("*.onnx"))
        if onnx:
            return onnx[-1]
        raise ModelNotFoundError(root, "no shipped model (expected models/NAME.onnx + NAME.json)")
    for card in cards:
        try:
            if json.loads(card.read_text()).get("default") is True:
                return card.with_suffix(".onnx")
        except (OSError, ValueError):
            continue
    return cards[-1].with_suffix(".onnx")


def _is_anomaly(card: Path) -> bool:
    """An anomaly map's card (``"task": "anomaly"``): never a detector default."""
    try:
        return json.loads(card.read_text()).get("task") == "anomaly"
    except (OSError, ValueError, AttributeError):
        return False


def _card_path_for(onnx_path: Path) -> Path:
    return onnx_path.with_suffix(".json")


def load_card(model: str | os.PathLike[str]) -> ModelCard:
    """Read the card for ``model`` (an .onnx or a .json card) and verify the file's sha256.

    A model without a card loads with a warning (its ONNX metadata then rules); a card whose
    sha256 disagrees with the file raises ModelIntegrityError.
    """
    p = Path(model)
    if p.suffix.lower() == ".json":
        card_path: Path | None = p
        if not p.is_file():
            raise ModelNotFoundError(p, "model card not found")
        raw = _read_json(p)
        onnx_path = p.parent / str(raw.get("file") or p.with_suffix(".onnx").name)
    else:
        onnx_path = p
        card_path = _card_path_for(p)
        raw = _read_json(card_path) if card_path.is_file() else {}
        if not raw:
            card_path = None
    if not onnx_path.is_file():
        what = "a directory" if onnx_path.is_dir() else "not found"
        raise ModelNotFoundError(onnx_path, f"model file {what}")
    digest = sha256_file(onnx_path)
    expected = raw.get("sha256")
    if card_path is not None:
        if not isinstance(expected, str) or len(expected) != 64:
            raise ModelError(card_path, f"card: expected a 64-hex 'sha256', got {expected!r}")
        if expected.lower() != digest:
            raise ModelIntegrityError(
                onnx_path,
                f"sha256 {digest[:16]}... does not match the card {card_path.name} "
                f"({expected[:16]}...); refusing a modified or wrong model file",
            )
    else:
        log.warning("%s: no model card beside it; sha256 not verified", onnx_path)
    classes = raw.get("classes")
    pre = raw.get("preprocess")
    try:
        spec = PreprocessSpec.from_json(pre) if pre else None
    except (TypeError, KeyError, ValueError) as exc:
        raise ModelError(card_path or onnx_path, f"card: bad 'preprocess': {exc}") from exc
    thr = raw.get("threshold")
    return ModelCard(
        path=card_path,
        onnx_path=onnx_path,
        sha256=digest,
        name=str(raw.get("model_name") or raw.get("name") or onnx_path.stem),
        version=str(raw.get("model_version") or raw.get("version") or "0"),
        classes=tuple(str(c) for c in classes) if classes else None,
        preprocess=spec,
        threshold=float(thr) if isinstance(thr, int | float) else None,
        raw=raw,
    )


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelError(path, f"model card is not readable JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ModelError(path, f"model card: expected a JSON object, got {type(data).__name__}")
    return data
