"""System level: a workload's phases on ASIC + PIM channels + link, timed and costed into a `Result`.

Execution model (pim_gpt_paper.md, "Simulator"): on PIM every token of every sequence is a chain of
ops (`Mapper.map_token`): PIM programs (timed by the command engine, `pim_timing.PimTimer`), ASIC vector
work (`asic.py`) and link transfers. The mapping's overlap policy decides the schedule:
- `serial` (as published): an instruction completes before the next starts, so a token's time is the
  sum of its ops and a phase's time the sum over its tokens;
- `pipelined`: ASIC, PIM and link are separate resources (simpy); sequences decoded together overlap
  (one's ASIC work runs under another's PIM work). A sequence holds a resource for a run of consecutive
  ops on it.
Refresh: in fast mode op programs are timed refresh-free and cached by (program, entry rows); each op's
refresh stall is added in closed form from the cost of one refresh the command engine measures in that
program (`pimsim.engine.refresh`). `exact=True` instead runs every op's program continuously through one
engine state with refresh on (see `pim_timing` for how ASIC gaps are treated). tests/test_refresh_modes.py
holds the two together over every mapping, PIM preset, MHA and GQA, decode and PRM scoring, all-bank and
per-bank refresh.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import simpy

from pimsim.engine.asic import asic_energy_j, asic_seconds
from pimsim.engine.capacity import check_pim_capacity
from pimsim.engine.energy import background_energy_j, link_energy_j, pim_command_energy_j
from pimsim.engine.pim_timing import Entry, PimTimer
from pimsim.engine.refresh import RefreshProbe, stall_cycles
from pimsim.errors import ConfigError
from pimsim.hardware import Hardware, load_hardware
from pimsim.mapper import Mapper, Mapping, load_mapping
from pimsim.models import ModelConfig
from pimsim.result import PhaseResult, Result
from pimsim.workloads import Phase, Workload, expand



@dataclass
class _Tally:
    """Accumulated time (s) by category, energy inputs and counters of some ops."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    commands: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    asic_flops: float = 0.0
    asic_sram_bytes: float = 0.0
    link_bytes: float = 0.0
    row_hits: float = 0.0
    row_misses: float = 0.0
    pim_busy_s: float = 0.0
    weight_pim_s: float = 0.0
    attention_pim_s: float = 0.0

    def add(self, other: "_Tally", times: float = 1.0) -> None:
        for k, v in other.seconds.items():
            self.seconds[k] += v * times
        for k, v in other.commands.items():
            self.commands[k] += v * times
        for name in ("asic_flops", "asic_sram_bytes", "link_bytes", "row_hits",
                     "row_misses", "pim_busy_s", "weight_pim_s", "attention_pim_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name) * times)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


class SystemSimulator:
    """Times workloads on one hardware + mapping; mappers and op timings are cached across phases."""

    def __init__(self, hw: Hardware, mapping: Mapping, *, exact: bool = False):
        if exact and mapping.overlap != "serial":
            raise ConfigError(f"exact mode simulates the serial schedule; mapping {mapping.name} is "
                              f"{mapping.overlap} (use fast mode, without --exact)")
        self.hw, self.mapping, self.exact = hw, mapping, exact
        self.timer = PimTimer(hw, refresh=exact)
        self._mappers: dict[ModelConfig, Mapper] = {}
        self._token_tally: dict[tuple, _Tally] = {}
        self._token_chain: dict[tuple, list[tuple[str, float]]] = {}
        self._op_cache: dict[int, tuple[object, tuple[str, float, _Tally]]] = {}
        self.link_bytes_per_s = hw.dram.channels * hw.link.bytes_per_cycle / (hw.dram.tck_ns * 1e-9)

    def mapper(self, model: ModelConfig) -> Mapper:
        m = self._mappers.get(model)
        if m is None:
            m = self._mappers[model] = Mapper(model, self.hw, self.mapping)
        return m

    # ------------------------------------------------------------------ capacity
    def check_capacity(self, workload: Workload) -> None:
        """Every weight copy of the workload and its KV cache must fit together (`engine.capacity`)."""
        check_pim_capacity(workload, self.hw, self.mapper)

    # ------------------------------------------------------------------ one token
    def _op_seconds(self, op, entry: Entry | None = None, refresh: RefreshProbe | None = None
                    ) -> tuple[str, float, _Tally, Entry | None]:
        """(unit, seconds, tally, exit) of one mapped op found in `entry` (the rows and mode the PIM op
        before it left), its refresh stall included in fast mode (at the cost per refresh `refresh` of the
        stream it runs in; None: measured on its own program); cached by (op identity, entry, refresh).
        Non-PIM ops pass `entry` on."""
        key = (id(op), entry, id(refresh))
        hit = self._op_cache.get(key)
        if hit is not None and hit[0] is op and hit[1] is refresh:
            return hit[2]
        out = self._op_seconds_uncached(op, entry, refresh)
        self._op_cache[key] = (op, refresh, out)
        return out

    def _op_seconds_uncached(self, op, entry: Entry | None, refresh: RefreshProbe | None
                             ) -> tuple[str, float, _Tally, Entry | None]:
        t = _Tally()
        if op.unit == "pim":
            timing = self.timer.time(op.program, entry)
            channels = op.channels_active or self.hw.dram.channels
            tck_s = self.hw.dram.tck_ns * 1e-9
            sec = timing.cycles * tck_s
            if op.category == "kv_write":
                refresh_cyc = timing.category_cycles.get("refresh", 0)
                t.seconds["kv_write"] += (timing.cycles - refresh_cyc) * tck_s
                t.seconds["refresh"] += refresh_cyc * tck_s
            else:
                for cat, cyc in timing.category_cycles.items():
                    t.seconds[cat] += cyc * tck_s
                if op.category == "attention":
                    t.attention_pim_s += sec
                else:
                    t.weight_pim_s += sec
            self._add_pim_counts(t, timing, channels)
            if not self.exact:  # exact mode issues the refreshes itself (`_phase_exact`)
                sec += self._add_refresh_stall(t, op, refresh or self.timer.refresh_probe(op.program, entry),
                                               timing.cycles)
            t.pim_busy_s += sec
            return "pim", sec, t, timing.exit
        if op.unit == "asic":
            sec = asic_seconds(op.asic_flops, op.asic_units, self.hw.asic)
            t.seconds["asic"] += sec
            t.asic_flops += op.asic_flops
            t.asic_sram_bytes += op.asic_sram_bytes
            return "asic", sec, t, entry
        sec = op.link_bytes / self.link_bytes_per_s + self.hw.link.latency_ns * 1e-9
        t.seconds["link"] += sec
        t.link_bytes += op.link_bytes
        return "link", sec, t, entry

    def _add_pim_counts(self, t: _Tally, timing, channels: int, times: int = 1) -> None:
        """Add the DRAM commands and row hits/misses of `timing` (one channel's) run on `channels` channels,
        `times` times; refreshes are counted on every channel, whatever the op uses."""
        nch = self.hw.dram.channels
        for k, v in timing.commands.items():
            t.commands[k] += v * times * (nch if k.startswith("REF") else channels)
        t.row_hits += timing.row_hits * channels * times
        t.row_misses += timing.row_misses * channels * times

    def _walk(self, ops, entry: Entry | None, chain: list | None = None, stream: int = 0
              ) -> tuple[_Tally, Entry | None]:
        """(tally, exit) of `ops` run in order from `entry`, each op finding the rows the one before left;
        with `chain`, appends to it the runs of (unit, seconds) on one unit (for the pipelined schedule).
        `stream` (the times the ops repeat, e.g. the layers): refresh costs what it costs the ops' PIM
        programs run back to back (a refresh that closes a row costs the next op too), not each alone."""
        probe = None
        if stream and not self.exact:
            programs = tuple(op.program for op in ops if op.unit == "pim")
            probe = self.timer.stream_refresh_probe(programs, entry, stream) if programs else None
        tally = _Tally()
        for op in ops:
            unit, sec, t, entry = self._op_seconds(op, entry, probe)
            tally.add(t)
            if chain is not None:
                self._append_run(chain, unit, sec)
        return tally, entry

    def _token_walk(self, model: ModelConfig, context: int, head: bool, chain: list | None = None) -> _Tally:
        """A token's ops in order (pre, the layers, post), each op timed from the state the op before left.
        Layers repeat the same ops: once the entry a layer finds repeats, the remaining layers equal the
        last one walked, so at most a few layers are walked (all of them if the entry never repeats)."""
        step = self.mapper(model).map_token(context, head=head)
        tally, entry = self._walk(step.pre, None, chain)
        done = 0
        while done < step.layers:
            layer_chain = None if chain is None else []
            t, exit_ = self._walk(step.layer, entry, layer_chain, stream=step.layers)
            repeat = step.layers - done if exit_ == entry else 1
            tally.add(t, repeat)
            if chain is not None:
                for run in layer_chain * repeat:  # runs on one unit merge across the layer boundary
                    self._append_run(chain, *run)
            entry = exit_
            done += repeat
        post, _ = self._walk(step.post, entry, chain)
        tally.add(post)
        return tally

    @staticmethod
    def _append_run(chain: list, unit: str, sec: float) -> None:
        if chain and chain[-1][0] == unit:
            chain[-1] = (unit, chain[-1][1] + sec)
        else:
            chain.append((unit, sec))

    def token(self, model: ModelConfig, context: int, head: bool) -> _Tally:
        """Tally of one token at `context` (serial: the sum of its ops)."""
        key = (model, context, head)
        tally = self._token_tally.get(key)
        if tally is None:
            tally = self._token_tally[key] = self._token_walk(model, context, head)
        return tally

    def token_chain(self, model: ModelConfig, context: int, head: bool) -> list[tuple[str, float]]:
        """The token's ops in order as runs of (unit, seconds) on one unit (for the pipelined schedule)."""
        key = (model, context, head)
        chain = self._token_chain.get(key)
        if chain is None:
            chain = self._token_chain[key] = []
            self._token_walk(model, context, head, chain)
        return chain

    def _pipelined_makespan(self, chains: list[list[tuple[str, float]]]) -> float:
        """simpy: sequences run their unit-runs concurrently on one PIM, one ASIC and one link resource."""
        env = simpy.Environment()
        units = {u: simpy.Resource(env, capacity=1) for u in ("pim", "asic", "link")}

        def seq(chain):
            for unit, sec in chain:
                with units[unit].request() as req:
                    yield req
                    yield env.timeout(sec)

        for chain in chains:
            env.process(seq(chain))
        env.run()
        return env.now

    def _phase_exact(self, ph: Phase) -> tuple[_Tally, float]:
        """Every token of every sequence in order through one continuous engine state (refresh on).

        A token's PIM programs run as one joined engine program; its PIM time and DRAM commands come from
        that run (time by engine category; plain writes, which only the KV appends issue, as kv_write),
        its ASIC and link work and the weight/attention counters from the op tallies, as in fast mode.
        Commands and row hits/misses scale to every channel except the K append's (a refresh-free timing,
        so no REF to take back), which one channel serves.
        """
        hp = 1 if ph.head_positions is None else ph.head_positions
        tally = _Tally()
        mapper = self.mapper(ph.model)
        tck_s = self.hw.dram.tck_ns * 1e-9
        nch = self.hw.dram.channels
        k_append = mapper.kv_append_ops()[0]
        k_timing = self.timer.time(k_append.program) if self.mapping.attention.placement == "pim" else None
        for s in range(ph.steps):
            for i in range(ph.new_tokens):
                ctx = ph.past_context + s * ph.new_tokens + i + 1
                head = i >= ph.new_tokens - hp
                step = mapper.map_token(ctx, head=head)
                fast = self.token(ph.model, ctx, head)
                pim_ops = [op.program for op in step.ops() if op.unit == "pim"]
                joined = self.timer.joined(pim_ops) if pim_ops else None
                for _ in range(ph.batch):
                    t = _Tally()
                    for cat in ("asic", "link"):
                        t.seconds[cat] = fast.seconds.get(cat, 0.0)
                    for name in ("asic_flops", "asic_sram_bytes", "link_bytes",
                                 "weight_pim_s", "attention_pim_s"):
                        setattr(t, name, getattr(fast, name))
                    if joined is not None:
                        timing = self.timer.run_continuous(joined)
                        for cat, cyc in timing.category_cycles.items():
                            t.seconds["kv_write" if cat == "pim_data" else cat] += cyc * tck_s
                        self._add_pim_counts(t, timing, nch)
                        if k_timing is not None:  # the K appends ran on one channel, not all
                            self._add_pim_counts(t, k_timing, 1 - nch, times=step.layers)
                        t.pim_busy_s += timing.cycles * tck_s
                    tally.add(t)
        return tally, tally.total_s

    def phase(self, ph: Phase) -> tuple[_Tally, float]:
        """(tally of all ops, wall seconds) of one phase."""
        if self.exact:
            return self._phase_exact(ph)
        hp = 1 if ph.head_positions is None else ph.head_positions
        per_token: dict[tuple[int, bool], int] = defaultdict(int)
        for s in range(ph.steps):
            for i in range(ph.new_tokens):
                ctx = ph.past_context + s * ph.new_tokens + i + 1
                per_token[(ctx, i >= ph.new_tokens - hp)] += ph.batch
        tally = _Tally()
        wall = 0.0
        pipelined = self.mapping.overlap == "pipelined" and ph.batch > 1
        for (ctx, head), count in sorted(per_token.items()):
            t = self.token(ph.model, ctx, head)
            tally.add(t, count)
            if pipelined:
                chain = self.token_chain(ph.model, ctx, head)
                wall += self._pipelined_makespan([chain] * ph.batch) * (count // ph.batch)
            else:
                wall += t.total_s * count
        return tally, wall

    def _add_refresh_stall(self, t: _Tally, op, probe: RefreshProbe, busy_cycles: int) -> float:
        """Fast mode: add to `t` the refresh stall of `op` (busy x c / (I - c), c the cost of one refresh
        in the stream it runs in: `pimsim.engine.refresh`), the commands and row hits/misses its refreshes
        bring (every channel refreshes, whatever the op uses); returns the stall in seconds."""
        interval = self.timer.refresh_interval_cycles
        if probe.cost_cycles >= interval:
            raise ConfigError(f"{self.hw.name}: one refresh costs {probe.cost_cycles:.0f} cycles of PIM time in "
                              f"{op.name} but one falls due every {interval} cycles: the PIM units would never run")
        stall = stall_cycles(busy_cycles, probe, interval)
        if not stall:
            return 0.0
        refreshes = stall / probe.cost_cycles  # = (busy + stall) / interval
        nch = self.hw.dram.channels
        for k, v in probe.commands.items():
            t.commands[k] += v * refreshes * nch
        t.row_hits += probe.row_hits * refreshes * nch
        t.row_misses += probe.row_misses * refreshes * nch
        stall_s = stall * self.hw.dram.tck_ns * 1e-9
        t.seconds["refresh"] += stall_s
        return stall_s

    # ------------------------------------------------------------------ the whole workload
    def run(self, workload: Workload, config: dict | None = None) -> Result:
        self.check_capacity(workload)
        total = _Tally()
        phases: list[PhaseResult] = []
        wall_total = 0.0
        for ph in workload.phases:
            tally, wall = self.phase(ph)
            energy = self._energy(tally, wall)
            phases.append(PhaseResult.of(ph, wall, sum(energy.values()), _clean(tally.seconds), _clean(energy)))
            total.add(tally)
            wall_total += wall
        energy = self._energy(total, wall_total)
        seconds = _clean(total.seconds)
        if self.mapping.overlap == "pipelined":
            seconds["overlap_saved"] = -(sum(seconds.values()) - wall_total)
        accesses = total.row_hits + total.row_misses
        counters = {
            "pim_busy_s": total.pim_busy_s, "weight_pim_s": total.weight_pim_s,
            "attention_pim_s": total.attention_pim_s, "asic_flops": total.asic_flops,
            "link_bytes": total.link_bytes,
            # PIM-GPT's "non-VMM" time: ASIC work and link transfers outside PIM instructions
            "non_vmm_share": (seconds.get("asic", 0.0) + seconds.get("link", 0.0)) / wall_total if wall_total else 0.0,
            "bank_utilisation": self._bank_utilisation(total.commands, wall_total),
        }
        return Result(
            machine=f"{self.hw.name}/{self.mapping.name}",
            latency_s=wall_total, energy_j=sum(energy.values()), tokens=workload.result_tokens,
            breakdown_s=seconds, breakdown_j=_clean(energy), phases=tuple(phases),
            commands={k: int(round(v)) for k, v in sorted(total.commands.items())},
            row_hit_rate=total.row_hits / accesses if accesses else None, counters=counters,
            config=config or {},
        )

    def _bank_utilisation(self, commands: dict[str, float], wall_s: float) -> float:
        """Share of PIM-unit column slots spent multiplying: MAC column operations issued (MAC16 drives
        every unit of a channel, MAC one) over units x wall time / tCCD_L."""
        d, p = self.hw.dram, self.hw.pim
        units = d.channels * (d.banks // p.banks_per_unit)
        issued = commands.get("MAC16", 0.0) * (d.banks // p.banks_per_unit) + commands.get("MAC", 0.0)
        slots = units * wall_s / (d.timing.get("nCCDL", 1) * d.tck_ns * 1e-9)
        return issued / slots if slots else 0.0

    def _energy(self, t: _Tally, wall_s: float) -> dict[str, float]:
        e = defaultdict(float)
        for k, v in pim_command_energy_j(t.commands, self.hw).items():
            e[k] += v
        e["asic"] += asic_energy_j(int(t.asic_flops), int(t.asic_sram_bytes), self.hw.energy)
        e["link"] += link_energy_j(t.link_bytes, self.hw) + t.link_bytes / self.hw.dram.column_bytes * \
            self.hw.energy.rd_pj * 1e-12
        e["background"] += background_energy_j(wall_s, self.hw)
        return dict(e)


def _clean(d: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in sorted(d.items()) if v}


def simulate(model: ModelConfig | str | None = None, hardware: Hardware | str = "pimgpt-gddr6",
             mapping: Mapping | str = "pimgpt", workload=None, *, exact: bool = False) -> Result:
    """Simulate `workload` (a spec or an expanded `Workload`) on PIM; returns a `Result`.

    Example: `simulate("gpt2-xl", "pimgpt-gddr6", "pimgpt", GenerateSpec(prompt=64, generate=960))`.
    """
    from pimsim.models import load_model

    hw = hardware if isinstance(hardware, Hardware) else load_hardware(hardware)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    mc = load_model(model) if isinstance(model, str) else model
    wl = workload if isinstance(workload, Workload) else expand(workload, mc)
    config = {
        "hardware": hw.model_dump(mode="json"), "mapping": mp.model_dump(mode="json"),
        "workload": wl.spec.model_dump(mode="json") if hasattr(wl.spec, "model_dump") else str(wl.spec),
        "models": sorted({ph.model.name for ph in wl.phases}), "exact": exact,
    }
    if mc is not None:
        config["model"] = mc.model_dump(mode="json")
    return SystemSimulator(hw, mp, exact=exact).run(wl, config)


def op_timeline(hw: Hardware | str, mapping: Mapping | str, model: ModelConfig | str, context: int,
                head: bool = True) -> list[tuple[str, str, float]]:
    """(op name, unit, seconds) of one token at `context`, in order (fast-mode timings, refresh stall included)."""
    from pimsim.models import load_model

    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    mc = load_model(model) if isinstance(model, str) else model
    sim = SystemSimulator(hw, mp)
    out = []
    entry = None
    for op in sim.mapper(mc).map_token(context, head=head).ops():
        unit, sec, _, entry = sim._op_seconds(op, entry)
        out.append((op.name, unit, sec))
    return out


def write_chrome_trace(result: Result, path: str | Path, timelines: dict[str, list] | None = None) -> None:
    """A Chrome/Perfetto trace (JSON): the phases on one lane, their time by category, and for each phase
    in `timelines` the op-by-op timeline of its first token on a lane per unit (pim, asic, link)."""
    events = []
    t0 = 0.0
    for ph in result.phases:
        events.append({"name": ph.name, "ph": "X", "ts": t0 * 1e6, "dur": ph.latency_s * 1e6, "pid": 1,
                       "tid": "phases", "args": {"energy_j": ph.energy_j, "tokens": ph.tokens}})
        cursor = t0
        for cat, sec in ph.breakdown_s.items():
            events.append({"name": cat, "ph": "X", "ts": cursor * 1e6, "dur": sec * 1e6, "pid": 1,
                           "tid": "time by category", "args": {"phase": ph.name}})
            cursor += sec
        cursor = t0
        for name, unit, sec in (timelines or {}).get(ph.name, []):
            events.append({"name": name, "ph": "X", "ts": cursor * 1e6, "dur": sec * 1e6, "pid": 2,
                           "tid": unit, "args": {"phase": ph.name, "first token": True}})
            cursor += sec
        t0 += ph.latency_s
    Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
