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
    from backscatter.training.checkpoint import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    cmd_file = checkpoint.parent / "command.txt"
    commands = cmd_file.read_text().strip().splitlines() if cmd_file.is_file() else []
    return {
        "command": " && ".join(dict.fromkeys(commands)) or None,
        "epochs": ckpt.epoch,
        "wall_time_s": round(ckpt.wall_time_s, 1),
        "wall_time_min": round(ckpt.wall_time_s / 60, 1),
        "threads": ckpt.config.threads,
        "config_sha256": ckpt.config.sha256(),
        "config": ckpt.config.to_dict(),
    }


def run(args: argparse.Namespace) -> int:
    from backscatter.training.card import write_card
    from backscatter.training.export import export_onnx

    report = _read_json(args.report)
    latency = _read_json(args.latency)
    notes = Path(args.notes).read_text() if args.notes else ""
    res = export_onnx(
        args.checkpoint,
        args.out,
        name=args.name,
        version=args.version,
        parity_images=args.parity_images,
    )
    print(f"wrote {res.path} (parity checked on {res.parity_images} unseen scans)")
    if not args.no_card:
        j, m = write_card(
            res.path,
            report=report,
            training=training_info(Path(args.checkpoint)),
            latency=latency,
            notes=notes,
        )
        print(f"wrote {j} and {m}")
    return 0
