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

Homes of the concerns: what an op costs on its unit (`units`, a registry of unit kinds), schedules
(`schedule`), fast mode's refresh model (`refresh`), energy (`energy`), accumulation (`tally`), capacity
(`capacity`), trace output (`trace`); this module walks a workload's tokens through them.
"""

from __future__ import annotations

from collections import defaultdict

from pimsim.engine.capacity import check_pim_capacity
from pimsim.engine.energy import system_energy_j
from pimsim.engine.pim_timing import Entry, PimTimer
from pimsim.engine.refresh import RefreshProbe
from pimsim.engine.schedule import append_run, pipelined_makespan
from pimsim.engine.tally import Tally, clean
from pimsim.engine.units import EXTRA_VECTOR_MACS, OpCost, build_units
from pimsim.errors import ConfigError
from pimsim.hardware import Hardware, load_hardware
from pimsim.mapper import Mapper, Mapping, load_mapping
from pimsim.models import ModelConfig
from pimsim.result import PhaseResult, Result
from pimsim.workloads import Phase, Workload, expand


EXACT_CHANNEL_MODES = ("lanes", "every-channel")
MAX_ENGINE_CHANNELS = 64  # the engine's channel masks are 64-bit (pimsim.dram.program.mask_of)


def exact_channel_mode(exact: bool | str | None) -> str | None:
    """Exact mode's channel treatment (None: fast mode). `True` / "lanes": channels that run the same ops
    form a lane whose last channel stands for them all (its single-channel host writes, WR_ABK, come one
    tick after the others', so the lane's other channels may differ from it by a refresh-time command:
    measured 0.02% of PREA/ACT16, tests/test_exact_lanes.py); "every-channel": every channel runs in the
    engine, command for command the whole device's replay (at most 64 channels; slower)."""
    if exact is None or exact is False:
        return None
    if exact is True:
        return "lanes"
    if exact in EXACT_CHANNEL_MODES:
        return exact
    raise ConfigError(f"exact mode must be one of {', '.join(EXACT_CHANNEL_MODES)} (or true / false), got {exact!r}")


