"""Trace output: a Chrome/Perfetto trace (JSON, the "Trace Event Format" Perfetto's JSON importer reads) of a
whole run at op granularity, and `op_timeline`, one token's ops in order.

What the trace draws (`write_chrome_trace`), every time in it simulated time, microseconds:
- one process per device (a plain PIM hardware is the one device `pim`), named by "M" process_name events,
  with threads named by thread_name events: `phases`, `tokens` (one slice per token of every sequence;
  pipelined: one per token position of the whole batch), and per unit `PIM`, `ASIC`, `link`: every op of
  every token of every phase, at its time in the schedule the mapping names;
  - serial (as published): ops one after another, the B sequences of a batch one after another at each
    token position (`SystemSimulator.phase`: a phase's time is the sum of its tokens' ops);
  - multi-vector PIM units (`pim.vectors_per_pass` k > 1, batch B > 1; serial): per token position,
    passes of up to k sequences; a weight GEMV is one slice serving the pass (`seq` "a-b"), every other
    op one slice per sequence, interleaved in forward order (`SystemSimulator.phase` sums them);
  - pipelined with batch B > 1: the B sequences of a token position run their chains at once, each holding
    a unit for a run of consecutive ops on it, first come first served (`schedule.pipelined_makespan`,
    re-run here recording when each run starts); each op slice names its sequence (`seq`);
- per PIM device two counter tracks ("C" events): `power (W)` (the energy model, `engine.energy`, of each
  run of consecutive ops on one unit over its time, plus the background power while the device runs a
  phase) and `PIM MAC read bandwidth (GB/s)` (columns the MAC commands read from the banks x column bytes
  over the run's time);
- GPU/CPU devices of a system: their phases and one slice per step (the baseline roofline model's step
  times); links of a system: the KV hand-off and the per-layer transfers of a split phase as blocks (the
  split phase is serial: GPU part, PIM part, link part, drawn one after another as placement books them);
- the totals by category (time and energy) as args of one slice in a separate process named
  "summary (not a timeline)"; and in the top-level `otherData` the run, the schedule and the sampling.
Op times come from `SystemSimulator.op_cost` walking each token's ops from the rows the op before left,
refresh as fast mode costs it (the layer stream's probe, as `SystemSimulator._token_walk`); so the ops of a
phase add up to its time in the `Result`. In exact mode (`--exact`) those fast-mode op times are scaled per
phase to the exact phase time and the factor is stated in `otherData` and the phase slice.
Sampling (`tokens_per_phase=N`): N evenly spaced token positions per phase are drawn at op granularity at
their true start times (every token is still walked to place them); the `tokens` lane keeps every token,
and the counters hold each undrawn stretch's average.
"""

from __future__ import annotations

import json
from pathlib import Path

from pimsim.hardware import Hardware, load_hardware
from pimsim.mapper import Mapping, load_mapping
from pimsim.models import ModelConfig
from pimsim.result import Result

US = 1e6  # trace times are microseconds
_ROUND = 6  # decimals of a microsecond kept (1e-6 us: the run's end stays within 1e-9 of its latency)
SUMMARY_PROCESS = "summary (not a timeline)"


def op_timeline(hw: Hardware | str, mapping: Mapping | str, model: ModelConfig | str, context: int,
                head: bool = True) -> list[tuple[str, str, float]]:
    """(op name, unit, seconds) of one token at `context`, in order (fast-mode timings, refresh stall included)."""
    from pimsim.engine.system import SystemSimulator
    from pimsim.models import load_model

    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    mc = load_model(model) if isinstance(model, str) else model
    sim = SystemSimulator(hw, mp)
    return [(name, unit, sec) for name, unit, sec, *_ in _TokenWalker(sim).ops(mc, context, head)]


