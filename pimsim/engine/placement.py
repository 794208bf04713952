"""Workloads on a system of devices with phases placed by the mapping (issue 12: placement per phase and per
op class; batched PIM and many devices come later).

Model:
- A phase runs whole on the device `Mapping.device_for(role, kind)` names, or split by op class (`weights`
  on a GPU, `attention` on a PIM device: AttAcc's split). On a PIM device ops are timed as
  `SystemSimulator` times them (the command engine; exact mode too); on a GPU/CPU device by the roofline
  and overhead model of `pimsim baseline` (`pimsim.baselines.model`), the same code.
- A split phase, per step: the GPU runs every kernel but attention and the KV appends for the whole batch
  (GEMMs); the PIM device runs each sequence's KV appends and attention (q.K^T, softmax and score.V on its
  ASIC and PIM units, one sequence after another, as AiM's single-vector units must); per layer the new
  q, k and v of every sequence cross the link to PIM and the attention outputs come back (two transfers a
  layer, each bytes / bytes_per_s + latency_ns); serial within the step (no overlap yet).
- Schedule: phase after phase, one device working at a time, except for overlap groups
  (`overlapped_wall_s`): consecutive phases with the same non-empty `Phase.overlap` tag (streaming PRM
  scoring: the PRM scores step k while the policy emits step k+1) may run at once. Each phase occupies its
  resources (the devices it runs on, its op-class split's link, its KV hand-off's link) for its whole time;
  phases whose resources are joined through shared ones form one component and run one after another; the
  components run at once: the group's wall time is the max over components of their serial sums (so
  phases all on one device take the sum, as without the tag; on two disjoint devices the max). Phases
  keep their own times and energy; the run's latency is the sum of the groups' wall times, and each
  device's standby covers the rest of it.
- KV cache hand-off: a phase that continues sequences (past_context > 0) needs the cache of the latest
  earlier phase of the same model, weight copy and role (a policy's samples and the PRM's inputs are
  separate caches even on one model); if that ran on another device, the cache as that device
  held it (its batch x its end context x the model's KV bytes per token, at the producing device's element
  size) crosses the link between them first: bytes / bytes_per_s + latency_ns, and bytes x 8 x pj_per_bit.
  No link between them is an error.
- Energy: each phase's energy on its device (PIM: commands, ASIC, link pins, standby over the phase; GPU:
  idle + active power over the phase, per byte and per FLOP), link energy, and every device's standby for
  the time it does not work (PIM: `background_w_per_channel` x channels + ASIC static; GPU/CPU: `idle_w`).
- Capacity: each device holds the weights of every copy whose weight ops run there and the KV cache of
  every copy whose attention runs there, as the phases placed there hold it at once (prefix sharing per
  the spec: `pimsim.workloads.residency`; a PIM mapping reserving the maximum context: sequences x that
  context), all resident at once, checked before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pimsim.errors import CapacityError, ConfigError
from pimsim.hardware.system import SystemConfig
from pimsim.result import PhaseResult, Result


@dataclass
class _Device:
    name: str
    kind: str  # "pim" | "device"
    hw: object = None  # Hardware (pim)
    sim: object = None  # SystemSimulator (pim)
    preset: object = None  # DevicePreset (device)
    mode: str | None = None
    overhead_s: float = 0.0
    count: int = 1  # devices of the group (GPU/CPU: tensor-parallel; PIM: `group`)
    group: object = None  # PimGroup (a PIM entry with count > 1; `engine.pim_group`)
    busy_s: float = 0.0
    energy: dict[str, float] = field(default_factory=dict)
    _group_sims: dict = field(default_factory=dict)

    def group_sim(self, groups: int, source: str):
        """A PIM device's simulator of one of `groups` equal channel groups (attention `sequence_groups`)."""
        if groups == 1:
            return self.sim
        if groups not in self._group_sims:
            from pimsim.engine.system import SystemSimulator

            channels = self.hw.dram.channels
            if channels % groups:
                raise ConfigError(f"{source}: mapping {self.sim.mapping.name}: attention.sequence_groups "
                                  f"{groups} must divide device {self.name}'s {channels} channels")
            sub = self.hw.model_copy(update={"dram": self.hw.dram.model_copy(update={"channels": channels // groups})})
            self._group_sims[groups] = SystemSimulator(sub, self.sim.mapping, exact=self.sim.exact_arg)
        return self._group_sims[groups]

    def standby_w(self) -> float:
        if self.group is not None:
            return self.group.standby_w()
        if self.kind == "pim":
            e = self.hw.energy
            return self.hw.dram.channels * e.background_w_per_channel + e.asic_static_w
        return self.preset.power.idle_w * self.count


def resolve_devices(system: SystemConfig, source: str, mapping, exact: bool | str) -> dict[str, _Device]:
    """Every device of `system` loaded (presets validated; errors name the file and field)."""
    from pimsim.baselines.device import load_device
    from pimsim.engine.pim_group import PimGroup
    from pimsim.engine.system import SystemSimulator
    from pimsim.errors import PimsimError
    from pimsim.hardware import load_hardware

    out = {}
    for name, entry in system.devices.items():
        where = f"{source}: devices.{name}"
        try:
            if entry.kind == "pim" and entry.count > 1:
                hw = load_hardware(entry.pim, overrides=entry.overrides or None)
                one = {"asic": {"device_channels": hw.asic.device_channels or hw.dram.channels}}
                every = _merge(entry.overrides, {"dram": {"channels": hw.dram.channels * entry.count}, **one})
                stage = _merge(entry.overrides, {"dram": {"channels": hw.dram.channels * entry.tensor_group}, **one})
                group = PimGroup(hw, load_hardware(entry.pim, overrides=every), mapping, entry.count,
                                 entry.parallel, entry.interconnect, exact, entry.tensor_group,
                                 load_hardware(entry.pim, overrides=stage) if entry.tensor_group > 1 else None)
                out[name] = _Device(name, "pim", hw=group.hw, sim=group.sim, count=entry.count, group=group)
            elif entry.kind == "pim":
                hw = load_hardware(entry.pim, overrides=entry.overrides or None)
                out[name] = _Device(name, "pim", hw=hw, sim=SystemSimulator(hw, mapping, exact=exact))
            else:
                dev = load_device(entry.device)
                mode, overhead = dev.overhead_s(entry.mode)
                if entry.count > 1 and dev.interconnect is None:
                    raise ConfigError(f"count: {entry.count} devices of {dev.name} need its preset's interconnect:")
                out[name] = _Device(name, "device", preset=dev, mode=mode, overhead_s=overhead, count=entry.count)
        except PimsimError as exc:
            raise type(exc)(f"{where}: {exc}") from None
    return out


def _merge(base: dict, extra: dict) -> dict:
    """`base` with `extra` merged in, nested mappings key by key."""
    out = dict(base)
    for k, v in extra.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _check_placement(workload, mapping, devices: dict[str, _Device], source: str) -> list:
    placed = []
    for ph in workload.phases:
        where = mapping.device_for(ph.role, ph.kind)
        for name in (where.values() if isinstance(where, dict) else (where,)):
            if name not in devices:
                raise ConfigError(f"mapping {mapping.name}: placement puts phase {ph.name} ({ph.role} {ph.kind}) "
                                  f"on device {name!r}, which {source} does not have; devices: "
                                  f"{', '.join(devices)}")
        if isinstance(where, dict) and devices[where["attention"]].group is not None:
            raise ConfigError(f"mapping {mapping.name}: phase {ph.name}: an op-class split onto a group of PIM "
                              f"devices ({where['attention']}, count {devices[where['attention']].count}) is not "
                              "modelled; give the split's attention one PIM device")
        if isinstance(where, dict):
            w, a = devices[where["weights"]], devices[where["attention"]]
            if {w.kind, a.kind} != {"device", "pim"}:
                raise ConfigError(f"mapping {mapping.name}: phase {ph.name}: an op-class split runs one op class on a "
                                  f"GPU/CPU device and the other on a PIM device (got weights on {where['weights']}, "
                                  f"attention on {where['attention']})")
            if w.kind == "pim" and (w.group is not None or w.hw.pim.vectors_per_pass > 1):
                raise ConfigError(f"mapping {mapping.name}: phase {ph.name}: weights on PIM with attention on "
                                  f"{where['attention']} is modelled for one single-vector PIM device "
                                  f"({where['weights']} is a group or multi-vector)")
        placed.append(where)
    return placed


def _check_capacity(workload, placed: list, devices: dict[str, _Device], source: str,
                    kv_handoff: str = "phase") -> None:
    """Per device: weights of the copies whose weight ops run there + KV caches of the copies whose attention
    runs there (module docstring): per copy, the KV its phases placed there hold at once
    (`residency.largest_per_role` over those phases, with the spec's prefix sharing), or on a PIM device
    whose mapping reserves the maximum context, their most sequences x that context
    (`engine.capacity.reserved_kv`). With `kv_handoff: layer` a GPU/CPU device that hands a copy's KV on
    (not the device of its last phase) holds one layer of it."""
    from pimsim.engine.capacity import reserved_kv
    from pimsim.workloads.phases import ResidentCopy
    from pimsim.workloads.residency import largest_per_role, sharing_of, unit_kv_tokens

    sharing = sharing_of(workload)
    need: dict[str, list[tuple[str, int, int]]] = {name: [] for name in devices}
    for c in workload.resident_copies():
        mine = [(ph, w) for ph, w in zip(workload.phases, placed) if (ph.model, ph.weight_copy) == (c.model, c.copy)]
        weights_on = {w["weights"] if isinstance(w, dict) else w for _, w in mine}
        kv_on = {w["attention"] if isinstance(w, dict) else w for _, w in mine}
        for name in weights_on | kv_on:
            dev = devices[name]
            dtype = dev.hw.pim.dtype_bytes if dev.kind == "pim" else dev.preset.dtype_bytes
            weights = c.model.params * dtype if name in weights_on else 0
            kv = 0
            if name in kv_on:
                here = [ph for ph, w in mine if (w["attention"] if isinstance(w, dict) else w) == name]
                tokens = sum(unit_kv_tokens(u, sharing) for u in largest_per_role(here, sharing).values())
                if dev.kind == "pim":
                    seqs = ResidentCopy(c.model, c.copy, max(ph.batch for ph in here), c.context)
                    kv = reserved_kv(dev.sim.mapper(c.model), seqs, tokens)[0]
                    g = dev.sim.mapping.attention.sequence_groups
                    if g > 1:  # each channel group holds ceil(sequences / g) sequences' share
                        kv = -(-kv * (-(-seqs.sequences // g) * g) // seqs.sequences)
                else:
                    kv = tokens * c.model.kv_bytes_per_token(dtype)
                    last = mine[-1][1]
                    if kv_handoff == "layer" and name != (last["attention"] if isinstance(last, dict) else last):
                        kv = -(-kv // c.model.layers)  # the layer being written before it moves on
            need[name].append((c.label, weights, kv))
    for name, parts in need.items():
        dev = devices[name]
        if dev.group is not None and dev.group.parallel == "pipeline":
            _check_stage_capacity(workload, placed, dev, source)
            continue
        have = dev.hw.capacity_bytes if dev.kind == "pim" else dev.preset.memory_bytes * dev.count
        total = sum(w + k for _, w, k in parts)
        if total > have:
            detail = "; ".join(f"{label}: weights {w:,} + KV cache {k:,}" for label, w, k in parts)
            preset = dev.hw.name if dev.kind == "pim" else dev.preset.name
            raise CapacityError(f"{source}: the workload does not fit device {name} ({preset}): requires "
                                f"{total:,} bytes ({detail}) but it has {have:,} bytes; place less on it, use "
                                "fewer sequences or a shorter context")


def _check_stage_capacity(workload, placed: list, dev: _Device, source: str) -> None:
    """A pipeline-parallel PIM group: the fullest device's layers, embedding or head and KV share of every
    copy placed on the group must fit one device (`PimGroup.stage_bytes`)."""
    from pimsim.workloads import resident_kv

    held = resident_kv(workload)  # the spec's prefix sharing
    parts = []
    for c in workload.resident_copies():
        if any((ph.model, ph.weight_copy) == (c.model, c.copy) and dev.name in
               ((w["weights"], w["attention"]) if isinstance(w, dict) else (w,))
               for ph, w in zip(workload.phases, placed)):
            parts.append((c.label, dev.group.stage_bytes(c.model, c, held[c.label].tokens)))
    have = dev.group.device_hw.capacity_bytes
    total = sum(n for _, n in parts)
    if total > have:
        detail = "; ".join(f"{label}: {n:,}" for label, n in parts)
        raise CapacityError(f"{source}: the workload does not fit device {dev.name} ({dev.group.device_hw.name} "
                            f"x {dev.count}, pipeline-parallel): its fullest device holds {total:,} bytes ({detail}: "
                            f"weights of its layers and its embedding or head, plus its layers' KV cache) but each "
                            f"device has {have:,} bytes; use more devices, fewer sequences or a shorter context")


def _kv_bytes(ph, dev: _Device) -> int:
    dtype = dev.hw.pim.dtype_bytes if dev.kind == "pim" else dev.preset.dtype_bytes
    return ph.batch * ph.end_context * ph.model.kv_bytes_per_token(dtype)


@dataclass
class _Part:
    """What one device (or link) spends on a phase: busy seconds, time and energy by category."""

    device: str
    busy_s: float
    seconds: dict[str, float]
    energy: dict[str, float]
    tally: object = None  # PIM tally (commands, row hits)
    link_bytes: float = 0.0


def _link(system: SystemConfig, source: str, a: str, b: str, why: str):
    found = system.link_between(a, b)
    if found is None:
        raise ConfigError(f"{source}: {why}, but no link joins {a} and {b}")
    return found


def _whole_phase(ph, dev: _Device) -> _Part:
    from pimsim.baselines.model import group_energy_j, phase_cost
    from pimsim.engine.energy import system_energy_j
    from pimsim.engine.tally import clean

    if dev.group is not None:
        g = dev.group.phase(ph)
        seconds = clean(g.tally.seconds)
        seconds["interconnect"] = g.fabric_s
        return _Part(dev.name, g.wall_s, clean(seconds), dev.group.energy_j(g), g.tally, link_bytes=g.fabric_bytes)
    if dev.kind == "pim":
        tally, wall = dev.sim.phase(ph)
        return _Part(dev.name, wall, clean(tally.seconds), clean(system_energy_j(dev.hw, tally, wall)), tally)
    cost = phase_cost(ph, dev.preset, dev.overhead_s, dev.count)
    wall = float(cost.step_time_s.sum())
    return _Part(dev.name, wall, {k: v for k, v in cost.breakdown_s.items() if v},
                 clean(group_energy_j(ph, dev.preset, cost, wall, dev.count)))


def head_chunk_layer_s(chunks: int, qkv_s: float, to_s: float, attn_s: float, back_s: float,
                       proj_s: float) -> float:
    """One layer's head chunks with the GPU's QKV and projection kernels split among them (mapping
    head_pipeline_gpu; times per chunk): the GPU generates every chunk's q/k/v, then projects the chunks in
    order as their outputs return; each chunk crosses the link to PIM, attends, crosses back (each resource
    one chunk at a time, in order). Returns when the last projection ends."""
    to_end = attn_end = back_end = proj_end = 0.0
    gpu_free = chunks * qkv_s  # the q/k/v of every chunk first
    for i in range(1, chunks + 1):
        to_end = max(i * qkv_s, to_end) + to_s
        attn_end = max(to_end, attn_end) + attn_s
        back_end = max(attn_end, back_end) + back_s
        proj_end = max(back_end, proj_end, gpu_free) + proj_s
    return proj_end


def _split_phase(ph, gpu: _Device, pim: _Device, link_entry, overlapped: bool = False, head_pipeline: int = 1,
                 source: str = "system", head_pipeline_gpu: bool = False) -> tuple[list[_Part], float]:
    """(parts, wall seconds) of a phase split by op class: weights on `gpu` for the whole batch (or per
    sub-batch), attention on `pim` sequence by sequence, and the per-layer q/k/v and attention-output
    transfers over the link (module docstring). `overlapped` (mapping overlap: pipelined, batch >= 2): the
    batch runs as two sub-batches whose layers alternate between the GPU and PIM (NeuPIMs' sub-batch
    interleaving), timed by `schedule.pipelined_makespan`; the GPU then reads the weights once per sub-batch.
    `head_pipeline` C > 1 (AttAcc's head-level pipelining): per layer the heads go in C chunks, each chunk's
    q/k/v transfer, PIM attention (1/C of the layer's) and output transfer a flow shop over the link's two
    directions and PIM (`pim_group.flow_completions`, exact), after the layer's GPU kernels."""
    from pimsim.engine.pim_group import flow_completions
    from collections import defaultdict

    from pimsim.engine.energy import system_energy_j
    from pimsim.engine.schedule import pipelined_makespan
    from pimsim.engine.tally import Tally, clean

    groups = pim.sim.mapping.attention.sequence_groups
    attend = pim.group_sim(groups, source)  # one channel group's simulator (the whole device for 1)
    attacc = pim.sim.mapping.op_programs == "attacc"
    subs = [ph.batch] if not overlapped or ph.batch < 2 else [(ph.batch + 1) // 2, ph.batch // 2]
    chunks = min(head_pipeline, ph.model.heads)
    if chunks > 1 and len(subs) > 1:
        raise ConfigError("head_pipeline with overlap: pipelined (sub-batch interleaving) is not modelled; "
                          "use one of the two")
    head_wall = 0.0
    name, link = link_entry
    m = ph.model
    dtype = gpu.preset.dtype_bytes

    def attention(ctx: int) -> Tally:  # one sequence's attention ops of one layer (on its channel group)
        return attend.layer_attention(m, ctx)

    gpu_parts, pim_tally, link_bytes, link_s, link_j, pim_wall = [], Tally(), 0.0, 0.0, 0.0, 0.0
    chains_per_step: list[list[list[tuple[str, float]]]] = [[] for _ in range(ph.steps)]
    for b in subs:
        cost, energy = _gpu_without_attention(ph, gpu, b)
        gpu_parts.append((cost, energy))
        if head_pipeline_gpu and chunks > 1:  # the head-separable kernels, each timed alone (the rest stays serial)
            qkv_step_s, proj_step_s = (_gpu_without_attention(ph, gpu, b, only=(k,), allreduce=False)[0].step_time_s
                                       for k in ("qkv_proj", "out_proj"))
        to_pim = b * ph.new_tokens * (m.heads + 2 * m.kv_heads) * m.head_dim * dtype  # per layer
        back = b * ph.new_tokens * m.heads * m.head_dim * dtype
        to_s, back_s = link.transfer_s(to_pim / chunks), link.transfer_s(back / chunks)
        rounds = -(-b // groups)  # the groups attend at once: ceil(b / groups) sequences one after another
        for s in range(ph.steps):
            attn, attn_s = Tally(), 0.0
            for i in range(ph.new_tokens):
                ctx = ph.past_context + s * ph.new_tokens + i + 1
                if attacc:  # each group runs AttAcc's program over its share of the batch's heads at once
                    one = attend.attacc_layer_attention(m, ctx, rounds)
                    attn.add(one, min(groups, b))
                    attn_s += one.total_s
                    continue
                one = attention(ctx)
                attn.add(one, b)  # every sequence's commands and energy
                attn_s += one.total_s * rounds
            pim_tally.add(attn, m.layers)
            pim_wall += attn_s * m.layers
            link_bytes += (to_pim + back) * m.layers
            link_j += (link.energy_j(to_pim / chunks) + link.energy_j(back / chunks)) * chunks * m.layers
            link_s += (to_s + back_s) * chunks * m.layers
            g = float(cost.step_time_s[s]) / m.layers  # the step's GPU kernels spread evenly over layers
            if chunks > 1 and head_pipeline_gpu:  # GPU q/k/v and projections in the chunks too
                qkv_s, proj_s = float(qkv_step_s[s]) / m.layers, float(proj_step_s[s]) / m.layers
                rest = g - qkv_s - proj_s  # the layer's other GPU kernels and all-reduces, before and after
                head_wall += (rest + head_chunk_layer_s(chunks, qkv_s / chunks, to_s, attn_s / chunks, back_s,
                                                        proj_s / chunks)) * m.layers
            elif chunks > 1:  # head chunks: to PIM, attention, back, as a flow shop over the two directions and PIM
                heads_s = flow_completions([([to_s, attn_s / chunks, back_s], chunks)], 0.0)[-1]
                head_wall += (g + heads_s) * m.layers
            layer = [("gpu", g), ("link", to_s), ("pim", attn_s), ("link", back_s)]
            chains_per_step[s].append(layer * m.layers)
    gpu_s = sum(float(c.step_time_s.sum()) for c, _ in gpu_parts)
    gpu_seconds: dict[str, float] = {}
    gpu_energy: dict[str, float] = {}
    for c, e in gpu_parts:
        for k, v in c.breakdown_s.items():
            if v:
                gpu_seconds[k] = gpu_seconds.get(k, 0.0) + v
        for k, v in e.items():
            gpu_energy[k] = gpu_energy.get(k, 0.0) + v
    pim_s = pim_wall  # = pim_tally.total_s for one group
    seconds = clean(pim_tally.seconds) if groups == 1 else \
        {k: v * pim_s / pim_tally.total_s for k, v in clean(pim_tally.seconds).items()}  # wall shares
    parts = [_Part(gpu.name, gpu_s, gpu_seconds, gpu_energy),
             _Part(pim.name, pim_s, seconds, clean(system_energy_j(pim.hw, pim_tally, pim_s)),
                   pim_tally),
             _Part(name, link_s, {"qkv_and_outputs": link_s},
                   {"qkv_and_outputs": link_j}, link_bytes=link_bytes)]
    if len(subs) == 1:
        return parts, head_wall if chunks > 1 else gpu_s + pim_s + link_s
    return parts, sum(pipelined_makespan(chains) for chains in chains_per_step)


def _split_phase_weights_on_pim(ph, pim: _Device, gpu: _Device, link_entry) -> tuple[list[_Part], float]:
    """(parts, wall seconds) of a phase split the other way (IANUS's mapping: the FC layers on PIM, attention
    on the NPU): PIM runs every sequence's tokens without their attention (`SystemSimulator.token_weights`:
    the weight GEMVs, norms, activations, residuals, one sequence after another as single-vector units must);
    the GPU/NPU runs the attention kernels and KV appends of the whole batch (`_gpu_attention`), its KV cache
    in its own memory; per layer the batch's new q, k and v cross the link to it and the attention outputs
    come back. Serial: IANUS's NPU and PIM share one memory, so their work does not overlap here."""
    from pimsim.engine.energy import system_energy_j
    from pimsim.engine.tally import Tally, clean

    m = ph.model
    hp = 1 if ph.head_positions is None else ph.head_positions
    name, link = link_entry
    tally = Tally()
    for s in range(ph.steps):
        for i in range(ph.new_tokens):
            ctx = ph.past_context + s * ph.new_tokens + i + 1
            tally.add(pim.sim.token_weights(m, ctx, i >= ph.new_tokens - hp), ph.batch)
    cost, energy = _gpu_attention(ph, gpu)
    dtype = gpu.preset.dtype_bytes
    to_dev = ph.batch * ph.new_tokens * (m.heads + 2 * m.kv_heads) * m.head_dim * dtype  # per layer and step
    back = ph.batch * ph.new_tokens * m.heads * m.head_dim * dtype
    transfers = m.layers * ph.steps
    link_s = (link.transfer_s(to_dev) + link.transfer_s(back)) * transfers
    link_j = (link.energy_j(to_dev) + link.energy_j(back)) * transfers
    gpu_s, pim_s = float(cost.step_time_s.sum()), tally.total_s
    parts = [_Part(pim.name, pim_s, clean(tally.seconds), clean(system_energy_j(pim.hw, tally, pim_s)), tally),
             _Part(gpu.name, gpu_s, {k: v for k, v in cost.breakdown_s.items() if v}, energy),
             _Part(name, link_s, {"qkv_and_outputs": link_s}, {"qkv_and_outputs": link_j},
                   link_bytes=(to_dev + back) * transfers)]
    return parts, pim_s + gpu_s + link_s


def _kernels_where(table, keep):
    """The kernels of `table` where `keep` is true (shapes stay keyed by kernel name: NPU units time the GEMMs
    by shape)."""
    from pimsim.baselines.kernels import KernelTable

    return KernelTable(tuple(n for n, k in zip(table.names, keep) if k),
                       tuple(c for c, k in zip(table.categories, keep) if k),
                       *(getattr(table, f)[keep] for f in ("count", "flops0", "flops_slope", "bytes0",
                                                           "bytes_slope", "streams")),
                       shapes=table.shapes)


def _gpu_attention(ph, gpu: _Device):
    """(cost, energy) of the attention kernels and KV appends of `ph` (the whole batch) on a GPU/CPU device."""
    import numpy as np

    from pimsim.baselines.kernels import kernel_table
    from pimsim.baselines.model import evaluate, group_energy_j, shard
    from pimsim.engine.tally import clean

    dev = gpu.preset
    table = kernel_table(ph.model, ph.new_tokens, ph.past_context, ph.batch, ph.steps, dev.dtype_bytes,
                         ph.head_positions, dev.fused_attention, dev.software_stack)
    sub = _kernels_where(table, np.array([c in ("attention", "kv_append") for c in table.categories]))
    cost = evaluate(shard(sub, gpu.count), ph.steps, dev, gpu.overhead_s)
    return cost, clean(group_energy_j(ph, dev, cost, float(cost.step_time_s.sum()), gpu.count))


def _gpu_without_attention(ph, gpu: _Device, batch: int, only: tuple[str, ...] | None = None,
                           allreduce: bool = True):
    """(cost, energy) of every GPU kernel of `ph` but attention and the KV appends, for `batch` sequences
    (`only`: just the kernels of those names; `allreduce` False: without the group's all-reduces)."""
    from dataclasses import replace as dc_replace

    import numpy as np

    from pimsim.baselines.kernels import kernel_table
    from pimsim.baselines.model import evaluate, group_energy_j, shard, with_allreduce
    from pimsim.engine.tally import clean

    dev = gpu.preset
    part = dc_replace(ph, batch=batch)
    table = kernel_table(ph.model, ph.new_tokens, ph.past_context, batch, ph.steps, dev.dtype_bytes,
                         ph.head_positions, dev.fused_attention, dev.software_stack)
    sub = _kernels_where(table, np.array([c not in ("attention", "kv_append") and (only is None or n in only)
                                          for n, c in zip(table.names, table.categories)]))
    cost = evaluate(shard(sub, gpu.count), ph.steps, dev, gpu.overhead_s)
    if allreduce:
        cost = with_allreduce(cost, part, dev, gpu.count)
    return cost, clean(group_energy_j(part, dev, cost, float(cost.step_time_s.sum()), gpu.count))


def overlapped_wall_s(entries: list[tuple[str, frozenset, float]]) -> float:
    """Wall seconds of phases in order, each (overlap tag, resources, seconds) (module docstring, Schedule):
    a maximal run of consecutive phases with one non-empty tag is a group whose time is the max over its
    components (phases joined through shared resources, merged transitively) of their summed seconds; an
    untagged phase is a group of its own."""
    total, i = 0.0, 0
    while i < len(entries):
        j = i + 1
        if entries[i][0]:
            while j < len(entries) and entries[j][0] == entries[i][0]:
                j += 1
        comps: list[tuple[frozenset, float]] = []
        for _, res, sec in entries[i:j]:
            joined, busy, rest = frozenset(res), sec, []
            for r, t in comps:
                if r & joined:
                    joined, busy = joined | r, busy + t
                else:
                    rest.append((r, t))
            comps = rest + [(joined, busy)]
        total += max(t for _, t in comps)
        i = j
    return total


def capacity_check_only(workload, system: str, mapping: str) -> None:
    """The placement and capacity checks of `run_on_system` for a system and mapping given by name or path,
    without simulating (CapacityError / ConfigError as a run would raise them): for searches of the largest
    batch that fits."""
    from pimsim.hardware.system import load_system
    from pimsim.mapper import load_mapping

    config, source = load_system(system)
    mp = load_mapping(mapping)
    devices = resolve_devices(config, source, mp, False)
    _check_capacity(workload, _check_placement(workload, mp, devices, source), devices, source, mp.kv_handoff)


def run_on_system(workload, system: SystemConfig, source: str, mapping, *, exact: bool | str = False,
                  config: dict | None = None) -> Result:
    """Time and energy of `workload` on `system` with the phases placed by `mapping` (module docstring)."""
    devices = resolve_devices(system, source, mapping, exact)
    placed = _check_placement(workload, mapping, devices, source)
    _check_capacity(workload, placed, devices, source, mapping.kv_handoff)
    phases: list[PhaseResult] = []
    breakdown_s: dict[str, float] = {}
    breakdown_j: dict[str, float] = {}
    link_bytes: dict[str, float] = {}
    link_s: dict[str, float] = {}
    holder: dict[tuple, tuple[object, str]] = {}  # (model, weight copy, role) -> (last phase, its device)
    schedule: list[tuple[str, frozenset, float]] = []  # (overlap tag, resources, seconds) per phase
    commands: dict[str, float] = {}
    row_hits = row_misses = 0.0

    def book(prefix: str, seconds: dict[str, float], joules: dict[str, float]) -> None:
        for k, v in seconds.items():
            breakdown_s[f"{prefix}.{k}"] = breakdown_s.get(f"{prefix}.{k}", 0.0) + v
        for k, v in joules.items():
            breakdown_j[f"{prefix}.{k}"] = breakdown_j.get(f"{prefix}.{k}", 0.0) + v

    for ph, where in zip(workload.phases, placed):
        kv_device = where["attention"] if isinstance(where, dict) else where
        key = (ph.model, ph.weight_copy, ph.role)
        prev = holder.get(key)
        move_s = move_j = 0.0
        lname = None
        if ph.past_context > 0 and prev is not None and prev[1] != kv_device:
            lname, link = _link(system, source, prev[1], kv_device, f"phase {ph.name} continues the KV cache "
                                f"that {prev[0].name} left on {prev[1]}")
            nbytes = _kv_bytes(prev[0], devices[prev[1]])
            if mapping.kv_handoff == "layer":  # one transfer per layer, each of its share of the bytes
                layers = ph.model.layers
                move_s = layers * link.transfer_s(-(-nbytes // layers))
            else:
                move_s = link.transfer_s(nbytes)
            move_j = link.energy_j(nbytes)
            link_bytes[lname] = link_bytes.get(lname, 0.0) + nbytes
            link_s[lname] = link_s.get(lname, 0.0) + move_s
            book(f"link.{lname}", {"kv_handoff": move_s}, {"kv_handoff": move_j})
        if isinstance(where, dict) and devices[where["weights"]].kind == "pim":
            parts, wall = _split_phase_weights_on_pim(
                ph, devices[where["weights"]], devices[where["attention"]],
                _link(system, source, where["weights"], where["attention"],
                      f"phase {ph.name} splits weights and attention"))
        elif isinstance(where, dict):
            parts, wall = _split_phase(ph, devices[where["weights"]], devices[where["attention"]],
                                       _link(system, source, where["weights"], where["attention"],
                                             f"phase {ph.name} splits weights and attention"),
                                       overlapped=mapping.overlap == "pipelined",
                                       head_pipeline=mapping.head_pipeline, source=source,
                                       head_pipeline_gpu=mapping.head_pipeline_gpu)
        else:
            parts = [_whole_phase(ph, devices[where])]
            wall = parts[0].busy_s
        host_s = system.host.step_s * ph.steps * ph.new_tokens if system.host is not None else 0.0
        phase_s, phase_j = move_s + wall + host_s, move_j
        phase_seconds: dict[str, float] = {f"link.{lname}.kv_handoff": move_s} if move_s else {}
        phase_energy: dict[str, float] = {f"link.{lname}.kv_handoff": move_j} if move_s else {}
        if host_s:
            book("host", {"token_steps": host_s}, {})
            phase_seconds["host.token_steps"] = host_s
        for part in parts:
            if part.device in devices:
                devices[part.device].busy_s += part.busy_s
                if devices[part.device].group is not None:  # the group's own fabric
                    fabric = f"{part.device}.interconnect"
                    link_bytes[fabric] = link_bytes.get(fabric, 0.0) + part.link_bytes
                    link_s[fabric] = link_s.get(fabric, 0.0) + part.seconds.get("interconnect", 0.0)
            else:  # a link
                link_bytes[part.device] = link_bytes.get(part.device, 0.0) + part.link_bytes
                link_s[part.device] = link_s.get(part.device, 0.0) + part.busy_s
            prefix = part.device if part.device in devices else f"link.{part.device}"
            book(prefix, part.seconds, part.energy)
            phase_seconds.update({f"{prefix}.{k}": v for k, v in part.seconds.items()})
            phase_energy.update({f"{prefix}.{k}": v for k, v in part.energy.items()})
            phase_j += sum(part.energy.values())
            if part.tally is not None:
                for k, v in part.tally.commands.items():
                    commands[k] = commands.get(k, 0.0) + v
                row_hits += part.tally.row_hits
                row_misses += part.tally.row_misses
        phases.append(PhaseResult.of(ph, phase_s, phase_j, phase_seconds, phase_energy))
        resources = {p.device if p.device in devices else f"link.{p.device}" for p in parts}
        if lname:
            resources.add(f"link.{lname}")
        schedule.append((ph.overlap, frozenset(resources), phase_s))
        holder[key] = (ph, kv_device)
    serial_s = sum(sec for _, _, sec in schedule)
    total_s = overlapped_wall_s(schedule)
    for name, dev in devices.items():  # standby while the others work
        idle_s = total_s - dev.busy_s
        if idle_s > 0 and dev.standby_w():
            book(name, {}, {"standby_while_idle": dev.standby_w() * idle_s})
    counters = {f"busy_s.{n}": d.busy_s for n, d in devices.items()}
    if any(tag for tag, _, _ in schedule):  # streaming: what running overlap groups at once saved
        counters["overlap_saved_s"] = serial_s - total_s
    counters.update({f"link_bytes.{n}": v for n, v in link_bytes.items()})
    counters.update({f"link_s.{n}": v for n, v in link_s.items()})
    config = dict(config or {})
    config["placement"] = {ph.name: d for ph, d in zip(workload.phases, placed)}
    return Result(
        machine=f"{system.name}/{mapping.name}", latency_s=total_s, energy_j=sum(breakdown_j.values()),
        tokens=workload.result_tokens, breakdown_s=dict(sorted(breakdown_s.items())),
        breakdown_j=dict(sorted(breakdown_j.items())), phases=tuple(phases), counters=counters,
        commands={k: int(round(v)) for k, v in sorted(commands.items())},
        row_hit_rate=row_hits / (row_hits + row_misses) if row_hits + row_misses else None, config=config,
    )
