"""DRAM standards known to pimsim, and the check that a preset gives every timing they use.

Each standard is a constraint table in `pimsim/hardware/standards/NAME.yaml` (data, as Ramulator 2
declares them). A preset's `dram.standard` names one; its timing parameters must cover every
parameter the table's latencies reference.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

import yaml


def _standards_dir():
    return resources.files("pimsim.hardware") / "standards"


def known_standards() -> list[str]:
    return sorted(p.name[:-5] for p in _standards_dir().iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=None)
def load_standard_table(name: str) -> dict[str, Any]:
    """The raw constraint table of standard `name` (validated by the command engine that uses it)."""
    path = _standards_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown DRAM standard {name!r}; known: {', '.join(known_standards())}")
    return yaml.safe_load(path.read_text())


def check_standard_timing(name: str, timing: dict[str, int]) -> None:
    """Raise ValueError if `name` is unknown or `timing` lacks a parameter its table requires."""
    try:
        table = load_standard_table(name)
    except ValueError as exc:
        raise ValueError(f"standard: {exc}") from None
    required = set(table.get("parameters", []))
    missing = sorted(required - set(timing))
    if missing:
        raise ValueError(f"timing: standard {name} needs parameters {missing}")
