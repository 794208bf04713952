"""Compile a DRAM standard's constraint table (pimsim/hardware/standards/NAME.yaml) for one preset.

The YAML is data (format described at the top of gddr6-aim.yaml; levels, siblings, command lengths and
ticks in docs/dram_standards.md). Compiling scales the timing to ticks (`ticks_per_cycle`, HBM3: 2 half-CK
ticks per tCK), evaluates every latency expression (pimsim.dram.expr, no `eval`), adjusts it by the two
commands' lengths, adds the command-bus occupancy of multi-tick commands, drops constraints that use a
parameter named in `disabled_constraints`, and lays the result out as flat integer arrays for the numba
kernel: for each preceding command, its constraints (level, following command, latency, window, sibling).

Command lengths and bus rules as Ramulator 2.1 states them (python/ramulator/dram/spec.py, to_config and
_generate_bus_constraints): a command of c ticks is recorded at its first tick, so a constraint p -> f
binds (c_p - 1) - (c_f - 1) ticks more than its nominal value; a command of c > 1 ticks keeps every
command of its bus (row / column, or one bus when the table declares none) c ticks behind it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from pimsim.dram import expr
from pimsim.errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover  (annotations only: the schema imports pydantic, issue 17 start-up)
    from pimsim.hardware.schema import DramConfig

# Units a table's hierarchy levels are counted in (DramConfig fields); the default hierarchy is these four.
LEVELS = ("channel", "rank", "bankgroup", "bank")
MAX_LEVELS = 6
# channel: the channel's own resources (AiM registers); bank: one bank; all_banks: every bank of the
# channel; group: every bank of one node of the command's `scope` level (e.g. PREab of one rank).
SCOPES = ("channel", "bank", "all_banks", "group")
# open_first: the first step of a two-step activate (LPDDR5 ACT-1: the bank is activating, its row opens
# with the second step, the table's `open` command ACT-2).
ROLES = ("none", "open", "close", "access", "access_close", "refresh", "mode_switch", "open_first")
CATEGORIES = ("mac", "row_switch", "gb_write", "bias_write", "result_read", "data", "mode_switch",
              "refresh", "wait", "drain")
MODES = {"any": 0, "compute": 1, "register": 2}
# Mode codes: 0 "any"; a table's `modes:` list names its modes 1.. in order (the first is the mode a fresh
# device starts in; default [compute, register], AiM's TMOD pair). At most MAX_MODES codes in all, counting
# the hidden step states of multi-command `mode_transitions` (kernel: a (mode, needed) -> (command, next)
# matrix of MAX_MODES x MAX_MODES).
MAX_MODES = 8
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
    level_names: tuple[str, ...]   # hierarchy, top (channel) first
    level_banks: np.ndarray        # per level: banks per node (channel: every bank, bank: 1)
    ticks_per_cycle: int           # engine ticks per tCK (HBM3: 2)
    timing_ticks: dict             # the preset's timing in ticks
    command_ticks: np.ndarray      # per command: length on its command bus (ticks)
    scope: np.ndarray          # per command: index into SCOPES
    target_level: np.ndarray   # per command: deepest level at which it names one node (0 for all-bank)
    role: np.ndarray           # per command: index into ROLES
    done_cycles: np.ndarray    # per command: issue -> completion
    category: np.ndarray       # per command: index into CATEGORIES
    cons_start: np.ndarray     # per command p: constraints of p are cons_*[cons_start[p]:cons_start[p+1]]
    cons_level: np.ndarray
    cons_follow: np.ndarray
    cons_latency: np.ndarray
    cons_window: np.ndarray
    cons_sibling: np.ndarray   # 1: binds the siblings of the target's node at cons_level, not the node
    self_spacing: np.ndarray   # per command: spacing of back-to-back issues to one target (-1: windowed)
    follow_levels: np.ndarray  # per command: bit L set when some constraint at level L constrains it
    open_bank: int
    open_bank_second: int      # second step of a two-step activate (-1: one-step)
    close_bank: int
    open_all: int              # -1 when the standard has no all-bank commands
    close_all: int
    ref_all: int
    ref_bank: int
    mode_switch: int           # -1: no modes; else a mode-switch command (the kernel's "has modes" flag)
    mode_names: tuple[str, ...]  # the table's modes, code 1.. in order (empty without modes)
    # [mode, needed mode, 0]: the command to issue next in `mode` for an instruction that needs `needed`,
    # [.., 1]: the mode (or hidden step state) after it; -1 where no switch is needed or possible
    mode_next: np.ndarray
    mode_commands: dict          # mode-switch command name -> (from mode, to mode) names (checker, docs)
    # per AiM instruction (index OP[name]): DRAM command (-1 none), repeat by opsize, mode, blocking,
    # reader, AF row; `supported` False when the standard lacks it.
    ins_command: np.ndarray
    ins_repeat: np.ndarray
    ins_mode: np.ndarray
    ins_blocking: np.ndarray
    ins_reader: np.ndarray
    ins_af_row: np.ndarray
    ins_supported: np.ndarray
    auto_precharge: np.ndarray  # per command: its auto-precharge variant (RD -> RDA), -1 none
    constraints: tuple[tuple[str, tuple[str, ...], tuple[str, ...], int, int, bool], ...] = field(repr=False)

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


def level_banks(raw: dict, dram_counts: tuple[int, int, int], src: str) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The table's hierarchy (`levels:`, default channel / rank / bankgroup / bank) and the banks under one
    node of each level for an organisation of (ranks, bank_groups per rank, banks_per_group).

    A level is counted in a DramConfig unit (channel, rank, bankgroup, bank) or groups bank groups:
    `sid: {bank_groups: 4}` (HBM3: four bank groups per stack ID). Each level's node must hold a whole
    number of the next level's nodes."""
    ranks, nbg, nbpg = dram_counts
    unit_banks = {"channel": ranks * nbg * nbpg, "rank": nbg * nbpg, "bankgroup": nbpg, "bank": 1}
    spec = raw.get("levels") or {name: name for name in LEVELS}
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{src}: levels: expected a mapping of level name -> unit ({', '.join(LEVELS)}) "
                          "or {bank_groups: k}")
    if len(spec) > MAX_LEVELS:
        raise ConfigError(f"{src}: levels: at most {MAX_LEVELS} levels, got {len(spec)}")
    names, banks = [], []
    for name, unit in spec.items():
        where = f"{src}: levels.{name}"
        if isinstance(unit, dict) and set(unit) == {"bank_groups"}:
            k = int(unit["bank_groups"])
            if k <= 0 or nbg % k:
                raise ConfigError(f"{where}: {k} bank groups per node do not divide the {nbg} bank groups of a "
                                  "rank (dram.bank_groups)")
            b = k * nbpg
        elif unit in unit_banks:
            b = unit_banks[unit]
        else:
            raise ConfigError(f"{where}: unit must be one of {LEVELS} or {{bank_groups: k}}, got {unit!r}")
        if banks and (b > banks[-1] or banks[-1] % b):
            raise ConfigError(f"{where}: a node of {b} banks does not split the {banks[-1]} banks of a "
                              f"{names[-1]} node; list levels from the channel down")
        names.append(str(name))
        banks.append(b)
    if banks[0] != unit_banks["channel"] or banks[-1] != 1:
        raise ConfigError(f"{src}: levels: the first level must span the channel and the last be the bank")
    return tuple(names), tuple(banks)