# ------------------------------------------------------------------------------------------ events
class _Events:
    """Trace events written as JSON text to `out` as they come (a whole run is ~2M events), with named
    processes and threads (ids handed out in order)."""

    def __init__(self, out):
        self.out, self.count = out, 0
        self._pids: dict[str, int] = {}
        self._tids: dict[tuple[int, str], int] = {}
        self._names: dict[str, str] = {}

    def _write(self, text: str) -> None:
        self.out.write(("," if self.count else "") + text)
        self.count += 1

    def _name(self, name: str) -> str:
        quoted = self._names.get(name)
        if quoted is None:
            quoted = self._names[name] = json.dumps(name)
        return quoted

    def _meta(self, kind: str, pid: int, tid: int, args: dict) -> None:
        self._write(json.dumps({"name": kind, "ph": "M", "ts": 0, "pid": pid, "tid": tid, "args": args}))

    def process(self, name: str) -> int:
        pid = self._pids.get(name)
        if pid is None:
            pid = self._pids[name] = len(self._pids) + 1
            self._meta("process_name", pid, 0, {"name": name})
            self._meta("process_sort_index", pid, 0, {"sort_index": pid})
        return pid

    def thread(self, pid: int, name: str) -> int:
        tid = self._tids.get((pid, name))
        if tid is None:
            tid = self._tids[(pid, name)] = sum(1 for p, _ in self._tids if p == pid) + 1
            self._meta("thread_name", pid, tid, {"name": name})
            self._meta("thread_sort_index", pid, tid, {"sort_index": tid})
        return tid

    def slice(self, pid: int, tid: int, name: str, start_s: float, end_s: float, args: dict | None = None,
              cat: str | None = None) -> None:
        """A complete ("X") event; start and end rounded to `_ROUND` decimals of a microsecond, so slices that meet still meet."""
        ts, end = round(start_s * US, _ROUND), round(end_s * US, _ROUND)
        text = (f'{{"name":{self._name(name)},"ph":"X","ts":{ts!r},"dur":{round(end - ts, _ROUND)!r},'
                f'"pid":{pid},"tid":{tid}')
        if cat:
            text += f',"cat":{self._name(cat)}'
        if args:
            text += ',"args":' + json.dumps(args, separators=(",", ":"))
        self._write(text + "}")

    def counters(self, pid: int, name: str, deltas: list[tuple[float, float]], digits: int = 3) -> None:
        """A counter track from (time s, change of value) pairs: the running sum, one event per change."""
        deltas.sort(key=lambda d: d[0])
        value, last = 0.0, None
        quoted = self._name(name)
        i = 0
        while i < len(deltas):
            t = deltas[i][0]
            while i < len(deltas) and deltas[i][0] == t:
                value += deltas[i][1]
                i += 1
            shown = round(value, digits) if abs(value) > 10 ** -digits else 0.0
            if shown != last:
                self._write(f'{{"name":{quoted},"ph":"C","ts":{round(t * US, _ROUND)!r},"pid":{pid},"tid":0,'
                            f'"args":{{"value":{shown!r}}}}}')
                last = shown


# ------------------------------------------------------------------------------------------ PIM ops
class _TokenWalker:
    """A token's ops timed as `SystemSimulator._token_walk` times them (pre, the layers, post; each op from the
    rows the op before left; layer ops with the refresh probe of the layer stream), one record per op:
    (name, unit, seconds, category, dynamic energy J, MAC read bytes). Layers whose entry repeats share one
    record list."""

    def __init__(self, sim):
        from pimsim.engine.energy import command_counts, system_energy_j

        self.sim, self.hw = sim, sim.hw
        self._energy = system_energy_j
        self._per_cost: dict[int, tuple[object, float, float]] = {}
        self._col = sim.hw.dram.column_bytes
        # columns the PIM units read per command (`unit_columns` of the standard's table: MAC16, EWMUL16 and
        # AF16 one per unit, MAC one)
        self._mac_cols = command_counts(sim.hw, "unit_columns")

    def _walk(self, ops, entry, stream: int = 0, prefix: str = ""):
        sim = self.sim
        probe = None
        if stream and not sim.exact:
            programs = tuple(op.program for op in ops if op.unit == "pim")
            probe = sim.timer.stream_refresh_probe(programs, entry, stream) if programs else None
        out = []
        for op in ops:
            cost = sim.op_cost(op, entry, probe)
            entry = cost.exit
            hit = self._per_cost.get(id(cost))
            if hit is None or hit[0] is not cost:
                dyn_j = sum(self._energy(self.hw, cost.tally, 0.0).values())
                cols = sum(cost.tally.commands.get(k, 0.0) * n for k, n in self._mac_cols.items())
                hit = self._per_cost[id(cost)] = (cost, dyn_j, cols * self._col)
            out.append((prefix + op.name, cost.unit, cost.seconds, op.category, hit[1], hit[2]))
        return out, entry

    def segments(self, model, context: int, head: bool, vectors: int = 1) -> list[list[tuple]]:
        """The token's ops as consecutive segments (pre, each layer, post), records as in the class doc;
        `vectors` > 1: its weight GEMVs serve that many sequences (multi-vector units)."""
        step = self.sim.mapper(model).map_token(context, head=head, vectors=vectors)
        pre, entry = self._walk(step.pre, None)
        segs = [pre]
        done = 0
        while done < step.layers:
            layer, exit_ = self._walk(step.layer, entry, stream=step.layers)
            repeat = step.layers - done if exit_ == entry else 1
            for k in range(repeat):
                segs.append([(f"L{done + k}.{r[0]}",) + r[1:] for r in layer])
            entry = exit_
            done += repeat
        post, _ = self._walk(step.post, entry)
        segs.append(post)
        return segs

    def ops(self, model, context: int, head: bool):
        for seg in self.segments(model, context, head):
            yield from seg

    def pass_ops(self, model, context: int, head: bool, vectors: int, first_seq: int) -> list[tuple]:
        """One pass of multi-vector units over `vectors` sequences at one token position, as
        `SystemSimulator.phase` costs it (the weight GEMVs once for all of them, from the walk of the
        `vectors`-wide token; every other op once per sequence, from the one-sequence walk), drawn
        interleaved in forward order: each weight GEMV, then the next ops of each sequence in turn. Records
        carry their sequence (a label `a-b` for a GEMV serving several) as a seventh field."""
        wide = [op for seg in self.segments(model, context, head, vectors) for op in seg]
        one = [op for seg in self.segments(model, context, head) for op in seg]
        assert len(wide) == len(one), "a multi-vector token has the ops of a one-sequence token"
        out, pending = [], []
        for w, r in zip(wide, one):
            if w[1] == "pim" and w[3] == "pim_mac":  # a weight GEMV (`system._is_weight_gemv`)
                for seq in range(vectors):
                    out += [p + (first_seq + seq,) for p in pending]
                pending = []
                out.append(w + (f"{first_seq}-{first_seq + vectors - 1}" if vectors > 1 else first_seq,))
            else:
                pending.append(r)
        for seq in range(vectors):
            out += [p + (first_seq + seq,) for p in pending]
        return out


