"""DRAM standards known to pimsim, and the check that a preset gives every timing they use.

Each standard is a constraint table in `pimsim/hardware/standards/NAME.yaml` (data, as Ramulator 2
declares them). A preset's `dram.standard` names one; its timing parameters must be exactly the
table's `parameters:` list: every one the latencies reference, and no other (a misspelt key would
otherwise be kept and ignored, leaving the default value in force). A table's `parameter_defaults` may
give a parameter a value a preset need not repeat (gddr6: nPPD 1, which binds nothing).

A table may also ship the device presets of its source (`presets:`, e.g. ddr4's DDR4_2400R from
Ramulator 2.1): `standard_dram(standard, preset)` builds that DramConfig.
"""

from __future__ import annotations

import difflib
from functools import lru_cache
from importlib import resources
from typing import Any

# No yaml or pydantic import here: a table is read through the exact parse cache (pimsim.util.yaml_cache), so
# `pimsim replay` with a cached preset imports neither (issue 17, start-up).


def _standards_dir():
    return resources.files("pimsim.hardware") / "standards"


def known_standards() -> list[str]:
    return sorted(p.name[:-5] for p in _standards_dir().iterdir() if p.name.endswith(".yaml"))


@lru_cache(maxsize=None)
def load_standard_table(name: str) -> dict[str, Any]:
    """The raw constraint table of standard `name` (validated by the command engine that uses it), with
    `extends: PARENT` resolved (`extend_table`)."""
    return _load(name, ())


def _load(name: str, chain: tuple[str, ...]) -> dict[str, Any]:
    path = _standards_dir() / f"{name}.yaml"
    if not path.is_file():
        raise ValueError(f"unknown DRAM standard {name!r}; known: {', '.join(known_standards())}")
    from pimsim.util.yaml_cache import load_yaml_cached

    raw = load_yaml_cached(path)              # = load_yaml_text(path.read_text(encoding="utf-8")), exactly
    parent = raw.get("extends")
    if parent is None:
        return raw
    if parent in chain + (name,) or len(chain) > 4:
        raise ValueError(f"standards/{name}.yaml: extends: {parent!r} makes a cycle or a chain over 5 tables")
    return extend_table(_load(str(parent), chain + (name,)), raw)


# How a table that `extends: PARENT` combines with its parent (a PIM variant of a standard: the standard's
# rules, plus its PIM commands and the rules between them and the standard's commands):
_APPEND = ("parameters", "constraints")                          # parent's, then the child's
_MERGE = ("parameter_defaults", "commands", "instructions", "row_commands", "refresh_commands")  # by key
_OWN = ("presets",)                                              # the child's only (its devices)


def extend_table(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` (a raw table with `extends:`) on top of `parent`: parameters and constraints are the parent's
    followed by the child's (a parameter named twice once); commands, instructions, parameter defaults,
    row_commands and refresh_commands merge by name (the child's entry replaces the parent's, e.g.
    row_commands.all_banks); presets are the child's own; any other key (levels, ticks_per_cycle,
    auto_precharge, mode_switch) is the child's when given, else the parent's."""
    out = {k: v for k, v in parent.items() if k not in _OWN}
    for key, value in child.items():
        if key == "extends":
            continue
        if key in _APPEND:
            merged = list(parent.get(key) or []) + list(value or [])
            out[key] = list(dict.fromkeys(merged)) if key == "parameters" else merged
        elif key in _MERGE:
            out[key] = {**(parent.get(key) or {}), **(value or {})}
        else:
            out[key] = value
    out["extends"] = child["extends"]
    return out


def standard_parameters(name: str) -> tuple[str, ...]:
    """The timing parameters of standard `name`, in table order (ValueError if it is unknown)."""
    return tuple(load_standard_table(name).get("parameters", []))


def parameter_defaults(name: str) -> dict[str, int]:
    """Values of the parameters a preset of standard `name` may leave out."""
    return {str(k): int(v) for k, v in (load_standard_table(name).get("parameter_defaults") or {}).items()}


def timing_with_defaults(name: str, timing: dict[str, int]) -> dict[str, int]:
    """`timing` completed with the table's parameter defaults (the preset's own values win)."""
    return {**parameter_defaults(name), **timing}


def standard_presets(name: str) -> dict[str, dict]:
    """The device presets the table of standard `name` ships (name -> organisation, tck_ns, timing)."""
    return dict(load_standard_table(name).get("presets") or {})


def standard_dram(standard: str, preset: str, *, channels: int = 1, refresh: str = "all_bank"):
    """The DramConfig of `preset` in standard `standard`'s table (ValueError naming both if unknown)."""
    from pimsim.hardware.schema import DramConfig

    presets = standard_presets(standard)
    if preset not in presets:
        raise ValueError(f"standard {standard} ships no preset {preset!r}; known: {', '.join(presets) or 'none'}")
    p = presets[preset]
    fields = ("ranks", "bank_groups", "banks_per_group", "rows", "columns", "column_bytes", "tck_ns")
    return DramConfig(standard=standard, channels=channels, refresh=refresh, timing=dict(p["timing"]),
                      **{k: p[k] for k in fields})


def closest_name(key: str, names: list[str] | tuple[str, ...]) -> str | None:
    """The name in `names` closest to `key` ignoring case (difflib ratio >= 0.6), or None."""
    by_lower = {n.lower(): n for n in names}
    match = difflib.get_close_matches(key.lower(), list(by_lower), n=1, cutoff=0.6)
    return by_lower[match[0]] if match else None


def check_standard_timing(name: str, timing: dict[str, int]) -> None:
    """Raise ValueError if `name` is unknown, or `timing` lacks a parameter its table requires or has
    one the table does not define (the message names it, suggests the closest, and lists the allowed)."""
    try:
        allowed = standard_parameters(name)
    except ValueError as exc:
        raise ValueError(f"standard: {exc}") from None
    missing = sorted(set(allowed) - set(timing) - set(parameter_defaults(name)))
    if missing:
        raise ValueError(f"timing: standard {name} needs parameters {missing}")
    for key in timing:
        if key not in allowed:
            near = closest_name(key, allowed)
            hint = f" (did you mean {near!r}?)" if near else ""
            raise ValueError(f"timing.{key}: not a timing parameter of standard {name}{hint}; "
                             f"allowed: {', '.join(allowed)}")


def timing_for_child(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`parent` (a raw hardware mapping) ready for `child` to merge onto: when `child` switches
    `dram.standard`, the parent's timing keys that the new standard's table does not define are dropped.

    They parametrise the other table, and a YAML file cannot delete a key it inherits; every key the child
    gives itself is still checked against the new table, so a typo there is still an error."""
    new, old = child.get("dram"), parent.get("dram")
    if not (isinstance(new, dict) and isinstance(old, dict) and isinstance(old.get("timing"), dict)):
        return parent
    standard = new.get("standard")
    if not isinstance(standard, str) or standard == old.get("standard"):
        return parent
    try:
        allowed = set(standard_parameters(standard))
    except ValueError:
        return parent  # an unknown standard is reported by validation
    timing = {k: v for k, v in old["timing"].items() if k in allowed}
    return {**parent, "dram": {**old, "timing": timing}}
