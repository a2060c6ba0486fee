"""``backscatter info FILE...``: what each scan file is, its size, dtype, range and metadata."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

HELP = "describe scan files (object type, size, dtype, bits, pixel range, metadata)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="scan files or source URIs")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--sidecar", help="YAML sidecar for raw files (default: beside the file)")
    parser.add_argument(
        "--device",
        metavar="PROFILE.yaml",
        help="device profile (configs/devices/): bits stored, rescale and spacing for files "
        "that cannot carry them (PNG, TIFF, raw)",
    )


def describe(scan: Any, path: str) -> dict[str, Any]:
    """The facts ``info`` prints about one Scan, as JSON-ready values."""
    import numpy as np

    px = scan.pixels
    finite = px[np.isfinite(px)] if px.dtype.kind == "f" else px
    meta = scan.metadata
    when = meta.acquisition_time.isoformat() if meta.acquisition_time else None
    stats: dict[str, float | None] = {"min": None, "max": None, "mean": None}
    if finite.size:
        stats = {
            "min": _num(finite.min()),
            "max": _num(finite.max()),
            "mean": float(finite.mean(dtype=np.float64)),
        }
    return {
        "path": path,
        "object_type": scan.object_type,
        "rows": scan.rows,
        "columns": scan.cols,
        "dtype": str(px.dtype),
        "bits_stored": scan.bits_stored,
        "sop_class_uid": scan.sop_class_uid,
        "scan_id": scan.scan_id,
        **stats,
        "pixel_spacing_mm": list(scan.pixel_spacing_mm) if scan.pixel_spacing_mm else None,
        "window": list(scan.window) if scan.window else None,
        "manufacturer": meta.manufacturer,
        "model": meta.model,
        "serial": meta.serial,
        "kvp": meta.kvp,
        "tube_current_ma": meta.tube_current_ma,
        "acquisition_time": when,
        "scan_direction": meta.scan_direction,
        "source_sha256": scan.source_sha256,
        "rescale": scan.extras.get("rescale"),
        "device_profile": scan.extras.get("device_profile"),
    }


def _num(value: Any) -> float | int:
    return (
        float(value)
        if getattr(value, "dtype", None) is not None and value.dtype.kind == "f"
        else int(value)
    )


def format_line(info: dict[str, Any]) -> str:
    """One human-readable line (plus key metadata) for one file."""
    head = (
        f"{info['path']}: {info['object_type']} {info['rows']} x {info['columns']} "
        f"{info['dtype']} bits_stored={info['bits_stored']}"
    )
    if info["min"] is not None:
        head += f" min={info['min']:g} max={info['max']:g} mean={info['mean']:.1f}"
    keys = ("manufacturer", "model", "serial", "kvp", "tube_current_ma", "acquisition_time")
    extra = [f"{k}={info[k]}" for k in (*keys, "scan_direction") if info.get(k) is not None]
    if info["pixel_spacing_mm"]:
        extra.append("spacing_mm={:g}x{:g}".format(*info["pixel_spacing_mm"]))
    if info["window"]:
        extra.append("window={:g}/{:g}".format(*info["window"]))
    if info.get("rescale"):
        extra.append("rescale={slope:g}*v{intercept:+g}".format(**info["rescale"]))
    if info.get("device_profile"):
        extra.append(f"device_profile={info['device_profile']}")
    if info["sop_class_uid"]:
        extra.append(f"sop_class={info['sop_class_uid']}")
    return head + ("\n    " + " ".join(extra) if extra else "")


def run(args: argparse.Namespace) -> int:
    from backscatter.acquisition import open_scan
    from backscatter.acquisition.devices import DeviceProfileError, load_device_profile

    device = None
    if args.device:
        try:
            device = load_device_profile(args.device)
        except DeviceProfileError as exc:
            print(f"backscatter info: {exc}", file=sys.stderr)
            return 2
    failed = 0
    for path in args.files:
        try:
            scan = open_scan(path, sidecar=args.sidecar, device=device)
        except (ValueError, OSError) as exc:  # the typed read errors and any source failure
            failed += 1
            print(f"backscatter info: {exc}", file=sys.stderr)
            continue
        info = describe(scan, path)
        print(json.dumps(info) if args.json else format_line(info), flush=True)
    return 2 if failed else 0
