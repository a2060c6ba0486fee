"""Pipeline speed: end-to-end `detect` throughput against bare ``InferenceSession.run``.

Figures printed, nothing asserted. In one run, on the same detector session and threads:

1. bare: ``session.run`` on pre-normalised 512 x 512 batches of one (the ceiling);
   Bare references: one stream from the main thread (with and without ORT thread spinning),
   one from a worker thread, and N streams side by side on 1-thread sessions (N = detect's
   default workers); the ratio is printed against the best of all of them and against the
   best single stream;
2. end to end: ``screen()`` (the `backscatter detect` pipeline: read file -> normalise ->
   run -> decode -> results.jsonl fsynced + COCO) over N simulated 512 x 512 scans on disk
   (DICOS DX by default, as a device delivers them; ``--format png|tiff``), with detect's
   default workers and with 1 worker x all threads, and again with the files pre-read
   (pipeline overhead without file decoding); ratio = end-to-end scans/s / bare runs/s
   (target >= 0.85); rounds alternate with bare runs because the machine is shared;
3. one 4096 x 2048 (cols x rows) van scan, tiled: median wall time of ``det(scan)`` (<= 0.6 s);
4. GPU only: batch throughput with and without IO binding, and FP16 (skipped on CPU).

    .venv/bin/python bench/pipeline_speed.py [--model M] [--scans 500] [--threads 2]
"""

from __future__ import annotations

import argparse
import collections
import functools
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np

from backscatter.inference.detector import Detector, TileOptions
from backscatter.inference.preprocess import normalise, pad_to_stride
from backscatter.inference.providers import default_workers
from backscatter.inference.screening import read_file, screen
from backscatter.scan import Scan


def simulated(uri: str, count: int) -> list[Scan]:
    from backscatter.acquisition.sources import open_source

    src = open_source(uri)
    try:
        it = iter(src)
        return [next(it) for _ in range(count)]
    finally:
        src.close()


