"""Samsung HBM-PIM's SB / HAB / HAB_PIM modes on the hbm-pim standard (preset hbm2-pim), as
SAITPublic/PIMSimulator b464dde switches them (src/tests/PIMKernel.cpp:120-147 changePIMMode: writes to the
reserved rows 0x17ff, 0x1fff, 0x3fff; src/Rank.cpp:404-445 and src/PIMRank.cpp:102-113 where the mode
changes), timed by its DRAMSim2 controller's rules (src/MemoryController.cpp:207-275). Every rule's probe /
issue / probe is in tests/dram/test_device.py (ALL["hbm2-pim"]); here: a hand-checked round trip with its
closed forms, the chain SB -> HAB -> HAB_PIM, the checker catching planted mode and timing violations, and
the table's mode data."""

import numpy as np
import pytest

from pimsim.dram import CommandEngine, Instr, Program, check_log
from pimsim.dram.scenarios import HBM_PIM_ROUND_TRIP
from pimsim.dram.table import _modes, compile_table
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware

HW = load_hardware(HBM_PIM_ROUND_TRIP.preset)
DRAM = HW.dram.model_copy(update={"channels": 1})
T = DRAM.timing


def _program(spec, eoc=True):
    # single-bank instructions (WR_SBK, RD_SBK) go to bank 0
    ins = [Instr(op, n, (0,), bank=0 if op.endswith("SBK") else -1, row=row) for op, n, row in spec]
    return Program.from_instrs(ins + ([Instr("EOC")] if eoc else []))


def _named(res, engine):
    return [(engine.command_names[int(r["command"])], int(r["cycle"])) for r in res.log]


def test_round_trip_is_the_hand_checked_closed_form():
    # the closed forms of scenarios.HBM_PIM_ROUND_TRIP, evaluated here from the preset's timing
    wtp = T["nCWL"] + T["nBL"] + T["nWR"]                         # WRITE_TO_PRE_DELAY = WL + BL/2 + tWR
    hab2pim = 1 + max(2 * T["nRRDL"] + T["nRRDS"] + T["nRCDWR"] + 1, T["nRRDL"] + T["nRCDWR"] + wtp + T["nRP"],
                      T["nFAW"])
    wrgb = [hab2pim + T["nRCDWR"] + 1 + k * T["nBL"] for k in range(4)]
    act16 = hab2pim + T["nRCDWR"] + wtp + T["nRP"]
    macs = [act16 + T["nRCDRD"] + k * T["nUNITMAC"] for k in range(8)]
    prea = macs[-1] + T["nRTP"]
    pim2hab = prea + T["nRP"]
    hab2sb = pim2hab + T["nRCDWR"] + wtp + T["nRP"]
    rd = hab2sb + T["nRRDL"] + T["nRCDWR"] + wtp + 1
    expected = ([("SB2HAB", 1), ("HAB2PIM", hab2pim)] + [("WRGB", c) for c in wrgb] + [("ACT16", act16)]
                + [("MAC16", c) for c in macs] + [("PREA", prea), ("PIM2HAB", pim2hab), ("HAB2SB", hab2sb),
                                                  ("RDMAC16", rd)])
    assert [(n, c) for n, c, _ in HBM_PIM_ROUND_TRIP.commands] == expected
    assert HBM_PIM_ROUND_TRIP.end[0] == rd + T["nCL"] + T["nBL"] + 2
    engine = CommandEngine(DRAM, refresh=False)
    prog = _program(HBM_PIM_ROUND_TRIP.program)
    for mode in ("exact", "runlength"):
        res = engine.run(prog, log=True, mode=mode)
        assert _named(res, engine) == expected, mode
        assert res.cycles == HBM_PIM_ROUND_TRIP.end[0]
        assert res.end_state.modes == (1,)                       # back in SB (code 1, the first mode)
        assert check_log(res.log, DRAM) == []
        # the four switches' gaps are booked as mode switching: SB2HAB -> HAB2PIM -> WRGB, PREA(its nRP) ->
        # PIM2HAB -> HAB2SB -> RDMAC16 (PREA -> PIM2HAB's nRP counts for the switch that follows it)
        assert res.category_cycles["mode_switch"] == (wrgb[0] - 1) + (rd - prea)


