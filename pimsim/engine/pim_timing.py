"""PIM op timing through the command engine, cached by program.

Fast mode: each distinct program (the mapper's AiM trace text) is parsed once and run, refresh off,
from a settled state: every timing constraint expired, and the rows and mode the previous PIM op of the
token left (`Entry`; with none, a row of another matrix open in every bank, so the first access pays
PREA + ACT, and the channel in register mode, as after reading results). Rows matter: mappings whose
consecutive programs share DRAM rows (`naive`: the q/k/v heads of one layer) find them open, as exact
mode does. Its cycles, DRAM command counts, row hits/misses and cycle breakdown by
category are cached by (program, entry) and reused by every op with that program (e.g. the identical FC layers of every
decode step). Refresh: each (program, entry) also gets the cost of one refresh in it
(`refresh_probe`, `pimsim.engine.refresh`), from which the caller adds the stall in closed form.
Programs run on channel 0 only when the mapping makes channels identical; counts are
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

from dataclasses import dataclass, replace

import numpy as np

from pimsim.dram import CommandEngine, EngineState, Program, parse_trace
from pimsim.dram.table import OP
from pimsim.engine.refresh import LONG_INTERVALS, RefreshProbe, probe_refresh, probe_refresh_marginal

ILL_CONDITIONED = 0.25  # (I - c) / I below which a refresh probe is refined (see stream_refresh_probe)
from pimsim.hardware import Hardware

# engine category -> breakdown key (pim_ prefix: PIM time; refresh stays refresh)
_RENAME = {"mac": "pim_mac_stream", "row_switch": "pim_row_switch", "gb_write": "pim_gb_write",
           "bias_write": "pim_bias_write", "result_read": "pim_result_read", "data": "pim_data",
           "mode_switch": "pim_mode_switch", "wait": "pim_wait", "drain": "pim_drain", "refresh": "refresh"}


@dataclass(frozen=True)
class Entry:
    """What a PIM op finds on the channel from the op before it: each bank's open row (-1: precharged)
    and the mode (the engine's mode number). Timing residues are taken as expired (settled)."""

    open_rows: tuple[int, ...]
    mode: int


@dataclass(frozen=True)
class ProgramTiming:
    """One program's timing on one channel, and the entry it leaves for the next op."""

    cycles: int
    commands: dict[str, int]
    row_hits: int
    row_misses: int
    category_cycles: dict[str, int]
    exit: Entry | None = None


class PimTimer:
    """Times mapper programs with the command engine (see module docstring)."""

    def __init__(self, hw: Hardware, *, refresh: bool = False, channels: int = 1):
        self.hw = hw
        # channels are independent and the mapper's programs identical per channel: one channel is timed;
        # `channels` > 1 times whole-device programs whose channels differ (units.PimDeviceUnit), from a settled
        # device (entries, one channel's rows, do not apply to them)
        self.channel = hw.dram.model_copy(update={"channels": channels})
        self.engine = CommandEngine(self.channel, refresh=False)
        # a mapper program starts with its input's WR_GB: a settled channel is in that instruction's mode
        # (AiM: register mode; HBM-PIM: HAB_PIM; tables without modes: 0)
        self.start_mode = int(self.engine.table.ins_mode[OP["WR_GB"]]) or 1
        self.settled = self.engine.settled_state(open_row=hw.dram.rows - 1, mode=self.start_mode)
        self._cache: dict[tuple[int, Entry | None], tuple[object, ProgramTiming]] = {}
        self._parsed: dict[int, tuple[object, object]] = {}
        self.refresh = refresh
        self._refresh_engine: CommandEngine | None = None
        self._refresh_cache: dict[tuple[int, Entry | None], tuple[object, RefreshProbe]] = {}
        self._stream_cache: dict[tuple, tuple[tuple, RefreshProbe]] = {}
        self._lanes: tuple | None = None  # exact mode's lane engine: (lanes, engine, its state)
        self._lane_parts: dict[tuple, tuple[object, np.ndarray]] = {}  # (program id, n, sizes) -> its records
        if refresh:
            self.continuous = CommandEngine(self.channel, refresh=True)
            self.state: EngineState = self.continuous.settled_state(open_row=hw.dram.rows - 1, mode=self.start_mode)

    def parsed(self, program):
        hit = self._parsed.get(id(program))
        if hit is None or hit[0] is not program:
            hit = self._parsed[id(program)] = (program, parse_trace(program.text, source="<mapper program>"))
        return hit[1]

    def time(self, program, entry: Entry | None = None) -> ProgramTiming:
        """Refresh-free timing of `program` from a settled channel with `entry`'s rows and mode (None: the
        default settled state), cached by (program identity, entry)."""
        key = (id(program), entry)
        hit = self._cache.get(key)
        if hit is not None and hit[0] is program:
            return hit[1]
        res = self.engine.run(self.parsed(program), start_state=self._start(entry))
        timing = _timing(res, all_channels=self.channel.channels > 1)
        self._cache[key] = (program, timing)
        return timing

    def refresh_probe(self, program, entry: Entry | None = None) -> RefreshProbe:
        """What one refresh costs `program` found in `entry` (`pimsim.engine.refresh`), cached like `time`."""
        key = (id(program), entry)
        hit = self._refresh_cache.get(key)
        if hit is not None and hit[0] is program:
            return hit[1]
        if self._refresh_engine is None:
            self._refresh_engine = CommandEngine(self.channel, refresh=True)
        start = self._start(entry)
        without = self.engine.run(self.parsed(program), start_state=start)
        probe = probe_refresh(self._refresh_engine, self.parsed(program), start, without)
        self._refresh_cache[key] = (program, probe)
        return probe

    def stream_refresh_probe(self, programs: tuple, entry: Entry | None = None, repeat_up_to: int = 1
                             ) -> RefreshProbe:
        """What one refresh costs the stream of `programs` run in order from `entry` (joined as exact mode
        joins a token's programs), cached by (the programs' identities, entry). A stream shorter than
        `LONG_INTERVALS` refresh intervals is probed repeated (up to `repeat_up_to` times, the layers that
        repeat it), so that a refresh falling at its end, whose cost the next stream pays, weighs as in a
        long run."""
        key = (tuple(id(p) for p in programs), entry, repeat_up_to)
        hit = self._stream_cache.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], programs)):
            return hit[1]
        if self._refresh_engine is None:
            self._refresh_engine = CommandEngine(self.channel, refresh=True)
        start = self._start(entry)
        once = self.joined(programs)
        without = self.engine.run(once, start_state=start)
        if repeat_up_to > 1:
            interval = self.refresh_interval_cycles
            single = without
            reps = min(repeat_up_to, -(-LONG_INTERVALS * interval // max(single.cycles, 1)))
            probe = self._marginal(programs, reps, start, single if reps == 1 else None)
            # ill-conditioned (c close to I, per-bank refresh): a one-stream start still differs from the
            # steady state by tenths of a cycle per refresh, a percent of the stall there; take the marginal
            # over two repetitions or more (costs twice the engine work, so only where it matters)
            if reps < 2 <= repeat_up_to and interval - probe.cost_cycles < ILL_CONDITIONED * interval:
                probe = self._marginal(programs, 2, start, None)
        else:
            probe = probe_refresh(self._refresh_engine, once, start, without)
        self._stream_cache[key] = (programs, probe)
        return probe

    def _marginal(self, programs: tuple, reps: int, start: EngineState, once_without) -> RefreshProbe:
        """`probe_refresh_marginal` of `programs` repeated 2 x `reps` against `reps` times."""
        once = self.joined(list(programs) * reps)
        if once_without is None:
            once_without = self.engine.run(once, start_state=start)
        twice = self.joined(list(programs) * 2 * reps)
        return probe_refresh_marginal(self._refresh_engine, once, twice, start, once_without,
                                      self.engine.run(twice, start_state=start))

    @property
    def refresh_interval_cycles(self) -> int:
        return self.engine.refresh_interval_cycles

    def _start(self, entry: Entry | None) -> EngineState:
        if entry is None:
            return self.settled
        return replace(self.settled, open_rows=(entry.open_rows,), modes=(entry.mode,))

    def joined(self, programs) -> Program:
        """One engine program running `programs` in order (inner EOCs become SYNCs)."""
        arrays = [self.parsed(p).array for p in programs]
        joined = _concat_records(arrays)
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

    def joined_lanes(self, programs: list[tuple[object, int]], sizes: list[int]) -> Program:
        """Exact mode with channel lanes: one engine program of len(`sizes`) channels (lane c standing for
        sizes[c] channels) running `programs` in order, each (mapper program, n) on lanes 0..n-1. Inner EOCs
        become SYNCs, which wait for every lane. An instruction that names one channel is written once per
        lane after sizes[c] - 1 EWADDs (no DRAM command; one host request each), so the host issues it for as
        many channels as the lane stands for, one request a tick, as on the real device, and the lane's
        channel is the last of them (the slowest, which the SYNCs wait for). With every size 1 this is the
        program every channel runs, instruction for instruction."""
        parts = [self._lane_part(program, n, tuple(sizes)) for program, n in programs]
        joined = _concat_records(parts)
        eoc = joined["op"] == OP["EOC"]
        eoc[-1] = False
        joined["op"][eoc] = OP["SYNC"]
        joined.flags.writeable = False  # built once and cached by the caller: its signature is kept
        return Program(joined, "<token lanes>")

    def _lane_part(self, program, n: int, sizes: tuple[int, ...]) -> np.ndarray:
        """`program`'s records on lanes 0..n-1 of `sizes` (see joined_lanes), cached by program identity."""
        from pimsim.dram.program import SINGLE_CHANNEL

        key = (id(program), n, sizes)
        hit = self._lane_parts.get(key)
        if hit is not None and hit[0] is program:
            return hit[1]
        arr = self.parsed(program).array.copy()
        arr["mask"] = np.uint64((1 << n) - 1)
        one = np.isin(arr["op"], [OP[name] for name in SINGLE_CHANNEL])
        if one.any():  # one record per lane, in place, padded to the lane's channels
            lane_of = np.repeat(np.arange(n), sizes[:n])           # the expansion of one record:
            last = np.r_[lane_of[1:] != lane_of[:-1], True]          # pads, then the lane's own record
            reps = np.where(one, lane_of.size, 1)
            arr = np.repeat(arr, reps)
            at = np.flatnonzero(np.repeat(one, reps))
            pattern = np.resize(np.arange(lane_of.size), at.size)
            arr["mask"][at] = np.left_shift(np.uint64(1), lane_of[pattern].astype(np.uint64))
            pad = at[~last[pattern]]
            arr["op"][pad] = OP["EWADD"]
            arr["opsize"][pad] = 1
        if len(self._lane_parts) > 8192:
            self._lane_parts.clear()
        self._lane_parts[key] = (program, arr)
        return arr

    def run_lanes(self, program: Program, lanes: int) -> tuple[int, dict[str, int], list[ProgramTiming]]:
        """Exact mode: run a `joined_lanes` program on `lanes` channels continuing their state (refresh on);
        returns (cycles, the slowest lane's cycles by category, each lane's commands and row hits/misses)."""
        if self._lanes is None or self._lanes[0] != lanes:
            engine = CommandEngine(self.channel.model_copy(update={"channels": lanes}), refresh=True)
            self._lanes = (lanes, engine, engine.settled_state(open_row=self.hw.dram.rows - 1, mode=self.start_mode))
        _, engine, state = self._lanes
        res = engine.run(program, start_state=state)
        self._lanes = (lanes, engine, res.end_state)
        base = _timing(res)
        per_lane = [ProgramTiming(res.cycles, res.channel_commands_by_name(c), res.channel_row_hits[c],
                                  res.channel_row_misses[c], {}) for c in range(lanes)]
        return res.cycles, base.category_cycles, per_lane


def _concat_records(arrays: list[np.ndarray]) -> np.ndarray:
    """np.concatenate of program record arrays of one dtype, as bytes (numpy's structured concatenate
    promotes field by field per array: ~10 us each, most of a token's join)."""
    dtype = arrays[0].dtype
    return np.concatenate([a.view(np.uint8) for a in arrays]).view(dtype)


def _timing(res, all_channels: bool = False) -> ProgramTiming:
    # a mapper program runs on channel 0: its counts are that channel's (a whole-device program's: every
    # channel's)
    per = res.channel_commands.sum(axis=0) if all_channels else res.channel_commands[0]
    counts = {name: int(n) for name, n in zip(res.command_names, per) if n}
    cats: dict[str, int] = {}
    for name, cyc in res.category_cycles.items():
        if cyc:
            key = _RENAME[name]
            cats[key] = cats.get(key, 0) + int(cyc)
    end = res.end_state
    return ProgramTiming(res.cycles, counts, res.row_hits, res.row_misses, cats,
                         Entry(tuple(end.open_rows[0]), int(end.modes[0])))
