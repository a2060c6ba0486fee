"""``backscatter train CONFIG.yaml [--out RUN_DIR] [--resume]``: train a detector."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

HELP = "train a detector from a YAML config (run under torchrun for several processes)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="training config YAML (see configs/train/)")
    parser.add_argument("--out", help="run directory (default: runs/CONFIG_NAME)")
    parser.add_argument(
        "--resume", action="store_true", help="continue from RUN_DIR/last.pt (same config)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from backscatter.training.config import load_config
    from backscatter.training.engine import train

    cfg = load_config(args.config)
    out = Path(args.out or Path("runs") / Path(args.config).stem)
    if int(os.environ.get("RANK", "0")) == 0:
        out.mkdir(parents=True, exist_ok=True)
        cmd = "backscatter " + shlex.join(sys.argv[1:])
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            cmd = (
                f"torchrun --nproc_per_node {os.environ['WORLD_SIZE']} -m backscatter.cli.main "
                + shlex.join(sys.argv[1:])
            )
        with open(out / "command.txt", "a") as f:
            f.write(cmd + "\n")
    result = train(cfg, out, resume=args.resume, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    print(
        f"trained {result.epochs} epochs in {result.wall_time_s:.0f} s; "
        f"best val map50 {result.best:.3f}; checkpoints in {out}"
    )
    return 0
