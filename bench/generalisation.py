"""The detector's generalisation protocol: prints the figures and writes report.json + plots.

    python bench/generalisation.py --model models/bsnet-handheld.onnx [--model OTHER.onnx] \\
        --test data/proto/dr-test/test.json --heldout data/proto/heldout-compact/test.json \\
        --heldout data/proto/heldout-subtypes/test.json \\
        --dose data/proto/dose-*/test.json --out report/generalisation

Per model: (a) the test split and the held-out slice (a device profile and threat sub-types
training never saw); (b) a gain sweep x0.25..x4 plus an offset of 10 % of full scale on the test
split, and a dose sweep (one split per fixed dose, ``backscatter synth --domain --dose N``);
(c) recall per threat sub-type at the model's threshold for 0.1 false alarms per image on the
test split. Data: see ``models/*.md`` (Reproduce) for the synth commands.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from backscatter.training.data import CocoDetection
from backscatter.training.evaluate import evaluate_detections, predict_dataset
from backscatter.training.predict import load_predictor
from backscatter.training.protocol import gain_sweep, recall_by_subtype


def _split(predict: Any, path: str) -> tuple[dict[str, Any], CocoDetection, list[Any]]:
    coco = CocoDetection(path, classes=predict.class_names, cache=True)
    dets = predict_dataset(predict, coco)
    report = evaluate_detections(coco, dets)
    report.pop("_curves")
    return report, coco, dets


def _summary(r: dict[str, Any]) -> dict[str, Any]:
    return {
        "map50": r["map50"],
        "pd_at_0.1": r["pd_at_fapi"]["0.1"],
        "image_auroc": r["image_auroc"],
        "n_images": r["n_images"],
        "n_objects": r["n_objects"],
    }


def protocol(model: str, args: argparse.Namespace) -> dict[str, Any]:
    predict = load_predictor(model, min_score=0.01)
    t0 = time.perf_counter()
    test, coco, dets = _split(predict, args.test)
    thr = test["threshold_at_fapi"]["0.1"]
    thr = 0.5 if thr is None else float(thr)
    out: dict[str, Any] = {"model": model, "threshold_0.1fa": thr, "test": _summary(test)}
    out["test_per_class_ap50"] = test["per_class"]
    out["subtypes_test"] = recall_by_subtype(coco, dets, threshold=thr)
    out["heldout"], out["subtypes_heldout"] = {}, {}
    for path in args.heldout or []:
        name = Path(path).parent.name
        held, hcoco, hdets = _split(predict, path)
        out["heldout"][name] = _summary(held)
        out["subtypes_heldout"][name] = recall_by_subtype(hcoco, hdets, threshold=thr)
    out["gain_sweep"] = gain_sweep(predict, coco)
    out["dose_sweep"] = {}
    for path in args.dose or []:
        report, dcoco, _ = _split(predict, path)
        info = json.loads(Path(path).with_name("manifest.json").read_text())
        dose = info["parameters"]["domain"]["counts_per_signal"][0]
        out["dose_sweep"][f"{dose:g}"] = _summary(report)
    out["seconds"] = time.perf_counter() - t0
    return out


def _print(r: dict[str, Any]) -> None:
    def line(name: str, s: dict[str, Any]) -> None:
        auroc = s.get("image_auroc")
        print(
            f"  {name:<14} map50 {s['map50']:.3f}  Pd@0.1FA {s['pd_at_0.1']:.3f}  "
            f"AUROC {'n/a' if auroc is None else f'{auroc:.3f}'}"
        )

    print(f"{r['model']}  (threshold at 0.1 FA/image: {r['threshold_0.1fa']:.3f})")
    line("test", r["test"])
    for name, s in r["heldout"].items():
        line(name, s)
    for name, s in r["gain_sweep"].items():
        line(f"gain {name}", s)
    for dose, s in r["dose_sweep"].items():
        line(f"dose {dose}", s)
    ref = r["gain_sweep"].get("x1", {}).get("map50")
    if ref is not None:
        worst = max(abs(s["map50"] - ref) for s in r["gain_sweep"].values())
        print(f"  gain sweep: largest map50 change from x1 = {worst:.3f}")
    tables = {"test": r["subtypes_test"], **r["subtypes_heldout"]}
    for split, table in tables.items():
        print(f"  recall per sub-type ({split}):")
        for name, s in table.items():
            print(f"    {name:<32} {s['found']:>4}/{s['n']:<4} {s['recall']:.2f}")


def _plots(reports: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for r in reports:
        label = Path(r["model"]).name
        gains = [(s["gain"], s["map50"]) for s in r["gain_sweep"].values() if s["offset"] == 0]
        axes[0].plot(*zip(*gains, strict=True), marker="o", label=label)
        doses = sorted((float(k), s["map50"]) for k, s in r["dose_sweep"].items())
        if doses:
            axes[1].plot(*zip(*doses, strict=True), marker="o", label=label)
    axes[0].set(xscale="log", xlabel="gain (x nominal)", ylabel="map50", title="gain sweep")
    axes[1].set(xscale="log", xlabel="counts per unit signal", ylabel="map50", title="dose sweep")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "sweeps.png", dpi=100)
    plt.close(fig)
    r = reports[-1]
    names = list(r["subtypes_test"])
    values = [s["recall"] for s in r["subtypes_test"].values()]
    for split, table in r["subtypes_heldout"].items():
        names += [f"{k} ({split})" for k in table]
        values += [s["recall"] for s in table.values()]
    fig, ax = plt.subplots(figsize=(8, 0.28 * len(names) + 1))
    ax.barh(names, values, color="tab:blue")
    ax.axvline(0.7, color="tab:red", ls="--", lw=1)
    ax.set(xlim=(0, 1), xlabel="recall at 0.1 FA/image threshold", title=Path(r["model"]).name)
    ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out / "subtype_recall.png", dpi=100)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", action="append", required=True, help="ONNX or checkpoint")
    ap.add_argument("--test", required=True, help="COCO test split (domain-randomised)")
    ap.add_argument(
        "--heldout", action="append", help="COCO split of a held-out profile or sub-types"
    )
    ap.add_argument("--dose", nargs="*", help="COCO splits, one per fixed dose")
    ap.add_argument("--out", required=True, help="report folder")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    reports = []
    for model in args.model:
        r = protocol(model, args)
        _print(r)
        reports.append(r)
    (out / "report.json").write_text(json.dumps(reports, indent=2) + "\n")
    _plots(reports, out)
    print(f"-> {out}/report.json, sweeps.png, subtype_recall.png", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
