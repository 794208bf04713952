"""Engine box, system level: ASIC + PIM channels + link as resources; ops timed by the command engine
(`pimsim.dram`) and the ASIC model; energy; the `simulate` entry point returning a `Result`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pimsim.util.lazy import lazy_exports

# public name -> defining module, imported on first use: the system imports simpy and numba (issue 17)
_EXPORTS = {
    "SystemSimulator": "pimsim.engine.system",
    "simulate": "pimsim.engine.system",
    "op_timeline": "pimsim.engine.trace",
    "write_chrome_trace": "pimsim.engine.trace",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from pimsim.engine.system import SystemSimulator, simulate  # noqa: F401
    from pimsim.engine.trace import op_timeline, write_chrome_trace  # noqa: F401
