"""Compile a DRAM standard's constraint table (pimsim/hardware/standards/NAME.yaml) for one preset.

The YAML is data (format described at the top of gddr6-aim.yaml). Compiling evaluates every latency
expression with the preset's timing (pimsim.dram.expr, no `eval`), drops constraints that use a
parameter named in `disabled_constraints`, and lays the result out as flat integer arrays for the
numba kernel: for each preceding command, its constraints (level, following command, latency, window).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pimsim.dram import expr
from pimsim.errors import ConfigError
from pimsim.hardware.schema import DramConfig
from pimsim.hardware.standards import load_standard_table

LEVELS = ("channel", "rank", "bankgroup", "bank")
SCOPES = ("channel", "bank", "all_banks")
ROLES = ("none", "open", "close", "access", "access_close", "refresh", "mode_switch")
CATEGORIES = ("mac", "row_switch", "gb_write", "bias_write", "result_read", "data", "mode_switch",
              "refresh", "wait", "drain")
MODES = {"any": 0, "compute": 1, "register": 2}
# The AiM instruction set (trace grammar of aim_gddr6.md); codes index the per-standard spec arrays.
ISA = ("WR_GB", "WR_BIAS", "RD_MAC", "RD_AF", "MAC_ABK", "MAC_SBK", "AF", "EWMUL", "COPY_BKGB",
       "COPY_GBBK", "WR_ABK", "WR_SBK", "RD_SBK", "EWADD", "SYNC", "EOC")
OP = {name: i for i, name in enumerate(ISA)}
# Row an AF instruction activates: the AiM simulator addresses the activation-function lookup table as
# row (1 << 29) + AFM of every bank (AFM = 0 unless configured).
AF_ROW = 1 << 29


@dataclass(frozen=True)
class CompiledTable:
    """A standard's constraint table evaluated for one DramConfig (arrays for the kernel)."""

    standard: str
    command_names: tuple[str, ...]
    scope: np.ndarray          # per command: index into SCOPES
    role: np.ndarray           # per command: index into ROLES
    done_cycles: np.ndarray    # per command: issue -> completion
    category: np.ndarray       # per command: index into CATEGORIES
    cons_start: np.ndarray     # per command p: constraints of p are cons_*[cons_start[p]:cons_start[p+1]]
    cons_level: np.ndarray
    cons_follow: np.ndarray
    cons_latency: np.ndarray
    cons_window: np.ndarray
    self_spacing: np.ndarray   # per command: spacing of back-to-back issues to one target (-1: windowed)
    follow_levels: np.ndarray  # per command: bit L set when some constraint at level L constrains it
    open_bank: int
    close_bank: int
    open_all: int              # -1 when the standard has no all-bank commands
    close_all: int
    ref_all: int
    ref_bank: int
    mode_switch: int           # -1: no register/compute modes
    # per AiM instruction (index OP[name]): DRAM command (-1 none), repeat by opsize, mode, blocking,
    # reader, AF row; `supported` False when the standard lacks it.
    ins_command: np.ndarray
    ins_repeat: np.ndarray
    ins_mode: np.ndarray
    ins_blocking: np.ndarray
    ins_reader: np.ndarray
    ins_af_row: np.ndarray
    ins_supported: np.ndarray
    constraints: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int, int], ...] = field(repr=False)

    def cmd(self, name: str) -> int:
        try:
            return self.command_names.index(name)
        except ValueError:
            raise ConfigError(f"standard {self.standard} has no command {name}") from None


