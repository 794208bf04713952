"""Workloads on a system of devices with phases placed by the mapping (issue 12, first step: placement per
phase; per-op placement within a step, batched PIM and many devices come later).

Model:
- Each phase runs whole on the device `Mapping.device_for(role, kind)` names. On a PIM device it is timed
  as `SystemSimulator` times it (the command engine; exact mode too); on a GPU/CPU device by the roofline
  and overhead model of `pimsim baseline` (`pimsim.baselines.model.phase_cost`), the same code.
- Schedule: serial, phase after phase (as `pimsim.experiments.evaluate` composes placements today): one
  device works at a time.
- KV cache hand-off: a phase that continues sequences (past_context > 0) needs the cache of the latest
  earlier phase of the same model and weight copy; if that ran on another device, the cache as that device
  held it (its batch x its end context x the model's KV bytes per token, at the producing device's element
  size) crosses the link between them first: bytes / bytes_per_s + latency_ns, and bytes x 8 x pj_per_bit.
  No link between them is an error.
- Energy: each phase's energy on its device (PIM: commands, ASIC, link pins, standby over the phase; GPU:
  idle + active power over the phase, per byte and per FLOP), link energy, and every device's standby for
  the time it does not work (PIM: `background_w_per_channel` x channels + ASIC static; GPU/CPU: `idle_w`).
- Capacity: every device holds the weight copies and KV caches of the phases placed on it
  (`engine.capacity` for PIM, `baselines.model.check_capacity` for GPUs), checked before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pimsim.errors import ConfigError
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
    busy_s: float = 0.0
    energy: dict[str, float] = field(default_factory=dict)

    def standby_w(self) -> float:
        if self.kind == "pim":
            e = self.hw.energy
            return self.hw.dram.channels * e.background_w_per_channel + e.asic_static_w
        return self.preset.power.idle_w


def resolve_devices(system: SystemConfig, source: str, mapping, exact: bool) -> dict[str, _Device]:
    """Every device of `system` loaded (presets validated; errors name the file and field)."""
    from pimsim.baselines.device import load_device
    from pimsim.engine.system import SystemSimulator
    from pimsim.errors import PimsimError
    from pimsim.hardware import load_hardware

    out = {}
    for name, entry in system.devices.items():
        where = f"{source}: devices.{name}"
        try:
            if entry.kind == "pim":
                hw = load_hardware(entry.pim, overrides=entry.overrides or None)
                out[name] = _Device(name, "pim", hw=hw, sim=SystemSimulator(hw, mapping, exact=exact))
            else:
                dev = load_device(entry.device)
                mode, overhead = dev.overhead_s(entry.mode)
                out[name] = _Device(name, "device", preset=dev, mode=mode, overhead_s=overhead)
        except PimsimError as exc:
            raise type(exc)(f"{where}: {exc}") from None
    return out


def _check_placement(workload, mapping, devices: dict[str, _Device], source: str) -> list[str]:
    placed = []
    for ph in workload.phases:
        name = mapping.device_for(ph.role, ph.kind)
        if name not in devices:
            raise ConfigError(f"mapping {mapping.name}: placement puts phase {ph.name} ({ph.role} {ph.kind}) on "
                              f"device {name!r}, which {source} does not have; devices: {', '.join(devices)}")
        placed.append(name)
    return placed


def _check_capacity(workload, placed: list[str], devices: dict[str, _Device]) -> None:
    from pimsim.baselines.model import check_capacity
    from pimsim.engine.capacity import check_pim_capacity
    from pimsim.workloads.phases import Workload

    for name, dev in devices.items():
        phases = tuple(ph for ph, d in zip(workload.phases, placed) if d == name)
        if not phases:
            continue
        part = Workload(workload.spec, phases, workload.generated_tokens, workload.problems)
        if dev.kind == "pim":
            check_pim_capacity(part, dev.hw, dev.sim.mapper)
        else:
            check_capacity(part, dev.preset)


def _kv_bytes(ph, dev: _Device) -> int:
    dtype = dev.hw.pim.dtype_bytes if dev.kind == "pim" else dev.preset.dtype_bytes
    return ph.batch * ph.end_context * ph.model.kv_bytes_per_token(dtype)


def run_on_system(workload, system: SystemConfig, source: str, mapping, *, exact: bool = False,
                  config: dict | None = None) -> Result:
    """Time and energy of `workload` on `system` with the phases placed by `mapping` (module docstring)."""
    from pimsim.baselines.model import energy_j, phase_cost
    from pimsim.engine.energy import system_energy_j
    from pimsim.engine.tally import clean

    devices = resolve_devices(system, source, mapping, exact)
    placed = _check_placement(workload, mapping, devices, source)
    _check_capacity(workload, placed, devices)
    phases: list[PhaseResult] = []
    breakdown_s: dict[str, float] = {}
    breakdown_j: dict[str, float] = {}
    link_bytes: dict[str, float] = {}
    link_s: dict[str, float] = {}
    holder: dict[tuple, tuple[object, str]] = {}  # (model, weight copy) -> (last phase, its device)
    total_s = 0.0
    commands: dict[str, float] = {}
    row_hits = row_misses = 0.0

    def book(prefix: str, seconds: dict[str, float], joules: dict[str, float]) -> None:
        for k, v in seconds.items():
            breakdown_s[f"{prefix}.{k}"] = breakdown_s.get(f"{prefix}.{k}", 0.0) + v
        for k, v in joules.items():
            breakdown_j[f"{prefix}.{k}"] = breakdown_j.get(f"{prefix}.{k}", 0.0) + v

    for ph, name in zip(workload.phases, placed):
        dev = devices[name]
        key = (ph.model, ph.weight_copy)
        prev = holder.get(key)
        move_s = move_j = 0.0
        if ph.past_context > 0 and prev is not None and prev[1] != name:
            found = system.link_between(prev[1], name)
            if found is None:
                raise ConfigError(f"{source}: phase {ph.name} on {name} continues the KV cache that {prev[0].name} "
                                  f"left on {prev[1]}, but no link joins {prev[1]} and {name}")
            lname, link = found
            nbytes = _kv_bytes(prev[0], devices[prev[1]])
            move_s = nbytes / link.bytes_per_s + link.latency_ns * 1e-9
            move_j = nbytes * 8 * link.pj_per_bit * 1e-12
            link_bytes[lname] = link_bytes.get(lname, 0.0) + nbytes
            link_s[lname] = link_s.get(lname, 0.0) + move_s
            book(f"link.{lname}", {"kv_handoff": move_s}, {"kv_handoff": move_j})
        if dev.kind == "pim":
            tally, wall = dev.sim.phase(ph)
            energy = system_energy_j(dev.hw, tally, wall)
            seconds = clean(tally.seconds)
            for k, v in tally.commands.items():
                commands[k] = commands.get(k, 0.0) + v
            row_hits += tally.row_hits
            row_misses += tally.row_misses
        else:
            cost = phase_cost(ph, dev.preset, dev.overhead_s)
            wall = float(cost.step_time_s.sum())
            energy = energy_j(dev.preset, wall, cost.bytes, cost.flops)
            seconds = {k: v for k, v in cost.breakdown_s.items() if v}
        dev.busy_s += wall
        book(name, seconds, clean(energy))
        phases.append(PhaseResult.of(ph, wall + move_s, sum(energy.values()) + move_j,
                                     {f"{name}.{k}": v for k, v in seconds.items()},
                                     {f"{name}.{k}": v for k, v in clean(energy).items()}))
        total_s += wall + move_s
        holder[key] = (ph, name)
    for name, dev in devices.items():  # standby while the others work
        idle_s = total_s - dev.busy_s
        if idle_s > 0 and dev.standby_w():
            book(name, {}, {"standby_while_idle": dev.standby_w() * idle_s})
    counters = {f"busy_s.{n}": d.busy_s for n, d in devices.items()}
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
