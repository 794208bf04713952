"""Entry point of the `pimsim` CLI.

Each command module registers its sub-commands with `add_parser(subparsers)` and sets `func(args) -> int`.
Every `PimsimError` (bad input) is printed as one message with exit code 2.

Start-up: only the module of the command being run is imported (issue 17: `pimsim --help` paid ~0.8 s
for pandas, numba, pydantic and matplotlib imports of commands it never ran). The top-level help comes
from `COMMANDS`, a static table of every command's name, module and help string;
tests/test_startup.py checks that it matches what each module's `add_parser` registers.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys

from pimsim import __version__
from pimsim.errors import PimsimError

# command name -> (module registering it, its help line); in the order `pimsim --help` lists them
COMMANDS: dict[str, tuple[str, str]] = {
    "presets": ("pimsim.cli.presets", "hardware presets shipped with pimsim"),
    "models": ("pimsim.cli.models", "the model zoo"),
    "workload": ("pimsim.cli.workload", "workload accounting"),
    "simulate": ("pimsim.cli.simulate", "simulate a workload on a PIM system"),
    "baseline": ("pimsim.cli.baseline", "GPU/CPU baseline of a workload (or: baseline fit | baseline devices)"),
    "replay": ("pimsim.cli.replay", "replay an AiM instruction trace on the cycle-exact DRAM command engine"),
    "run": ("pimsim.cli.run", "run an experiment (sweep) into a results folder"),
    "plot": ("pimsim.cli.run", "redraw an experiment's plots from its results folder (no simulation)"),
    "validate": ("pimsim.cli.validate",
                 "check pimsim against every reference (measurements, closed forms, published figures)"),
}
COMMAND_MODULES = list(dict.fromkeys(module for module, _ in COMMANDS.values()))
# commands that only print (no files written, no child processes): run as the program, they skip the
# interpreter's teardown (see `_exit_now`)
FAST_EXIT_COMMANDS = frozenset({"replay"})


class _Parser(argparse.ArgumentParser):
    """argparse that exits with code 2 and one line on a usage error (its default, kept explicit)."""

    def error(self, message: str):  # noqa: D401
        self.print_usage(sys.stderr)
        self.exit(2, f"{self.prog}: error: {message}\n")


def _selected_command(argv: list[str]) -> str | None:
    """The command word of `argv` (its first non-option token), or None: the top level takes no values."""
    for token in argv:
        if not token.startswith("-"):
            return token
    return None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The CLI parser. With `argv`, only the module of the command it names is imported and registered in
    full; every other command is a stub carrying its help line from `COMMANDS` (enough for `--help` and
    "invalid choice" errors). Without `argv`, every module is imported (the complete parser)."""
    parser = _Parser(prog="pimsim", description="Processing-in-memory simulator for LLM workloads.")
    parser.add_argument("--version", action="version", version=f"pimsim {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    wanted = None if argv is None else COMMANDS.get(_selected_command(argv), ("", ""))[0]
    for name, (module, help_text) in COMMANDS.items():
        if name in sub.choices:
            continue                          # registered by its module with an earlier command (run, plot)
        if wanted is None or module == wanted:
            importlib.import_module(module).add_parser(sub)
        else:
            sub.add_parser(name, help=help_text)
    return parser


def _exit_now(code: int) -> None:
    """End the process without the interpreter's teardown, which finalises every numba/llvmlite object:
    0.15-0.25 s of a 0.6-0.8 s one-instruction replay on this 2-core machine (measured with and without,
    issue 17). atexit handlers still run and stdout/stderr are flushed first; if a flush fails, this
    returns and the normal exit reports it."""
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        return
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI on `argv` (default: the program's arguments) and return its exit code. Called without
    `argv`, i.e. as the program, a command of `FAST_EXIT_COMMANDS` ends the process itself once done."""
    as_program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    code = _run(args)
    if as_program and args.command in FAST_EXIT_COMMANDS:
        _exit_now(code)
    return code


def _run(args) -> int:
    """The command's exit code; bad input (`PimsimError`) is one message and its exit code (2)."""
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
