"""Entry point of the `pimsim` CLI.

Each command module in `COMMAND_MODULES` registers its sub-commands with `add_parser(subparsers)` and
sets `func(args) -> int`. Every `PimsimError` (bad input) is printed as one message with exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from pimsim import __version__
from pimsim.errors import PimsimError

COMMAND_MODULES = [
    "pimsim.cli.presets",
    "pimsim.cli.models",
    "pimsim.cli.workload",
    "pimsim.cli.simulate",
    "pimsim.cli.baseline",
    "pimsim.cli.replay",
    "pimsim.cli.run",
    "pimsim.cli.validate",
]


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line on a usage error (its default, kept explicit)."""

    def error(self, message: str):  # noqa: D401
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pimsim", description="Processing-in-memory simulator for LLM workloads.")
    parser.add_argument("--version", action="version", version=f"pimsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PimsimError as exc:
        print(f"pimsim: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("pimsim: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
