"""``backscatter exercise``: build TIP exercises, take them in the viewer, score them."""

from __future__ import annotations

import argparse
import logging
import sys

HELP = "training exercises: build (threat image projection), run (viewer), score (report)"

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    b = sub.add_parser("build", help="build an exercise from a folder of clean scans")
    b.add_argument("--clean", required=True, metavar="DIR", help="folder of clean scans")
    b.add_argument("--out", required=True, metavar="EX", help="exercise folder to create")
    b.add_argument("--scans", type=int, default=40, metavar="N", help="scans in the exercise")
    b.add_argument(
        "--threat-ratio", type=float, default=0.25, metavar="R", help="share with a threat"
    )
    b.add_argument("--seed", type=int, default=0, metavar="S")
    b.add_argument("--classes", nargs="+", metavar="CLASS", help="threat classes to project")
    b.add_argument(
        "--blocks",
        nargs="+",
        metavar="N:PREVALENCE",
        help="prevalence blocks shown in order, e.g. 20:0.5 100:0.02 (replaces --scans and "
        "--threat-ratio)",
    )
    b.add_argument(
        "--family",
        default=None,
        choices=["door", "tyre", "wall", "luggage", "crate", "any", "auto"],
        help="what the clean scans show (placement and cover rules; default: inferred per scan)",
    )
    b.add_argument(
        "--anywhere",
        action="store_true",
        help="place threats anywhere in the object (not only where the scene's rules allow)",
    )

    r = sub.add_parser("run", help="take an exercise in the viewer (exercise mode)")
    r.add_argument("exercise", metavar="EX", help="exercise folder")
    r.add_argument("--trainee", required=True, metavar="ID", help="the trainee's id")
    r.add_argument("--time-limit", type=float, default=None, metavar="SECONDS", help="per scan")
    r.add_argument(
        "--show-machine-flags", action="store_true", help="run the detector and show its flags"
    )
    r.add_argument("--model", default=None, help="ONNX model or card (with --show-machine-flags)")
    r.add_argument("--size", default="1280x760", metavar="WxH", help="window size in pixels")
    r.add_argument("--audit-key", metavar="KEY", help="signing key (default: the configured one)")

    s = sub.add_parser("score", help="score a trainee: report.json + report.html")
    s.add_argument("exercise", metavar="EX", help="exercise folder")
    s.add_argument("--trainee", required=True, metavar="ID")
    s.add_argument("--out", required=True, metavar="REPORT_DIR")
    s.add_argument(
        "--history",
        default=None,
        metavar="DB",
        help="per-trainee history (SQLite; default: history.db beside the exercise folder)",
    )


def run(args: argparse.Namespace) -> int:
    return int({"build": _build, "run": _run, "score": _score}[args.action](args))


def _build(args: argparse.Namespace) -> int:
    import json

    from backscatter.exercise.build import build_exercise

    blocks = [_block(b) for b in args.blocks] if args.blocks else None
    path = build_exercise(
        args.clean,
        args.out,
        scans=args.scans,
        threat_ratio=args.threat_ratio,
        seed=args.seed,
        classes=args.classes,
        blocks=blocks,
        family=args.family,
        placement="anywhere" if args.anywhere else "scene",
    )
    key = json.loads(path.read_text(encoding="utf-8"))
    dev = key["device"]
    dose = f"{dev['counts_per_signal']:.0f} counts per unit signal ({dev['source']}"
    dose += f", +-{dev['rel_se']:.0%})" if dev["source"] == "scan" else ")"
    refused = f", {len(key['refused_hosts'])} hosts refused" if key["refused_hosts"] else ""
    print(
        f"exercise {key['exercise_id']}: {key['n_scans']} scans ({key['n_threat']} with a "
        f"threat, prevalence {key['threat_ratio']:.1%}) in {args.out}/scans; dose {dose}"
        f"{refused}; answer key in {path.parent}"
    )
    return 0


def _block(text: str) -> tuple[int, float]:
    from backscatter.exercise import ExerciseError

    try:
        n, prevalence = text.split(":")
        return int(n), float(prevalence)
    except ValueError:
        raise ExerciseError(
            f"--blocks: expected N:PREVALENCE such as 20:0.5, got {text!r}"
        ) from None


def _run(args: argparse.Namespace) -> int:
    from backscatter.audit.keys import signing_key
    from backscatter.cli.view import _size
    from backscatter.viewer.display import display_problem
    from backscatter.viewer.exercise import audit_path, run_exercise

    problem = display_problem()
    if problem:  # before anything else: Qt would abort the process with its own message
        print(f"backscatter exercise: cannot open a window: {problem}", file=sys.stderr)
        return 2
    key = signing_key(args.audit_key, required=False)
    if key is None:
        print(
            "backscatter exercise: no audit signing key configured: the trainee's answers "
            "are chained but not signed",
            file=sys.stderr,
        )

    detector = None
    if args.show_machine_flags:
        try:
            from backscatter.inference.detector import Detector

            detector = Detector.load(args.model)
        except (ImportError, ValueError, OSError) as exc:
            print(f"backscatter exercise: no machine flags: {exc}", file=sys.stderr)
    session = run_exercise(
        args.exercise,
        args.trainee,
        time_limit_s=args.time_limit,
        detector=detector,
        size=_size(args.size),
        key=key,
    )
    print(
        f"{session.decided} of {len(session.items)} scans decided by {args.trainee}; "
        f"answers in {audit_path(args.exercise, args.trainee)}"
    )
    return 0


def _score(args: argparse.Namespace) -> int:
    from pathlib import Path

    from backscatter.exercise.history import History
    from backscatter.exercise.report import write_report
    from backscatter.exercise.score import score_exercise

    result = score_exercise(args.exercise, args.trainee)
    db = Path(args.history) if args.history else Path(args.exercise).resolve().parent / "history.db"
    with History(db) as history:
        history.record(result, report=str(Path(args.out).resolve() / "report.html"))
        trend = history.trend(args.trainee)
    paths = write_report(result, args.out, trend=trend)
    print(
        f"{args.trainee}: hit rate {result.hit_rate:.1%}, false alarm rate "
        f"{result.false_alarm_rate:.1%}, d' {result.d_prime:.2f}, d_a {result.d_a:.2f}, "
        f"A' {result.a_prime:.3f}, threat prevalence {result.prevalence:.1%}; "
        f"report {paths[1]}"
    )
    return 0
