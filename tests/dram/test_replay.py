"""Trace replay against the public AiM simulator: its cycle counts (shared/reference/aim_calibration),
its measured unit costs (aim_gddr6.md) and a closed form of the CENT GEMV derived from the timing rules."""

import csv
from math import ceil
from pathlib import Path

import pytest

from pimsim.dram import CommandEngine, Instr, Program, check_log, parse_trace
from pimsim.dram.gemv import gemv_program, gemv_trace, plan
from pimsim.hardware import load_hardware

REF = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
CAL = REF / "aim_calibration"
needs_ref = pytest.mark.skipif(not CAL.is_dir(), reason=f"reference data folder {CAL} is absent")

HW = load_hardware("aim-32ch")
T = HW.dram.timing


def _rows():
    if not CAL.is_dir():
        return []
    return list(csv.DictReader(open(CAL / "expected.csv")))


@needs_ref
@pytest.mark.parametrize("row", _rows(), ids=lambda r: r["trace"])
@pytest.mark.parametrize("mode", ["exact", "runlength"])
def test_calibration_traces_match_exactly(row, mode):
    engine = CommandEngine(HW.dram, refresh=False)
    res = engine.run(parse_trace(CAL / row["trace"]), mode=mode, log=True)
    assert res.cycles == int(row["cycles"])
    assert res.ns == pytest.approx(float(row["ns"]))
    expected = {k: int(v) for k, v in (kv.split("=") for kv in row["dram_cmds"].split())}
    assert res.commands == expected
    assert check_log(res.log, HW.dram) == []


def _one_channel(*instrs):
    return Program.from_instrs(list(instrs) + [Instr("EOC")])


@pytest.mark.parametrize("instrs, cycles", [
    ([], 2),                                                    # EOC alone
    ([Instr("MAC_ABK", 64, (0,), row=0)], 185),                 # one MAC_ABK of 64 columns from idle
    ([Instr("MAC_ABK", 64, (0,), row=0)] * 2, 185 + 128),       # a second one on the same row
    ([Instr("MAC_ABK", 64, (0,), row=0), Instr("MAC_ABK", 64, (0,), row=1)], 185 + 226),  # on a new row
    ([Instr("WR_GB", 64, (0,))], 163),
    ([Instr("WR_BIAS", 1, (0,))], 37),
    ([Instr("RD_MAC", 1, (0,))], 37),
])
def test_measured_unit_costs(instrs, cycles):
    """aim_gddr6.md, 'Measured unit costs on one channel'."""
    for mode in ("exact", "runlength"):
        assert CommandEngine(HW.dram, refresh=False).run(_one_channel(*instrs), mode=mode).cycles == cycles


def test_new_row_cost_is_the_sum_of_its_timing_terms():
    """+226 = nRCDRDMAC + 63 x nCCDL + nRTP + nRP (aim_gddr6.md)."""
    assert T["nRCDRDMAC"] + 63 * T["nCCDL"] + T["nRTP"] + T["nRP"] == 226


@needs_ref
@pytest.mark.parametrize("name, shape", [("gemv_768x768_ch8.trace", (768, 768, 8)),
                                         ("gemv_3072x768_ch32.trace", (3072, 768, 32))])
def test_generator_reproduces_reference_gemv_traces(name, shape):
    ref = parse_trace(CAL / name).array
    for gen in (gemv_program(*shape).array, parse_trace(gemv_trace(*shape)).array):
        assert len(gen) == len(ref)
        for f in ("op", "opsize", "mask", "bank", "row"):
            assert (gen[f] == ref[f]).all(), f


