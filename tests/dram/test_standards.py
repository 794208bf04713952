"""The standards restated from Ramulator 2.1 (ddr4, gddr6, hbm3, lpddr5): hand-checked probe scenarios
(pimsim.dram.scenarios: facts with their Ramulator source line), engine runs checked by the independent
checker in both modes, refresh and close-row (auto-precharge) policy, and planted violations of every new
rule kind (sibling, command length and bus, ticks, group scope, two-step activate, auto-precharge, window
with refresh, nPPD)."""

import random

import numpy as np
import pytest

from pimsim.dram import CommandEngine, Device, Instr, Program, check_log
from pimsim.dram.scenarios import SCENARIOS, earliest, scenario_dram
from pimsim.dram.table import level_banks
from pimsim.errors import ConfigError
from pimsim.hardware.schema import DramConfig
from pimsim.hardware.standards import standard_dram

PRESETS = {"ddr4": "DDR4_2400R", "gddr6": "GDDR6_14000_1250mV_double", "hbm3": "HBM3_6400Mbps",
           "lpddr5": "LPDDR5_6400"}


@pytest.mark.parametrize("s", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(s):
    assert earliest(s) == s.earliest, f"{s.id}: {s.why} ({s.src})"


def test_scenarios_cover_every_new_standard_and_kind():
    ids = {s.id for s in SCENARIOS}
    for std in PRESETS:
        assert sum(s.standard == std for s in SCENARIOS) >= 8, std
    for needed in ("ddr4.rda_act", "ddr4.faw", "ddr4.rank_switch_rd_rd", "gddr6.faw_refpb", "gddr6.rd_wr",
                   "hbm3.rd_rd_sibling_sid", "hbm3.prepb_act", "hbm3.act_holds_row_bus", "lpddr5.act1_rd",
                   "lpddr5.preab_act1", "lpddr5.rda_act1"):
        assert needed in ids


def _random_program(dram, n, seed):
    rng = random.Random(seed)
    ins = []
    for _ in range(n):
        op = rng.choice(("RD_SBK", "WR_SBK"))
        ins.append(Instr(op, channels=(rng.randrange(dram.channels),), bank=rng.randrange(dram.banks),
                         row=rng.randrange(4)))
    return Program.from_instrs(ins + [Instr("EOC")])


@pytest.mark.parametrize("refresh", ["all_bank", "per_bank"])
@pytest.mark.parametrize("std", sorted(PRESETS))
def test_engine_logs_pass_the_checker_in_both_modes(std, refresh):
    if std == "ddr4" and refresh == "per_bank":
        pytest.skip("DDR4 has no per-bank refresh (ddr4.py:22)")
    dram = standard_dram(std, PRESETS[std], channels=2, refresh=refresh)
    engine = CommandEngine(dram, refresh=True)
    prog = _random_program(dram, 3000, seed=15)
    a, b = engine.run(prog, log=True, mode="exact"), engine.run(prog, log=True, mode="runlength")
    assert (a.cycles, a.commands, a.row_hits, a.row_misses) == (b.cycles, b.commands, b.row_hits, b.row_misses)
    assert np.array_equal(a.log, b.log)
    assert check_log(a.log, dram, refresh=True, end_cycle=a.cycles) == []
    ref = "REFpb" if refresh == "per_bank" else "REFab"
    interval = dram.timing["nREFI"] * engine.table.ticks_per_cycle // (dram.banks if refresh == "per_bank" else 1)
    assert a.commands[ref] >= a.cycles // interval - 1   # refresh kept up


@pytest.mark.parametrize("std", sorted(PRESETS))
def test_close_policy_uses_auto_precharge(std):
    dram = standard_dram(std, PRESETS[std], channels=1)
    engine = CommandEngine(dram, refresh=False, row_policy="close")
    prog = _random_program(dram, 500, seed=7)
    res = engine.run(prog, log=True, mode="exact")
    assert res.commands.get("RDA", 0) + res.commands.get("WRA", 0) == 500
    assert "RD" not in res.commands and "WR" not in res.commands and "PREpb" not in res.commands
    assert res.row_hits == 0 and res.row_misses == 500
    assert check_log(res.log, dram) == []


def test_lpddr5_opens_a_row_in_two_steps():
    dram = standard_dram("lpddr5", "LPDDR5_6400")
    engine = CommandEngine(dram, refresh=False)
    res = engine.run(Program.from_instrs([Instr("RD_SBK", channels=(0,), bank=3, row=9), Instr("EOC")]), log=True)
    names = [engine.command_names[c] for c in res.log["command"]]
    assert names == ["ACT1", "ACT2", "RD"]
    t = res.log["cycle"]
    assert t[1] == t[0] + 1                       # ACT-2 at the next cycle: no rule binds it (lpddr5.py:22-27)
    assert t[2] == t[0] + 15                      # nRCD from ACT-1 (lpddr5.py:112)
    assert res.cycles == t[2] + 17 + 2 + 1        # read done after nCL + nBL_min; EOC returns one cycle later
    assert list(res.log["row"]) == [9, 9, 9]


def test_hbm3_counts_half_cycle_ticks():
    dram = standard_dram("hbm3", "HBM3_6400Mbps")
    engine = CommandEngine(dram, refresh=False)
    res = engine.run(Program.from_instrs([Instr("RD_SBK", channels=(0,), bank=0, row=1), Instr("EOC")]), log=True)
    t = res.log["cycle"]
    assert t[1] - t[0] == 63                      # nRCDRD 31 tCK = 62 ticks, + (3 - 1) - (2 - 1) (hbm3.py:140)
    assert res.cycles == t[1] + 2 * (20 + 2) + 1  # nCL + nBL in ticks; EOC returns one tick later
    assert res.ns == pytest.approx(res.cycles * 0.625 / 2)


def _log(engine, rows):
    log = np.zeros(len(rows), [("cycle", "i8"), ("channel", "i2"), ("bank", "i2"), ("command", "i2"), ("row", "i8")])
    for i, (t, name, bank, row) in enumerate(rows):
        log[i] = (t, 0, bank, engine.command_names.index(name), row)
    return log


def _rules(v):
    return [x.rule for x in v]


def test_checker_catches_a_sibling_violation():
    dram = standard_dram("ddr4", "DDR4_2400R").model_copy(update={"ranks": 2})
    e = CommandEngine(dram, refresh=False)
    ok = [(0, "ACT", 0, 1), (1, "ACT", 16, 1), (16, "RD", 0, 1), (22, "RD", 16, 1)]
    assert check_log(_log(e, ok), dram) == []
    v = check_log(_log(e, ok[:3] + [(21, "RD", 16, 1)]), dram)         # nBL + nCS = 6 (ddr4.py:52)
    assert len(v) == 1 and "sibling" in v[0].rule and "nBL + nCS" in v[0].rule


def test_checker_catches_command_length_and_bus_violations():
    dram = standard_dram("hbm3", "HBM3_6400Mbps")
    e = CommandEngine(dram, refresh=False)
    assert check_log(_log(e, [(0, "ACT", 0, 1), (3, "ACT", 32, 1)]), dram) == []
    v = check_log(_log(e, [(0, "ACT", 0, 1), (2, "ACT", 32, 1)]), dram)   # ACT holds the row bus 3 ticks
    assert _rules(v) == ["row bus held 3 ticks by ACT"]
    # nRCDRD is 62 ticks; the lengths add (3 - 1) - (2 - 1): a read 62 ticks after ACT is early
    assert check_log(_log(e, [(0, "ACT", 0, 1), (63, "RD", 0, 1)]), dram) == []
    v = check_log(_log(e, [(0, "ACT", 0, 1), (62, "RD", 0, 1)]), dram)
    assert len(v) == 1 and "nRCDRD" in v[0].rule and "needs 63" in v[0].detail
    # the column bus is another bus: a read of the other pseudo channel may share the ACT's ticks
    assert check_log(_log(e, [(0, "ACT", 0, 1), (1, "ACT", 1, 1)]), dram) != []
    assert [x.rule for x in check_log(_log(e, [(0, "ACT", 32, 1), (63, "RD", 32, 1), (64, "ACT", 0, 1)]), dram)] == []


def test_checker_catches_group_scope_and_refresh_window_violations():
    dram = standard_dram("ddr4", "DDR4_2400R").model_copy(update={"ranks": 2})
    e = CommandEngine(dram, refresh=False)
    assert check_log(_log(e, [(0, "ACT", 0, 1), (1, "PREab", 16, -1)]), dram) == []   # the other rank
    v = check_log(_log(e, [(0, "ACT", 0, 1), (38, "PREab", 0, -1)]), dram)            # nRAS 39, own rank
    assert len(v) == 1 and "nRAS" in v[0].rule
    g6 = DramConfig(**{**standard_dram("gddr6", "GDDR6_14000_1250mV_double").model_dump(),
                       "timing": {**standard_dram("gddr6", "GDDR6_14000_1250mV_double").timing, "nFAW": 60}})
    e6 = CommandEngine(g6, refresh=False)
    acts = [(0, "ACT", 0, 1), (11, "ACT", 4, 1), (22, "ACT", 8, 1), (33, "ACT", 12, 1)]
    assert check_log(_log(e6, acts + [(60, "REFpb", 1, -1)]), g6) == []
    v = check_log(_log(e6, acts + [(59, "REFpb", 1, -1)]), g6)                          # gddr6.py:82
    assert len(v) == 1 and "window 4" in v[0].rule
    v = check_log(_log(e6, [(0, "ACT", 0, 1), (11, "ACT", 4, 1), (80, "PREpb", 0, -1), (81, "PREpb", 4, -1)]), g6)
    assert len(v) == 1 and "nPPD" in v[0].rule


def test_checker_catches_two_step_activate_and_auto_precharge_state():
    dram = standard_dram("lpddr5", "LPDDR5_6400")
    e = CommandEngine(dram, refresh=False)
    assert check_log(_log(e, [(0, "ACT1", 0, 5), (1, "ACT2", 0, 5), (15, "RD", 0, 5)]), dram) == []
    v = check_log(_log(e, [(0, "ACT1", 0, 5), (15, "RD", 0, 5)]), dram)                 # no ACT-2
    assert _rules(v) == ["row state"] and "column access" in v[0].detail
    v = check_log(_log(e, [(1, "ACT2", 0, 5)]), dram)                                   # ACT-2 without ACT-1
    assert _rules(v) == ["row state"] and "not activating" in v[0].detail
    v = check_log(_log(e, [(0, "ACT1", 0, 5), (1, "ACT2", 0, 5), (15, "RDA", 0, 5), (30, "RD", 0, 5)]), dram)
    assert _rules(v) == ["row state"] and "closed" in v[0].detail                       # RDA closed the row
    v = check_log(_log(e, [(0, "ACT1", 0, 5), (1, "ACT2", 0, 5), (30, "RDA", 0, 5), (52, "ACT1", 0, 6)]), dram)
    assert len(v) == 1 and "nRTP + nRP" in v[0].rule                                   # lpddr5.py:117: 53


def test_level_definitions_are_checked():
    assert level_banks({}, (2, 4, 4), "t") == (("channel", "rank", "bankgroup", "bank"), (32, 16, 4, 1))
    hbm = {"levels": {"channel": "channel", "pc": "rank", "sid": {"bank_groups": 4}, "bankgroup": "bankgroup",
                      "bank": "bank"}}
    assert level_banks(hbm, (2, 8, 4), "t") == (("channel", "pc", "sid", "bankgroup", "bank"), (64, 32, 16, 4, 1))
    with pytest.raises(ConfigError, match=r"t: levels.sid: 3 bank groups per node do not divide the 8"):
        level_banks({"levels": {"channel": "channel", "sid": {"bank_groups": 3}, "bank": "bank"}}, (1, 8, 4), "t")
    with pytest.raises(ConfigError, match=r"t: levels.x: unit must be one of"):
        level_banks({"levels": {"channel": "channel", "x": "die", "bank": "bank"}}, (1, 4, 4), "t")
    with pytest.raises(ConfigError, match=r"list levels from the channel down"):
        level_banks({"levels": {"channel": "channel", "bank": "bank", "bankgroup": "bankgroup"}}, (1, 4, 4), "t")


def test_parameter_default_and_shipped_presets():
    g = standard_dram("gddr6", "GDDR6_14000_1250mV_double")
    t = {k: v for k, v in g.timing.items() if k != "nPPD"}
    g1 = DramConfig(**{**g.model_dump(), "timing": t})      # nPPD may be left out: 1
    assert CommandEngine(g1).table.timing_ticks["nPPD"] == 1
    with pytest.raises(ValueError, match="ships no preset 'DDR4_9999'"):
        standard_dram("ddr4", "DDR4_9999")
    assert scenario_dram(SCENARIOS[0]).tck_ns == 0.833
