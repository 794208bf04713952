"""The independent checker: clean engine logs pass; planted violations of each kind are caught."""

import numpy as np
import pytest

from pimsim.dram import CommandEngine, Instr, Program, check_log
from pimsim.dram.checker import latency_value
from pimsim.dram.gemv import gemv_program
from pimsim.hardware import load_hardware

AIM = load_hardware("pimgpt-gddr6").dram


def _names(log, engine):
    return [engine.command_names[c] for c in log["command"]]


@pytest.fixture(scope="module")
def run():
    engine = CommandEngine(AIM, refresh=True)
    prog = gemv_program(1024, 4096, 2)
    res = engine.run(prog, log=True)
    return engine, res


def _first(log, engine, name, after=0):
    names = _names(log, engine)
    return next(i for i, n in enumerate(names) if n == name and i >= after)


def test_clean_log_passes(run):
    engine, res = run
    assert check_log(res.log, AIM, refresh=True, end_cycle=res.cycles) == []


def test_latency_parser():
    t = {"nCL": 50, "nBL": 2, "nCWL": 6, "nWPRE": 1}
    assert latency_value("nCL + nBL + 3 - nCWL + nWPRE", t) == 50
    assert latency_value("max(nCL, nBL * 30) - 1", t) == 59
    with pytest.raises(ValueError):
        latency_value("nCL + __import__", t)


def test_catches_timing_violation(run):
    engine, res = run
    log = res.log.copy()
    i = _first(log, engine, "ACT16")
    j = _first(log, engine, "MAC16", i)
    log["cycle"][j] = log["cycle"][i] + AIM.timing["nRCDRDMAC"] - 1
    v = check_log(log, AIM)
    assert any("nRCDRDMAC" in x.rule and x.command == "MAC16" for x in v)


def test_catches_mode_switch_violation(run):
    engine, res = run
    log = res.log.copy()
    i = _first(log, engine, "TMOD")
    log["cycle"][i + 1] = log["cycle"][i] + 5
    assert any("nMODCH" in x.rule for x in check_log(log, AIM))


def test_catches_command_bus_conflict(run):
    engine, res = run
    log = res.log.copy()
    names = _names(log, engine)
    ch0 = np.flatnonzero(log["channel"] == 0)
    a, b = next((a, b) for a, b in zip(ch0, ch0[1:]) if names[a] == names[b] == "MAC16")
    log["cycle"][b] = log["cycle"][a]
    v = check_log(log, AIM)
    assert any(x.rule == "command bus" for x in v)


def test_catches_window_violation():
    gddr6 = load_hardware({"base": "pimgpt-gddr6", "dram": {"standard": "gddr6", "disabled_constraints": [],
                           "timing": {"nRRDS": 4, "nRRDL": 6, "nFAW": 32, "nRFCpb": 105, "nRREFD": 14}}}).dram
    engine = CommandEngine(gddr6, refresh=False)
    act = engine.command_names.index("ACT")
    log = np.zeros(5, [("cycle", "i8"), ("channel", "i2"), ("bank", "i2"), ("command", "i2"), ("row", "i8")])
    for i, (t, b) in enumerate([(0, 0), (4, 4), (8, 8), (12, 12), (31, 1)]):
        log[i] = (t, 0, b, act, 0)
    v = check_log(log, gddr6)
    assert len(v) == 1 and "window 4" in v[0].rule
    log["cycle"][4] = 32
    assert check_log(log, gddr6) == []


def test_catches_row_state_violations(run):
    engine, res = run
    log = res.log.copy()
    i = _first(log, engine, "PREA")
    log["command"][i] = engine.command_names.index("TMOD")   # the row is never closed: next ACT16 is illegal
    v = check_log(log, AIM)
    assert any(x.rule == "row state" and x.detail.startswith("ACT16 to bank") and "is open" in x.detail for x in v)
    log = res.log.copy()
    j = _first(log, engine, "MAC16")
    log["row"][j] += 1
    assert any(x.rule == "row state" and "column access" in x.detail for x in check_log(log, AIM))


def test_catches_missing_and_late_refresh(run):
    engine, res = run
    ref = engine.command_names.index("REFab")
    idx = np.flatnonzero((res.log["command"] == ref) & (res.log["channel"] == 0))
    assert len(idx) >= 2
    assert len(idx) >= 3
    # one missing refresh reads as one postponed (allowed); two in a row are not
    assert check_log(np.delete(res.log, idx[1]), AIM, refresh=True, end_cycle=res.cycles) == []
    v = check_log(np.delete(res.log, idx[1:3]), AIM, refresh=True, end_cycle=res.cycles)
    assert any(x.rule == "refresh interval" for x in v)
    v = check_log(np.delete(res.log, idx[1]), AIM, refresh=True, end_cycle=res.cycles, max_postponed=0)
    assert any(x.rule == "refresh interval" for x in v)
    late = res.log.copy()
    late["cycle"][idx[0]] += AIM.timing["nREFI"]           # the first refresh one interval late
    v = check_log(late, AIM, refresh=True, end_cycle=res.cycles, max_postponed=0)
    assert any(x.rule == "refresh interval" for x in v)
    # a log without refresh fails the refresh check
    noref = CommandEngine(AIM, refresh=False).run(gemv_program(1024, 2048, 2), log=True)
    assert any(x.rule == "refresh interval" for x in check_log(noref.log, AIM, refresh=True, end_cycle=noref.cycles))


def test_catches_refresh_with_open_rows(run):
    engine, res = run
    log = res.log.copy()
    ref = engine.command_names.index("REFab")
    i = int(np.flatnonzero((log["command"] == ref) & (log["channel"] == 0))[0])
    pre = max(k for k in range(i) if log["channel"][k] == log["channel"][i]
              and engine.command_names[log["command"][k]] == "PREA")
    log = np.delete(log, pre)
    assert any(x.rule == "row state" and "refresh with bank" in x.detail for x in check_log(log, AIM))
