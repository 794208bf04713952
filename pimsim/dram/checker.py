"""Independent timing checker: re-reads an issued command log and verifies the standard's table.

Written separately from the kernel (plain Python, its own expression parser, its own reading of the YAML
table in pimsim/hardware/standards/NAME.yaml). For every logged command it checks:
- every constraint (level, from -> to, latency, window) against the earlier commands of the log: the
  command may not issue before latency after the (window-th most recent) `from` command at any node of
  that level shared with its target (every node of the channel for all-bank / channel-scope commands,
  every node inside the named node for a command of a level's scope, e.g. PREab of one rank); a sibling
  rule binds a command at a node after a `from` command that named another node of the same parent;
  latencies in ticks (`ticks_per_cycle`), adjusted by both commands' lengths, and a command longer than
  one tick holds its command bus (Ramulator 2.1 python/ramulator/dram/spec.py, read independently here);
- at most one command per channel per cycle (the command bus);
- row state: ACT only to closed banks (a two-step activate: its first step to a closed bank, its second
  to a bank activating that row), column accesses only to the open row, REF only with the refreshed
  banks precharged;
- mode state (tables with `mode_transitions`, e.g. hbm-pim's SB / HAB / HAB_PIM): each mode-switch command
  only in its transition's `from` mode, each command an instruction binds to a mode (`instructions:`) only
  in that mode; a channel starts in the mode `initial_modes` gives, else in an unknown one: until its first
  switch, any mode consistent with every command so far (a log of a run from a settled state in any mode);
- refresh interval (when `refresh` is on): with interval I (nREFI; nREFI/banks for per-bank refresh)
  and `refresh_phase_cycles` p elapsed at cycle 0, the k-th refresh falls due at k*I - p and must be
  issued before (max_postponed + 1) * I later (JEDEC lets a controller postpone refreshes; the engine
  postpones at most one); every refresh whose deadline is before `end_cycle` must be in the log.
"""

from __future__ import annotations

import re
from collections import deque
from dataclasses import dataclass

import numpy as np

from pimsim.hardware.schema import DramConfig
from pimsim.hardware.standards import load_standard_table


@dataclass(frozen=True)
class Violation:
    """One broken rule: where (log index, cycle, channel, command) and which rule."""

    index: int
    cycle: int
    channel: int
    command: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"cycle {self.cycle} ch{self.channel} {self.command}: {self.rule}: {self.detail}"


_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_][A-Za-z0-9_]*)|(.))")


def _tokens(text: str) -> list[str]:
    out = []
    pos = 0
    text = str(text)
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            break
        pos = m.end()
        tok = m.group(1) or m.group(2) or m.group(3)
        if tok and not tok.isspace():
            out.append(tok)
    return out


def latency_value(text, timing: dict[str, int]) -> int:
    """Recursive-descent evaluation of `a + b - c * d`, `max(...)`, `min(...)`, names and integers."""
    if isinstance(text, int):
        return text
    toks = _tokens(text)
    pos = 0

    def peek():
        return toks[pos] if pos < len(toks) else None

    def take(expected=None):
        nonlocal pos
        tok = peek()
        if tok is None or (expected is not None and tok != expected):
            raise ValueError(f"latency {text!r}: expected {expected or 'a term'} at token {pos}")
        pos += 1
        return tok

    def expr():
        v = term()
        while peek() in ("+", "-"):
            v = v + term() if take() == "+" else v - term()
        return v

    def term():
        v = factor()
        while peek() == "*":
            take()
            v *= factor()
        return v

    def factor():
        tok = take()
        if tok == "-":
            return -factor()
        if tok == "(":
            v = expr()
            take(")")
            return v
        if tok.isdigit():
            return int(tok)
        if tok in ("max", "min"):
            take("(")
            args = [expr()]
            while peek() == ",":
                take()
                args.append(expr())
            take(")")
            return max(args) if tok == "max" else min(args)
        if tok in timing:
            return int(timing[tok])
        raise ValueError(f"latency {text!r}: unknown name {tok!r}")

    value = expr()
    if pos != len(toks):
        raise ValueError(f"latency {text!r}: unexpected token {toks[pos]!r}")
    return value


def _names_in(text) -> set[str]:
    if isinstance(text, int):
        return set()
    return {t for t in _tokens(text) if t[0].isalpha() and t not in ("max", "min")}


def _level_banks(table: dict, dram: DramConfig) -> dict[str, int]:
    """Banks under one node of each level of the table's hierarchy (default channel/rank/bankgroup/bank)."""
    per_unit = {"channel": dram.banks, "rank": dram.bank_groups * dram.banks_per_group,
                "bankgroup": dram.banks_per_group, "bank": 1}
    spec = table.get("levels") or {u: u for u in ("channel", "rank", "bankgroup", "bank")}
    return {name: (int(unit["bank_groups"]) * dram.banks_per_group if isinstance(unit, dict) else per_unit[unit])
            for name, unit in spec.items()}


