"""``backscatter audit``: verify the decision audit log's hash chain, or export it."""

from __future__ import annotations

import argparse
import sys

HELP = "verify or export the officers' decision audit log"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    v = sub.add_parser("verify", help="check every row's hash chain; non-zero exit names the row")
    v.add_argument("db", metavar="DB")
    e = sub.add_parser("export", help="write the log as CSV or JSON")
    e.add_argument("db", metavar="DB")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("--out", metavar="FILE", help="output file (default: stdout)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from backscatter.viewer.audit import export, verify

    if args.action == "verify":
        result = verify(args.db)
        if result.ok:
            print(result.message(args.db))
            return 0
        print(f"backscatter audit: TAMPERED: {result.message(args.db)}", file=sys.stderr)
        return 1
    text = export(args.db, fmt=args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{args.out}: {args.format} export of {args.db}")
    else:
        sys.stdout.write(text)
    return 0