def _runs(ops: list[tuple]) -> list[tuple[str, list[tuple]]]:
    """Consecutive ops on one unit grouped into runs (a sequence holds a unit for a run; `schedule`)."""
    out: list[tuple[str, list[tuple]]] = []
    for op in ops:
        if out and out[-1][0] == op[1]:
            out[-1][1].append(op)
        else:
            out.append((op[1], [op]))
    return out


def _pipelined_starts(runs: list[tuple[str, list[tuple]]], batch: int) -> tuple[list[list[float]], float]:
    """Start (s from the token position's start) of each run of each of `batch` sequences running the same
    chain at once, one simpy resource per unit, first come first served (`schedule.pipelined_makespan`)."""
    import simpy

    env = simpy.Environment()
    units = {u: simpy.Resource(env, capacity=1) for u, _ in runs}
    durations = [sum(op[2] for op in ops) for _, ops in runs]
    starts = [[0.0] * len(runs) for _ in range(batch)]

    def run(seq: int):
        for k, (unit, _) in enumerate(runs):
            with units[unit].request() as req:
                yield req
                starts[seq][k] = env.now
                yield env.timeout(durations[k])

    for seq in range(batch):
        env.process(run(seq))
    env.run()
    return starts, env.now


def _sample(n_tokens: int, wanted: int | None) -> set[int] | None:
    """Indices of `wanted` evenly spaced tokens of `n_tokens` (first and last included, halves rounded up);
    None: all."""
    if wanted is None or wanted >= n_tokens:
        return None
    if wanted == 1:
        return {0}
    return {int(k * (n_tokens - 1) / (wanted - 1) + 0.5) for k in range(wanted)}


