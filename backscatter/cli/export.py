"""``backscatter export CHECKPOINT --out models/NAME.onnx``: ONNX export + model card."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = "export a training checkpoint to ONNX (checked against PyTorch) and write its model card"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="training checkpoint (.pt)")
    parser.add_argument("--out", required=True, help="output .onnx path")
    parser.add_argument("--name", help="model name (default: the file stem)")
    parser.add_argument("--version", help="model version (default: from the config)")
    parser.add_argument("--report", help="report.json from `backscatter eval` for the card")
    parser.add_argument("--latency", help="JSON from bench/latency.py --json for the card")
    parser.add_argument("--notes", help="markdown file with notes for the card")
    parser.add_argument("--parity-images", type=int, default=4, help="fresh scans to check")
    parser.add_argument("--no-card", action="store_true", help="write only the .onnx")
    parser.add_argument(
        "--card-only",
        action="store_true",
        help="keep the existing --out .onnx and (re)write its card (e.g. after `eval`)",
    )


def _read_json(path: str | None) -> dict[str, Any] | None:
    if not path:
        return None
    try:
        data = json.loads(Path(path).read_text())
    except OSError as exc:
        raise OSError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def training_info(checkpoint: Path) -> dict[str, Any]:
    """Commands, epochs and wall time of the run, following ``init_weights`` back through
    earlier stages (each stage's ``command.txt`` sits beside its checkpoints)."""
    from backscatter.training.checkpoint import load_checkpoint

    stages: list[dict[str, Any]] = []
    path: Path | None = checkpoint
    while path is not None and path.is_file() and len(stages) < 10:
        if path.suffix.lower() == ".onnx":  # a stage started from an export: its card has the rest
            stages.extend(reversed(_card_stages(path)))
            break
        ckpt = load_checkpoint(path)
        cmd_file = path.parent / "command.txt"
        commands = cmd_file.read_text().strip().splitlines() if cmd_file.is_file() else []
        stages.append(
            {
                "checkpoint": str(path),
                "command": " && ".join(dict.fromkeys(commands)) or None,
                "epochs": ckpt.epoch,
                "wall_time_s": round(ckpt.wall_time_s, 1),
                "config_sha256": ckpt.config.sha256(),
            }
        )
        path = Path(ckpt.config.init_weights) if ckpt.config.init_weights else None
    stages.reverse()
    final = load_checkpoint(checkpoint)
    wall = sum(s["wall_time_s"] for s in stages)
    return {
        "command": " ; then ".join(str(s["command"]) for s in stages),
        "epochs": sum(s["epochs"] for s in stages),
        "wall_time_s": round(wall, 1),
        "wall_time_min": round(wall / 60, 1),
        "threads": final.config.threads,
        "stages": stages,
        "config_sha256": final.config.sha256(),
        "config": final.config.to_dict(),
    }


def _card_stages(onnx_path: Path) -> list[dict[str, Any]]:
    """Training stages recorded in the model card beside an ONNX file (none if no card)."""
    from backscatter.inference.models import sha256_file

    card = onnx_path.with_suffix(".json")
    try:
        data = json.loads(card.read_text())
        stages = [s for s in data["training"]["stages"] if isinstance(s, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return []
    if stages:
        stages[-1] = {
            **stages[-1],
            "exported_as": str(onnx_path),
            "onnx_sha256": data.get("sha256"),
        }
        if data.get("sha256") and sha256_file(onnx_path) != data.get("sha256"):
            stages[-1]["note"] = "the ONNX file no longer matches this card"
    return stages


def run(args: argparse.Namespace) -> int:
    from backscatter.training.card import write_card
    from backscatter.training.export import export_onnx

    report = _read_json(args.report)
    latency = _read_json(args.latency)
    notes = Path(args.notes).read_text() if args.notes else ""
    out = Path(args.out)
    # read before exporting: the run may have started from the very file --out replaces
    training = None if args.no_card else training_info(Path(args.checkpoint))
    if args.card_only:
        if not out.is_file():
            raise FileNotFoundError(f"{out}: --card-only needs an existing .onnx")
    else:
        res = export_onnx(
            args.checkpoint,
            out,
            name=args.name,
            version=args.version,
            parity_images=args.parity_images,
        )
        print(f"wrote {res.path} (parity checked on {res.parity_images} unseen scans)")
    if not args.no_card:
        j, m = write_card(
            out,
            report=report,
            training=training,
            latency=latency,
            notes=notes,
        )
        print(f"wrote {j} and {m}")
    return 0
