"""PIM op timing through the command engine, cached by program.

Fast mode: each distinct program (the mapper's AiM trace text) is parsed once and run once, refresh off,
from a settled state: every timing constraint expired, a row of another matrix open in every bank
(so the first access pays PREA + ACT, as after the previous op) and the channel in register mode (the
previous op ended reading results). Its cycles, DRAM command counts, row hits/misses and cycle breakdown by
category are cached and reused by every op with that program (e.g. the identical FC layers of every
decode step). Programs run on channel 0 only when the mapping makes channels identical; counts are
per channel and the caller scales them.
Exact mode (`PimTimer.run_continuous`): programs run back to back through one engine state with refresh
on, so open rows, mode and the refresh phase carry across ops. A token's programs are joined into one
engine run, each program's closing EOC becoming a SYNC (the same wait for every channel, without ending
the run), which is what running them one after another does. The DRAM clock advances with PIM
activity only: a refresh that would fall in an ASIC gap is taken at the next PIM command instead, so
exact mode (like fast mode's closed form) charges every refresh to PIM time; this overstates refresh
by at most the non-VMM share of it (about 1-3% of a ~9% overhead).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimsim.dram import CommandEngine, EngineState, Program, parse_trace
from pimsim.dram.table import OP
from pimsim.hardware import Hardware

# engine category -> breakdown key (pim_ prefix: PIM time; refresh stays refresh)
_RENAME = {"mac": "pim_mac_stream", "row_switch": "pim_row_switch", "gb_write": "pim_gb_write",
           "bias_write": "pim_bias_write", "result_read": "pim_result_read", "data": "pim_data",
           "mode_switch": "pim_mode_switch", "wait": "pim_wait", "drain": "pim_drain", "refresh": "refresh"}


@dataclass(frozen=True)
class ProgramTiming:
    """One program's timing on one channel."""

    cycles: int
    commands: dict[str, int]
    row_hits: int
    row_misses: int
    category_cycles: dict[str, int]


class PimTimer:
    """Times mapper programs with the command engine (see module docstring)."""

    def __init__(self, hw: Hardware, *, refresh: bool = False):
        self.hw = hw
        # channels are independent and the mapper's programs identical per channel: one channel is timed
        self.channel = hw.dram.model_copy(update={"channels": 1})
        self.engine = CommandEngine(self.channel, refresh=False)
        self.settled = self.engine.settled_state(open_row=hw.dram.rows - 1, mode=2)
        self._cache: dict[int, tuple[object, ProgramTiming]] = {}
        self._parsed: dict[int, tuple[object, object]] = {}
        self.refresh = refresh
        if refresh:
            self.continuous = CommandEngine(self.channel, refresh=True)
            self.state: EngineState = self.continuous.settled_state(open_row=hw.dram.rows - 1, mode=2)

    def parsed(self, program):
        hit = self._parsed.get(id(program))
        if hit is None or hit[0] is not program:
            hit = self._parsed[id(program)] = (program, parse_trace(program.text, source="<mapper program>"))
        return hit[1]

    def time(self, program) -> ProgramTiming:
        """Refresh-free timing of `program` from an idle channel, cached by program identity."""
        hit = self._cache.get(id(program))
        if hit is not None and hit[0] is program:
            return hit[1]
        res = self.engine.run(self.parsed(program), start_state=self.settled)
        timing = _timing(res)
        self._cache[id(program)] = (program, timing)
        return timing

    def joined(self, programs) -> Program:
        """One engine program running `programs` in order (inner EOCs become SYNCs)."""
        arrays = [self.parsed(p).array for p in programs]
        joined = np.concatenate(arrays)
        ops = joined["op"]
        eoc = ops == OP["EOC"]
        eoc[-1] = False
        ops[eoc] = OP["SYNC"]
        return Program(joined, "<token>")

    def run_continuous(self, program) -> ProgramTiming:
        """Exact mode: run `program` (a mapper program or a joined `Program`) continuing the engine state
        of the previous run (refresh on)."""
        parsed = program if isinstance(program, Program) else self.parsed(program)
        res = self.continuous.run(parsed, start_state=self.state)
        self.state = res.end_state
        return _timing(res)


def _timing(res) -> ProgramTiming:
    # the program runs on channel 0: its counts are that channel's
    counts = {name: int(n) for name, n in zip(res.command_names, res.channel_commands[0]) if n}
    cats: dict[str, int] = {}
    for name, cyc in res.category_cycles.items():
        if cyc:
            key = _RENAME[name]
            cats[key] = cats.get(key, 0) + int(cyc)
    return ProgramTiming(res.cycles, counts, res.row_hits, res.row_misses, cats)