def gemv_closed_form(M, K, C):
    """Cycles and DRAM command counts of a CENT GEMV on the AiM simulator, derived from its rules
    (aim_gddr6.md): TMOD nMODCH before a mode change (issued when the next command is ready), WRGB/WRMAC16
    nBL apart, per row nRCDRDMAC + (o-1) nCCDL of MAC then nRTP + nRP, RD_MAC blocking (returns nCLREG + nBL
    after issue, next instruction issued the cycle after), RDMAC16 -> WRMAC16/WRGB turnaround
    nCLREG + nBL + 3 - nCWLREG + nWPRE, EOC 2 cycles after the last result returns."""
    p = plan(M, K, C)
    mod, bl, ccd = T["nMODCH"], T["nBL"], T["nCCDL"]
    rcd, rtp, rp = T["nRCDRDMAC"], T["nRTP"], T["nRP"]
    turn = T["nCLREG"] + bl + 3 - T["nCWLREG"] + T["nWPRE"]
    rd_ret = T["nCLREG"] + bl
    rows_open = False
    last_rd = None
    groups = [min(32, p.per_bank - g) for g in range(0, p.per_bank, 32)]
    for r in range(p.rows_per_vec):
        o = p.opsize(r)
        wrgb0 = 1 + mod if last_rd is None else last_rd + turn
        last_wrgb = wrgb0 + bl * (o - 1)
        for gi, n in enumerate(groups):
            b0 = last_wrgb + bl if gi == 0 else last_rd + turn
            last_bias = b0 + bl * (n - 1)
            act = last_bias + 1 + mod + (rp if rows_open else 0)
            rows_open = True
            row_time = rcd + ccd * (o - 1) + rtp + rp
            last_mac = act + (n - 1) * row_time + rcd + ccd * (o - 1)
            first_rd = last_mac + ccd + mod
            last_rd = first_rd + (rd_ret + 1) * (n - 1)
    cycles = last_rd + rd_ret + 2
    rows = p.per_bank * p.rows_per_vec
    ch = p.ch_masked
    counts = {"ACT16": rows * ch, "MAC16": p.per_bank * sum(p.opsize(r) for r in range(p.rows_per_vec)) * ch,
              "PREA": (rows - 1) * ch, "WRGB": sum(p.opsize(r) for r in range(p.rows_per_vec)) * ch,
              "WRMAC16": rows * ch, "RDMAC16": rows * ch, "TMOD": (1 + 2 * len(groups) * p.rows_per_vec) * ch}
    if counts["PREA"] == 0:
        del counts["PREA"]
    return cycles, counts


@pytest.mark.parametrize("shape", [(768, 768, 8), (3072, 768, 32), (4096, 4096, 8), (1000, 3000, 4),
                                   (8192, 1024, 8), (128, 100, 2), (2048, 5000, 32), (300, 1025, 3)])
def test_other_gemv_shapes_match_the_rule_derived_closed_form(shape):
    cycles, counts = gemv_closed_form(*shape)
    res = CommandEngine(HW.dram, refresh=False).run(gemv_program(*shape))
    assert res.cycles == cycles
    assert res.commands == counts


def test_gemv_within_a_few_percent_of_row_count_times_row_time():
    """M x K on C channels: every bank streams P x R rows of nRCDRDMAC + (o-1) nCCDL + nRTP + nRP."""
    M, K, C = 4096, 8192, 8
    p = plan(M, K, C)
    row_time = T["nRCDRDMAC"] + (p.full_opsize - 1) * T["nCCDL"] + T["nRTP"] + T["nRP"]
    closed = p.per_bank * p.rows_per_vec * row_time
    res = CommandEngine(HW.dram, refresh=False).run(gemv_program(M, K, C))
    assert closed <= res.cycles <= 1.05 * closed
    assert res.category_cycles["mac"] + res.category_cycles["row_switch"] >= 0.9 * res.cycles


def test_gemv_log_passes_checker_with_refresh():
    engine = CommandEngine(HW.dram, refresh=True)
    res = engine.run(gemv_program(2048, 2048, 4), log=True, mode="exact")
    # every channel refreshes, used or not, once per nREFI
    assert res.commands["REFab"] == HW.dram.channels * (res.cycles // T["nREFI"])
    assert check_log(res.log, HW.dram, refresh=True, end_cycle=res.cycles) == []