def compile_table(dram: DramConfig) -> CompiledTable:
    """The constraint table of `dram.standard` with latencies evaluated for `dram.timing` (a DramConfig or
    the preset cache's CachedDram)."""
    from pimsim.hardware.standards import timing_with_defaults

    timing = timing_with_defaults(dram.standard, dram.timing)
    return _compile(dram.standard, tuple(sorted(timing.items())), tuple(dram.disabled_constraints),
                    (dram.ranks, dram.bank_groups, dram.banks_per_group))


def _ticks(value, mult: int, where: str) -> int:
    t = float(value) * mult
    if t != int(t) or t < 1:
        raise ConfigError(f"{where}: a command length of {value} tCK is not a whole number (>= 1) of the "
                          f"table's {mult} ticks per tCK")
    return int(t)


@lru_cache(maxsize=64)
def _compile(standard: str, timing_items: tuple, disabled: tuple, counts: tuple = (1, 1, 1)) -> CompiledTable:
    from pimsim.hardware.standards import load_standard_table

    raw = load_standard_table(standard)
    src = f"standards/{standard}.yaml"
    mult = int(raw.get("ticks_per_cycle", 1))
    if mult < 1:
        raise ConfigError(f"{src}: ticks_per_cycle must be >= 1, got {mult}")
    timing = {k: int(v) * mult for k, v in dict(timing_items).items()}
    lnames, lbanks = level_banks(raw, counts, src)
    cmds = raw.get("commands") or {}
    names = tuple(cmds)
    idx = {n: i for i, n in enumerate(names)}

    def cid(name: str, where: str) -> int:
        if name not in idx:
            raise ConfigError(f"{src}: {where}: unknown command {name!r}")
        return idx[name]

    n = len(names)
    scope = np.zeros(n, np.int64)
    tlevel = np.zeros(n, np.int64)
    role = np.zeros(n, np.int64)
    done = np.ones(n, np.int64)
    category = np.zeros(n, np.int64)
    length = np.full(n, mult, np.int64)
    bus = []
    for i, (name, attrs) in enumerate(cmds.items()):
        attrs = attrs or {}
        where = f"commands.{name}"
        sc = attrs.get("scope", "bank")
        if sc in ("channel", "bank", "all_banks"):
            scope[i] = SCOPES.index(sc)
            tlevel[i] = len(lnames) - 1 if sc == "bank" else 0
        elif sc in lnames:
            scope[i] = SCOPES.index("group")
            tlevel[i] = lnames.index(sc)
        else:
            raise ConfigError(f"{src}: {where}: scope must be channel, bank, all_banks or a level "
                              f"({', '.join(lnames)}), got {sc!r}")
        r = attrs.get("role", "none")
        if r not in ROLES:
            raise ConfigError(f"{src}: {where}: role must be one of {ROLES}, got {r!r}")
        role[i] = ROLES.index(r)
        done[i] = max(1, expr.evaluate(attrs.get("done", 1), timing))
        c = attrs.get("category", "data")
        if c not in CATEGORIES:
            raise ConfigError(f"{src}: {where}: category must be one of {CATEGORIES}, got {c!r}")
        category[i] = CATEGORIES.index(c)
        if "cycles" in attrs:
            length[i] = _ticks(attrs["cycles"], mult, where)
        bus.append(attrs.get("bus", "command"))

    rc = raw.get("row_commands") or {}
    bank_open = rc["bank"]["open"]
    if isinstance(bank_open, list):
        if len(bank_open) != 2:
            raise ConfigError(f"{src}: row_commands.bank.open: one command or a two-step activate [first, second]")
        open_bank = cid(bank_open[0], "row_commands.bank")
        open_second = cid(bank_open[1], "row_commands.bank")
    else:
        open_bank, open_second = cid(bank_open, "row_commands.bank"), -1
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
    mode_names, mode_next, mode_commands = _modes(raw, src, cid, mode_switch)
    if mode_commands and mode_switch < 0:
        mode_switch = cid(next(iter(mode_commands)), "mode_transitions")
    auto_pre = np.full(n, -1, np.int64)
    for plain, variant in (raw.get("auto_precharge") or {}).items():
        auto_pre[cid(plain, "auto_precharge")] = cid(variant, "auto_precharge")

    per_cmd: list[list[tuple[int, int, int, int, int]]] = [[] for _ in range(n)]
    kept = []
    # command-bus occupancy of multi-tick commands (Ramulator 2.1 spec.py _generate_bus_constraints)
    buses: dict[str, list[int]] = {}
    for i, b in enumerate(bus):
        buses.setdefault(b, []).append(i)
    for members in buses.values():
        for p in members:
            if length[p] > 1:
                for f in members:
                    per_cmd[p].append((0, f, int(length[p]), 1, 0))
    for k, c in enumerate(raw.get("constraints") or []):
        where = f"constraints[{k}]"
        level = c.get("level")
        if level not in lnames:
            raise ConfigError(f"{src}: {where}: level must be one of {lnames}, got {level!r}")
        lv = lnames.index(level)
        sibling = bool(c.get("sibling", False))
        if sibling and lv == 0:
            raise ConfigError(f"{src}: {where}: a sibling rule needs a level below {lnames[0]}")
        lat_text = c.get("latency")
        used = expr.names(lat_text)
        if used & set(disabled):
            continue
        try:
            lat = expr.evaluate(lat_text, timing)
        except expr.ExprError as exc:
            raise ConfigError(f"{src}: {where}: {exc}") from None
        window = int(c.get("window", 1))
        if sibling and window != 1:
            raise ConfigError(f"{src}: {where}: a sibling rule has no window")
        frm = _as_list(c.get("from"), where)
        to = _as_list(c.get("to"), where)
        kept.append((level, tuple(frm), tuple(to), lat, window, sibling))
        for p in frm:
            for f in to:
                pi, fi = cid(p, where), cid(f, where)
                adj = lat + (int(length[pi]) - 1) - (int(length[fi]) - 1)
                if adj > 0:
                    per_cmd[pi].append((lv, fi, adj, window, int(sibling)))

    # merge duplicates: one constraint per (preceding, level, following, window, sibling), the largest latency
    for p in range(n):
        best: dict[tuple[int, int, int, int], int] = {}
        for lv, f, lat, w, sib in per_cmd[p]:
            key = (lv, f, w, sib)
            best[key] = max(best.get(key, lat), lat)
        # sibling rules last (the kernel runs them in a loop of their own)
        per_cmd[p] = sorted(((lv, f, lat, w, sib) for (lv, f, w, sib), lat in best.items()), key=lambda r: (r[4], r))
    follow_levels = np.zeros(n, np.int64)
    for p in range(n):
        for lv, f, lat, w, sib in per_cmd[p]:
            follow_levels[f] |= 1 << lv
    start = np.zeros(n + 1, np.int64)
    flat = []
    for p in range(n):
        start[p] = len(flat)
        flat.extend(per_cmd[p])
    start[n] = len(flat)
    arr = np.array(flat, np.int64).reshape(-1, 5)
    spacing = np.ones(n, np.int64)
    for p in range(n):
        for lv, f, lat, w, sib in per_cmd[p]:
            if f == p and not sib:
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
        if mode_switch >= 0:
            mode = spec.get("mode", mode_names[0])
            if mode not in mode_names and mode != "any":
                raise ConfigError(f"{src}: instructions.{name}: mode must be one of {', '.join(mode_names)} "
                                  f"or any, got {mode!r}")
            ins_mode[o] = 0 if mode == "any" else mode_names.index(mode) + 1
        ins_blocking[o] = int(bool(spec.get("blocking", False)))
        ins_reader[o] = int(bool(spec.get("reader", False)))
        ins_af[o] = 1 if spec.get("row") == "af" else 0
    return CompiledTable(
        standard=standard, command_names=names, level_names=lnames, level_banks=np.array(lbanks, np.int64),
        ticks_per_cycle=mult, timing_ticks=timing, command_ticks=length, scope=scope, target_level=tlevel,
        role=role, done_cycles=done,
        category=category, cons_start=start, cons_level=arr[:, 0].copy(), cons_follow=arr[:, 1].copy(),
        cons_latency=arr[:, 2].copy(), cons_window=arr[:, 3].copy(), cons_sibling=arr[:, 4].copy(),
        self_spacing=spacing, follow_levels=follow_levels,
        open_bank=open_bank, open_bank_second=open_second, close_bank=close_bank, open_all=open_all, close_all=close_all,
        ref_all=ref_all, ref_bank=ref_bank, mode_switch=mode_switch, mode_names=mode_names,
        mode_next=mode_next, mode_commands=mode_commands, ins_command=ins_command,
        ins_repeat=ins_repeat, ins_mode=ins_mode, ins_blocking=ins_blocking, ins_reader=ins_reader,
        ins_af_row=ins_af, ins_supported=supported, auto_precharge=auto_pre, constraints=tuple(kept),
    )