def check_log(log: np.ndarray, dram: DramConfig, *, refresh: bool = False, refresh_phase_cycles: int = 0,
              end_cycle: int | None = None, max_postponed: int = 1, initial_open_rows: dict[tuple[int, int], int] | None = None,
              initial_modes: dict[int, str] | None = None) -> list[Violation]:
    """All violations in `log` (fields cycle, channel, bank, command, row; bank -1 = all banks) of the
    constraint table of `dram.standard`; an empty list when the log is legal. Cycles are the table's
    ticks (tCK x ticks_per_cycle)."""
    table = load_standard_table(dram.standard)
    cmds = table["commands"]
    names = list(cmds)
    scope = {n: (cmds[n] or {}).get("scope", "bank") for n in names}
    role = {n: (cmds[n] or {}).get("role", "none") for n in names}
    mult = int(table.get("ticks_per_cycle", 1))
    timing = {k: int(v) * mult for k, v in {**(table.get("parameter_defaults") or {}), **dram.timing}.items()}
    length = {n: int(round(float((cmds[n] or {}).get("cycles", 1)) * mult)) for n in names}
    bus = {n: (cmds[n] or {}).get("bus", "command") for n in names}
    disabled = set(dram.disabled_constraints)
    nbanks = dram.banks
    lv_banks = _level_banks(table, dram)
    levels = list(lv_banks)
    bank_open = ((table.get("row_commands") or {}).get("bank") or {}).get("open")
    two_step = isinstance(bank_open, list)

    def target_level(name: str) -> str:
        sc = scope[name]
        if sc == "bank":
            return levels[-1]
        if sc in ("channel", "all_banks"):
            return levels[0]
        return sc

    # rules by following command: (level, preceding, latency in ticks, window, sibling, label); a rule's
    # latency is adjusted by both commands' lengths, a command longer than a tick holds its bus
    rules_by_follow: dict[str, list] = {n: [] for n in names}
    maxwin = 1
    for k, c in enumerate(table.get("constraints") or []):
        lat_text = c["latency"]
        if _names_in(lat_text) & disabled:
            continue
        lat = latency_value(lat_text, timing)
        frm = c["from"] if isinstance(c["from"], list) else [c["from"]]
        to = c["to"] if isinstance(c["to"], list) else [c["to"]]
        w = int(c.get("window", 1))
        sib = bool(c.get("sibling", False))
        maxwin = max(maxwin, w)
        label = (f"{lat_text} ({c['level']}{' sibling' if sib else ''}, {'/'.join(frm)} -> {'/'.join(to)}"
                 f"{f', window {w}' if w > 1 else ''})")
        for f in to:
            for p in frm:
                rules_by_follow[f].append((c["level"], p, lat + (length[p] - 1) - (length[f] - 1), w, sib, label))
    for p in names:
        if length[p] > 1:
            for f in names:
                if bus[f] == bus[p]:
                    rules_by_follow[f].append((levels[0], p, length[p], 1, False,
                                               f"{bus[p]} bus held {length[p]} ticks by {p}"))

    def node_ids(level: str, name: str, bank: int) -> list[int]:
        per = lv_banks[level]
        if bank < 0:
            return list(range(nbanks // per))
        top = lv_banks[target_level(name)]
        if per >= top:
            return [bank // per]
        first = (bank // top) * (top // per)
        return list(range(first, first + top // per))

    def siblings(level: str, node: int) -> list[int]:
        parent = lv_banks[levels[levels.index(level) - 1]]
        k = parent // lv_banks[level]
        first = (node // k) * k
        return [s for s in range(first, first + k) if s != node]

    # modes: mode-switch command -> (from, to); command -> the modes its instructions need
    mode_list = [str(m) for m in (table.get("modes") or [])] if table.get("mode_transitions") else []
    switch_of: dict[str, tuple[str, str]] = {}
    needs: dict[str, set[str]] = {}
    if mode_list:
        for tr in table["mode_transitions"]:
            steps = tr["commands"] if isinstance(tr["commands"], list) else [tr["commands"]]
            for c in steps:
                if role.get(c) == "mode_switch":
                    switch_of[c] = (tr["from"], tr["to"])
        for spec in (table.get("instructions") or {}).values():
            spec = spec or {}
            if "command" in spec and spec.get("mode", mode_list[0]) != "any":
                needs.setdefault(spec["command"], set()).add(spec.get("mode", mode_list[0]))
    cur_mode: dict[int, set[str]] = {}

    out: list[Violation] = []
    order = np.lexsort((np.arange(len(log)), log["cycle"]))
    hist: dict[tuple, deque] = {}
    single: dict[tuple, int] = {}   # (ch, level, node, command) -> last cycle it named that node alone
    open_rows: dict[tuple[int, int], int] = dict(initial_open_rows or {})
    last_cycle: dict[int, int] = {}
    refreshes: dict[int, list[int]] = {}
    ref_cmds = {n for n in names if role[n] == "refresh"}
    per_bank = dram.refresh == "per_bank"
    for i in order:
        t = int(log["cycle"][i])
        ch = int(log["channel"][i])
        bank = int(log["bank"][i])
        row = int(log["row"][i])
        cid = int(log["command"][i])
        if not 0 <= cid < len(names):
            out.append(Violation(int(i), t, ch, str(cid), "unknown command", f"id {cid} not in {dram.standard}"))
            continue
        name = names[cid]

        def bad(rule: str, detail: str) -> None:
            out.append(Violation(int(i), t, ch, name, rule, detail))

        if last_cycle.get(ch) == t:
            bad("command bus", "a second command in the same cycle on this channel")
        last_cycle[ch] = t
        # timing constraints
        for level, p, lat, w, sib, label in rules_by_follow[name]:
            for node in node_ids(level, name, bank):
                if sib:
                    for other in siblings(level, node):
                        tp = single.get((ch, level, other, p))
                        if tp is not None and t < tp + lat:
                            bad(label, f"{p} at cycle {tp} to sibling {level} {other} -> {name} needs {lat} "
                                f"cycles, got {t - tp}")
                    continue
                h = hist.get((ch, level, node, p))
                if h is None or len(h) < w:
                    continue
                tp = h[-w]
                if t < tp + lat:
                    bad(label, f"{p} at cycle {tp} -> {name} needs {lat} cycles, got {t - tp}")
        # mode state
        if mode_list:
            # the channel's possible modes: one once known, every mode consistent with the log before its
            # first switch when the start mode is not given
            given = (initial_modes or {}).get(ch)
            possible = cur_mode.get(ch, {given} if given is not None else set(mode_list))
            where = " or ".join(sorted(possible)) if possible else "no consistent mode"
            if name in switch_of:
                frm, to = switch_of[name]
                if frm not in possible:
                    bad("mode state", f"{name} switches {frm} -> {to} but the channel is in {where}")
                cur_mode[ch] = {to}
            elif name in needs:
                if not possible & needs[name]:
                    bad("mode state", f"{name} needs mode {' or '.join(sorted(needs[name]))}, the channel is in {where}")
                    cur_mode[ch] = possible
                else:
                    cur_mode[ch] = possible & needs[name]
        # row state
        if bank < 0 or scope[name] in ("channel", "all_banks"):
            banks = range(nbanks)
        else:
            span = lv_banks[target_level(name)]
            banks = range((bank // span) * span, (bank // span) * span + span)
        r = role[name]
        if r == "open_first" or (r == "open" and not two_step):
            for b in banks:
                if open_rows.get((ch, b), -1) != -1:
                    bad("row state", f"{name} to bank {b} whose row {open_rows[(ch, b)]} is open")
                open_rows[(ch, b)] = ("activating", row) if r == "open_first" else row
        elif r == "open":
            for b in banks:
                if open_rows.get((ch, b), -1) != ("activating", row):
                    bad("row state", f"{name} to bank {b} not activating row {row} (state "
                        f"{open_rows.get((ch, b), -1)})")
                open_rows[(ch, b)] = row
        elif r in ("access", "access_close"):
            for b in banks:
                cur = open_rows.get((ch, b), -1)
                if cur != row:
                    bad("row state", f"column access to row {row} of bank {b} "
                        + ("which is closed" if cur == -1 else f"whose open row is {cur}"))
            if r == "access_close":
                for b in banks:
                    open_rows[(ch, b)] = -1
        elif r == "close":
            for b in banks:
                open_rows[(ch, b)] = -1
        elif r == "refresh":
            for b in banks:
                if open_rows.get((ch, b), -1) != -1:
                    bad("row state", f"refresh with bank {b} open")
        if name in ref_cmds and ((scope[name] == "bank") == per_bank):
            refreshes.setdefault(ch, []).append(t)
        for level in levels:
            nodes = node_ids(level, name, bank)
            for node in nodes:
                key = (ch, level, node, name)
                if key not in hist:
                    hist[key] = deque(maxlen=maxwin)
                hist[key].append(t)
            if bank >= 0 and lv_banks[level] >= lv_banks[target_level(name)]:
                single[(ch, level, nodes[0], name)] = t

    if refresh:
        interval = timing["nREFI"] // (nbanks if per_bank else 1)
        end = end_cycle if end_cycle is not None else (int(log["cycle"].max()) if len(log) else 0)
        for ch in range(dram.channels):
            times = refreshes.get(ch, [])
            k = 1
            while True:
                due = k * interval - refresh_phase_cycles
                deadline = due + (max_postponed + 1) * interval
                if deadline > end and k > len(times):
                    break
                if k <= len(times):
                    if times[k - 1] >= deadline:
                        out.append(Violation(-1, times[k - 1], ch, "REF", "refresh interval",
                                             f"refresh {k} due at {due} issued at {times[k - 1]}, after its "
                                             f"deadline {deadline} ({max_postponed} postponed at most)"))
                elif deadline <= end:
                    out.append(Violation(-1, deadline, ch, "REF", "refresh interval",
                                         f"refresh {k} due at {due} missing before cycle {deadline}"))
                    break
                k += 1
    return out