class SystemSimulator:
    """Times workloads on one hardware + mapping; mappers and op timings are cached across phases."""

    def __init__(self, hw: Hardware, mapping: Mapping, *, exact: bool | str = False):
        self.exact_arg, self.exact_channels = exact, exact_channel_mode(exact)
        exact = self.exact_channels is not None
        if self.exact_channels == "every-channel" and hw.dram.channels > MAX_ENGINE_CHANNELS:
            raise ConfigError(f"exact mode every-channel runs all {hw.dram.channels} channels of hardware {hw.name} "
                              f"in one command engine, which holds at most {MAX_ENGINE_CHANNELS}; use --exact "
                              "(lanes: one channel stands for the channels that run the same ops)")
        if exact and mapping.op_programs == "cent":
            raise ConfigError(f"exact mode is not modelled for mapping {mapping.name} (op_programs: cent: its "
                              "whole-device programs are timed op by op); use fast mode, without --exact")
        if exact and mapping.overlap != "serial":
            raise ConfigError(f"exact mode simulates the serial schedule; mapping {mapping.name} is "
                              f"{mapping.overlap} (use fast mode, without --exact)")
        self.hw, self.mapping, self.exact = hw, mapping, exact
        self.timer = PimTimer(hw, refresh=exact)
        self._mappers: dict[ModelConfig, Mapper] = {}
        self._token_tally: dict[tuple, Tally] = {}
        self._token_chain: dict[tuple, list[tuple[str, float]]] = {}
        self._pass_parts: dict[tuple, tuple[Tally, Tally]] = {}
        self._layer_parts: dict[tuple, tuple[Tally, list[Tally], Tally]] = {}
        self._attention: dict[tuple, Tally] = {}
        self._attacc_programs: dict[tuple, object] = {}
        self._joined: dict[tuple, object] = {}
        self._op_cache: dict[tuple, tuple[object, RefreshProbe | None, OpCost]] = {}
        self.units = build_units(hw, self.timer, exact)

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
    def op_cost(self, op, entry: Entry | None = None, refresh: RefreshProbe | None = None) -> OpCost:
        """(unit, seconds, tally, exit) of one mapped op on its unit (`engine.units`) found in `entry` (the rows and mode the PIM op
        before it left), its refresh stall included in fast mode (at the cost per refresh `refresh` of the
        stream it runs in; None: measured on its own program); cached by (op identity, entry, refresh).
        Non-PIM ops pass `entry` on."""
        key = (id(op), entry, id(refresh))
        hit = self._op_cache.get(key)
        if hit is not None and hit[0] is op and hit[1] is refresh:
            return hit[2]
        out = self.units[op.unit].cost(op, entry, refresh)
        self._op_cache[key] = (op, refresh, out)
        return out

    def _walk(self, ops, entry: Entry | None, chain: list | None = None, stream: int = 0, select=None
              ) -> tuple[Tally, Entry | None]:
        """(tally, exit) of `ops` run in order from `entry`, each op finding the rows the one before left;
        with `chain`, appends to it the runs of (unit, seconds) on one unit (for the pipelined schedule).
        `stream` (the times the ops repeat, e.g. the layers): refresh costs what it costs the ops' PIM
        programs run back to back (a refresh that closes a row costs the next op too), not each alone.
        `select(op)`: only the ops it accepts are tallied (all still pass their state on)."""
        probe = None
        if stream and not self.exact:
            programs = tuple(op.program for op in ops if op.unit == "pim")
            probe = self.timer.stream_refresh_probe(programs, entry, stream) if programs else None
        tally = Tally()
        for op in ops:
            unit, sec, t, entry = self.op_cost(op, entry, probe)
            if select is None or select(op):
                tally.add(t)
            if chain is not None:
                append_run(chain, unit, sec)
        return tally, entry

    def _token_walk(self, model: ModelConfig, context: int, head: bool, chain: list | None = None,
                    vectors: int = 1, select=None) -> Tally:
        """A token's ops in order (pre, the layers, post), each op timed from the state the op before left.
        Layers repeat the same ops: once the entry a layer finds repeats, the remaining layers equal the
        last one walked, so at most a few layers are walked (all of them if the entry never repeats)."""
        step = self.mapper(model).map_token(context, head=head, vectors=vectors)
        tally, entry = self._walk(step.pre, None, chain, select=select)
        done = 0
        while done < step.layers:
            layer_chain = None if chain is None else []
            t, exit_ = self._walk(step.layer, entry, layer_chain, stream=step.layers, select=select)
            repeat = step.layers - done if exit_ == entry else 1
            tally.add(t, repeat)
            if chain is not None:
                for run in layer_chain * repeat:  # runs on one unit merge across the layer boundary
                    append_run(chain, *run)
            entry = exit_
            done += repeat
        post, _ = self._walk(step.post, entry, chain, select=select)
        tally.add(post)
        return tally

    def layer_attention(self, model: ModelConfig, context: int) -> Tally:
        """One sequence's context-dependent ops of one layer at `context` (KV appends, q.K^T, softmax,
        score.V), walked from a closed state: the PIM side of an op-class split (`engine.placement`)."""
        key = (model, context)
        tally = self._attention.get(key)
        if tally is None:
            tally = self._attention[key] = self._walk(self.mapper(model).map_token(context, head=False)
                                                        .layer_dynamic, None)[0]
        return tally

    def token_weights(self, model: ModelConfig, context: int, head: bool) -> Tally:
        """One token at `context` without its attention ops (the KV appends, q.K^T, softmax, score.V and their
        reductions): the PIM side of an op-class split with the weights on PIM (`engine.placement`)."""
        key = ("weights", model, context, head)
        tally = self._attention.get(key)
        if tally is None:
            dynamic = {id(op) for op in self.mapper(model).map_token(context, head=head).layer_dynamic}
            tally = self._attention[key] = self._token_walk(model, context, head,
                                                             select=lambda op: id(op) not in dynamic)
        return tally

    def attacc_layer_attention(self, model: ModelConfig, context: int, sequences: int) -> Tally:
        """`op_programs: attacc`: one layer's attention of `sequences` sequences at `context` on this device's
        channels (one channel group of an op-class split), as AttAcc runs it (pimsim/mapper/attacc_programs.py):
        the sequences' heads dealt over the device's HBM3 stacks of 16 channels, each stack running AttAcc's
        bank-level program for its share (timed on its busiest channel, channel 0, whose commands stand for
        every channel's: an upper bound on the energy of stacks whose last iteration leaves channels idle),
        then each sequence's K and V appends (pimsim's; AttAcc's trace has none). MHA only (AttAcc's program
        reads one K and V per head)."""
        from pimsim.mapper.attacc_programs import attacc_attention_program
        from pimsim.mapper.mapper import MappedOp

        key = ("attacc", model, context, sequences)
        tally = self._attention.get(key)
        if tally is None:
            d = self.hw.dram
            if d.standard != "hbm3-pim" or d.channels % 16 or model.kv_heads != model.heads:
                raise ConfigError(f"mapping {self.mapping.name} (op_programs: attacc): AttAcc's attention runs "
                                  f"multi-head attention on hbm3-pim stacks of 16 channels; {model.name} on "
                                  f"{self.hw.name} has {model.kv_heads} KV heads for {model.heads} query heads, "
                                  f"{d.channels} {d.standard} channels")
            heads_per_stack = -(-sequences * model.heads // (d.channels // 16))
            prog = self._attacc_programs.get((context, heads_per_stack, model.head_dim))
            if prog is None:
                prog = self._attacc_programs[(context, heads_per_stack, model.head_dim)] = attacc_attention_program(
                    context, heads_per_stack, model.head_dim, 16, max_context=max(4096, context))
            op = MappedOp("attention", "attention", "pim", program=prog)
            tally = Tally()
            tally.add(self.op_cost(op)[2])
            appends = self._walk(self.mapper(model).kv_append_ops(), None)[0]
            tally.add(appends, sequences)
            self._attention[key] = tally
        return tally

    def token_layers(self, model: ModelConfig, context: int, head: bool) -> tuple[Tally, list[Tally], Tally]:
        """(pre, one tally per layer, post) of one token, walked as `_token_walk` walks it (the layers
        after the entry repeats share one tally): the per-stage times of pipeline-parallel groups."""
        key = (model, context, head)
        parts = self._layer_parts.get(key)
        if parts is None:
            step = self.mapper(model).map_token(context, head=head)
            pre, entry = self._walk(step.pre, None)
            layers: list[Tally] = []
            while len(layers) < step.layers:
                t, exit_ = self._walk(step.layer, entry, stream=step.layers)
                layers += [t] * (step.layers - len(layers) if exit_ == entry else 1)
                entry = exit_
            post, _ = self._walk(step.post, entry)
            parts = self._layer_parts[key] = (pre, layers, post)
        return parts

    def pass_parts(self, model: ModelConfig, context: int, head: bool, vectors: int) -> tuple[Tally, Tally]:
        """Multi-vector units (`pim.vectors_per_pass`): (the weight GEMVs of one pass serving `vectors`
        sequences' tokens, everything else of one sequence's token: attention, KV appends, ASIC, link)."""
        key = (model, context, head, vectors)
        parts = self._pass_parts.get(key)
        if parts is None:
            weights = self._token_walk(model, context, head, vectors=vectors, select=_is_weight_gemv)
            rest = self._token_walk(model, context, head, select=lambda op: not _is_weight_gemv(op))
            parts = self._pass_parts[key] = (weights, rest)
        return parts

    def token(self, model: ModelConfig, context: int, head: bool) -> Tally:
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

    def _phase_exact(self, ph: Phase) -> tuple[Tally, float]:
        """Every token of every sequence in order through one continuous engine state (refresh on).

        A token's PIM programs run as one joined engine program; its PIM time and DRAM commands come from
        that run (time by engine category; plain writes, which only the KV appends issue, as kv_write),
        its ASIC and link work and the weight/attention counters from the op tallies, as in fast mode.
        Channels that skip the KV appends running on fewer channels than all (the K append on one) are
        lanes of their own, each run through its own continuous state: commands and row hits/misses are each
        lane's times its channels, exactly; the time is channel 0's (it runs every op).
        """
        hp = 1 if ph.head_positions is None else ph.head_positions
        tally = Tally()
        mapper = self.mapper(ph.model)
        tck_s = self.hw.dram.tck_ns * 1e-9
        nch = self.hw.dram.channels
        # KV appends that run on fewer channels than all (the K append on channel 0, V on the first few):
        # channel c runs an op of `channels_active` a when c < a. Channels fall into lanes [lo, hi) that run
        # the same ops; each lane is its own continuous engine run (lane 0, channel 0, runs every op and sets
        # the time), its commands counted hi - lo times.
        partial = {id(op.program): op.channels_active for op in mapper.kv_append_ops()
                   if op.channels_active and op.channels_active < nch} \
            if self.mapping.attention.placement == "pim" else {}
        bounds = sorted({0, nch, *partial.values()})
        lanes = list(zip(bounds, bounds[1:]))  # [lo, hi): channel lo stands for them all
        if self.exact_channels == "every-channel" and nch > 1:  # no channel stands for another
            lanes = [(c, c + 1) for c in range(nch)]
        k = self.hw.pim.vectors_per_pass
        passes = [1] * ph.batch if k == 1 or ph.batch == 1 else \
            [v for v, n in _passes(ph.batch, k) for _ in range(n)]
        for s in range(ph.steps):
            for i in range(ph.new_tokens):
                ctx = ph.past_context + s * ph.new_tokens + i + 1
                head = i >= ph.new_tokens - hp
                step = mapper.map_token(ctx, head=head)
                fast = self.token(ph.model, ctx, head)
                for v in passes:
                    # one pass: the weight GEMVs for v sequences with the first one's other PIM ops as one
                    # program, then every other sequence's attention and KV appends (multi-vector units)
                    t = Tally()
                    for cat in ("asic", "link"):
                        t.seconds[cat] = fast.seconds.get(cat, 0.0) * v
                    for name in ("asic_flops", "asic_sram_bytes", "link_bytes", "attention_pim_s"):
                        setattr(t, name, getattr(fast, name) * v)
                    t.weight_pim_s = fast.weight_pim_s if v == 1 else \
                        self.pass_parts(ph.model, ctx, head, v)[0].weight_pim_s
                    if v > 1:  # the MACs of the vectors beyond the first (energy; no DRAM command of their own)
                        extra = self.pass_parts(ph.model, ctx, head, v)[0].commands.get(EXTRA_VECTOR_MACS, 0.0)
                        t.commands[EXTRA_VECTOR_MACS] += extra
                    if k > 1:  # and those of GQA query heads sharing a pass in attention, per sequence
                        rest = self.pass_parts(ph.model, ctx, head, 1)[1]
                        t.commands[EXTRA_VECTOR_MACS] += rest.commands.get(EXTRA_VECTOR_MACS, 0.0) * v
                    runs = [("token", v)] + [("rest", 1)] * (v - 1)
                    for which, vec in runs:
                        if len(lanes) == 1:  # every op on every channel: channel 0 stands for all
                            joined = self._joined_token(mapper, ctx, head, vec) if which == "token" else \
                                self._joined_rest(mapper, ctx, head)
                            if joined is None:
                                continue
                            timing = self.timer.run_continuous(joined)
                            cycles, cats, per_lane = timing.cycles, timing.category_cycles, [timing]
                        else:  # the lanes run together (their SYNCs wait for each other)
                            joined = self._joined_lanes(mapper, ctx, head, vec, which, lanes, partial)
                            if joined is None:
                                continue
                            cycles, cats, per_lane = self.timer.run_lanes(joined, len(lanes))
                        for cat, cyc in cats.items():
                            t.seconds["kv_write" if cat == "pim_data" else cat] += cyc * tck_s
                        for (lo, hi), timing in zip(lanes, per_lane):
                            self.units["pim"].add_counts(t, timing, hi - lo, lane=True)
                        t.pim_busy_s += cycles * tck_s
                    tally.add(t)
        return tally, tally.total_s

    def _joined_token(self, mapper, ctx: int, head: bool, vectors: int):
        """Exact mode: a token's PIM programs as one engine program (weight GEMVs for `vectors` sequences)."""
        key = ("token", mapper, ctx, head, vectors)
        if key not in self._joined:
            pim_ops = [op.program for op in mapper.map_token(ctx, head=head, vectors=vectors).ops() if op.unit == "pim"]
            self._joined.clear() if len(self._joined) > 64 else None
            self._joined[key] = self.timer.joined(pim_ops) if pim_ops else None
        return self._joined[key]

    def _joined_lanes(self, mapper, ctx: int, head: bool, vectors: int, which: str, lanes, partial: dict):
        """Exact mode with lanes: the token's (`which` "token") or one sequence's non-weight (`which` "rest")
        PIM programs, each on the lanes whose first channel runs it (an op of `channels_active` a on the
        lanes [lo, hi) with lo < a)."""
        key = ("lanes", which, mapper, ctx, head, vectors, tuple(lanes))
        if key not in self._joined:
            step = mapper.map_token(ctx, head=head, vectors=vectors if which == "token" else 1)
            ops = [op for op in step.ops() if op.unit == "pim" and (which == "token" or not _is_weight_gemv(op))]
            nch = self.hw.dram.channels
            pairs = [(op.program, sum(1 for lo, _ in lanes if lo < partial.get(id(op.program), nch))) for op in ops]
            self._joined.clear() if len(self._joined) > 64 else None
            self._joined[key] = self.timer.joined_lanes(pairs, [hi - lo for lo, hi in lanes]) if pairs else None
        return self._joined[key]

    def _joined_rest(self, mapper, ctx: int, head: bool):
        """Exact mode: one sequence's PIM programs other than the weight GEMVs (attention, KV appends)."""
        key = ("rest", mapper, ctx, head)
        if key not in self._joined:
            pim_ops = [op.program for op in mapper.map_token(ctx, head=head).ops()
                       if op.unit == "pim" and not _is_weight_gemv(op)]
            self._joined.clear() if len(self._joined) > 64 else None
            self._joined[key] = self.timer.joined(pim_ops) if pim_ops else None
        return self._joined[key]

    def phase(self, ph: Phase) -> tuple[Tally, float]:
        """(tally of all ops, wall seconds) of one phase."""
        if self.mapping.attention.sequence_groups > 1:
            raise ConfigError(f"mapping {self.mapping.name}: attention.sequence_groups applies to phases split by "
                              f"op class (weights on a GPU, attention on PIM); phase {ph.name} runs whole on PIM, "
                              "where sequences attend one after another: give sequence_groups 1")
        if self.mapping.op_programs == "attacc":
            raise ConfigError(f"mapping {self.mapping.name} (op_programs: attacc) times AttAcc's attention in "
                              f"phases split by op class (placement {{weights: GPU, attention: PIM}}); phase "
                              f"{ph.name} runs whole on PIM")
        if self.exact:
            return self._phase_exact(ph)
        hp = 1 if ph.head_positions is None else ph.head_positions
        per_token: dict[tuple[int, bool], int] = defaultdict(int)
        for s in range(ph.steps):
            for i in range(ph.new_tokens):
                ctx = ph.past_context + s * ph.new_tokens + i + 1
                per_token[(ctx, i >= ph.new_tokens - hp)] += ph.batch
        tally = Tally()
        wall = 0.0
        pipelined = self.mapping.overlap == "pipelined" and ph.batch > 1
        k = self.hw.pim.vectors_per_pass
        if k > 1 and ph.batch > 1:  # a step's weight GEMVs serve k sequences per pass
            if pipelined:
                raise ConfigError(f"{self.hw.name}: multi-vector PIM units (vectors_per_pass {k}) run the serial "
                                  f"schedule; mapping {self.mapping.name} is pipelined")
            for (ctx, head), count in sorted(per_token.items()):
                steps = count // ph.batch
                for v, passes in _passes(ph.batch, k):
                    tally.add(self.pass_parts(ph.model, ctx, head, v)[0], passes * steps)
                tally.add(self.pass_parts(ph.model, ctx, head, k)[1], count)
            return tally, tally.total_s
        for (ctx, head), count in sorted(per_token.items()):
            t = self.token(ph.model, ctx, head)
            tally.add(t, count)
            if pipelined:
                chain = self.token_chain(ph.model, ctx, head)
                wall += pipelined_makespan([chain] * ph.batch) * (count // ph.batch)
            else:
                wall += t.total_s * count
        return tally, wall

    # ------------------------------------------------------------------ the whole workload
    def run(self, workload: Workload, config: dict | None = None) -> Result:
        self.check_capacity(workload)
        total = Tally()
        phases: list[PhaseResult] = []
        wall_total = 0.0
        for ph in workload.phases:
            tally, wall = self.phase(ph)
            energy = system_energy_j(self.hw, tally, wall)
            phases.append(PhaseResult.of(ph, wall, sum(energy.values()), clean(tally.seconds), clean(energy)))
            total.add(tally)
            wall_total += wall
        energy = system_energy_j(self.hw, total, wall_total)
        seconds = clean(total.seconds)
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
            breakdown_s=seconds, breakdown_j=clean(energy), phases=tuple(phases),
            commands={k: int(round(v)) for k, v in sorted(total.commands.items())},
            row_hit_rate=total.row_hits / accesses if accesses else None, counters=counters,
            config=config or {},
        )

    def _bank_utilisation(self, commands: dict[str, float], wall_s: float) -> float:
        """Share of PIM-unit column slots spent multiplying: MAC column operations issued (each command's
        `mac_columns` in its standard's table: MAC16 drives every unit of a channel, MAC one) over units x
        wall time / tCCD_L."""
        from pimsim.engine.energy import command_counts

        d, p = self.hw.dram, self.hw.pim
        units = d.channels * (d.banks // p.banks_per_unit)
        issued = sum(commands.get(k, 0.0) * n for k, n in command_counts(self.hw, "mac_columns").items())
        slots = units * wall_s / (d.timing.get("nCCDL", 1) * d.tck_ns * 1e-9)
        return issued / slots if slots else 0.0


def _is_weight_gemv(op) -> bool:
    return op.unit == "pim" and op.category == "pim_mac"


def _passes(batch: int, vectors: int) -> list[tuple[int, int]]:
    """(vectors served, passes) covering `batch` sequences with passes of at most `vectors`."""
    full, rem = divmod(batch, vectors)
    return [(vectors, full)] * bool(full) + [(rem, 1)] * bool(rem)


def simulate(model: ModelConfig | str | None = None, hardware: Hardware | str = "pimgpt-gddr6",
             mapping: Mapping | str = "pimgpt", workload=None, *, exact: bool | str = False) -> Result:
    """Simulate `workload` (a spec or an expanded `Workload`) on PIM hardware, or on a system of devices
    (`hardware.system`) with phases placed by the mapping (`engine.placement`); returns a `Result`.

    Example: `simulate("gpt2-xl", "pimgpt-gddr6", "pimgpt", GenerateSpec(prompt=64, generate=960))`.
    """
    from pimsim.engine.placement import run_on_system
    from pimsim.hardware.system import is_system, load_system
    from pimsim.models import load_model

    mode = exact_channel_mode(exact)  # recorded as before lanes had a name: lanes True, fast False
    exact = {None: False, "lanes": True}.get(mode, mode)
    system = None if isinstance(hardware, Hardware) or not is_system(hardware) else load_system(hardware)
    hw = None if system else (hardware if isinstance(hardware, Hardware) else load_hardware(hardware))
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    mc = load_model(model) if isinstance(model, str) else model
    wl = workload if isinstance(workload, Workload) else expand(workload, mc)
    config = {
        "hardware": system[0].model_dump(mode="json") if system else hw.model_dump(mode="json"),
        "mapping": mp.model_dump(mode="json"),
        "workload": wl.spec.model_dump(mode="json") if hasattr(wl.spec, "model_dump") else str(wl.spec),
        "models": sorted({ph.model.name for ph in wl.phases}), "exact": exact,
    }
    if mc is not None:
        config["model"] = mc.model_dump(mode="json")
    if system:
        return run_on_system(wl, system[0], system[1], mp, exact=exact, config=config)
    if not mp.pim_only:
        off = sorted({v for value in mp.placement.values()
                      for v in (value.values() if isinstance(value, dict) else (value,)) if v != "pim"})
        raise ConfigError(f"mapping {mp.name} places phases on {', '.join(off)}, but hardware {hw.name} is one "
                          "PIM device (`pim`); give a system with those devices (pimsim presets list)")
    return SystemSimulator(hw, mp, exact=exact).run(wl, config)
