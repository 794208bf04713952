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

from pimsim.dram.checker import Violation, check_log
from pimsim.dram.engine import LOG_DTYPE, CommandEngine, Device, EngineResult, EngineState
from pimsim.dram.program import PROGRAM_DTYPE, Instr, Program, parse_trace

__all__ = ["CommandEngine", "Device", "EngineResult", "EngineState", "Instr", "LOG_DTYPE", "PROGRAM_DTYPE",
           "Program", "Violation", "check_log", "parse_trace"]
