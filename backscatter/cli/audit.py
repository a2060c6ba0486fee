"""``backscatter audit``: make the signing key, verify the decision audit log, or export it."""

from __future__ import annotations

import argparse
import sys

HELP = "the officers' decision audit log: keygen, verify (signatures, chain, head), export"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    k = sub.add_parser(
        "keygen",
        help="new Ed25519 signing key KEY (mode 0600) and its public half KEY.pub",
        description="Run as the account the review station runs the viewer as (officers must "
        "not be able to read KEY); name KEY in /etc/backscatter/audit.yaml (key: KEY) and give "
        "KEY.pub to whoever verifies.",
    )
    k.add_argument("--out", required=True, metavar="KEY", help="private key file to create")
    v = sub.add_parser(
        "verify",
        help="check every row's chain link, hash and signature, and the recorded heads; "
        "non-zero exit names the row",
    )
    v.add_argument("db", metavar="DB", help="audit database (default place: OUT/audit.db)")
    v.add_argument(
        "--key",
        metavar="KEY.pub",
        help="public key: every row must be signed by it (default: the configured key's)",
    )
    v.add_argument(
        "--expect-head",
        metavar="SEQ:HASH|TDR",
        help="a head recorded elsewhere (as printed by verify, or an operator TDR file)",
    )
    v.add_argument("--witness", metavar="FILE", help="witness file (default: DB.witness)")
    v.add_argument("--audit-config", metavar="YAML", help="audit config (key, witness)")
    e = sub.add_parser("export", help="write the log as CSV or JSON")
    e.add_argument("db", metavar="DB")
    e.add_argument("--format", choices=("csv", "json"), default="csv")
    e.add_argument("--out", metavar="FILE", help="output file (default: stdout)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from backscatter.audit import export, keygen

    if args.action == "keygen":
        private, public, key_id = keygen(args.out)
        print(f"{private}: new signing key {key_id} (mode 0600); public key {public}")
        return 0
    if args.action == "verify":
        return _verify(args)
    text = export(args.db, fmt=args.format)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{args.out}: {args.format} export of {args.db}")
    else:
        sys.stdout.write(text)
    return 0


def _verify(args: argparse.Namespace) -> int:
    from backscatter.audit import VerifyKey, load_config, verify
    from backscatter.audit.head import parse_expected

    config = load_config(args.audit_config)
    key = None
    if args.key:
        key = VerifyKey.load(args.key)
    elif config.key is not None:
        pub = config.key.with_name(config.key.name + ".pub")
        key = VerifyKey.load(pub if pub.is_file() else config.key)
    expect = parse_expected(args.expect_head) if args.expect_head else None
    witness = args.witness or config.witness or True
    result = verify(args.db, key=key, expect_head=expect, witness=witness)
    if result.ok:
        print(result.message(args.db))
        return 0
    print(f"backscatter audit: TAMPERED: {result.message(args.db)}", file=sys.stderr)
    return 1
