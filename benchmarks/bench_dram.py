"""Command-engine speed: DRAM commands simulated per wall second (every expanded command counts), in
exact (per-command) and run-length mode, on a one-channel MAC_ABK stream and an 8-channel GEMV.

Run: .venv/bin/python -m pytest benchmarks/bench_dram.py --benchmark-enable -o python_files='bench_*.py' -q
The figures are in each benchmark's extra_info (commands, commands_per_s) and printed at the end.
"""

import pytest

from pimsim.dram import CommandEngine, Instr, Program
from pimsim.dram.gemv import gemv_program
from pimsim.hardware import load_hardware

HW = load_hardware("pimgpt-gddr6")
RATES: dict[str, float] = {}


def _mac_stream():
    # 20,000 MAC_ABK of 64 columns on channel 0, a new row every 4 instructions (ACT16, 256 MAC16, PREA)
    return Program.from_instrs([Instr("MAC_ABK", 64, (0,), row=i // 4) for i in range(20000)] + [Instr("EOC")])


def _gemv():
    return gemv_program(4096, 16384, 8)


CASES = {"mac_stream_1ch": _mac_stream, "gemv_4096x16384_8ch": _gemv}


@pytest.mark.parametrize("mode", ["exact", "runlength"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_commands_per_second(benchmark, case, mode):
    engine = CommandEngine(HW.dram, refresh=True, memo=False)  # time the kernel, not the result store
    prog = CASES[case]()
    engine.run(prog, mode=mode)                       # JIT warm-up (and cache load)
    res = benchmark.pedantic(engine.run, args=(prog,), kwargs={"mode": mode}, rounds=5, iterations=1)
    n = sum(res.commands.values())
    rate = n / benchmark.stats.stats.min
    benchmark.extra_info.update(commands=n, commands_per_s=rate, cycles=res.cycles)
    RATES[f"{case} {mode}"] = rate
    print(f"\n{case:24s} {mode:9s} {n:>10,d} commands  {rate / 1e6:8.1f} M commands/s")


def test_exact_and_runlength_agree():
    engine = CommandEngine(HW.dram, refresh=True, memo=False)  # time the kernel, not the result store
    for make in CASES.values():
        a, b = engine.run(make(), mode="exact"), engine.run(make(), mode="runlength")
        assert (a.cycles, a.commands) == (b.cycles, b.commands)
