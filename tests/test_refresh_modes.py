"""Per-bank refresh: what the standard's rule costs an all-bank PIM, and fast mode's closed form held to
exact mode (issue 11, item 1: fast and exact disagreed 18x because fast mode spaced REFpb by tREFI
instead of tREFI/banks).

The rule (JESD250 GDDR6 / JESD209-5 LPDDR5 per-bank refresh): one REFpb every tREFI/banks, each to the
next bank in turn, so every bank is refreshed once per tREFI; a bank must be precharged to refresh, and
an all-bank MAC (MAC16) cannot issue while any of its banks is closed or refreshing.
"""

import numpy as np
import pytest

from pimsim.dram import CommandEngine, Instr, Program, check_log
from pimsim.engine import simulate
from pimsim.hardware import load_hardware
from pimsim.validate import fast_exact as fx
from pimsim.workloads.spec import GenerateSpec

# aim_gddr6.md, "Timing preset GDDR6_AiM" (cycles of tCK = 0.5 ns), written out here on purpose: the test
# holds the engine against the reference's numbers, not against the preset file it reads
AIM_NREFI, AIM_BANKS = 3333, 16
AIM_NRTP, AIM_NRP, AIM_NRFCPB, AIM_NRCDRDMAC, AIM_NCCDL = 12, 32, 105, 56, 2

PB_GDDR6 = load_hardware({"base": "pimgpt-gddr6", "name": "pimgpt-gddr6-refpb", "dram": {"refresh": "per_bank"}})
PB_LPDDR5 = load_hardware({"base": "lpddr5-pim", "name": "lpddr5-pim-refpb", "dram": {"refresh": "per_bank"}})


def test_per_bank_refresh_leaves_an_all_bank_mac_stream_a_few_cycles_per_interval():
    """Between the last MAC16 before a REFpb and the first after it the rule forces MAC16->PRE (tRTP),
    PRE->REFpb (tRP), REFpb->ACT (tRFCpb) and ACT->MAC16 (tRCD_MAC): 205 of every 208-cycle interval. So
    a long one-row MAC stream can issue at most ceil((208 - 205) / tCCD_L) + 1 MAC16 per interval."""
    dram = PB_GDDR6.dram.model_copy(update={"channels": 1})
    n_mac = 20_000
    prog = Program.from_instrs([Instr("MAC_ABK", 64, (0,), row=0)] * (n_mac // 64) + [Instr("EOC")])
    res = CommandEngine(dram, refresh=True).run(prog, log=True)
    assert check_log(res.log, dram, refresh=True, end_cycle=res.cycles) == []
    interval = AIM_NREFI // AIM_BANKS
    blocked = AIM_NRTP + AIM_NRP + AIM_NRFCPB + AIM_NRCDRDMAC
    assert interval == 208 and blocked == 205
    max_per_interval = -(-(interval - blocked) // AIM_NCCDL) + 1
    intervals = res.cycles / interval
    assert res.commands["MAC16"] == n_mac // 64 * 64
    assert res.commands["MAC16"] <= max_per_interval * (intervals + 1)
    # and the engine is not slower than the rule: it keeps at least one MAC16 per interval
    assert res.commands["MAC16"] >= intervals - 1
    # every bank refreshed once per tREFI, in turn
    refs = res.log[res.log["command"] == list(res.command_names).index("REFpb")]
    assert np.array_equal(refs["bank"][:32], np.tile(np.arange(16), 2))
    assert res.commands["REFpb"] == pytest.approx(res.cycles / interval, abs=2)


@pytest.mark.parametrize("hw", [PB_GDDR6, PB_LPDDR5], ids=["pimgpt-gddr6", "lpddr5-pim"])
def test_fast_mode_agrees_with_exact_mode_under_per_bank_refresh(hw):
    """Fast mode (cached refresh-free op timings + closed-form stall, layers and head probed apart) against
    exact mode (every REFpb issued where it falls): within the fast/exact tolerance of
    pimsim/validate/tolerances.yaml (system.fast_vs_exact, [-3.3%, +3.4%]); the refresh count and the row-hit
    rate, which per-bank refresh drives down (every REFpb closes a row an all-bank MAC needs), likewise."""
    spec = GenerateSpec(prompt=16, generate=16)
    fast = simulate("gpt2-small", hw, "pimgpt", spec)
    exact = simulate("gpt2-small", hw, "pimgpt", spec, exact=True)
    assert -0.033 <= fast.latency_s / exact.latency_s - 1 <= 0.034
    assert fast.commands["REFpb"] == pytest.approx(exact.commands["REFpb"], rel=0.034)
    assert fast.row_hit_rate == pytest.approx(exact.row_hit_rate, abs=0.01)
    assert "REFab" not in exact.commands and "REFab" not in fast.commands


def test_per_bank_refresh_costs_an_all_bank_pim_most_of_its_time():
    """The finding docs/dram_engine.md states: on pimgpt-gddr6 per-bank refresh leaves the MAC units about
    (208 - 198) / 208 of the time, so a run is an order of magnitude slower than with all-bank refresh
    (whose stall is tRFC-ish per tREFI: under 11%, see system.fast_vs_exact's reason)."""
    spec = GenerateSpec(prompt=16, generate=16)
    ab = simulate("gpt2-small", "pimgpt-gddr6", "pimgpt", spec)
    pb = simulate("gpt2-small", PB_GDDR6, "pimgpt", spec)
    assert ab.breakdown_s["refresh"] / (ab.latency_s - ab.breakdown_s["refresh"]) < 0.11
    assert pb.latency_s / ab.latency_s > 10


# ------------------------------------------------------------------ the fast/exact matrix (issue 11)
# Every cell: latency within system.fast_vs_exact_matrix's bound, and the row-hit rate within 1 point (the
# refreshes' row misses reach fast mode's counters). The representative subset runs in CI here and in
# `pimsim validate`; the rest with --full-matrix.
_SUBSET = set(fx.cells(full=False))
# Known misses, each stated in a closing note (a bug to fix, not a tolerance to widen); strict, so the test
# fails once fixed. None today: the last one (aim-32ch per-bank, pimgpt_vsplit, row hits 1.01 points off)
# was a one-stream refresh probe's start transient, fixed by refining ill-conditioned probes.
KNOWN_MISSES: set[tuple[str, str, str, str, str]] = set()


def _marks(cell):
    marks = [] if cell in _SUBSET else [pytest.mark.full_matrix]
    if cell in KNOWN_MISSES:
        marks.append(pytest.mark.xfail(strict=True, reason="known fast/exact row-hit miss (issue 11/12 note)"))
    return marks


_MATRIX = [pytest.param(*c, id="-".join(c), marks=_marks(c)) for c in fx.cells(full=True)]


@pytest.mark.parametrize("preset, mapping, model, refresh, workload", _MATRIX)
def test_fast_and_exact_agree_across_the_matrix(preset, mapping, model, refresh, workload):
    pair = fx.run_pair(preset, mapping, model, refresh, workload)
    assert -0.033 <= pair.latency_error <= 0.034, pair
    assert pair.fast_row_hit_rate == pytest.approx(pair.exact_row_hit_rate, abs=0.01), pair
    assert pair.fast_energy_j == pytest.approx(pair.exact_energy_j, rel=0.034), pair
