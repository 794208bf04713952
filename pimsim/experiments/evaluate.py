"""Evaluating one design point into one flat row (top-level functions: picklable for process pools/Dask).

Targets:
- `pim`: the whole workload on the PIM system (`pimsim.engine.system.simulate`).
- `system`: the whole workload on a system of devices, phases and op classes placed by the mapping
  (`pimsim.engine.placement`); the row adds `system_{pim,device}_{busy_s,energy_j}` for the error bands.
- `baseline`: the whole workload on a GPU/CPU preset (`pimsim.baselines.run_baseline`).
- `mixed` (a placement): the workload's phases are split by role (`Phase.role`: policy, prm, verifier,
  reference). Phases whose role is in `pim_roles` form one sub-workload simulated on PIM, the rest one
  sub-workload run on the device. Composition rule, stated so it can be checked:
    latency = latency(PIM part) + latency(device part)     (no overlap: the PRM scores what the policy
                                                            generated; beam search alternates per step)
    energy  = energy(PIM part) + energy(device part)
              + device idle power x latency(PIM part)       (the GPU waits while PIM works)
              + PIM background power x latency(device part) (DRAM standby + ASIC leakage while it waits)
  Moving the generated token ids between the machines (a few KB) is neglected.

A row holds: latency_s, energy_j, tokens, ttft_s, tpot_s (`pimsim.result`), latency/energy per token
and per problem, decode_energy_per_token_j (the decode phases' energy over the tokens they generate), row_hit_rate,
non_vmm_share, context, `breakdown_s.*`, `breakdown_j.*`, `counters.*`, `commands.*` and
`role_latency_s.*` / `role_energy_j.*` (time and energy by phase role). Speedups are computed later by
joining PIM rows with baseline rows of the same model and workload (`pimsim.experiments.tables`).
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

from pimsim.errors import PimsimError
from pimsim.experiments.points import load_point_workload
from pimsim.result import Result
from pimsim.workloads import Workload


def _flat(prefix: str, d: dict[str, Any] | None) -> dict[str, float]:
    return {f"{prefix}.{k}": float(v) for k, v in sorted((d or {}).items()) if v is not None}


def _decode_energy_per_token_j(result: Result) -> float:
    """Energy of the generating role's decode phases over the tokens they generate (every sequence): the
    energy companion of `tpot_s`, without the prefill that `energy_per_token_j` includes; NaN without."""
    from pimsim.result import generating_role

    role = generating_role(result.phases)
    decode = [p for p in result.phases if p.role == role and p.kind == "decode"]
    tokens = sum(p.tokens for p in decode)
    return sum(p.energy_j for p in decode) / tokens if tokens else float("nan")


def result_row(result: Result, workload: Workload) -> dict[str, Any]:
    """The flat row of a `Result` of `workload` (see module docstring)."""
    role_of = {p.name: p.role for p in workload.phases}
    role_s: dict[str, float] = {}
    role_j: dict[str, float] = {}
    for ph in result.phases:
        role = role_of.get(ph.name, "other")
        role_s[role] = role_s.get(role, 0.0) + ph.latency_s
        role_j[role] = role_j.get(role, 0.0) + ph.energy_j
    problems = max(1, int(getattr(workload, "problems", 1) or 1))
    nan = float("nan")
    row: dict[str, Any] = {
        "machine": result.machine,
        "latency_s": float(result.latency_s),
        "energy_j": float(result.energy_j),
        "tokens": int(result.tokens),
        "e2e_latency_per_token_s": result.latency_s / result.tokens if result.tokens else nan,
        "ttft_s": nan if result.ttft_s is None else float(result.ttft_s),
        "tpot_s": nan if result.tpot_s is None else float(result.tpot_s),
        "energy_per_token_j": result.energy_j / result.tokens if result.tokens else nan,
        "problems": problems,
        "latency_per_problem_s": result.latency_s / problems,
        "energy_per_problem_j": result.energy_j / problems,
        "decode_energy_per_token_j": _decode_energy_per_token_j(result),
        "row_hit_rate": float(result.row_hit_rate) if result.row_hit_rate is not None else nan,
        "non_vmm_share": float(result.counters.get("non_vmm_share", nan)),
        # every token a forward pass processes (prompt and decode, all sequences) per second, as CENT and
        # AttAcc count throughput; and the mean power of the whole run
        "tokens_per_second": _forward_tokens(workload) / result.latency_s if result.latency_s > 0 else nan,
        "power_w": result.energy_j / result.latency_s if result.latency_s > 0 else nan,
    }
    row.update(_flat("breakdown_s", result.breakdown_s))
    row.update(_flat("breakdown_j", result.breakdown_j))
    row.update(_flat("counters", result.counters))
    row.update(_flat("commands", result.commands))
    row.update(_flat("role_latency_s", role_s))
    row.update(_flat("role_energy_j", role_j))
    return row


def _forward_tokens(workload: Workload) -> int:
    """Tokens through a forward pass: batch x new tokens x steps summed over the phases."""
    return sum(p.batch * p.new_tokens * p.steps for p in workload.phases)


def _simulate(point: dict[str, Any], workload: Workload) -> Result:
    from pimsim.engine.system import simulate  # the PIM system simulation (imported only for PIM points)
    from pimsim.hardware import load_hardware
    from pimsim.mapper import load_mapping

    if point["hardware"].get("system"):  # a system of devices, placed by the mapping (docs/systems.md)
        hw = point["hardware"]["preset"]
    else:
        hw = load_hardware(point["hardware"]["preset"], overrides=point["hardware"]["overrides"] or None)
    mapping = load_mapping(point["mapping"])
    models = {p.model.name: p.model for p in workload.phases}
    model = next(iter(models.values())) if len(models) == 1 else None
    return simulate(model, hw, mapping, workload)


def _system_parts(result: Result) -> dict[str, float]:
    """Time and energy of a system run by kind of device (the error bands weigh them, `bands.row_band`):
    PIM devices, GPU/CPU devices; links (closed forms) in neither."""
    placement = result.config.get("hardware", {}).get("devices", {})
    kinds = {name: ("pim" if d.get("pim") else "device") for name, d in placement.items()}
    out = {"system_pim_busy_s": 0.0, "system_device_busy_s": 0.0, "system_pim_energy_j": 0.0,
           "system_device_energy_j": 0.0}
    for key, v in result.counters.items():
        if key.startswith("busy_s."):
            out[f"system_{kinds.get(key[len('busy_s.'):], 'device')}_busy_s"] += v
    for key, v in result.breakdown_j.items():
        kind = kinds.get(key.split(".")[0])
        if kind:
            out[f"system_{kind}_energy_j"] += v
    return out


def _baseline(point: dict[str, Any], workload: Workload) -> Result:
    from pimsim.baselines import run_baseline

    return run_baseline(workload, point["device"], point["mode"], point.get("num_devices", 1))


def split_workload(workload: Workload, pim_roles: list[str]) -> tuple[Workload, Workload]:
    """(phases whose role is in `pim_roles`, the other phases), each a `Workload` of the same spec."""
    on_pim = tuple(p for p in workload.phases if p.role in pim_roles)
    rest = tuple(p for p in workload.phases if p.role not in pim_roles)
    def part(phases):
        return Workload(workload.spec, phases, generated_tokens=workload.generated_tokens,
                        problems=workload.problems, notes=workload.notes)
    return part(on_pim), part(rest)


def compose_mixed(workload: Workload, pim: Result, device: Result, device_idle_w: float,
                  pim_idle_w: float) -> Result:
    """One `Result` of a mixed placement from its PIM and device parts (rule in the module docstring)."""
    wait_j = {"device_idle_during_pim": device_idle_w * pim.latency_s,
              "pim_idle_during_device": pim_idle_w * device.latency_s}
    breakdown_s = {**{f"pim.{k}": v for k, v in pim.breakdown_s.items()},
                   **{f"device.{k}": v for k, v in device.breakdown_s.items()}}
    breakdown_j = {**{f"pim.{k}": v for k, v in pim.breakdown_j.items()},
                   **{f"device.{k}": v for k, v in device.breakdown_j.items()}, **wait_j}
    counters = {"pim_latency_s": pim.latency_s, "device_latency_s": device.latency_s,
                "pim_energy_j": pim.energy_j, "device_energy_j": device.energy_j}
    from pimsim.baselines.model import result_tokens

    return Result(
        machine=f"{pim.machine}+{device.machine}",
        latency_s=pim.latency_s + device.latency_s,
        energy_j=pim.energy_j + device.energy_j + sum(wait_j.values()),
        tokens=result_tokens(workload),
        breakdown_s=breakdown_s, breakdown_j=breakdown_j,
        phases=tuple(pim.phases) + tuple(device.phases),
        commands=dict(pim.commands), row_hit_rate=pim.row_hit_rate, counters=counters,
        config={"pim": pim.config, "device": device.config},
    )


def evaluate_point(point: dict[str, Any]) -> dict[str, Any]:
    """The built-in evaluator: simulate / run the baseline of / compose one design point into a row."""
    workload = load_point_workload(point)
    target = point["target"]
    if target == "pim":
        return result_row(_simulate(point, workload), workload)
    if target == "system":
        result = _simulate(point, workload)
        return {**result_row(result, workload), **_system_parts(result)}
    if target == "baseline":
        return result_row(_baseline(point, workload), workload)
    if target == "mixed":
        from pimsim.baselines import load_device
        from pimsim.hardware import load_hardware

        pim_wl, dev_wl = split_workload(workload, point["pim_roles"])
        pim = _simulate(point, pim_wl)
        dev = _baseline(point, dev_wl)
        hw = load_hardware(point["hardware"]["preset"], overrides=point["hardware"]["overrides"] or None)
        # PIM standby power: DRAM background of every channel + ASIC leakage (as the engine's energy model)
        pim_idle_w = hw.dram.channels * hw.energy.background_w_per_channel + hw.energy.asic_static_w
        return result_row(compose_mixed(workload, pim, dev, load_device(point["device"]).power.idle_w,
                                        pim_idle_w), workload)
    raise ValueError(f"unknown target {target!r}")


def resolve_evaluator(evaluator: str | Callable | None) -> Callable[[dict], dict]:
    if evaluator is None:
        return evaluate_point
    if callable(evaluator):
        return evaluator
    module, _, name = evaluator.partition(":")
    return getattr(importlib.import_module(module), name)


def evaluator_id(evaluator: str | Callable | None) -> str | None:
    """What identifies a custom evaluator in point keys ("module:function")."""
    if evaluator is None or isinstance(evaluator, str):
        return evaluator
    return f"{evaluator.__module__}:{evaluator.__qualname__}"


def run_point(point: dict[str, Any], evaluator: str | Callable | None = None) -> dict[str, Any]:
    """Evaluate `point`; bad-input errors (a model that does not fit, ...) become a row with `error`.

    Any other exception propagates: it is a bug, and the point is not stored (a rerun retries it)."""
    try:
        row = resolve_evaluator(evaluator)(point)
    except PimsimError as exc:
        return {"error": f"{type(exc).__name__}: {exc}"}
    return dict(row)