def test_sb_to_hab_pim_passes_through_hab_and_precharges_open_rows():
    engine = CommandEngine(DRAM, refresh=False)
    start = engine.settled_state(open_row=5, mode=1)        # SB with row 5 open in every bank
    res = engine.run(_program([("MAC_ABK", 2, 5)]), log=True, mode="exact", start_state=start)
    names = [n for n, _ in _named(res, engine)]
    # PREA before SB2HAB (its ACT to the reserved row needs the bank idle); none before HAB2PIM (all closed)
    assert names == ["PREA", "SB2HAB", "HAB2PIM", "ACT16", "MAC16", "MAC16"]
    assert res.end_state.modes == (3,)                       # HAB_PIM
    cyc = dict(_named(res, engine)[:2])
    assert cyc["SB2HAB"] - cyc["PREA"] == T["nRP"]           # MemoryController.cpp:269-272
    assert check_log(res.log, DRAM, initial_open_rows={(0, b): 5 for b in range(DRAM.banks)}) == []
    # a further PIM instruction pays nothing: already in HAB_PIM
    again = engine.run(_program([("MAC_ABK", 2, 5)]), log=True, mode="exact", start_state=res.end_state)
    assert [n for n, _ in _named(again, engine)] == ["MAC16", "MAC16"]


def test_kv_writes_switch_hab_then_sb():
    engine = CommandEngine(DRAM, refresh=False)
    res = engine.run(_program([("WR_ABK", 1, 7), ("WR_SBK", 1, 9)]), log=True, mode="exact")
    names = [n for n, _ in _named(res, engine)]
    assert names == ["SB2HAB", "ACT16", "WRA16", "HAB2SB", "ACT", "WR"]
    assert check_log(res.log, DRAM) == []


def _round_trip_log():
    engine = CommandEngine(DRAM, refresh=False)
    res = engine.run(_program(HBM_PIM_ROUND_TRIP.program), log=True, mode="exact")
    return res.log.copy(), list(engine.command_names)


def test_checker_catches_a_planted_mode_timing_violation():
    log, names = _round_trip_log()
    i = int(np.flatnonzero(log["command"] == names.index("ACT16"))[0])
    log["cycle"][i] -= 1              # ACT16 one cycle before bank 0's reserved row 0x3fff is precharged
    bad = check_log(log, DRAM)
    assert any("HAB2PIM" in v.rule and v.command == "ACT16" for v in bad), bad


def test_checker_catches_a_missing_mode_switch():
    log, names = _round_trip_log()
    keep = log["command"] != names.index("HAB2PIM")
    bad = check_log(log[keep], DRAM)
    # the GRF writes and MACs are then issued in HAB, and PIM2HAB switches from a mode the channel is not in
    mode = [v for v in bad if v.rule == "mode state"]
    assert {v.command for v in mode} == {"WRGB", "MAC16", "PIM2HAB"}
    assert sum(v.command in ("WRGB", "MAC16") for v in mode) == 4 + 8
    assert all("needs mode HAB_PIM, the channel is in HAB" in v.detail for v in mode if v.command != "PIM2HAB")


def test_checker_catches_a_switch_from_the_wrong_mode():
    log, names = _round_trip_log()
    keep = log["command"] != names.index("PIM2HAB")
    bad = [v for v in check_log(log[keep], DRAM) if v.rule == "mode state"]
    # one finding: the switch itself (the checker then follows it to SB, where RDMAC16 is legal)
    assert len(bad) == 1 and bad[0].command == "HAB2SB" and "channel is in HAB_PIM" in bad[0].detail
    # a log taken from another start mode is checked from it
    assert check_log(log, DRAM, initial_modes={0: "HAB"})[0].rule == "mode state"


