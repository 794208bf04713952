"""Shared fixtures: run the `pimsim` CLI in a subprocess (`run_cli`) or in-process (`cli`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLI_TIMEOUT_S = 60


def _run_cli(*args, cwd=None, timeout: float = CLI_TIMEOUT_S) -> tuple[int, str, str]:
    """`python -m pimsim.cli.main ARGS...` in a subprocess; returns (exit code, stdout, stderr)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pimsim.cli.main", *(str(a) for a in args)],
        capture_output=True, text=True, timeout=timeout, cwd=cwd,
    )
    return proc.returncode, proc.stdout, proc.stderr


@pytest.fixture(scope="session")
def run_cli():
    """`run_cli("presets", "list")` -> (rc, stdout, stderr) from a fresh interpreter (thread-safe)."""
    return _run_cli


@pytest.fixture
def cli(capsys):
    """`cli("presets", "list")` -> (rc, stdout, stderr) from `pimsim.cli.main.main` in this process.

    argparse's SystemExit (usage errors, --help) is turned into its exit code; any other exception
    propagates and fails the test (the CLI must never show a traceback on bad input)."""
    from pimsim.cli.main import main

    def call(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        try:
            rc = main([str(a) for a in args])
        except SystemExit as exc:
            rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        out, err = capsys.readouterr()
        return rc, out, err

    return call


def pytest_addoption(parser):
    parser.addoption("--full-matrix", action="store_true", default=False,
                     help="also run the full fast/exact matrix (240 pairs, ~2.5 min on 2 cores; CI runs the "
                          "representative 80 here and through `pimsim validate`)")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--full-matrix"):
        return
    skip = pytest.mark.skip(reason="full fast/exact matrix: run with --full-matrix")
    for item in items:
        if "full_matrix" in item.keywords:
            item.add_marker(skip)