def write_scans(folder: Path, n: int, unique: int, *, seed: int, fmt: str = "dx") -> None:
    """``n`` distinct 512 x 512 scans from ``unique`` simulated scenes (rolled copies), as
    DICOS DX (what a device sends), 16-bit PNG or uncompressed TIFF."""
    uri = f"sim://handheld?seed={seed}&count={unique}&size=512x512&realtime=0"
    base = simulated(uri, unique)
    for i in range(n):
        s = base[i % unique]
        scan = s.with_pixels(
            np.roll(s.pixels, shift=(i // unique) * 7, axis=1), scan_id=f"bench-{seed}-{i}"
        )
        path = folder / f"scan_{i:04d}"
        if fmt == "dx":
            from backscatter.dicos.dx import write_dx

            write_dx(scan, path.with_suffix(".dcm"))
        elif fmt == "png":
            cv2.imwrite(str(path.with_suffix(".png")), scan.pixels)
        else:
            import tifffile

            tifffile.imwrite(path.with_suffix(".tif"), scan.pixels)


def bare_rate(
    det: Detector, scans: list[Scan], runs: int, *, in_thread: bool = False, streams: int = 1
) -> float:
    """``session.run`` calls per second on pre-normalised inputs: from the main thread, or
    from ``streams`` worker threads calling the same session side by side (the ceiling for
    ``streams`` pipeline workers)."""
    inputs = [
        pad_to_stride(
            normalise(s.pixels, bits_stored=s.bits_stored, spec=det.spec), stride=det.spec.stride
        )[None, None]
        for s in scans
    ]
    names = ["boxes", "scores", "labels"]
    for x in inputs[:3]:
        det.session.run(names, {"image": x})
    per_stream = max(1, runs // streams)

    def loop(k: int) -> None:
        for i in range(per_stream):
            det.session.run(names, {"image": inputs[(i + k) % len(inputs)]})

    t0 = time.perf_counter()
    if in_thread or streams > 1:
        workers = [threading.Thread(target=loop, args=(k,)) for k in range(streams)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    else:
        loop(0)
    return per_stream * streams / (time.perf_counter() - t0)


def end_to_end(
    det: Detector,
    folder: Path,
    outputs: tuple[str, ...],
    *,
    decoded: dict[str, Scan] | None = None,
    workers: int = 1,
) -> tuple[float, dict]:
    """`detect` pipeline over ``folder``; with ``decoded``, files come pre-read from memory."""
    reader = read_file if decoded is None else decoded.__getitem__
    with tempfile.TemporaryDirectory(prefix="bench-out-") as out:
        summary = screen(
            [str(folder)], out, detector=det, outputs=outputs, reader=reader, workers=workers
        )
    return summary.done / summary.wall_s, summary.stage_ms


def tiled(det: Detector, repeats: int) -> tuple[float, int]:
    scan = simulated("sim://van?seed=3&count=1&size=2048x4096&realtime=0", 1)[0]
    det(scan)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        dets = det(scan)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), int(dets.extras["tiles"])


def gpu_part(det: Detector, model: str | None) -> None:
    if not det.info.on_gpu:
        print("gpu: skipped (no GPU provider here; ONNX Runtime runs on cpu)")
        return
    import onnxruntime as ort  # pragma: no cover - GPU machines only

    x = np.random.default_rng(0).random((16, 1, 512, 512), dtype=np.float32)
    names = ["boxes", "scores", "labels"]

    def rate(fn: object, n: int = 20) -> float:
        for _ in range(3):
            fn()  # type: ignore[operator]
        t0 = time.perf_counter()
        for _ in range(n):
            fn()  # type: ignore[operator]
        return n * x.shape[0] / (time.perf_counter() - t0)

    plain = rate(lambda: det.session.run(names, {"image": x}))
    bound = rate(lambda: det.run_batch(x))
    print(f"gpu batch 16: {plain:.0f} scans/s plain run, {bound:.0f} scans/s with IO binding")
    try:
        import onnx
        from onnxruntime.transformers.float16 import convert_float_to_float16

        half = convert_float_to_float16(onnx.load(str(det.card.onnx_path)), keep_io_types=True)
        sess = ort.InferenceSession(half.SerializeToString(), providers=det.session.get_providers())
        fp16 = rate(lambda: sess.run(names, {"image": x}))
        print(f"gpu batch 16 fp16: {fp16:.0f} scans/s")
    except Exception as exc:
        print(f"gpu fp16: skipped ({exc})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--provider", default=None)
    ap.add_argument("--scans", type=int, default=500)
    ap.add_argument("--unique", type=int, default=50, help="distinct simulated scenes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--tile-size", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--format", choices=("dx", "png", "tiff"), default="dx", help="scan files")
    ap.add_argument("--compare-batch", action="store_true", help="also time 8-tile batches")
    ap.add_argument("--rounds", type=int, default=10, help="alternating bare / end-to-end rounds")
    args = ap.parse_args()

    tile = TileOptions(size=(args.tile_size, args.tile_size) if args.tile_size else None)
    load = functools.partial(Detector.load, args.model, args.provider, tile=tile)
    det = load(threads=args.threads)  # 1 worker x all threads (no thread spinning)
    spinning = load(threads=args.threads, spin=True)  # ONNX Runtime's default, for the bare ref
    streams = default_workers(args.provider)  # what `backscatter detect` runs by default
    per_stream = load(threads=max(1, args.threads // streams))
    print(
        f"model {det.model_id} on {det.provider}, {args.threads} threads, cpus {os.cpu_count()}, "
        f"detect's default: {streams} workers x {max(1, args.threads // streams)} thread(s)"
    )
    rounds = max(1, args.rounds)
    per_round = max(1, args.scans // rounds)
    n = per_round * rounds
    default_label = f"{args.format} files, {streams} workers (detect's default)"
    with tempfile.TemporaryDirectory(prefix="bench-scans-") as tmp:
        folders = [Path(tmp) / f"r{r}" for r in range(rounds)]
        for r, folder in enumerate(folders):
            folder.mkdir()
            write_scans(
                folder, per_round, min(args.unique, per_round), seed=11 + r, fmt=args.format
            )
        sample = simulated("sim://handheld?seed=11&count=8&size=512x512&realtime=0", 8)
        runs = max(20, per_round // 2)

        def bare_refs() -> dict[str, float]:
            return {
                "bare, main thread": bare_rate(det, sample, runs),
                "bare, spinning": bare_rate(spinning, sample, runs),
                "bare, worker thread": bare_rate(det, sample, runs, in_thread=True),
                f"bare, {streams} streams": bare_rate(per_stream, sample, runs, streams=streams),
            }

        # the machine is shared: alternate bare and end-to-end runs so both see the same load
        rates: dict[str, list[float]] = collections.defaultdict(list)
        stages: dict[str, float] = collections.defaultdict(float)
        for folder in folders:
            decoded = {str(p.resolve()): read_file(str(p)) for p in sorted(folder.iterdir())}
            before = bare_refs()
            rate, st = end_to_end(per_stream, folder, ("coco",), workers=streams)
            rates[default_label].append(rate)
            rate, _ = end_to_end(det, folder, ("coco",))
            rates[f"{args.format} files, 1 worker x {args.threads} threads"].append(rate)
            rate, st_mem = end_to_end(
                per_stream, folder, ("coco",), decoded=decoded, workers=streams
            )
            rates[f"pre-read scans, {streams} workers"].append(rate)
            after = bare_refs()
            for key in before:
                rates[key].append((before[key] + after[key]) / 2)
            single = [rates[k][-1] for k in before if "streams" not in k]
            rates["bare, best single stream"].append(max(single))
            rates["bare, best of all"].append(max(rates[k][-1] for k in before))
            for k, v in st.items():
                stages[f"files {k}"] += v
            for k, v in st_mem.items():
                stages[f"pre-read {k}"] += v
        refs = [k for k in rates if k.startswith("bare")]
        print(
            f"bare session.run 512x512, batch 1, medians of {rounds} rounds: "
            + ", ".join(f"{k[6:]} {statistics.median(rates[k]):.1f}/s" for k in refs)
        )
        for label, values in rates.items():
            if label.startswith("bare"):
                continue
            for ref in ("bare, best of all", "bare, best single stream"):
                bare = rates[ref]
                ratios = [e / b for e, b in zip(values, bare, strict=True)]
                print(
                    f"end-to-end detect over {n} {label}: {statistics.median(values):.1f} "
                    f"scans/s; ratio to {ref[6:]} {statistics.median(ratios):.3f} median, "
                    f"{sum(values) / sum(bare):.3f} pooled (target >= 0.85); "
                    f"rounds {' '.join(f'{r:.2f}' for r in ratios)}"
                )
        busy = ", ".join(f"{k} {v / n:.2f}" for k, v in stages.items())
        print(f"stage busy ms per scan ({streams} workers; detect summed over workers): {busy}")
    med, n_tiles = tiled(det, args.repeats)
    print(f"tiled 4096x2048 scan: {med:.3f} s median of {args.repeats} ({n_tiles} tiles, "
          f"batches of {det.tile.batch or 1})  (target <= 0.6 s)")  # fmt: skip
    if args.compare_batch:
        batched = Detector.load(
            args.model, args.provider, threads=args.threads, tile=TileOptions(batch=8)
        )
        print(f"  same with batches of 8 tiles: {tiled(batched, args.repeats)[0]:.3f} s")
    gpu_part(det, args.model)


if __name__ == "__main__":
    main()
