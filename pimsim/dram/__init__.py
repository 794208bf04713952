"""Command level: a cycle-exact DRAM-PIM command engine, its independent checker and AiM trace replay.

API (what the mapper / system level calls)::

    from pimsim.dram import CommandEngine, Instr, Program, parse_trace, check_log
    engine = CommandEngine(hw.dram, refresh=True, row_policy="open")      # or "close"
    prog = parse_trace("gemv.trace")                  # or Program.from_instrs([Instr("MAC_ABK", 64, (0,), row=3), ...])
    res = engine.run(prog, log=False, mode="runlength", start_state=None)  # mode "exact": command by command
    res.cycles, res.ns, res.commands, res.row_hits, res.row_misses, res.channel_busy_cycles
    res.category_cycles       # breakdown of the slowest channel: mac, row_switch, gb_write, bias_write,
                              # result_read, data, mode_switch, refresh, wait, drain (sums to cycles)
    res.end_state             # hashable EngineState: cache results by (prog.signature(), start_state)
    res.log                   # with log=True: structured array cycle, channel, bank (-1 = all), command, row
    violations = check_log(res.log, hw.dram)   # [] when every constraint of the table holds

Programs are AiM instructions (trace grammar of shared/reference/aim_gddr6.md): WR_GB, WR_BIAS, RD_MAC,
RD_AF, MAC_ABK, MAC_SBK, AF, EWMUL, COPY_BKGB, COPY_GBBK, WR_ABK, WR_SBK, RD_SBK, EWADD, SYNC, EOC.
Each expands per channel into DRAM commands of the standard's table (pimsim/hardware/standards/*.yaml):
ACT, PRE, PREA, RD, WR, REFab, REFpb and the AiM set ACT16, MAC, MAC16, AF16, EWMUL16, RDCP, WRCP, WRA16,
WRGB, WRMAC16, RDMAC16, RDAF16, TMOD. Semantics: pimsim.dram.kernel. The engine reproduces the public AiM
simulator's cycle counts with refresh off (tests/dram/test_replay.py). `pimsim.dram.gemv` writes CENT-layout
GEMV traces; `pimsim.dram.Device` probes single commands.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pimsim.util.lazy import lazy_exports

# public name -> defining module, imported on first use: the engine imports numba (issue 17, start-up)
_EXPORTS = {
    "Violation": "pimsim.dram.checker",
    "check_log": "pimsim.dram.checker",
    "LOG_DTYPE": "pimsim.dram.engine",
    "CommandEngine": "pimsim.dram.engine",
    "Device": "pimsim.dram.engine",
    "EngineResult": "pimsim.dram.engine",
    "EngineState": "pimsim.dram.engine",
    "PROGRAM_DTYPE": "pimsim.dram.program",
    "Instr": "pimsim.dram.program",
    "Program": "pimsim.dram.program",
    "parse_trace": "pimsim.dram.program",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from pimsim.dram.checker import Violation, check_log  # noqa: F401
    from pimsim.dram.engine import LOG_DTYPE, CommandEngine, Device, EngineResult, EngineState  # noqa: F401
    from pimsim.dram.program import PROGRAM_DTYPE, Instr, Program, parse_trace  # noqa: F401
