"""What each command of a DRAM standard costs and counts as: the `energy:` entry of every command in
pimsim/hardware/standards/NAME.yaml, read here so that no code lists command names (issue 15, item 5).

Per command (all of a table's commands must have one):

    energy: {pj: EXPR, as: CLASS, mac_columns: EXPR, unit_columns: EXPR}

- `pj`: energy of one issue in pJ, an expression (pimsim.dram.expr.evaluate_real: numbers, names,
  + - * /, max/min) of the preset's `energy:` fields (act_pre_pj_per_bank, rd_pj, wr_pj, mac_pj_per_bank,
  wr_gb_pj, rd_mac_pj, refresh_pj, io_pj_per_bit, ...) and the organisation: `banks` (per channel),
  `units` (PIM units per channel, banks / pim.banks_per_unit), `ranks`, `column_bits` (8 x column_bytes,
  what one column access moves over the pins), `scope_banks` (banks one issue acts on: 1 for a bank
  command, every bank of the channel for a channel / all-bank command, the banks of one node of its
  scope level otherwise, e.g. one rank's for DDR4 REFab; the shipped tables do not need it: the engine
  issues a group-scoped refresh to bank -1, every node at once, so a REFab is the channel's refresh_pj);
- `as`: the energy breakdown class it is booked under (ENERGY_CLASSES: pim_act the ACT+PRE pair, booked on
  the activate; pim_mac the PIM units' MACs; pim_io register and column transfers; kv_write plain and
  all-bank writes, which only KV-cache appends issue; refresh);
- `mac_columns`: column MAC operations of a weight GEMV one issue performs (MAC16: one per unit; the
  bank-utilisation counter), default 0;
- `unit_columns`: columns the PIM units read per issue (MAC, EWMUL, AF: what a trace reports as MAC
  read bytes), default 0.

A command whose role is `refresh` counts as a refresh (it runs on every channel, whatever an op uses;
the refresh probe counts it). Any table without the entry, or with a class or name outside the lists,
is a ConfigError naming the file and the command.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from pimsim.dram import expr
from pimsim.errors import ConfigError
from pimsim.hardware.schema import DramConfig, EnergyConfig
from pimsim.hardware.standards import load_standard_table

ENERGY_CLASSES = ("pim_act", "pim_mac", "pim_io", "kv_write", "refresh")
COUNTS = ("mac_columns", "unit_columns")
ORGANISATION = ("banks", "units", "ranks", "column_bits", "scope_banks")
ENERGY_FIELDS = tuple(EnergyConfig.model_fields)
NAMES = frozenset(ENERGY_FIELDS) | frozenset(ORGANISATION)


@dataclass(frozen=True)
class CommandAccount:
    energy_pj: str | int | float
    energy_as: str
    counts: tuple[tuple[str, str | int | float], ...]   # (count kind, expression)
    scope: str


@dataclass(frozen=True)
class Accounting:
    """A standard's per-command energy and counts (expressions), and its refresh commands."""

    standard: str
    commands: tuple[tuple[str, CommandAccount], ...]
    refresh: frozenset[str]

    def values(self, dram: DramConfig, banks_per_unit: int, energy: EnergyConfig | None) -> dict[str, float]:
        out: dict[str, float] = dict(energy.model_dump()) if energy is not None else {}
        out.update(banks=dram.banks, units=dram.banks // banks_per_unit, ranks=dram.ranks,
                   column_bits=8 * dram.column_bytes)
        return out

    def _scope_banks(self, dram: DramConfig, scope: str) -> int:
        if scope == "bank":
            return 1
        if scope in ("channel", "all_banks"):
            return dram.banks
        return _level_banks(self.standard, dram.ranks, dram.bank_groups, dram.banks_per_group)[scope]

    def energy_pj(self, dram: DramConfig, banks_per_unit: int, energy: EnergyConfig) -> dict[str, tuple[str, float]]:
        """Per command: (energy class, pJ per issue)."""
        base = self.values(dram, banks_per_unit, energy)
        return {name: (c.energy_as, expr.evaluate_real(c.energy_pj, {**base, "scope_banks":
                                                                      self._scope_banks(dram, c.scope)}))
                for name, c in self.commands}

    def counts(self, kind: str, dram: DramConfig, banks_per_unit: int) -> dict[str, float]:
        """Per command with a `kind` count (COUNTS): its value per issue (commands without one left out)."""
        if kind not in COUNTS:
            raise ValueError(f"count kind {kind!r}; known: {', '.join(COUNTS)}")
        base = self.values(dram, banks_per_unit, None)
        out = {}
        for name, c in self.commands:
            for k, text in c.counts:
                if k == kind:
                    out[name] = expr.evaluate_real(text, {**base, "scope_banks": self._scope_banks(dram, c.scope)})
        return out


@lru_cache(maxsize=None)
def _level_banks(standard: str, ranks: int, bank_groups: int, banks_per_group: int) -> dict[str, int]:
    from pimsim.dram.table import level_banks

    names, banks = level_banks(load_standard_table(standard), (ranks, bank_groups, banks_per_group),
                               f"standards/{standard}.yaml")
    return dict(zip(names, banks))


@lru_cache(maxsize=None)
def accounting(standard: str) -> Accounting:
    """The accounting of standard `standard` (ConfigError naming the table and command when incomplete)."""
    raw = load_standard_table(standard)
    src = f"pimsim/hardware/standards/{standard}.yaml"
    cmds, refresh = [], set()
    for name, attrs in (raw.get("commands") or {}).items():
        attrs = attrs or {}
        where = f"{src}: commands.{name}.energy"
        e = attrs.get("energy")
        if not isinstance(e, dict) or "pj" not in e or "as" not in e:
            raise ConfigError(f"{where}: every command needs energy: {{pj: EXPR, as: CLASS}} (its energy per "
                              f"issue and what it counts as; classes {', '.join(ENERGY_CLASSES)})")
        unknown = sorted(set(e) - {"pj", "as", *COUNTS})
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; allowed: pj, as, {', '.join(COUNTS)}")
        if e["as"] not in ENERGY_CLASSES:
            raise ConfigError(f"{where}.as: {e['as']!r} is not an energy class; known: {', '.join(ENERGY_CLASSES)}")
        for key in ("pj", *COUNTS):
            if key in e:
                try:
                    bad = sorted(expr.real_names(e[key]) - NAMES)
                except expr.ExprError as exc:
                    raise ConfigError(f"{where}.{key}: {exc}") from None
                if bad:
                    raise ConfigError(f"{where}.{key}: unknown names {bad}; allowed: the preset's energy fields "
                                      f"({', '.join(ENERGY_FIELDS)}) and {', '.join(ORGANISATION)}")
        cmds.append((name, CommandAccount(e["pj"], e["as"], tuple((k, e[k]) for k in COUNTS if k in e),
                                          attrs.get("scope", "bank"))))
        if attrs.get("role") == "refresh":
            refresh.add(name)
    return Accounting(standard, tuple(cmds), frozenset(refresh))


def refresh_commands(standard: str) -> frozenset[str]:
    """The commands of `standard` that count as refreshes (role: refresh)."""
    return accounting(standard).refresh


def evaluate_counts(standard: str, kind: str, dram: DramConfig, banks_per_unit: int) -> Mapping[str, float]:
    return accounting(standard).counts(kind, dram, banks_per_unit)
