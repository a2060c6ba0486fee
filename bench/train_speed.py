"""Training speed on this machine: data augmentation per sample and one optimiser step.

Figures printed, nothing asserted; each pair is timed in alternating rounds in this process, so
the ratio holds on a shared machine even when the absolute figures move.

1. augmentation of one 512 x 512 simulated scan to a 256 crop (scale, flips, gain, low-dose
   noise, line jitter): the whole scan augmented then cropped (``augment`` + ``crop``) against
   the window path the loader uses (``augment_crop``), CPU ms per sample;
2. one training step (forward, focal + box loss, backward, AdamW) of the configured BSNet on a
   batch of 256 x 256 crops, torch threads as given: NCHW against channels-last (what
   ``backscatter train`` uses), median seconds per step;
3. with ``data.stream`` in the config (scenes rendered while training): CPU ms to render one
   scene, per crop (a scene serves ``crops_per_scene`` crops), and the data's share of a step.

    .venv/bin/python bench/train_speed.py [--config configs/train/stage5.yaml] [--batch 8]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from backscatter.acquisition.sources import open_source
from backscatter.training.augment import augment, augment_crop, crop
from backscatter.training.config import load_config
from backscatter.training.data import to_unit
from backscatter.training.loader import collate
from backscatter.training.model import build_model
from backscatter.training.targets import box_loss, focal_loss

ROOT = Path(__file__).resolve().parents[1]


def scans(n: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """``n`` simulated 512 x 512 scans as (unit image, boxes, labels)."""
    src = open_source(f"sim://handheld?seed=5&count={n}&size=512x512&realtime=0")
    try:
        out = []
        for scan in src:
            truth = scan.extras["ground_truth"]
            image = to_unit(scan.pixels, bits_stored=scan.bits_stored)
            out.append((image, truth.boxes.astype(np.float32), truth.labels.astype(np.int64)))
        return out
    finally:
        src.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "configs" / "train" / "stage5.yaml"))
    ap.add_argument("--scans", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8, help="crops per step (one DDP rank's share)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=5, help="timed steps per round")
    args = ap.parse_args()
    cfg = load_config(args.config)
    torch.set_num_threads(args.threads)
    size, focus = cfg.data.crop or 256, cfg.data.crop_focus
    data = scans(args.scans)
    none = np.zeros((0, 4), np.float32)

    def whole(rng: np.random.Generator, item: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        image, boxes, labels = item
        out = augment(image, boxes, labels, none, rng=rng, cfg=cfg.augment)
        crop(*out, rng=rng, size=size, focus=focus)

    def window(rng: np.random.Generator, item: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        image, boxes, labels = item
        augment_crop(image, boxes, labels, none, rng=rng, cfg=cfg.augment, size=size, focus=focus)

    times: dict[str, list[float]] = {"whole scan": [], "window": []}
    for r in range(args.rounds):
        for name, fn in (("whole scan", whole), ("window", window)):
            rng = np.random.default_rng(r)
            t0 = time.process_time()
            for item in data:
                fn(rng, item)
            times[name].append((time.process_time() - t0) / len(data) * 1000)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"augmentation, 512 scan -> {size} crop, CPU ms per sample (median of rounds):")
    for k, v in med.items():
        print(f"  {k:<11} {v:6.2f}  rounds {', '.join(f'{x:.2f}' for x in times[k])}")
    print(f"  ratio whole / window: {med['whole scan'] / med['window']:.2f}x")

    rng = np.random.default_rng(0)
    items = []
    for i in range(args.batch):
        image, boxes, labels = data[i % len(data)]
        items.append(augment_crop(image, boxes, labels, none, rng=rng, cfg=cfg.augment,
                                  size=size, focus=focus))  # fmt: skip
    batch = collate(items, num_classes=len(cfg.classes), stride=cfg.model.out_stride)
    nets = {}
    for name, fmt in (("NCHW", torch.contiguous_format), ("channels-last", torch.channels_last)):
        torch.manual_seed(0)
        net = build_model(len(cfg.classes), cfg.model).to(memory_format=fmt)
        nets[name] = (net, torch.optim.AdamW(net.parameters(), lr=1e-4), fmt)

    def step(name: str) -> float:
        net, opt, fmt = nets[name]
        t0 = time.perf_counter()
        heat, dist = net(batch["image"].contiguous(memory_format=fmt))
        loss = focal_loss(heat, batch["heat"], batch["ignore"]) + box_loss(
            dist, batch["box"], batch["box_weight"], stride=cfg.model.out_stride
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return time.perf_counter() - t0

    for name in nets:
        step(name)  # warm-up
    steps: dict[str, list[float]] = {k: [] for k in nets}
    for _ in range(args.rounds):
        for name in nets:
            steps[name] += [step(name) for _ in range(args.steps)]
    print(f"training step, {args.batch} crops of {size}^2, {args.threads} thread(s), s per step:")
    smed = {k: statistics.median(v) for k, v in steps.items()}
    for k, v in smed.items():
        print(f"  {k:<13} {v:.3f}")
    print(f"  ratio NCHW / channels-last: {smed['NCHW'] / smed['channels-last']:.2f}x")
    data_ms = med["window"] * args.batch
    print(f"  data per step (window path, {args.batch} samples): {data_ms / 1000:.3f} s CPU")
    stream = cfg.data.stream
    if stream.scenes_per_epoch:
        from backscatter.synth.dataset import scene_seed
        from backscatter.training.stream import render_training_scene

        t0 = time.process_time()
        for i in range(args.scans):
            render_training_scene(scene_seed(cfg.seed, 10**6 + i), stream)
        render_ms = (time.process_time() - t0) / args.scans * 1000
        per_crop = render_ms / stream.crops_per_scene
        data_ms += per_crop * args.batch
        best = min(smed.values()) * 1000
        print(
            f"scenes rendered while training: {render_ms:.1f} ms CPU per scene, "
            f"{per_crop:.1f} per crop ({stream.crops_per_scene} crops a scene); data (render + "
            f"augment) {data_ms / 1000:.3f} s = {data_ms / (data_ms + best):.0%} of a step"
        )


if __name__ == "__main__":
    main()
