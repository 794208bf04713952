"""Baselines box: GPU and CPU time and energy for the same workload phases the PIM system runs.

Per kernel: max(FLOPs / achievable compute rate, bytes / achievable bandwidth) + a per-kernel overhead
(`graph` or `eager` mode); energy: idle and active power x time plus per-byte and per-FLOP energy.
Device presets ship in `presets/`; `h100-sxm` and `server-16vcpu` are fitted to the measurements in
`data/` by `pimsim baseline fit`. See docs/baselines.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pimsim.util.lazy import lazy_exports

# public name -> defining module, imported on first use (issue 17, start-up)
_EXPORTS = {
    "MODES": "pimsim.baselines.device",
    "DevicePreset": "pimsim.baselines.device",
    "PowerModel": "pimsim.baselines.device",
    "device_names": "pimsim.baselines.device",
    "load_device": "pimsim.baselines.device",
    "FitResult": "pimsim.baselines.fit",
    "Measurement": "pimsim.baselines.fit",
    "compare": "pimsim.baselines.fit",
    "fit_device": "pimsim.baselines.fit",
    "read_measurements": "pimsim.baselines.fit",
    "measured_baseline": "pimsim.baselines.measured",
    "read_phase_measurements": "pimsim.baselines.measured",
    "run_baseline": "pimsim.baselines.model",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from pimsim.baselines.device import MODES, DevicePreset, PowerModel, device_names, load_device  # noqa: F401
    from pimsim.baselines.fit import FitResult, Measurement, compare, fit_device, read_measurements  # noqa: F401
    from pimsim.baselines.measured import measured_baseline, read_phase_measurements  # noqa: F401
    from pimsim.baselines.model import run_baseline  # noqa: F401