class _PimDevice:
    """A PIM device's process and lanes; draws its phases op by op."""

    def __init__(self, ev: _Events, name: str, hw: Hardware, mapping: Mapping):
        from pimsim.engine.energy import background_energy_j
        from pimsim.engine.system import SystemSimulator

        self.ev, self.hw, self.mapping = ev, hw, mapping
        self.walker = _TokenWalker(SystemSimulator(hw, mapping))  # fast-mode op times
        self.pid = ev.process(f"{name}: PIM {hw.name} ({hw.dram.channels} channels) / mapping {mapping.name}")
        self.phases = ev.thread(self.pid, "phases")
        self.tokens = ev.thread(self.pid, "tokens")
        self.lanes = {"pim": ev.thread(self.pid, f"PIM (all {hw.dram.channels} channels)"),
                      "asic": ev.thread(self.pid, "ASIC"), "link": ev.thread(self.pid, "link (ASIC-PIM bus)")}
        self.background_w = background_energy_j(1.0, hw)
        self.power: list[tuple[float, float]] = []
        self.bandwidth: list[tuple[float, float]] = []
        self.drawn_tokens = self.all_tokens = 0

    def _rate(self, start_s: float, end_s: float, dyn_j: float, mac_bytes: float) -> None:
        if end_s <= start_s:
            return
        d = end_s - start_s
        if dyn_j:
            self.power += [(start_s, dyn_j / d), (end_s, -dyn_j / d)]
        if mac_bytes:
            self.bandwidth += [(start_s, mac_bytes / d / 1e9), (end_s, -mac_bytes / d / 1e9)]

    def _draw_runs(self, runs, t0: float, scale: float, ctx: int, seq: int | None) -> None:
        for unit, ops in runs:
            t = t0
            run_start = t
            dyn = cols = 0.0
            for name, _, sec, cat, dyn_j, mac_bytes, *own in ops:
                end = t + sec * scale
                who = own[0] if own else seq
                self.ev.slice(self.pid, self.lanes[unit], name, t, end, None if who is None else {"seq": who},
                              cat)
                t = end
                dyn += dyn_j
                cols += mac_bytes
            self._rate(run_start, t, dyn, cols)
            t0 = t

    def phase(self, ph, t0: float, wall_s: float | None, sample: int | None) -> float:
        """Draw phase `ph` from `t0`; returns its end. `wall_s`: the phase's time to scale to (exact mode)."""
        hp = 1 if ph.head_positions is None else ph.head_positions
        positions = [(ph.past_context + s * ph.new_tokens + i + 1, i >= ph.new_tokens - hp)
                     for s in range(ph.steps) for i in range(ph.new_tokens)]
        pipelined = self.mapping.overlap == "pipelined" and ph.batch > 1
        k = self.hw.pim.vectors_per_pass
        multi = k > 1 and ph.batch > 1 and not pipelined  # pipelined multi-vector is refused by the engine
        fast_wall = 0.0
        plans = []
        for ctx, head in positions:  # time every token first (a scale needs the phase's fast time)
            if multi:  # passes of up to k sequences, all the batch's sequences in one serial run
                ops, first = [], 0
                for v in [k] * (ph.batch // k) + [ph.batch % k] * bool(ph.batch % k):
                    ops += self.walker.pass_ops(ph.model, ctx, head, v, first)
                    first += v
                runs = _runs(ops)
                starts, span = None, sum(op[2] for op in ops)
            else:
                ops = [op for seg in self.walker.segments(ph.model, ctx, head) for op in seg]
                runs = _runs(ops)
                if pipelined:
                    starts, span = _pipelined_starts(runs, ph.batch)
                else:
                    starts, span = None, sum(op[2] for op in ops) * ph.batch
            plans.append((ctx, runs, starts, span))
            fast_wall += span
        scale = wall_s / fast_wall if wall_s is not None and fast_wall else 1.0
        drawn = _sample(len(positions), sample)
        t = t0
        gap_start, gap_dyn, gap_cols = None, 0.0, 0.0
        for k, (ctx, runs, starts, span) in enumerate(plans):
            end = t + span * scale
            copies = 1 if multi else ph.batch  # a multi-vector plan holds every sequence's ops already
            dyn_j = sum(op[4] for _, ops in runs for op in ops) * copies
            cols = sum(op[5] for _, ops in runs for op in ops) * copies
            show = drawn is None or k in drawn
            if pipelined:
                self.ev.slice(self.pid, self.tokens, f"token {ctx} x{ph.batch}", t, end,
                              {"phase": ph.name, "ctx": ctx, "batch": ph.batch, "drawn": show})
            elif multi:
                self.ev.slice(self.pid, self.tokens, f"token {ctx} x{ph.batch}", t, end,
                              {"phase": ph.name, "ctx": ctx, "batch": ph.batch, "vectors_per_pass": k,
                               "drawn": show})
            else:
                per_seq = span * scale / ph.batch
                for seq in range(ph.batch):
                    self.ev.slice(self.pid, self.tokens, f"token {ctx}", t + seq * per_seq,
                                  end if seq == ph.batch - 1 else t + (seq + 1) * per_seq,
                                  {"phase": ph.name, "ctx": ctx, "seq": seq, "drawn": show})
            if show:
                if gap_start is not None:
                    self._rate(gap_start, t, gap_dyn, gap_cols)
                    gap_start, gap_dyn, gap_cols = None, 0.0, 0.0
                if pipelined:
                    for seq in range(ph.batch):
                        for (unit, ops), start in zip(runs, starts[seq]):
                            self._draw_runs([(unit, ops)], t + start * scale, scale, ctx, seq)
                elif multi:
                    self._draw_runs(runs, t, scale, ctx, None)
                else:
                    cursor = t
                    for seq in range(ph.batch):
                        self._draw_runs(runs, cursor, scale, ctx, seq if ph.batch > 1 else None)
                        cursor += span * scale / ph.batch
                self.drawn_tokens += 1
            else:
                gap_start = t if gap_start is None else gap_start
                gap_dyn += dyn_j
                gap_cols += cols
            self.all_tokens += 1
            t = end
        if gap_start is not None:
            self._rate(gap_start, t, gap_dyn, gap_cols)
        self.power += [(t0, self.background_w), (t, -self.background_w)]
        args = {"batch": ph.batch, "tokens": len(positions), "drawn_tokens": len(positions) if drawn is None
                else len(drawn), "schedule": "pipelined" if pipelined else "serial"}
        if scale != 1.0:
            args["exact_scale"] = scale
        self.ev.slice(self.pid, self.phases, ph.name, t0, t, args)
        return t

    def finish(self) -> None:
        self.ev.counters(self.pid, "power (W)", self.power)
        self.ev.counters(self.pid, "PIM MAC read bandwidth (GB/s)", self.bandwidth)


# ------------------------------------------------------------------------------------------ the trace
def write_chrome_trace(result: Result, path: str | Path, workload, hardware, mapping, *,
                       tokens_per_phase: int | None = None, exact: bool = False) -> dict:
    """Write the trace of `result` (what `simulate(model, hardware, mapping, workload)` returned for the
    expanded `workload`) to `path` in the Chrome/Perfetto JSON format (module docstring: what is drawn);
    returns its `otherData` plus `events` (their count)."""
    with open(path, "w") as f:
        f.write('{"traceEvents":[')
        ev = _Events(f)
        other = _draw(ev, result, workload, hardware, mapping, tokens_per_phase, exact)
        f.write('],"displayTimeUnit":"ns","otherData":' + json.dumps(other) + "}")
    return {**other, "events": ev.count}


def _draw(ev: _Events, result: Result, workload, hardware, mapping, tokens_per_phase: int | None,
          exact: bool) -> dict:
    from pimsim.hardware.system import is_system, load_system

    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    summary = ev.process(SUMMARY_PROCESS)
    sampled = tokens_per_phase is not None
    if not isinstance(hardware, Hardware) and is_system(hardware):
        devices = _system(ev, result, workload, *load_system(hardware), mp, tokens_per_phase, exact)
    else:
        hw = hardware if isinstance(hardware, Hardware) else load_hardware(hardware)
        dev = _PimDevice(ev, "pim", hw, mp)
        t = 0.0
        for ph, pr in zip(workload.phases, result.phases):
            t = dev.phase(ph, t, pr.latency_s if exact else None, tokens_per_phase)
        dev.finish()
        devices = [dev]
    drawn = sum(d.drawn_tokens for d in devices)
    every = sum(d.all_tokens for d in devices)
    lane = ev.thread(summary, "totals by category (not a timeline)")
    ev.slice(summary, lane, "time by category (totals, not a timeline)", 0.0, result.latency_s,
             {f"{k} (ms)": v * 1e3 for k, v in result.breakdown_s.items()})
    lane = ev.thread(summary, "energy by category (totals, not a timeline)")
    ev.slice(summary, lane, "energy by category (totals, not a timeline)", 0.0, result.latency_s,
             {f"{k} (J)": v for k, v in result.breakdown_j.items()})
    other = {
        "generator": "pimsim simulate --trace", "machine": result.machine, "latency_s": result.latency_s,
        "energy_j": result.energy_j, "time_unit": "microseconds of simulated time",
        "schedule": mp.overlap, "timing": "exact phase times; op times fast mode scaled per phase to them"
        if exact else "fast mode (refresh stall in closed form per op)",
        "sampling": (f"{tokens_per_phase} evenly spaced token positions per phase drawn op by op at their true "
                     f"start times ({drawn} of {every} token positions); the tokens lane holds every token, "
                     "counters hold each undrawn stretch's average") if sampled else
                    f"every token of every phase drawn op by op ({every} token positions)",
        "tokens_per_phase": tokens_per_phase, "token_positions": every, "token_positions_drawn": drawn,
        "summary": f"totals by category are args of the slices in process {SUMMARY_PROCESS!r}",
    }
    return other


def _system(ev: _Events, result: Result, workload, system, source: str, mp: Mapping,
            tokens_per_phase: int | None, exact: bool) -> list[_PimDevice]:
    """Draw a run on a system of devices (`engine.placement`): phase after phase, each on its device; whole
    PIM phases op by op, GPU/CPU phases step by step, split phases and hand-offs as blocks."""
    from pimsim.baselines.model import phase_cost
    from pimsim.engine import placement as pl

    devices = pl.resolve_devices(system, source, mp, exact)
    placed = pl._check_placement(workload, mp, devices, source)
    pims: dict[str, _PimDevice] = {}
    lanes: dict[str, tuple[int, int]] = {}

    def lane(name: str) -> tuple[int, int]:
        if name not in lanes:
            dev = devices.get(name)
            if dev is not None and dev.kind == "pim":
                pims[name] = _PimDevice(ev, name, dev.hw, mp)
                lanes[name] = (pims[name].pid, pims[name].phases)
            elif dev is not None:
                pid = ev.process(f"{name}: {dev.preset.name} ({dev.mode or 'default'})")
                lanes[name] = (pid, ev.thread(pid, "phases"))
                ev.thread(pid, "steps")
            else:
                pid = ev.process(f"link {name}")
                lanes[name] = (pid, ev.thread(pid, "transfers"))
        return lanes[name]

    for name in devices:
        lane(name)
    for name in system.links:
        lane(name)
    holder: dict[tuple, tuple] = {}
    t = 0.0
    for ph, where, pr in zip(workload.phases, placed, result.phases):
        kv_device = where["attention"] if isinstance(where, dict) else where
        key = (ph.model, ph.weight_copy)
        prev = holder.get(key)
        if ph.past_context > 0 and prev is not None and prev[1] != kv_device:
            lname, link = pl._link(system, source, prev[1], kv_device, f"phase {ph.name} hand-off")
            nbytes = pl._kv_bytes(prev[0], devices[prev[1]])
            move_s = link.transfer_s(nbytes)
            pid, tid = lane(lname)
            ev.slice(pid, tid, f"KV hand-off {prev[1]} -> {kv_device}", t, t + move_s,
                     {"phase": ph.name, "bytes": nbytes})
            t += move_s
        if isinstance(where, dict):
            overlapped = mp.overlap == "pipelined" or mp.head_pipeline > 1
            parts, wall = pl._split_phase(ph, devices[where["weights"]], devices[where["attention"]],
                                          pl._link(system, source, where["weights"], where["attention"], ph.name),
                                          overlapped=mp.overlap == "pipelined", head_pipeline=mp.head_pipeline)
            start = t
            for part in parts:  # serial: the parts one after another; overlapped: each unit's busy time from
                pid, tid = lane(part.device)  # the phase's start (the makespan, `wall`, is the phase's length)
                ev.slice(pid, tid, f"{ph.name}: {'/'.join(part.seconds)}", t, t + part.busy_s,
                         {"phase": ph.name, "split": "overlapped: unit busy time within the phase" if overlapped
                          else "serial block (placement books the parts one after another)",
                          **{f"{k} (ms)": v * 1e3 for k, v in part.seconds.items()}})
                if not overlapped:
                    t += part.busy_s
            t = start + wall
        elif devices[where].kind == "pim":
            wall = None
            if exact:
                wall = pl._whole_phase(ph, devices[where]).busy_s
            t = pims[where].phase(ph, t, wall, tokens_per_phase)
        else:
            dev = devices[where]
            pid, tid = lane(where)
            cost = phase_cost(ph, dev.preset, dev.overhead_s)
            steps_tid = ev.thread(pid, "steps")
            cursor = t
            for s, sec in enumerate(cost.step_time_s):
                ev.slice(pid, steps_tid, f"step {s}", cursor, cursor + float(sec), {"phase": ph.name})
                cursor += float(sec)
            ev.slice(pid, tid, ph.name, t, cursor, {"steps": ph.steps, "batch": ph.batch})
            t = cursor
        holder[key] = (ph, kv_device)
    for dev in pims.values():
        dev.finish()
    return list(pims.values())
