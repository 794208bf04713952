"""Command engine: closed forms, run-length == exact, checker on everything emitted, refresh, policies,
state chaining, other standards, determinism."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pimsim.dram import CommandEngine, EngineState, Instr, Program, check_log
from pimsim.dram.gemv import gemv_program
from pimsim.hardware import load_hardware

HW = load_hardware("aim-32ch")
AIM = HW.dram
T = AIM.timing
GDDR6 = load_hardware({"base": "pimgpt-gddr6", "dram": {
    "standard": "gddr6", "disabled_constraints": [], "channels": 2,
    "timing": {"nBL": 4, "nCL": 24, "nRCDRD": 26, "nRCDWR": 16, "nRP": 26, "nRAS": 53, "nRC": 79, "nWR": 26,
               "nRTP": 4, "nCWL": 6, "nCCDS": 4, "nCCDL": 6, "nRRDS": 4, "nRRDL": 6, "nWTRS": 9, "nWTRL": 11,
               "nFAW": 32, "nRFC": 210, "nRFCpb": 105, "nRREFD": 14, "nREFI": 3333}}}).dram


def _both(engine, prog, **kw):
    """Run exact and run-length; they must agree on everything; the checker must pass on the log."""
    a = engine.run(prog, mode="exact", log=True, **kw)
    b = engine.run(prog, mode="runlength", log=True, **kw)
    assert (a.cycles, a.commands, a.row_hits, a.row_misses, a.channel_busy_cycles) == \
        (b.cycles, b.commands, b.row_hits, b.row_misses, b.channel_busy_cycles)
    assert a.category_cycles == b.category_cycles
    assert a.end_state == b.end_state
    assert np.array_equal(a.log, b.log)
    phase = 0 if kw.get("start_state") is None else kw["start_state"].cycles_since_refresh[0]
    v = check_log(a.log, engine.dram, refresh=engine.refresh, end_cycle=a.cycles, refresh_phase_cycles=phase,
                  initial_open_rows=None if kw.get("start_state") is None else {
                      (c, b): r for c, rows in enumerate(kw["start_state"].open_rows) for b, r in enumerate(rows)})
    assert v == [], v[:3]
    return a


@pytest.mark.parametrize("n", [1, 2, 17, 64])
def test_one_row_of_n_mac_columns(n):
    """ACT16 at the first issue slot (cycle 1), nRCDRDMAC to the first MAC16, n-1 x nCCDL to the last,
    1 cycle to complete it and 1 for EOC to return: 1 + nRCDRDMAC + (n-1) nCCDL + 2."""
    res = _both(CommandEngine(AIM, refresh=False), Program.from_instrs([Instr("MAC_ABK", n, (0,), row=5), Instr("EOC")]))
    assert res.cycles == 1 + T["nRCDRDMAC"] + (n - 1) * T["nCCDL"] + 2
    assert res.commands == {"ACT16": 1, "MAC16": n}


def test_mac_streaming_reaches_peak_mac_bandwidth():
    """MAC_ABK over one open row: every MAC16 reads 32 B in each of 16 banks, nCCDL apart."""
    n_ins, op = 200, 64
    prog = Program.from_instrs([Instr("MAC_ABK", op, (0,), row=3)] * n_ins + [Instr("EOC")])
    res = _both(CommandEngine(AIM, refresh=False), prog)
    bytes_ = n_ins * op * AIM.banks * AIM.column_bytes
    bw = bytes_ / (res.ns * 1e-9)
    assert bw >= 0.95 * HW.peak_mac_bandwidth_bytes_per_s / AIM.channels
    assert res.row_hits == n_ins * op - 1 and res.row_misses == 1


@pytest.mark.parametrize("dram", [GDDR6, AIM], ids=["gddr6", "gddr6-aim"])
def test_streaming_reads_reach_95_percent_of_peak(dram):
    """Reads over open rows, rotating bank groups: the data bus carries column_bytes per nBL. In-order
    service opens the 16 rows one after the other (ACT, nRCDRD, RD) before streaming: a fixed start cost."""
    n = 16000
    banks = [bg * dram.banks_per_group + k for k in range(dram.banks_per_group) for bg in range(dram.bank_groups)]
    prog = Program.from_instrs([Instr("RD_SBK", 1, (0,), bank=banks[i % len(banks)], row=9) for i in range(n)]
                               + [Instr("EOC")])
    res = _both(CommandEngine(dram, refresh=False), prog)
    peak = dram.column_bytes / (dram.timing["nBL"] * dram.tck_ns * 1e-9)
    assert n * dram.column_bytes / (res.ns * 1e-9) >= 0.95 * peak
    assert res.commands["RD"] == n and res.commands["ACT"] == dram.banks


def test_refresh_overhead_is_about_trfc_over_trefi():
    """A long MAC stream on one row: each refresh stops the stream, waits nRTP to PREA, nRP to REFab, tRFC
    to ACT16 and nRCDRDMAC to the next MAC16, which would otherwise have issued nCCDL after the last:
    12 + 32 + 210 + 56 - 2 = 308 cycles exactly (aim_gddr6.md values; the old band nRFC..nRFC+72 let a
    one-cycle error in any of them pass). 3333-cycle tREFI: floor(cycles / 3333) refreshes."""
    prog = Program.from_instrs([Instr("MAC_ABK", 64, (0,), row=1)] * 1500 + [Instr("EOC")])
    off = CommandEngine(AIM, refresh=False).run(prog)
    on = _both(CommandEngine(AIM, refresh=True), prog)
    refs = on.channel_commands[0, on.command_names.index("REFab")]
    assert refs == on.cycles // 3333
    assert on.cycles - off.cycles == refs * (12 + 32 + 210 + 56 - 2)
    overhead = (on.cycles - off.cycles) / on.cycles
    assert T["nRFC"] / T["nREFI"] <= overhead <= 1.6 * T["nRFC"] / T["nREFI"]
    assert on.category_cycles["refresh"] >= refs * T["nRFC"]


def test_gemv_with_refresh_per_bank_refresh_and_close_row_policy():
    prog = gemv_program(2048, 3000, 4)
    pb = load_hardware("aim-32ch", overrides={"dram": {"refresh": "per_bank", "channels": 4}}).dram
    a = _both(CommandEngine(pb, refresh=True), prog)
    assert a.commands["REFpb"] >= 4 * (a.cycles // (T["nREFI"] // 16))
    # close-row: one PREA per ACT16 (every MAC_ABK closes its row); here every MAC_ABK is a new row, so
    # closing early hides nRP; on a one-row stream it costs nRTP + nRP + nRCDRDMAC per instruction
    c = _both(CommandEngine(AIM, refresh=False, row_policy="close"), prog)
    o = CommandEngine(AIM, refresh=False).run(prog)
    assert c.commands["PREA"] == c.commands["ACT16"] == o.commands["ACT16"] == o.commands["PREA"] + 4
    assert c.cycles <= o.cycles
    one_row = Program.from_instrs([Instr("MAC_ABK", 64, (0,), row=0)] * 10 + [Instr("EOC")])
    c1 = _both(CommandEngine(AIM, refresh=False, row_policy="close"), one_row)
    o1 = CommandEngine(AIM, refresh=False).run(one_row)
    assert c1.cycles - o1.cycles == 9 * (T["nRTP"] + T["nRP"] + T["nRCDRDMAC"] - T["nCCDL"]) + T["nRTP"]


# per preset, from its sources (the preset YAML comments): ACT-to-MAC, nCCDL, nRTP, nRP, tRFC, tREFI
# (hbm3-pim, on the hbm3-pim standard since issue 15, has 64 banks of 32-column rows, not the 16 x 64-column
# geometry of this AiM-layout trace; its MAC stream is tested in tests/dram/test_hbm3_pim.py)
_ROW_TIMING = {"hbm2-pim": (7, 4, 3, 7, 260, 3900),   # MAC16 spacing nUNITMAC 4 (300 MHz units) over nCCDL 2
               "lpddr5-pim": (15, 4, 4, 17, 224, 3124), "pimgpt-gddr6": (56, 2, 12, 32, 210, 3333)}


@pytest.mark.parametrize("preset", ["hbm2-pim", "lpddr5-pim", "pimgpt-gddr6"])
def test_gemv_on_every_pim_preset(preset):
    """1024 x 1024 GEMV on 4 channels (CENT layout): 16 outputs per bank, one 64-column row each, so per
    channel 64 WRGB, 16 WR_BIAS, 16 x 64 MAC16 and 16 RD_MAC; every MAC_ABK opens a new row (ACT16), and a
    refresh re-opens at most one. Each channel's 16 rows take at least ACT-to-MAC + 63 MAC spacings + nRTP + nRP
    each (the MAC16 spacing: nCCDL, or the units' nUNITMAC where slower), and each refresh tRFC more; every channel refreshes once per tREFI. Was: `MAC16 > 0 and cycles > 0`."""
    hw = load_hardware(preset)
    prog = gemv_program(1024, 1024, 4)
    res = _both(CommandEngine(hw.dram, refresh=True), prog)
    c = res.commands
    assert (c["MAC16"], c["WRGB"], c["WRMAC16"], c["RDMAC16"]) == (4 * 16 * 64, 4 * 64, 4 * 16, 4 * 16)
    refs = c.get("REFab", 0)
    assert 4 * 16 <= c["ACT16"] <= 4 * 16 + refs
    rcd, mac_spacing, rtp, rp, rfc, refi = _ROW_TIMING[preset]
    assert refs == hw.dram.channels * (res.cycles // refi)  # idle channels refresh too
    assert res.cycles >= 16 * (rcd + 63 * mac_spacing + rtp + rp) + refs // hw.dram.channels * rfc


def test_state_chaining_honours_residues():
    """Run B from A's end state: the concatenated logs (B shifted by A's cycles) are legal."""
    eng = CommandEngine(AIM, refresh=True)
    pa = gemv_program(512, 4096, 2)
    a = eng.run(pa, log=True)
    b = _both(eng, pa, start_state=a.end_state)
    hash(a.end_state)
    assert isinstance(a.end_state, EngineState)
    both = np.concatenate([a.log, b.log])
    both["cycle"][len(a.log):] += a.cycles
    assert check_log(both, AIM, refresh=True, end_cycle=a.cycles + b.cycles) == []
    # the same start state gives the same result: cacheable by (signature, state)
    assert eng.run(pa, start_state=a.end_state).cycles == b.cycles


def test_determinism():
    eng = CommandEngine(AIM, refresh=True)
    prog = gemv_program(3000, 2000, 8)
    r1, r2 = eng.run(prog, log=True), eng.run(prog, log=True)
    assert r1.as_dict() == r2.as_dict() and np.array_equal(r1.log, r2.log) and r1.end_state == r2.end_state


_OPS = st.one_of(
    st.builds(lambda o, c: Instr("WR_GB", o, c), st.integers(1, 8), st.sampled_from([(0,), (1,), (0, 1)])),
    st.builds(lambda c: Instr("WR_BIAS", 1, c), st.sampled_from([(0,), (0, 1)])),
    st.builds(lambda c: Instr("RD_MAC", 1, c), st.sampled_from([(0,), (1,), (0, 1)])),
    st.builds(lambda c: Instr("RD_AF", 1, c), st.sampled_from([(0,), (0, 1)])),
    st.builds(lambda o, c, r: Instr("MAC_ABK", o, c, row=r), st.integers(1, 70), st.sampled_from([(0,), (1,), (0, 1)]),
              st.integers(0, 3)),
    st.builds(lambda o, b, r: Instr("MAC_SBK", o, (0,), bank=b, row=r), st.integers(1, 9), st.integers(0, 15),
              st.integers(0, 3)),
    st.builds(lambda c: Instr("AF", 1, c), st.sampled_from([(0,), (1,)])),
    st.builds(lambda o, r: Instr("EWMUL", o, (0, 1), row=r), st.integers(1, 9), st.integers(0, 3)),
    st.builds(lambda o, b, r: Instr("COPY_BKGB", o, (1,), bank=b, row=r), st.integers(1, 5), st.integers(0, 15),
              st.integers(0, 3)),
    st.builds(lambda o, b, r: Instr("COPY_GBBK", o, (0,), bank=b, row=r), st.integers(1, 5), st.integers(0, 15),
              st.integers(0, 3)),
    st.builds(lambda r: Instr("WR_ABK", 1, (1,), row=r), st.integers(0, 3)),
    st.builds(lambda b, r: Instr("WR_SBK", 1, (0,), bank=b, row=r), st.integers(0, 15), st.integers(0, 3)),
    st.builds(lambda b, r: Instr("RD_SBK", 1, (1,), bank=b, row=r), st.integers(0, 15), st.integers(0, 3)),
    st.just(Instr("EWADD", 4)), st.just(Instr("SYNC")),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_OPS, min_size=1, max_size=40), refresh=st.booleans(), close=st.booleans(),
       per_bank=st.booleans())
def test_runlength_equals_exact_and_checker_passes_on_random_programs(ops, refresh, close, per_bank):
    dram = load_hardware("pimgpt-gddr6", overrides={"dram": {"channels": 2, "refresh": "per_bank" if per_bank
                                                              else "all_bank", "timing": {"nREFI": 3333 if per_bank else 700}}}).dram
    eng = CommandEngine(dram, refresh=refresh, row_policy="close" if close else "open")
    prog = Program.from_instrs(ops * 3 + [Instr("EOC")])
    res = _both(eng, prog)
    assert sum(res.category_cycles.values()) >= res.cycles


def test_category_breakdown_of_a_row_switching_mac_stream():
    """Per row of n MACs: MAC streaming n x nCCDL, row switch nRTP - nCCDL + nRP + nRCDRDMAC; sums to cycles."""
    n, rows = 64, 10
    prog = Program.from_instrs([Instr("MAC_ABK", n, (0,), row=r) for r in range(rows)] + [Instr("EOC")])
    res = _both(CommandEngine(AIM, refresh=False), prog)
    cat = res.category_cycles
    assert sum(cat.values()) == res.cycles
    assert cat["mac"] == rows * n * T["nCCDL"] - T["nCCDL"]          # the last MAC's slot is the drain
    assert cat["row_switch"] == rows * T["nRCDRDMAC"] + (rows - 1) * (T["nRTP"] - T["nCCDL"] + T["nRP"])
    assert cat["wait"] == 1 and cat["drain"] == 2          # decode slot; MAC completion 1 + EOC return 1
