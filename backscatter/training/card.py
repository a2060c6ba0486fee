"""Model cards: ``models/NAME.json`` (machine-readable) and ``models/NAME.md`` beside the ONNX.

The JSON keys the runtime reads are ``file``, ``sha256``, ``classes``, ``preprocess``,
``threshold`` (score at 0.1 false alarms per image on the test split) and ``default``.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import onnx


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build_card(
    onnx_path: Path,
    *,
    report: dict[str, Any] | None = None,
    training: dict[str, Any] | None = None,
    latency: dict[str, Any] | None = None,
    notes: str = "",
    default: bool = True,
) -> dict[str, Any]:
    model = onnx.load(str(onnx_path), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    threshold = None
    if report:
        threshold = (report.get("threshold_at_fapi") or {}).get("0.1")
    metrics = None
    if report:
        keep = ("map50", "map", "per_class", "pd_at_fapi", "threshold_at_fapi", "image_auroc")
        metrics = {k: report.get(k) for k in (*keep, "n_images", "n_objects", "data")}
        for extra in ("per_group", "confusion_matrix"):
            if extra in report:
                metrics[extra] = report[extra]
    return {
        "file": onnx_path.name,
        "sha256": sha256_file(onnx_path),
        "model_name": meta.get("model_name", onnx_path.stem),
        "model_version": meta.get("model_version", "0"),
        "default": default,
        "classes": json.loads(meta.get("classes", "[]")),
        "preprocess": json.loads(meta.get("preprocess", "{}")),
        "threshold": threshold,
        "opset": max(
            (o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=0
        ),
        "inputs": {"image": "float32 (B, 1, H, W), H and W multiples of the stride"},
        "outputs": {
            "boxes": "float32 (B, K, 4) x0, y0, x1, y1 input pixels",
            "scores": "float32 (B, K) sorted descending",
            "labels": "int64 (B, K)",
        },
        "train_config_sha256": meta.get("train_config_sha256", ""),
        "dataset_manifest_sha256": meta.get("dataset_manifest_sha256", ""),
        "metrics": metrics,
        "training": training,
        "latency": latency,
        "notes": notes,
    }


def _fmt(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, float) else str(v)


def render_markdown(card: dict[str, Any]) -> str:
    lines = [
        f"# {card['model_name']} {card['model_version']}",
        "",
        f"File `{card['file']}`, sha256 `{card['sha256']}`, ONNX opset {card['opset']}.",
        f"Classes: {', '.join(card['classes'])}.",
        f"Preprocess: `{json.dumps(card['preprocess'], sort_keys=True)}`.",
        f"Default alarm threshold (0.1 false alarms per image on the test split): "
        f"{_fmt(card['threshold'])}.",
        "",
    ]
    m = card.get("metrics")
    if m:
        lines += [
            "## Test metrics",
            "",
            f"Split: `{m.get('data')}` ({m.get('n_images')} images, {m.get('n_objects')} objects).",
            "",
            "| metric | value |",
            "|---|---|",
            f"| map50 | {_fmt(m['map50'])} |",
            f"| map (0.5:0.95) | {_fmt(m['map'])} |",
        ]
        for k, v in (m.get("pd_at_fapi") or {}).items():
            lines.append(f"| Pd at {k} FA/image | {_fmt(v)} |")
        lines.append(f"| image AUROC | {_fmt(m['image_auroc'])} |")
        lines += ["", "AP50 per class:", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in (m.get("per_class") or {}).items()]
        groups = m.get("per_group")
        if groups:
            lines += ["", f"Per {groups['key']} at the default threshold:", ""]
            for k, v in groups.items():
                if isinstance(v, dict):
                    lines.append(
                        f"- {k}: Pd {_fmt(v['pd'])}, false alarms/image {_fmt(v['fapi'])} "
                        f"({v['n_images']} images)"
                    )
        lines.append("")
    t = card.get("training")
    if t:
        lines += ["## Training", ""]
        for k, v in t.items():
            if k not in ("config", "stages", "command"):
                lines.append(f"- {k}: {_fmt(v)}")
        for i, stage in enumerate(t.get("stages") or [], start=1):
            lines.append(
                f"- stage {i}: `{stage['command']}` ({stage['epochs']} epochs, "
                f"{stage['wall_time_s'] / 60:.1f} min)"
            )
        if not t.get("stages") and t.get("command"):
            lines.append(f"- command: `{t['command']}`")
        lines.append("")
    lat = card.get("latency")
    if lat:
        lines += ["## Latency", ""]
        lines += [f"- {k}: {_fmt(v)}" for k, v in lat.items()]
        lines.append("")
    if card.get("notes"):
        lines += ["## Notes", "", card["notes"], ""]
    return "\n".join(lines)


def write_card(onnx_path: str | Path, **kwargs: Any) -> tuple[Path, Path]:
    """Write ``NAME.json`` and ``NAME.md`` beside ``onnx_path``; returns both paths."""
    onnx_path = Path(onnx_path)
    card = build_card(onnx_path, **kwargs)
    jpath, mpath = onnx_path.with_suffix(".json"), onnx_path.with_suffix(".md")
    jpath.write_text(json.dumps(card, indent=2) + "\n")
    mpath.write_text(render_markdown(card))
    return jpath, mpath
