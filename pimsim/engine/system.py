"""System level: a workload's phases on ASIC + PIM channels + link, timed and costed into a `Result`.

Execution model (pim_gpt_paper.md, "Simulator"): on PIM every token of every sequence is a chain of
ops (`Mapper.map_token`): PIM programs (timed by the command engine, `pim_timing.PimTimer`), ASIC vector
work (`asic.py`) and link transfers. The mapping's overlap policy decides the schedule:
- `serial` (as published): an instruction completes before the next starts, so a token's time is the
  sum of its ops and a phase's time the sum over its tokens;
- `pipelined`: ASIC, PIM and link are separate resources (simpy); sequences decoded together overlap
  (one's ASIC work runs under another's PIM work). A sequence holds a resource for a run of consecutive
  ops on it.
Refresh: in fast mode op programs are timed refresh-free and cached by shape; the refresh stall is
added in closed form: a refresh falls due every refresh interval of PIM time and costs what the command
engine measures on the model's own op streams (layers and head apart; `pimsim.engine.refresh`).
`exact=True` instead runs every op's program continuously through one engine state with refresh on (see
`pim_timing` for how ASIC gaps are treated); tests hold the two within 0.5% (all-bank) and within the
fast/exact tolerance for per-bank refresh (tests/test_refresh_modes.py).
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
from pimsim.engine.pim_timing import PimTimer
from pimsim.engine.refresh import RefreshProbe, probe_refresh, stall_cycles
from pimsim.errors import CapacityError, ConfigError
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
    head_pim_s: float = 0.0  # PIM time of the head (LM/PRM head) ops: probed for refresh on its own

    def add(self, other: "_Tally", times: float = 1.0) -> None:
        for k, v in other.seconds.items():
            self.seconds[k] += v * times
        for k, v in other.commands.items():
            self.commands[k] += v * times
        for name in ("asic_flops", "asic_sram_bytes", "link_bytes", "row_hits",
                     "row_misses", "pim_busy_s", "weight_pim_s", "attention_pim_s", "head_pim_s"):
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
        self._static_tally: dict[tuple, _Tally] = {}
        self._refresh_probes: dict[tuple[ModelConfig, str], RefreshProbe] = {}
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
    def _op_seconds(self, op) -> tuple[str, float, _Tally]:
        """(unit, seconds, tally) of one mapped op, refresh excluded; cached by op identity."""
        hit = self._op_cache.get(id(op))
        if hit is not None and hit[0] is op:
            return hit[1]
        out = self._op_seconds_uncached(op)
        self._op_cache[id(op)] = (op, out)
        return out

    def _op_seconds_uncached(self, op, timing=None) -> tuple[str, float, _Tally]:
        t = _Tally()
        if op.unit == "pim":
            timing = timing or self.timer.time(op.program)
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
            t.pim_busy_s += sec
            return "pim", sec, t
        if op.unit == "asic":
            sec = asic_seconds(op.asic_flops, op.asic_units, self.hw.asic)
            t.seconds["asic"] += sec
            t.asic_flops += op.asic_flops
            t.asic_sram_bytes += op.asic_sram_bytes
            return "asic", sec, t
        sec = op.link_bytes / self.link_bytes_per_s + self.hw.link.latency_ns * 1e-9
        t.seconds["link"] += sec
        t.link_bytes += op.link_bytes
        return "link", sec, t

    def _add_pim_counts(self, t: _Tally, timing, channels: int, times: int = 1) -> None:
        """Add the DRAM commands and row hits/misses of `timing` (one channel's) run on `channels` channels,
        `times` times; refreshes are counted on every channel, whatever the op uses."""
        nch = self.hw.dram.channels
        for k, v in timing.commands.items():
            t.commands[k] += v * times * (nch if k.startswith("REF") else channels)
        t.row_hits += timing.row_hits * channels * times
        t.row_misses += timing.row_misses * channels * times

    def _ops_tally(self, ops) -> _Tally:
        tally = _Tally()
        for op in ops:
            tally.add(self._op_seconds(op)[2])
        return tally

    def token(self, model: ModelConfig, context: int, head: bool) -> _Tally:
        """Tally of one token at `context` (serial: the sum of its ops). The context-independent part
        (pre, post and the layers' static ops) is summed once per model and head."""
        key = (model, context, head)
        tally = self._token_tally.get(key)
        if tally is None:
            step = self.mapper(model).map_token(context, head=head)
            static = self._static_tally.get((model, head))
            if static is None:
                static = _Tally()
                static.add(self._ops_tally(step.pre))
                static.add(self._ops_tally(step.layer_static), step.layers)
                post = self._ops_tally(step.post)
                post.head_pim_s = post.pim_busy_s
                static.add(post)
                self._static_tally[(model, head)] = static
            tally = _Tally()
            tally.add(static)
            tally.add(self._ops_tally(step.layer_dynamic), step.layers)
            self._token_tally[key] = tally
        return tally

    def token_chain(self, model: ModelConfig, context: int, head: bool) -> list[tuple[str, float]]:
        """The token's ops in order as runs of (unit, seconds) on one unit (for the pipelined schedule)."""
        key = (model, context, head)
        chain = self._token_chain.get(key)
        if chain is None:
            step = self.mapper(model).map_token(context, head=head)
            chain = []
            for op in step.ops():
                unit, sec, _ = self._op_seconds(op)
                if chain and chain[-1][0] == unit:
                    chain[-1] = (unit, chain[-1][1] + sec)
                else:
                    chain.append((unit, sec))
            self._token_chain[key] = chain
        return chain

    # ------------------------------------------------------------------ schedules
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
        """(tally of all ops, wall seconds before refresh) of one phase."""
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

    def refresh_probe(self, model: ModelConfig, stream: str) -> RefreshProbe:
        """What one refresh costs on `model`'s op stream `stream` ("body": 4 layers at context 512, or the
        model's limit, after the pre ops; "head": the post ops with the head), measured with the command
        engine (`pimsim.engine.refresh`)."""
        key = (model, stream)
        probe = self._refresh_probes.get(key)
        if probe is None:
            step = self.mapper(model).map_token(min(model.max_context, 512), head=True)
            ops = list(step.pre) + list(step.layer) * min(step.layers, 4) if stream == "body" else list(step.post)
            programs = [op.program for op in ops if op.unit == "pim"]
            if programs:
                program = self.timer.joined(programs)
                without = self.timer.engine.run(program, start_state=self.timer.settled)
                probe = probe_refresh(self.timer.channel, program, self.hw.dram.rows - 1, 2, without)
            else:
                probe = RefreshProbe.none()
            self._refresh_probes[key] = probe
        return probe

    def _add_refresh_closed_form(self, tally: _Tally, model: ModelConfig) -> float:
        """Fast mode: add the refresh stall (seconds, returned), the commands and the row hits/misses the
        refreshes bring to `tally`, for the body and the head streams of its PIM time."""
        tck_s = self.hw.dram.tck_ns * 1e-9
        interval = self.timer.engine.refresh_interval_cycles
        nch = self.hw.dram.channels
        stall_s = 0.0
        for stream, busy_s in (("body", tally.pim_busy_s - tally.head_pim_s), ("head", tally.head_pim_s)):
            probe = self.refresh_probe(model, stream)
            if probe.cost_cycles >= interval:
                raise ConfigError(f"{self.hw.name}: one refresh costs {probe.cost_cycles:.0f} cycles of PIM time "
                                  f"on {model.name}'s op stream but one falls due every {interval} cycles: "
                                  "the PIM units would never run")
            stall = stall_cycles(busy_s / tck_s, probe, interval)
            if not stall:
                continue
            refreshes = stall / probe.cost_cycles  # = (busy + stall) / interval
            for k, v in probe.commands.items():
                tally.commands[k] += v * refreshes * nch
            tally.row_hits += probe.row_hits * refreshes * nch
            tally.row_misses += probe.row_misses * refreshes * nch
            stall_s += stall * tck_s
        tally.seconds["refresh"] += stall_s
        return stall_s

    # ------------------------------------------------------------------ the whole workload
    def run(self, workload: Workload, config: dict | None = None) -> Result:
        self.check_capacity(workload)
        total = _Tally()
        phases: list[PhaseResult] = []
        wall_total = 0.0
        for ph in workload.phases:
            tally, wall = self.phase(ph)
            if self.exact:
                refresh_s = 0.0  # included in the op timings (refresh on)
            else:
                refresh_s = self._add_refresh_closed_form(tally, ph.model)
            wall += refresh_s
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
    """(op name, unit, seconds) of one token at `context`, in order (fast-mode timings, no refresh)."""
    from pimsim.models import load_model

    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    mc = load_model(model) if isinstance(model, str) else model
    sim = SystemSimulator(hw, mp)
    out = []
    for op in sim.mapper(mc).map_token(context, head=head).ops():
        unit, sec, _ = sim._op_seconds(op)
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
