"""GPU / CPU baseline: time and energy of a workload's phases on one device.

Time, per kernel launch (kernels as `kernels.py` lists them):

    t = max(FLOPs / flops_per_s, bytes / bw, kernel_floor_s) + kernel_overhead_s[mode]
    bw = bandwidth_bytes_per_s, or for fused attention min(bandwidth_bytes_per_s,
         streams x attention_stream_bandwidth_bytes_per_s)  (one thread block per sequence and head)

`kernel_floor_s` (0 unless fitted) is the least time a kernel runs: a kernel whose work is shorter still
takes it (launch to drain), so small kernels' work hides in it while large ones pay only the overhead.
`graph` mode is a captured CUDA graph (per-kernel overhead is what remains inside the graph); `eager`
adds the framework's per-launch cost. Steps of a phase differ only in their context, so all steps are
evaluated at once as (kernels x steps) numpy arrays; the max() is taken per kernel and step, so phases
that cross from memory- to compute-bound are exact.

Energy (per-work model, `PowerModel`): (idle_w + active_w) x time + energy_per_byte_j x bytes +
energy_per_flop_j x FLOPs.

Power cap (`power_capped`, where `power.cap_at_tdp`): a step whose power idle_w + active_w + E_dyn / t would
exceed `tdp_w` takes E_dyn / (tdp_w - idle_w - active_w) instead. Framework mode (`HostBound` overhead):
a step takes max(device time, kernels x host dispatch per kernel). NPUs (`kind: npu`): compute time per
kernel from the systolic arrays by GEMM shape (`pimsim.baselines.npu`).

Tensor parallelism (`num_devices` N > 1, Megatron-style; needs the preset's `interconnect`): the weight
matmuls, attention and KV appends split N ways (their FLOPs and bytes per device / N, the attention
streams too); norms, activations, residuals and embeddings stay whole on every device [simplification:
a pessimistic bound]; each layer adds two all-reduces of the step's activations (tokens x hidden), each a
ring over the N devices: 2 (N-1)/N x bytes / bytes_per_s + 2 (N-1) x hop_latency_s. Energy: N devices'
idle and active power over the time, the per-byte and per-FLOP energy of all devices' work, and the
interconnect's bytes x 8 x pj_per_bit. Capacity: weights / N + KV cache / N per device.

Capacity (`check_capacity`, run by `run_baseline` so every caller gets it): every weight copy the
workload holds at once (`Workload.resident_copies`: one per model, plus an implicit PRM's reference
model) at `dtype_bytes` per parameter, plus each copy's KV cache as it is resident at once
(`pimsim.workloads.residency.resident_kv` at `dtype_bytes`: a prefix shared by a group of sequences held
once per group, as a paged cache with prefix caching holds it; `--no-prefix-sharing`: every sequence's
own copy), must fit `memory_bytes`. Activations are not counted: with fused attention
a step's transient tensors are one layer's activations (tokens x max(FFN width, vocab at the head
positions)), which serving stacks bound by chunking prefill and logits, while weights and KV cache are
what decide whether a model fits at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimsim.baselines.device import DevicePreset, load_device
from pimsim.baselines.kernels import CATEGORIES, KernelTable, kernel_table
from pimsim.errors import CapacityError, ConfigError
from pimsim.result import PhaseResult, Result


@dataclass(frozen=True)
class PhaseCost:
    """Roofline evaluation of one phase: time per step and the totals energy needs."""

    step_time_s: np.ndarray  # (steps,) including overheads
    breakdown_s: dict[str, float]
    flops: float
    bytes: float
    kernels: int
    memory_bound_s: float  # kernel time (without overhead) spent in memory-bound kernels


def kernel_bandwidth(table: KernelTable, device: DevicePreset) -> np.ndarray:
    """Achievable bandwidth of each kernel: the device's, or the attention streams' if lower."""
    bw = np.full(len(table.names), device.bandwidth_bytes_per_s)
    stream = device.attention_stream_bandwidth_bytes_per_s
    if stream is not None:
        limited = table.streams > 0
        bw[limited] = np.minimum(bw[limited], table.streams[limited] * stream)
    return bw


def power_capped(step_time_s: np.ndarray, dynamic_j: np.ndarray, device: DevicePreset) -> np.ndarray:
    """Step times stretched to the board limit: a step of time t whose dynamic energy (per byte and per FLOP)
    is E draws idle_w + active_w + E / t; above `tdp_w` it takes E / (tdp_w - idle_w - active_w) instead, so
    it draws exactly `tdp_w` (energy then follows from the longer time). Unchanged when `cap_at_tdp` is off."""
    p = device.power
    if not p.cap_at_tdp:
        return step_time_s
    return np.maximum(step_time_s, dynamic_j / (p.tdp_w - p.idle_w - p.active_w))


def evaluate(table: KernelTable, steps: int, device: DevicePreset, overhead_s: float) -> PhaseCost:
    """Per-step times of `steps` steps of `table` on `device` (see module docstring): per kernel max(compute,
    memory) (an NPU's compute from its arrays, `pimsim.baselines.npu`), plus the per-kernel overhead; in
    framework mode (`overhead_s` a `HostBound`) at least the host's dispatch time; then the power cap."""
    flops, moved = table.at(steps)
    if device.kind == "npu":
        from pimsim.baselines.npu import kernel_times

        t_cmp, t_mem, moved = kernel_times(table, steps, device)
    else:
        from pimsim.baselines.gemm import scheduled_flops

        t_mem = moved / kernel_bandwidth(table, device)[:, None]
        t_cmp = scheduled_flops(table, flops, device.gemm_tiling) / device.flops_per_s
    count = table.count[:, None]
    t = np.maximum(np.maximum(t_mem, t_cmp), device.kernel_floor_s) * count
    launches = table.kernels_per_step
    device_time = t.sum(axis=0) + launches * overhead_s
    host = getattr(overhead_s, "host_s_per_kernel", None)
    step_time = np.maximum(device_time, launches * host) if host is not None else device_time
    step_bytes = (moved * count).sum(axis=0)
    step_flops = (flops * count).sum(axis=0)
    p = device.power
    capped = power_capped(step_time, p.energy_per_byte_j * step_bytes + p.energy_per_flop_j * step_flops, device)
    per_kernel = t.sum(axis=1)
    breakdown = dict.fromkeys(CATEGORIES, 0.0)
    for cat, value in zip(table.categories, per_kernel):
        breakdown[cat] += float(value)
    breakdown["kernel_overhead"] = float(launches * overhead_s * steps)
    waited, stretched = float((step_time - device_time).sum()), float((capped - step_time).sum())
    if waited > 0:
        breakdown["host_dispatch_wait"] = waited  # host-bound framework mode: the GPU idles for the host
    if stretched > 0:
        breakdown["power_cap"] = stretched  # time added by the board power limit
    return PhaseCost(
        step_time_s=capped,
        breakdown_s=breakdown,
        flops=float(step_flops.sum()),
        bytes=float(step_bytes.sum()),
        kernels=launches * steps,
        memory_bound_s=float((t * (t_mem >= t_cmp)).sum()),
    )


SHARDED = ("weight_matmul", "attention", "kv_append")  # kernel categories tensor parallelism splits


def shard(table: KernelTable, num_devices: int) -> KernelTable:
    """One device's kernels of a tensor-parallel group: the `SHARDED` categories' FLOPs, bytes and attention
    streams / N (module docstring)."""
    if num_devices == 1:
        return table
    split = np.array([c in SHARDED for c in table.categories])
    factor = np.where(split, 1.0 / num_devices, 1.0)
    return KernelTable(table.names, table.categories, table.count,
                       table.flops0 * factor, table.flops_slope * factor, table.bytes0 * factor,
                       table.bytes_slope * factor, np.where(split, table.streams / num_devices, table.streams),
                       shapes=None)  # per-device GEMM shapes of a split are not derived (NPUs have no groups)


def allreduce_s(nbytes: float, num_devices: int, device: DevicePreset) -> float:
    """One ring all-reduce of `nbytes` over `num_devices` devices on the preset's interconnect."""
    link = device.interconnect
    n = num_devices
    return 2 * (n - 1) / n * nbytes / link.bytes_per_s + 2 * (n - 1) * link.hop_latency_s


def allreduce_per_step_s(phase, device: DevicePreset, num_devices: int) -> float:
    """The two ring all-reduces per layer of one step of `phase` over a tensor-parallel group."""
    if num_devices == 1:
        return 0.0
    activations = phase.batch * phase.new_tokens * phase.model.hidden * device.dtype_bytes
    return 2 * phase.model.layers * allreduce_s(activations, num_devices, device)


def group_energy_j(phase, device: DevicePreset, cost: PhaseCost, time_s: float, num_devices: int = 1
                   ) -> dict[str, float]:
    """`energy_j` of one device, for a group of `num_devices`: every device's share, plus the interconnect
    energy of the all-reduces (each ring moves 2 (N-1) x the activations over the links)."""
    e = energy_j(device, time_s, cost.bytes, cost.flops)
    if num_devices == 1:
        return e
    e = {k: v * num_devices for k, v in e.items()}
    ring_bytes = 2 * (num_devices - 1) * phase.batch * phase.new_tokens * phase.model.hidden * device.dtype_bytes
    e["interconnect"] = 2 * phase.model.layers * phase.steps * ring_bytes * 8 * device.interconnect.pj_per_bit * 1e-12
    return e


def phase_cost(phase, device: DevicePreset, overhead_s: float, num_devices: int = 1) -> PhaseCost:
    """`evaluate` for a workload `Phase` (on one device of a tensor-parallel group of `num_devices`; the
    group's all-reduces are in `breakdown_s["allreduce"]`)."""
    table = kernel_table(phase.model, phase.new_tokens, phase.past_context, phase.batch, phase.steps,
                         device.dtype_bytes, phase.head_positions, device.fused_attention, device.software_stack)
    return with_allreduce(evaluate(shard(table, num_devices), phase.steps, device, overhead_s), phase, device,
                          num_devices)


def with_allreduce(cost: PhaseCost, phase, device: DevicePreset, num_devices: int) -> PhaseCost:
    """`cost` of one device of a tensor-parallel group plus the group's all-reduces (`breakdown_s["allreduce"]`)."""
    if num_devices == 1:
        return cost
    ar = allreduce_per_step_s(phase, device, num_devices)
    breakdown = dict(cost.breakdown_s)
    breakdown["allreduce"] = ar * phase.steps
    return PhaseCost(step_time_s=cost.step_time_s + ar, breakdown_s=breakdown, flops=cost.flops,
                     bytes=cost.bytes, kernels=cost.kernels, memory_bound_s=cost.memory_bound_s)


def energy_j(device: DevicePreset, time_s: float, moved_bytes: float, flops: float) -> dict[str, float]:
    """Energy breakdown of `PowerModel`: idle, active, memory (per byte), compute (per FLOP)."""
    p = device.power
    return {
        "idle": p.idle_w * time_s,
        "active": p.active_w * time_s,
        "memory": p.energy_per_byte_j * moved_bytes,
        "compute": p.energy_per_flop_j * flops,
    }


def result_tokens(workload) -> int:
    """See `Workload.result_tokens` (one definition for PIM and baselines)."""
    return workload.result_tokens


def workload_config(workload) -> dict:
    spec = workload.spec
    dump = getattr(spec, "model_dump", None)
    return dump(mode="json") if dump else {"spec": repr(spec)}


def required_bytes(workload, device: DevicePreset) -> list[tuple[str, dict[str, int]]]:
    """(label, {weights_bytes, kv_cache_bytes, total_bytes}) per resident weight copy (module docstring)."""
    from pimsim.workloads import resident_kv

    kv_of = resident_kv(workload, device.dtype_bytes)  # the spec's prefix_sharing
    out = []
    for c in workload.resident_copies():
        weights = c.model.params * device.dtype_bytes
        kv = kv_of[c.label].bytes
        out.append((c.label, {"weights_bytes": weights, "kv_cache_bytes": kv, "total_bytes": weights + kv}))
    return out


def check_capacity(workload, device: DevicePreset, num_devices: int = 1) -> None:
    """CapacityError (byte counts: weights, KV cache, total, available) unless the workload fits `device`
    (each of `num_devices` tensor-parallel devices holding 1/N of the weights and of the KV cache)."""
    need = required_bytes(workload, device)
    weights = -(-sum(n["weights_bytes"] for _, n in need) // num_devices)
    kv = -(-sum(n["kv_cache_bytes"] for _, n in need) // num_devices)
    if weights + kv <= device.memory_bytes:
        return
    if num_devices > 1:
        raise CapacityError(
            f"workload does not fit {num_devices} x {device.name}: each device holds weights {weights:,} + KV "
            f"cache {kv:,} = {weights + kv:,} bytes (1/{num_devices} of each) but has {device.memory_bytes:,} "
            "bytes (memory_bytes); use more devices, fewer sequences or a shorter context")
    from pimsim.workloads import resident_kv
    from pimsim.workloads.residency import sharing_of

    copies = {c.label: c for c in workload.resident_copies()}
    held = resident_kv(workload, device.dtype_bytes)
    parts = "; ".join(f"{label}: weights {n['weights_bytes']:,} + KV cache {n['kv_cache_bytes']:,} for "
                      f"{held[label].tokens:,} resident tokens ({copies[label].sequences} sequence(s) x "
                      f"{copies[label].context} tokens at most)" for label, n in need)
    sharing = "on" if sharing_of(workload) else "off"
    raise CapacityError(
        f"workload does not fit {device.name}: requires {weights + kv:,} bytes = weights {weights:,} + KV cache "
        f"{kv:,} ({parts}; prefix sharing {sharing}; {device.dtype_bytes} bytes per element) but the device has "
        f"{device.memory_bytes:,} bytes (memory_bytes); use a device with more memory, fewer sequences or a "
        "shorter context")


def run_baseline(workload, device: str | DevicePreset, mode: str | None = None, num_devices: int = 1) -> Result:
    """Time and energy of every phase of `workload` on `device` (a preset name, YAML path or preset).

    `mode`: "graph" or "eager" (default: the device's `default_mode`). CapacityError if the workload's
    weights and KV cache do not fit the device (`check_capacity`). Returns a `Result` whose
    machine is the device name, with per-phase `PhaseResult`s and breakdowns by kernel category.
    """
    dev = load_device(device)
    mode, overhead = dev.overhead_s(mode)
    if not isinstance(num_devices, int) or isinstance(num_devices, bool) or not 1 <= num_devices <= 1024:
        raise ConfigError(f"num_devices must be a whole number from 1 to 1024, got {num_devices!r}")
    if num_devices > 1 and dev.interconnect is None:
        raise ConfigError(f"device {dev.name} has no interconnect: for tensor parallelism over {num_devices} "
                          "devices its preset needs `interconnect:` (bandwidth, hop latency, pJ/bit)")
    check_capacity(workload, dev, num_devices)
    phases = []
    total_s = 0.0
    total_j = 0.0
    breakdown_s = dict.fromkeys(CATEGORIES, 0.0)
    breakdown_j: dict[str, float] = {}
    flops = moved = mem_s = 0.0
    kernels = 0
    for ph in workload.phases:
        cost = phase_cost(ph, dev, overhead, num_devices)
        t = float(cost.step_time_s.sum())
        e = group_energy_j(ph, dev, cost, t, num_devices)
        phases.append(PhaseResult.of(ph, t, sum(e.values()), cost.breakdown_s, e))
        total_s += t
        total_j += sum(e.values())
        for k, v in cost.breakdown_s.items():
            breakdown_s[k] = breakdown_s.get(k, 0.0) + v
        for k, v in e.items():
            breakdown_j[k] = breakdown_j.get(k, 0.0) + v
        flops += cost.flops
        moved += cost.bytes
        kernels += cost.kernels
        mem_s += cost.memory_bound_s
    kernel_s = total_s - sum(breakdown_s.get(k, 0.0) for k in ("kernel_overhead", "allreduce", "host_dispatch_wait",
                                                                "power_cap"))
    config = {"baseline": {"device": dev.model_dump(mode="json"), "mode": mode},
              "workload": workload_config(workload), "models": sorted({p.model.name for p in workload.phases})}
    if num_devices > 1:
        config["baseline"]["num_devices"] = num_devices
    return Result(
        machine=dev.name if num_devices == 1 else f"{dev.name} x{num_devices}",
        latency_s=total_s,
        energy_j=total_j,
        tokens=result_tokens(workload),
        breakdown_s=breakdown_s,
        breakdown_j=breakdown_j,
        phases=tuple(phases),
        counters={"flops": flops, "bytes": moved, "kernels": float(kernels),
                  "memory_bound_fraction": mem_s / kernel_s if kernel_s > 0 else 0.0},
        config=config,
    )