def test_engine_with_refresh_passes_the_checker_in_both_modes():
    dram = DRAM
    engine = CommandEngine(dram, refresh=True)
    spec = [("WR_GB", 4, -1), ("MAC_ABK", 32, 3), ("RD_MAC", 2, -1), ("WR_ABK", 1, 8), ("MAC_ABK", 32, 4),
            ("RD_SBK", 1, 2)] * 60
    prog = _program(spec)
    a = engine.run(prog, log=True, mode="exact")
    b = engine.run(prog, log=True, mode="runlength")
    assert a.cycles == b.cycles and a.commands == b.commands
    assert np.array_equal(a.log, b.log)
    assert a.commands["REFab"] >= a.cycles // T["nREFI"] - 1
    assert check_log(a.log, dram, refresh=True, end_cycle=a.cycles) == []


def test_mode_tables():
    t = compile_table(DRAM)
    assert t.mode_names == ("SB", "HAB", "HAB_PIM")
    assert t.mode_commands == {"SB2HAB": ("SB", "HAB"), "HAB2SB": ("HAB", "SB"), "HAB2PIM": ("HAB", "HAB_PIM"),
                               "PIM2HAB": ("HAB_PIM", "HAB")}
    # AiM keeps its TMOD toggle between compute (1) and register (2)
    aim = compile_table(load_hardware("aim-32ch").dram)
    tmod = aim.cmd("TMOD")
    assert aim.mode_names == ("compute", "register")
    assert tuple(aim.mode_next[1, 2]) == (tmod, 2) and tuple(aim.mode_next[2, 1]) == (tmod, 1)


def _cid(raw):
    names = list(raw["commands"])
    return lambda n, where: names.index(n)


def test_bad_mode_tables_are_config_errors():
    cmds = {"PREA": {"role": "close"}, "A2B": {"role": "mode_switch"}, "B2A": {"role": "mode_switch"}}
    raw = {"commands": cmds, "modes": ["A", "B", "C"], "mode_transitions": [
        {"from": "A", "to": "B", "commands": ["A2B"]}, {"from": "B", "to": "A", "commands": ["B2A"]}]}
    with pytest.raises(ConfigError, match="no way from C to A"):
        _modes(raw, "t", _cid(raw), -1)
    raw["modes"] = ["A", "B"]
    raw["mode_transitions"][0]["commands"] = ["PREA"]
    with pytest.raises(ConfigError, match="exactly one of its commands must have role mode_switch"):
        _modes(raw, "t", _cid(raw), -1)
    raw["mode_transitions"][0] = {"from": "A", "to": "D", "commands": ["A2B"]}
    with pytest.raises(ConfigError, match="two different modes"):
        _modes(raw, "t", _cid(raw), -1)


def test_checker_infers_an_unknown_start_mode_but_not_an_inconsistent_one():
    engine = CommandEngine(DRAM, refresh=False)
    start = engine.settled_state(mode=3)                          # a run from a settled HAB_PIM channel
    res = engine.run(_program([("WR_GB", 2, -1), ("MAC_ABK", 4, 1)]), log=True, mode="exact", start_state=start)
    names = [n for n, _ in _named(res, engine)]
    assert names == ["WRGB", "WRGB", "ACT16"] + ["MAC16"] * 4  # no switch: already in HAB_PIM
    assert check_log(res.log, DRAM) == []                       # start mode unknown: HAB_PIM fits
    stated = check_log(res.log, DRAM, initial_modes={0: "SB"})
    assert {v.command for v in stated if v.rule == "mode state"} == {"WRGB", "MAC16"}
    # a result read (SB) followed by MACs (HAB_PIM) with no switch between fits no start mode
    mixed = engine.run(_program([("RD_MAC", 1, -1), ("MAC_ABK", 2, 1)]), log=True, mode="exact",
                       start_state=engine.settled_state(mode=1))
    log = mixed.log[np.isin(mixed.log["command"], [engine.table.cmd(c) for c in ("RDMAC16", "ACT16", "MAC16")])]
    bad = [v for v in check_log(log, DRAM) if v.rule == "mode state"]
    assert bad and bad[0].command == "MAC16" and "needs mode HAB_PIM, the channel is in SB" in bad[0].detail
