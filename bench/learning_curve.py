"""Learning curve of a detector trained in stages: training loss and validation map50 per epoch.

    python bench/learning_curve.py runs/v2-stage1/metrics.jsonl runs/v2-stage2/metrics.jsonl \\
        --out docs/images/bsnet-2.0.0-learning-curve.png

Each ``metrics.jsonl`` (one line per epoch, written by ``backscatter train``) is a stage; the
stages are laid end to end on one epoch axis, a dashed line marks where each begins. Prints the
table the plot shows (epoch, stage, loss, validation map50 / Pd at 0.1 FA / AUROC, wall minutes).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def read_stages(paths: list[str]) -> list[list[dict[str, Any]]]:
    stages = []
    for p in paths:
        rows = [json.loads(line) for line in Path(p).read_text().splitlines() if line.strip()]
        stages.append(rows)
    return stages


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("metrics", nargs="+", help="metrics.jsonl of each stage, in order")
    ap.add_argument("--out", required=True, help="PNG to write")
    args = ap.parse_args(argv)
    stages = read_stages(args.metrics)
    xs, loss, vx, vmap, starts = [], [], [], [], []
    offset, wall = 0, 0.0
    print("epoch stage loss    val_map50 val_pd@0.1 val_auroc wall_min")
    for k, rows in enumerate(stages, start=1):
        starts.append(offset)
        for r in rows:
            e = offset + int(r["epoch"])
            xs.append(e)
            loss.append(float(r["loss"]))
            v = r.get("val")
            line = f"{e:>5} {k:>5} {r['loss']:.4f}"
            if v:
                vx.append(e)
                vmap.append(float(v["map50"]))
                auroc = v.get("image_auroc")
                line += f"  {v['map50']:.4f}    {v['pd_at_fapi']['0.1']:.4f}    "
                line += "n/a" if auroc is None else f"{auroc:.4f}"
            print(f"{line}  {(wall + float(r.get('wall_time_s', 0))) / 60:.1f}")
        offset += int(rows[-1]["epoch"]) if rows else 0
        wall += float(rows[-1].get("wall_time_s", 0)) if rows else 0.0

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3.6))
    ax.plot(xs, loss, color="tab:blue", marker=".", label="training loss")
    ax.set(xlabel="epoch (all stages)", ylabel="training loss")
    ax2 = ax.twinx()
    ax2.plot(vx, vmap, color="tab:red", marker="o", label="validation map50")
    ax2.set(ylabel="validation map50", ylim=(0, max([0.1, *vmap]) * 1.2))
    for s in starts[1:]:
        ax.axvline(s + 0.5, color="grey", ls="--", lw=1)
    ax.grid(alpha=0.3)
    fig.legend(loc="upper center", ncol=2, fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
