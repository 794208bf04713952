"""GPU / CPU baseline: time and energy of a workload's phases on one device.

Time, per kernel launch (kernels as `kernels.py` lists them):

    t = max(FLOPs / flops_per_s, bytes / bw) + kernel_overhead_s[mode]
    bw = bandwidth_bytes_per_s, or for fused attention min(bandwidth_bytes_per_s,
         streams x attention_stream_bandwidth_bytes_per_s)  (one thread block per sequence and head)

`graph` mode is a captured CUDA graph (per-kernel overhead is what remains inside the graph); `eager`
adds the framework's per-launch cost. Steps of a phase differ only in their context, so all steps are
evaluated at once as (kernels x steps) numpy arrays; the max() is taken per kernel and step, so phases
that cross from memory- to compute-bound are exact.

Energy (per-work model, `PowerModel`): (idle_w + active_w) x time + energy_per_byte_j x bytes +
energy_per_flop_j x FLOPs.

Capacity (`check_capacity`, run by `run_baseline` so every caller gets it): every weight copy the
workload holds at once (`Workload.resident_copies`: one per model, plus an implicit PRM's reference
model) at `dtype_bytes` per parameter, plus each copy's KV cache for the most sequences and the longest
context its phases reach, must fit `memory_bytes`. Activations are not counted: with fused attention
a step's transient tensors are one layer's activations (tokens x max(FFN width, vocab at the head
positions)), which serving stacks bound by chunking prefill and logits, while weights and KV cache are
what decide whether a model fits at all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pimsim.baselines.device import DevicePreset, load_device
from pimsim.baselines.kernels import CATEGORIES, KernelTable, kernel_table
from pimsim.errors import CapacityError
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


def evaluate(table: KernelTable, steps: int, device: DevicePreset, overhead_s: float) -> PhaseCost:
    """Per-step times of `steps` steps of `table` on `device` (see module docstring)."""
    flops, moved = table.at(steps)
    t_mem = moved / kernel_bandwidth(table, device)[:, None]
    t_cmp = flops / device.flops_per_s
    t = np.maximum(t_mem, t_cmp) * table.count[:, None]
    launches = table.kernels_per_step
    step_time = t.sum(axis=0) + launches * overhead_s
    per_kernel = t.sum(axis=1)
    breakdown = dict.fromkeys(CATEGORIES, 0.0)
    for cat, value in zip(table.categories, per_kernel):
        breakdown[cat] += float(value)
    breakdown["kernel_overhead"] = float(launches * overhead_s * steps)
    return PhaseCost(
        step_time_s=step_time,
        breakdown_s=breakdown,
        flops=float((flops * table.count[:, None]).sum()),
        bytes=float((moved * table.count[:, None]).sum()),
        kernels=launches * steps,
        memory_bound_s=float((t * (t_mem >= t_cmp)).sum()),
    )


def phase_cost(phase, device: DevicePreset, overhead_s: float) -> PhaseCost:
    """`evaluate` for a workload `Phase`."""
    table = kernel_table(phase.model, phase.new_tokens, phase.past_context, phase.batch, phase.steps,
                         device.dtype_bytes, phase.head_positions, device.fused_attention)
    return evaluate(table, phase.steps, device, overhead_s)


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
    out = []
    for c in workload.resident_copies():
        weights = c.model.params * device.dtype_bytes
        kv = c.sequences * c.context * c.model.kv_bytes_per_token(device.dtype_bytes)
        out.append((c.label, {"weights_bytes": weights, "kv_cache_bytes": kv, "total_bytes": weights + kv}))
    return out


def check_capacity(workload, device: DevicePreset) -> None:
    """CapacityError (byte counts: weights, KV cache, total, available) unless the workload fits `device`."""
    need = required_bytes(workload, device)
    weights = sum(n["weights_bytes"] for _, n in need)
    kv = sum(n["kv_cache_bytes"] for _, n in need)
    if weights + kv <= device.memory_bytes:
        return
    copies = {c.label: c for c in workload.resident_copies()}
    parts = "; ".join(f"{label}: weights {n['weights_bytes']:,} + KV cache {n['kv_cache_bytes']:,} for "
                      f"{copies[label].sequences} sequence(s) x {copies[label].context} tokens" for label, n in need)
    raise CapacityError(
        f"workload does not fit {device.name}: requires {weights + kv:,} bytes = weights {weights:,} + KV cache "
        f"{kv:,} ({parts}; {device.dtype_bytes} bytes per element) but the device has {device.memory_bytes:,} "
        "bytes (memory_bytes); use a device with more memory, fewer sequences or a shorter context")


def run_baseline(workload, device: str | DevicePreset, mode: str | None = None) -> Result:
    """Time and energy of every phase of `workload` on `device` (a preset name, YAML path or preset).

    `mode`: "graph" or "eager" (default: the device's `default_mode`). CapacityError if the workload's
    weights and KV cache do not fit the device (`check_capacity`). Returns a `Result` whose
    machine is the device name, with per-phase `PhaseResult`s and breakdowns by kernel category.
    """
    dev = load_device(device)
    mode, overhead = dev.overhead_s(mode)
    check_capacity(workload, dev)
    phases = []
    total_s = 0.0
    total_j = 0.0
    breakdown_s = dict.fromkeys(CATEGORIES, 0.0)
    breakdown_j: dict[str, float] = {}
    flops = moved = mem_s = 0.0
    kernels = 0
    for ph in workload.phases:
        cost = phase_cost(ph, dev, overhead)
        t = float(cost.step_time_s.sum())
        e = energy_j(dev, t, cost.bytes, cost.flops)
        phases.append(PhaseResult.of(ph, t, sum(e.values()), cost.breakdown_s, e))
        total_s += t
        total_j += sum(e.values())
        for k, v in cost.breakdown_s.items():
            breakdown_s[k] += v
        for k, v in e.items():
            breakdown_j[k] = breakdown_j.get(k, 0.0) + v
        flops += cost.flops
        moved += cost.bytes
        kernels += cost.kernels
        mem_s += cost.memory_bound_s
    kernel_s = total_s - breakdown_s["kernel_overhead"]
    return Result(
        machine=dev.name,
        latency_s=total_s,
        energy_j=total_j,
        tokens=result_tokens(workload),
        breakdown_s=breakdown_s,
        breakdown_j=breakdown_j,
        phases=tuple(phases),
        counters={"flops": flops, "bytes": moved, "kernels": float(kernels),
                  "memory_bound_fraction": mem_s / kernel_s if kernel_s > 0 else 0.0},
        config={"baseline": {"device": dev.model_dump(mode="json"), "mode": mode},
                "workload": workload_config(workload),
                "models": sorted({p.model.name for p in workload.phases})},
    )
