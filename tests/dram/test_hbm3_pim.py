"""The hbm3-pim standard (HBM3 + AttAcc's bank-level GEMV commands, `extends: hbm3`) and the hbm3-pim preset.

Expected values: AttAcc's rules as its public simulator states them (scale-snu/attacc_simulator c600051,
pim_ramulator_src/HBM3-PIM.cpp, line in each comment) in half-tCK ticks with Ramulator 2.1's length rule
(a rule p -> f binds 2 x value + (len_p - 1) - (len_f - 1) ticks: ACT16 / MAC16 2 ticks, PREA 1), and the
closed-form GEMV rate 64 banks x 32 B per nCCDAB tCK."""

import pytest

from pimsim.dram import CommandEngine, Device, Instr, Program, check_log
from pimsim.dram.scenarios import SCENARIOS
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware
from pimsim.hardware.schema import DramConfig
from pimsim.hardware.standards import load_standard_table, standard_dram

PRESET = "HBM3_5.2Gbps_8Gb_2R"
T = load_standard_table("hbm3-pim")["presets"][PRESET]["timing"]


def _dev():
    return Device(standard_dram("hbm3-pim", PRESET))


def test_the_table_is_hbm3_plus_the_pim_commands():
    base, pim = load_standard_table("hbm3"), load_standard_table("hbm3-pim")
    assert pim["constraints"][:len(base["constraints"])] == base["constraints"]
    assert list(pim["commands"])[:len(base["commands"])] == list(base["commands"])
    assert pim["levels"] == base["levels"] and pim["ticks_per_cycle"] == 2
    assert {"ACT16", "MAC16", "PREA", "WRGB", "RDMAC16"} <= set(pim["commands"])


@pytest.mark.parametrize("s", [s for s in SCENARIOS if s.standard == "hbm3"], ids=lambda s: s.id)
def test_hbm3_scenarios_still_hold_on_the_pim_table(s):
    """The inherited rules bind plain commands exactly as on hbm3 (Ramulator 2.1's earliest cycles)."""
    base = standard_dram("hbm3", s.preset)
    dram = DramConfig(**{**base.model_dump(), "standard": "hbm3-pim", "timing": {**base.timing, "nCCDAB": 1}})
    dev = Device(dram)
    for cmd, bank, cycle in s.setup:
        dev.issue(cmd, cycle, bank=bank)
    assert dev.earliest(s.probe[0], bank=s.probe[1]) == s.earliest, s.why


@pytest.mark.parametrize("setup, probe, expected, src", [
    ([("ACT16", -1, 0), ("MAC16", -1, 2 * 19)], ("MAC16", -1), 2 * 19 + 2 * T["nCCDAB"], "HBM3-PIM.cpp:349 nCCDAB"),
    ([("ACT16", -1, 0)], ("MAC16", -1), 2 * T["nRCDRD"] + 1 - 1, "HBM3-PIM.cpp:351 nRCDRD"),
    ([("ACT16", -1, 0)], ("PREA", -1), 2 * T["nRAS"] + 1 - 0, "HBM3-PIM.cpp:352 nRAS"),
    ([("ACT16", -1, 0), ("MAC16", -1, 38)], ("PREA", -1), max(91, 38 + 2 * T["nRTP"] + 1), "HBM3-PIM.cpp:353 nRTPL"),
    ([("ACT16", -1, 0), ("PREA", -1, 91)], ("ACT16", -1), max(2 * T["nRC"] + 1 - 1, 91 + 2 * T["nRP"] + 0 - 1),
     "HBM3-PIM.cpp:350,354 nRC, nRP"),
    ([("REFab", 0, 0)], ("ACT16", -1), 2 * T["nRFC"] + 0 - 1, "HBM3-PIM.cpp:358 REFab -> ACTAB nRFC"),
    ([("ACT", 3, 0)], ("ACT16", -1), 2 * T["nRC"] + 2 - 1, "hbm3.py:139 at every bank"),
])
def test_attacc_rules_probe(setup, probe, expected, src):
    dev = _dev()
    for cmd, bank, cycle in setup:
        dev.issue(cmd, cycle, bank=bank)
    assert dev.earliest(probe[0], bank=probe[1]) == expected, src


def test_preset_organisation_and_gemv_rate_per_channel():
    """One stack: 16 channels x 64 banks x 16K rows x 1 KB = 16 GiB (AttAcc: 16 GB per stack); a long MAC_ABK
    streams 64 x 32 B per nCCDAB = 6 tCK of 0.769 ns = 443.9 GB/s per channel, 7.10 TB/s per stack."""
    hw = load_hardware("hbm3-pim")
    d = hw.dram
    assert (d.channels, d.banks, d.standard, hw.capacity_bytes) == (16, 64, "hbm3-pim", 16 * 2**30)
    assert d.timing["nUNITMAC"] == 1          # 16 FP16 lanes at the DRAM clock: one column per tCK
    one = d.model_copy(update={"channels": 1})
    eng = CommandEngine(one, refresh=False)
    n = 32
    r1 = eng.run(Program.from_instrs([Instr("MAC_ABK", 1, (0,), row=3), Instr("EOC")]))
    for mode in ("runlength", "exact"):
        r = eng.run(Program.from_instrs([Instr("MAC_ABK", n, (0,), row=3), Instr("EOC")]), mode=mode, log=True)
        assert check_log(r.log, one, end_cycle=r.cycles) == []
        ns_per_mac = (r.cycles - r1.cycles) / (n - 1) * d.tck_ns / 2
        assert ns_per_mac == pytest.approx(6 * 0.769, rel=1e-12)
    rate = 64 * 32 / (6 * 0.769e-9)
    assert rate == pytest.approx(443.87e9, rel=1e-4) and 16 * rate == pytest.approx(7.102e12, rel=1e-3)


def test_mac_streams_over_rows_with_refresh_are_legal_and_modes_agree():
    one = load_hardware("hbm3-pim").dram.model_copy(update={"channels": 1})
    eng = CommandEngine(one, refresh=True)
    prog = Program.from_instrs([Instr("MAC_ABK", 32, (0,), row=r % 3) for r in range(300)] + [Instr("EOC")])
    a, b = eng.run(prog, mode="runlength", log=True), eng.run(prog, mode="exact", log=True)
    assert a.cycles == b.cycles and a.commands == b.commands and a.commands["REFab"] > 0
    assert check_log(b.log, one, refresh=True, end_cycle=b.cycles) == []


def test_per_bank_refresh_on_an_all_bank_pim_is_a_config_error():
    """64 banks: nREFI / 64 = 79 tCK between REFpb, each keeping ACT16 nRFCpb = 260 tCK away."""
    hw = load_hardware("hbm3-pim", overrides={"dram": {"refresh": "per_bank"}})
    with pytest.raises(ConfigError, match="refresh: per_bank: a REFpb keeps the all-bank activate ACT16"):
        CommandEngine(hw.dram, refresh=True)
