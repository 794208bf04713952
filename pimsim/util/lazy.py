"""Lazy package exports (PEP 562): a package's public names are imported from their submodules on first use.

Why (issue 17, start-up): `from pimsim.dram.program import ...` ran pimsim/dram/__init__.py, which imported
the engine and with it numba (~0.15 s import + ~0.2 s kernel cache load) for callers that only parse traces;
likewise pimsim.engine pulled simpy and pimsim.experiments pandas.
"""

from __future__ import annotations

import importlib
import sys
from typing import Callable


def lazy_exports(package: str, exports: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """`(__getattr__, __dir__)` for `package`: `exports` maps each public name to the module defining it.
    A name not in `exports` raises AttributeError, so `from package import submodule` still imports it."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)     # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
