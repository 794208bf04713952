"""Independent timing checker: re-reads an issued command log and verifies the standard's table.

Written separately from the kernel (plain Python, its own expression parser, its own reading of the YAML
table in pimsim/hardware/standards/NAME.yaml). For every logged command it checks:
- every constraint (level, from -> to, latency, window) against the earlier commands of the log: the
  command may not issue before latency after the (window-th most recent) `from` command at any node of
  that level shared with its target (every node of the channel for all-bank / channel-scope commands);
- at most one command per channel per cycle (the command bus);
- row state: ACT only to closed banks, column accesses only to the open row, REF only with the
  refreshed banks precharged;
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


def check_log(log: np.ndarray, dram: DramConfig, *, refresh: bool = False, refresh_phase_cycles: int = 0,
              end_cycle: int | None = None, max_postponed: int = 1, initial_open_rows: dict[tuple[int, int], int] | None = None
              ) -> list[Violation]:
    """All violations in `log` (fields cycle, channel, bank, command, row; bank -1 = all banks) of the
    constraint table of `dram.standard`; an empty list when the log is legal."""
    table = load_standard_table(dram.standard)
    cmds = table["commands"]
    names = list(cmds)
    scope = {n: (cmds[n] or {}).get("scope", "bank") for n in names}
    role = {n: (cmds[n] or {}).get("role", "none") for n in names}
    timing = dict(dram.timing)
    disabled = set(dram.disabled_constraints)
    nbpg, nbg, nranks = dram.banks_per_group, dram.bank_groups, dram.ranks
    nbanks = dram.banks

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
        maxwin = max(maxwin, w)
        label = f"{lat_text} ({c['level']}, {'/'.join(frm)} -> {'/'.join(to)}{f', window {w}' if w > 1 else ''})"
        for f in to:
            rules_by_follow[f].append((c["level"], tuple(frm), lat, w, label))

    def node_ids(level: str, name: str, bank: int) -> list[int]:
        if scope[name] != "bank" or bank < 0:
            count = {"channel": 1, "rank": nranks, "bankgroup": nranks * nbg, "bank": nbanks}[level]
            return list(range(count))
        return [{"channel": 0, "rank": bank // (nbg * nbpg), "bankgroup": bank // nbpg, "bank": bank}[level]]

    out: list[Violation] = []
    order = np.lexsort((np.arange(len(log)), log["cycle"]))
    hist: dict[tuple, deque] = {}
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
        for level, frm, lat, w, label in rules_by_follow[name]:
            for node in node_ids(level, name, bank):
                for p in frm:
                    h = hist.get((ch, level, node, p))
                    if h is None or len(h) < w:
                        continue
                    tp = h[-w]
                    if t < tp + lat:
                        bad(label, f"{p} at cycle {tp} -> {name} needs {lat} cycles, got {t - tp}")
        # row state
        banks = range(nbanks) if (scope[name] != "bank" or bank < 0) else [bank]
        r = role[name]
        if r == "open":
            for b in banks:
                if open_rows.get((ch, b), -1) != -1:
                    bad("row state", f"ACT to bank {b} whose row {open_rows[(ch, b)]} is open")
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
        for level in ("channel", "rank", "bankgroup", "bank"):
            for node in node_ids(level, name, bank):
                key = (ch, level, node, name)
                if key not in hist:
                    hist[key] = deque(maxlen=maxwin)
                hist[key].append(t)

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
