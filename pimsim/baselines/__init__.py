"""Baselines box: GPU and CPU time and energy for the same workload phases the PIM system runs.

Per kernel: max(FLOPs / achievable compute rate, bytes / achievable bandwidth) + a per-kernel overhead
(`graph` or `eager` mode); energy: idle and active power x time plus per-byte and per-FLOP energy.
Device presets ship in `presets/`; `h100-sxm` and `server-16vcpu` are fitted to the measurements in
`data/` by `pimsim baseline fit`. See docs/baselines.md.
"""

from pimsim.baselines.device import MODES, DevicePreset, PowerModel, device_names, load_device
from pimsim.baselines.fit import FitResult, Measurement, compare, fit_device, read_measurements
from pimsim.baselines.measured import measured_baseline, read_phase_measurements
from pimsim.baselines.model import run_baseline

__all__ = [
    "MODES",
    "DevicePreset",
    "FitResult",
    "Measurement",
    "PowerModel",
    "compare",
    "device_names",
    "fit_device",
    "load_device",
    "measured_baseline",
    "read_measurements",
    "read_phase_measurements",
    "run_baseline",
]
