"""Entry point of the ``backscatter`` command.

Each subcommand is a module in this package with ``HELP: str``, ``add_arguments(parser)`` and
``run(args) -> int``; the module imports its library lazily so ``backscatter --help`` stays fast.
Errors reach the user as one line on stderr and a non-zero exit status, never as a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence
from types import ModuleType

#: subcommand name -> module under backscatter.cli
COMMANDS: dict[str, str] = {
    # "name": "module",  (each helper adds its own line)
    "synth": "synth",
    "train": "train",
    "dataset": "dataset",
    "eval": "eval",
    "export": "export",
    "render": "render",
    "view": "view",
    "audit": "audit",
    "info": "info",
    "serve": "serve",
    "detect": "detect",
    "demo": "demo",
    "exercise": "exercise",
    "broadcast": "broadcast",
    "anomaly": "anomaly",
}


def _load(name: str) -> ModuleType:
    return importlib.import_module(f"backscatter.cli.{COMMANDS[name]}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backscatter", description="X-ray backscatter image analysis for customs screening."
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and debug logging on errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = _load(name)
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(p)
    return parser


def _version() -> str:
    from backscatter import __version__

    return f"backscatter {__version__}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    module = _load(args.command)
    try:
        return int(module.run(args) or 0)
    except KeyboardInterrupt:
        print(f"backscatter {args.command}: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:
        if args.debug:
            raise
        print(f"backscatter {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug of ours: still one line unless --debug
        if args.debug:
            raise
        print(
            f"backscatter {args.command}: internal error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 3


if __name__ == "__main__":
    sys.exit(main())
