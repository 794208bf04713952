"""Host MEM requests of the AiM trace grammar (`W|R MEM <channel> <bank> <row>`), as CENT's traces use them.

The public AiM simulator (arkhadem/aim_simulator, aim_DRAM_system.cpp, at CENT's submodule commit 2eb1ee0)
converts ISR_WR_SBK / ISR_RD_SBK into exactly the request a host `W MEM` / `R MEM` line makes (Type Write /
Read, region MEM, neither blocking the DMA), so a trace written either way must replay identically: that is the
independent expectation here. Bad host lines are TraceErrors naming the line, and `pimsim replay` exits 2.
"""

import subprocess
import sys

import pytest

from pimsim.dram import parse_trace
from pimsim.dram.engine import CommandEngine
from pimsim.errors import TraceError
from pimsim.hardware import load_hardware

HOST = """W MEM 0 0 0
W MEM 0 2 0
W MEM 3 5 7
R MEM 3 5 7
AiM WR_GB 64 0 0xffffffff
AiM MAC_ABK 64 0xffffffff 3
R MEM 0 0 0
W MEM 31 15 16383
AiM RD_MAC 0 0xffffffff
AiM EOC
"""


def _as_sbk(text: str) -> str:
    out = []
    for line in text.splitlines():
        t = line.split()
        if t and t[0] in ("W", "R"):
            ch, bank, row = map(int, t[2:])
            op = "WR_SBK" if t[0] == "W" else "RD_SBK"
            out.append(f"AiM {op} 0 {1 << (31 - ch):#010x} {bank} {row}")
        else:
            out.append(line)
    return "\n".join(out) + "\n"


@pytest.mark.parametrize("mode", ["runlength", "exact"])
@pytest.mark.parametrize("refresh", [False, True])
def test_host_mem_requests_replay_as_the_single_bank_instructions(mode, refresh):
    hw = load_hardware("aim-32ch")
    eng = CommandEngine(hw.dram, refresh=refresh)
    a = eng.run(parse_trace(HOST), mode=mode)
    b = eng.run(parse_trace(_as_sbk(HOST)), mode=mode)
    assert a.cycles == b.cycles and a.commands == b.commands
    assert a.commands["WR"] == 4 and a.commands["RD"] == 2   # one 32-byte column access per host line


def test_host_request_count_and_channel():
    prog = parse_trace("W MEM 5 1 2\nAiM EOC\n")
    res = CommandEngine(load_hardware("aim-32ch").dram, refresh=False).run(prog)
    assert res.commands.get("WR") == 1 and res.commands.get("ACT") == 1
    busy = res.as_dict()["channel_busy_cycles"]
    idle = CommandEngine(load_hardware("aim-32ch").dram, refresh=False).run(parse_trace("AiM EOC\n"))
    assert [c for c, (v, v0) in enumerate(zip(busy, idle.as_dict()["channel_busy_cycles"])) if v != v0] == [5]


BAD = {
    "gpr": ("W GPR 3\nAiM EOC\n", "line 1", "region 'GPR' is not modelled"),
    "cfr": ("AiM WR_GB 1 0 0x80000000\nW CFR 0 1\nAiM EOC\n", "line 2", "region 'CFR'"),
    "missing": ("R MEM 0 1\nAiM EOC\n", "line 1", "field missing"),
    "extra": ("R MEM 0 1 2 3\nAiM EOC\n", "line 1", "too many fields"),
    "number": ("W MEM 0 x1 2\nAiM EOC\n", "line 1", "bad number 'x1' for bank"),
    "channel": ("W MEM 32 0 0\nAiM EOC\n", "line 1", "channel 32 out of range"),
    "truncated": ("W MEM 0 0 0\n", "after line 1", "missing `AiM EOC`"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_host_lines_name_the_line(name, tmp_path):
    text, where, what = BAD[name]
    with pytest.raises(TraceError) as e:
        parse_trace(text)
    assert where in str(e.value) and what in str(e.value)
    f = tmp_path / "t.trace"
    f.write_text(text)
    p = subprocess.run([sys.executable, "-m", "pimsim.cli.main", "replay", str(f), "--hardware", "aim-32ch"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and what in p.stderr and "Traceback" not in p.stderr