def _as_list(value, where: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{where}: expected a command or a non-empty list of commands")
    return [str(v) for v in value]


def compile_table(dram: DramConfig) -> CompiledTable:
    """The constraint table of `dram.standard` with latencies evaluated for `dram.timing`."""
    return _compile(dram.standard, tuple(sorted(dram.timing.items())), tuple(dram.disabled_constraints))


@lru_cache(maxsize=64)
def _compile(standard: str, timing_items: tuple, disabled: tuple) -> CompiledTable:
    raw = load_standard_table(standard)
    timing = dict(timing_items)
    src = f"standards/{standard}.yaml"
    cmds = raw.get("commands") or {}
    names = tuple(cmds)
    idx = {n: i for i, n in enumerate(names)}

    def cid(name: str, where: str) -> int:
        if name not in idx:
            raise ConfigError(f"{src}: {where}: unknown command {name!r}")
        return idx[name]

    n = len(names)
    scope = np.zeros(n, np.int64)
    role = np.zeros(n, np.int64)
    done = np.ones(n, np.int64)
    category = np.zeros(n, np.int64)
    for i, (name, attrs) in enumerate(cmds.items()):
        attrs = attrs or {}
        scope[i] = SCOPES.index(attrs.get("scope", "bank"))
        role[i] = ROLES.index(attrs.get("role", "none"))
        done[i] = max(1, expr.evaluate(attrs.get("done", 1), timing))
        category[i] = CATEGORIES.index(attrs.get("category", "data"))

    rc = raw.get("row_commands") or {}
    open_bank = cid(rc["bank"]["open"], "row_commands.bank")
    close_bank = cid(rc["bank"]["close"], "row_commands.bank")
    allb = rc.get("all_banks") or {}
    open_all = cid(allb["open"], "row_commands.all_banks") if "open" in allb else -1
    close_all = cid(allb["close"], "row_commands.all_banks") if "close" in allb else -1
    if close_all < 0 and "PREA" in idx:
        close_all = idx["PREA"]
    refc = raw.get("refresh_commands") or {}
    ref_all = cid(refc["all_bank"], "refresh_commands") if "all_bank" in refc else -1
    ref_bank = cid(refc["per_bank"], "refresh_commands") if "per_bank" in refc else -1
    mode_switch = cid(raw["mode_switch"], "mode_switch") if raw.get("mode_switch") else -1

    per_cmd: list[list[tuple[int, int, int, int]]] = [[] for _ in range(n)]
    kept = []
    for k, c in enumerate(raw.get("constraints") or []):
        where = f"constraints[{k}]"
        level = c.get("level")
        if level not in LEVELS:
            raise ConfigError(f"{src}: {where}: level must be one of {LEVELS}, got {level!r}")
        lat_text = c.get("latency")
        used = expr.names(lat_text)
        if used & set(disabled):
            continue
        try:
            lat = expr.evaluate(lat_text, timing)
        except expr.ExprError as exc:
            raise ConfigError(f"{src}: {where}: {exc}") from None
        window = int(c.get("window", 1))
        frm = _as_list(c.get("from"), where)
        to = _as_list(c.get("to"), where)
        kept.append((level, tuple(frm), tuple(to), lat, window))
        if lat <= 0:
            continue
        for p in frm:
            for f in to:
                per_cmd[cid(p, where)].append((LEVELS.index(level), cid(f, where), lat, window))

    # merge duplicates: one constraint per (preceding, level, following, window), the largest latency
    for p in range(n):
        best: dict[tuple[int, int, int], int] = {}
        for lv, f, lat, w in per_cmd[p]:
            best[(lv, f, w)] = max(best.get((lv, f, w), lat), lat)
        per_cmd[p] = sorted((lv, f, lat, w) for (lv, f, w), lat in best.items())
    follow_levels = np.zeros(n, np.int64)
    for p in range(n):
        for lv, f, lat, w in per_cmd[p]:
            follow_levels[f] |= 1 << lv
    start = np.zeros(n + 1, np.int64)
    flat = []
    for p in range(n):
        start[p] = len(flat)
        flat.extend(per_cmd[p])
    start[n] = len(flat)
    arr = np.array(flat, np.int64).reshape(-1, 4)
    spacing = np.ones(n, np.int64)
    for p in range(n):
        for lv, f, lat, w in per_cmd[p]:
            if f == p:
                if w > 1:
                    spacing[p] = -1
                    break
                spacing[p] = max(spacing[p], lat)

    ins = raw.get("instructions") or {}
    k = len(ISA)
    ins_command = np.full(k, -1, np.int64)
    ins_repeat = np.zeros(k, np.int64)
    ins_mode = np.zeros(k, np.int64)
    ins_blocking = np.zeros(k, np.int64)
    ins_reader = np.zeros(k, np.int64)
    ins_af = np.zeros(k, np.int64)
    supported = np.zeros(k, np.bool_)
    for name in ("SYNC", "EOC"):
        supported[OP[name]] = True
        ins_blocking[OP[name]] = 1
    for name, spec in ins.items():
        if name not in OP:
            raise ConfigError(f"{src}: instructions: unknown AiM instruction {name!r}; known: {', '.join(ISA)}")
        spec = spec or {}
        o = OP[name]
        supported[o] = True
        if "command" in spec:
            ins_command[o] = cid(spec["command"], f"instructions.{name}")
        ins_repeat[o] = 1 if spec.get("repeat") == "opsize" else 0
        default_mode = "compute" if mode_switch >= 0 else "any"
        ins_mode[o] = MODES[spec.get("mode", default_mode) if mode_switch >= 0 else "any"]
        ins_blocking[o] = int(bool(spec.get("blocking", False)))
        ins_reader[o] = int(bool(spec.get("reader", False)))
        ins_af[o] = 1 if spec.get("row") == "af" else 0
    return CompiledTable(
        standard=standard, command_names=names, scope=scope, role=role, done_cycles=done,
        category=category, cons_start=start, cons_level=arr[:, 0].copy(), cons_follow=arr[:, 1].copy(),
        cons_latency=arr[:, 2].copy(), cons_window=arr[:, 3].copy(), self_spacing=spacing, follow_levels=follow_levels,
        open_bank=open_bank, close_bank=close_bank, open_all=open_all, close_all=close_all,
        ref_all=ref_all, ref_bank=ref_bank, mode_switch=mode_switch, ins_command=ins_command,
        ins_repeat=ins_repeat, ins_mode=ins_mode, ins_blocking=ins_blocking, ins_reader=ins_reader,
        ins_af_row=ins_af, ins_supported=supported, constraints=tuple(kept),
    )