def _modes(raw: dict, src: str, cid, mode_switch: int) -> tuple[tuple[str, ...], np.ndarray, dict]:
    """The table's modes and its (mode, needed) -> (command, next) matrix.

    `modes: [A, B, ...]` names codes 1, 2, ...; `mode_transitions: [{from: A, to: B, commands: [C1, C2]}]`
    lists the direct transitions, each a sequence of commands issued in order (a `close` command in it is
    skipped when no row is open). Reaching a mode with no direct transition takes the shortest chain of
    transitions (HBM-PIM: SB -> HAB -> HAB_PIM). Without `mode_transitions`, the legacy `mode_switch: CMD`
    toggles between the two default modes (compute, register) with that one command (AiM's TMOD)."""
    nxt = np.full((MAX_MODES, MAX_MODES, 2), -1, np.int64)
    trans = raw.get("mode_transitions")
    if not trans:
        if mode_switch < 0:
            return (), nxt, {}
        names = tuple(raw.get("modes") or ("compute", "register"))
        if len(names) != 2:
            raise ConfigError(f"{src}: mode_switch toggles between two modes; list mode_transitions for {names}")
        nxt[1, 2] = (mode_switch, 2)
        nxt[2, 1] = (mode_switch, 1)
        name = raw["mode_switch"]
        return names, nxt, {name: (names[0], names[1])}
    names = tuple(str(m) for m in (raw.get("modes") or []))
    if not names or len(set(names)) != len(names) or "any" in names:
        raise ConfigError(f"{src}: modes: a list of distinct mode names (not 'any') is needed with mode_transitions")
    code = {m: i + 1 for i, m in enumerate(names)}
    steps: dict[tuple[int, int], list[int]] = {}   # direct transition (from, to) -> its commands
    commands: dict[str, tuple[str, str]] = {}
    for k, tr in enumerate(trans):
        where = f"mode_transitions[{k}]"
        if not isinstance(tr, dict) or tr.get("from") not in code or tr.get("to") not in code or tr["from"] == tr["to"]:
            raise ConfigError(f"{src}: {where}: from / to must be two different modes of {names}")
        cmds = [cid(c, where) for c in _as_list(tr.get("commands"), where)]
        steps[(code[tr["from"]], code[tr["to"]])] = cmds
        for c in _as_list(tr.get("commands"), where):
            if (raw["commands"][c] or {}).get("role") == "mode_switch":
                commands[c] = (tr["from"], tr["to"])
        if sum((raw["commands"][c] or {}).get("role") == "mode_switch" for c in _as_list(tr.get("commands"), where)) != 1:
            raise ConfigError(f"{src}: {where}: exactly one of its commands must have role mode_switch")
    hidden = len(names) + 1   # next free code for a step state inside a multi-command transition
    first: dict[tuple[int, int], tuple[int, int]] = {}   # direct (from, to) -> (first command, state after it)
    for (a, b), cmds in steps.items():
        state = a
        for j, c in enumerate(cmds):
            after = b if j == len(cmds) - 1 else hidden
            if after == hidden:
                hidden += 1
                if hidden > MAX_MODES:
                    raise ConfigError(f"{src}: mode_transitions: more than {MAX_MODES} modes and steps")
            if j == 0:
                first[(a, b)] = (c, after)
            else:
                nxt[state, :, :] = -1
                for need in range(1, len(names) + 1):
                    nxt[state, need] = (c, after)   # inside a transition: finish it whatever is needed
            state = after
    # shortest chains of direct transitions: the first hop from every mode towards every needed mode
    n = len(names)
    for need in range(1, n + 1):
        dist = {need: 0}
        frontier = [need]
        while frontier:
            nf = []
            for m in frontier:
                for (a, b) in steps:
                    if b == m and a not in dist:
                        dist[a] = dist[m] + 1
                        nf.append(a)
            frontier = nf
        for m in range(1, n + 1):
            if m == need:
                continue
            if m not in dist:
                raise ConfigError(f"{src}: mode_transitions: no way from {names[m - 1]} to {names[need - 1]}")
            hop = min((b for (a, b) in steps if a == m and dist.get(b) == dist[m] - 1))
            nxt[m, need] = first[(m, hop)]
    return names, nxt, commands
