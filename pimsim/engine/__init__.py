"""Engine box, system level: ASIC + PIM channels + link as resources; ops timed by the command engine
(`pimsim.dram`) and the ASIC model; energy; the `simulate` entry point returning a `Result`."""

from pimsim.engine.system import SystemSimulator, simulate
from pimsim.engine.trace import op_timeline, write_chrome_trace

__all__ = ["SystemSimulator", "simulate", "op_timeline", "write_chrome_trace"]
