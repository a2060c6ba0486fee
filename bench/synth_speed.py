"""Simulator speed: scenes per second for 512 x 512 handheld scenes.

Figures printed, nothing asserted. In one run:

1. baseline: drawing the detector noise alone for a 512 x 512 scan (Gaussian + Poisson draws,
   the floor under any scene) in one process;
2. render: ``render_scene`` in one process (scenes/s, and the ratio to the noise floor);
3. pool: the same on ``--workers`` processes (target >= 20 scenes/s on 2 cores);
4. dataset: one scene job (render + PNG + mask + labels) in one process, CPU time; then
   ``build_dataset`` of ``--scenes`` scenes on ``--workers`` processes, PNGs and COCO
   written to a temporary folder (what ``backscatter synth`` does).

    .venv/bin/python bench/synth_speed.py [--scenes 200] [--workers 2] [--size 512]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from backscatter.synth.dataset import _render_job, build_dataset, plan, scene_seed
from backscatter.synth.physics import count_and_digitise, get_profile
from backscatter.synth.render import render_scene


def _render(args: tuple[int, int]) -> float:
    """Render one scene; returns the CPU seconds it took in this process."""
    seed, size = args
    t = time.process_time()
    render_scene(seed, size=(size, size))
    return time.process_time() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenes", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()
    n, size = args.scenes, args.size
    print(f"cpus={os.cpu_count()} load={os.getloadavg()[0]:.1f} scenes={n} size={size}x{size}")

    prof = get_profile("handheld")
    rng = np.random.default_rng(0)
    lam = rng.uniform(2.0, 600.0, (size, size)).astype(np.float32)
    reps = 20
    t = time.perf_counter()
    for _ in range(reps):
        count_and_digitise(lam, profile=prof, rng=rng)
    noise_s = (time.perf_counter() - t) / reps
    print(f"baseline  noise only        {1 / noise_s:8.1f} scans/s (1 process)")

    seeds = [scene_seed(0, i) for i in range(n)]
    _render((seeds[0], size))
    k = max(10, n // 4)
    t, c = time.perf_counter(), time.process_time()
    for s in seeds[:k]:
        _render((s, size))
    one = k / (time.perf_counter() - t)
    cpu = (time.process_time() - c) / k
    print(f"render    1 process         {one:8.1f} scenes/s  ({one * noise_s:.2f} x noise floor)")
    print(
        f"render    CPU time          {cpu * 1000:8.1f} ms/scene -> {2 / cpu:.1f} scenes/s on "
        "2 idle cores (load-independent)"
    )

    ctx = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=ctx) as pool:
        list(pool.map(_render, [(s, size) for s in seeds[: args.workers]]))
        t = time.perf_counter()
        cpu_each = list(pool.map(_render, [(s, size) for s in seeds], chunksize=4))
        pooled = n / (time.perf_counter() - t)
    child = sum(cpu_each) / n
    print(
        f"render    {args.workers} processes       {pooled:8.1f} scenes/s  (target >= 20; "
        f"{child * 1000:.0f} CPU-ms/scene in the workers)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        for sub in ("images", "masks"):
            os.makedirs(os.path.join(tmp, sub))
        jobs = plan(k, seed=1, clean_fraction=0.2)
        c = time.process_time()
        for job in jobs:
            _render_job((job, "handheld", (size, size), "png16", tmp))
        job_cpu = (time.process_time() - c) / k
    print(
        f"dataset   CPU time          {job_cpu * 1000:8.1f} ms/scene -> "
        f"{2 / job_cpu:.1f} scenes/s on 2 idle cores (render + PNG + mask + labels)"
    )

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        build_dataset(
            tmp, scenes=n, seed=0, size=(size, size), workers=args.workers, progress=False
        )
        built = n / (time.perf_counter() - t)
    print(f"dataset   {args.workers} processes       {built:8.1f} scenes/s  (PNG + masks + COCO)")
    print(f"2000-scene dataset ~ {2000 / built / 60:.1f} min at this rate")


if __name__ == "__main__":
    main()
