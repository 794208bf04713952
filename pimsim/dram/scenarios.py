"""Probe scenarios of the DRAM standards restated from Ramulator 2.1 (CMU-SAFARI/ramulator2 at c5b1c3a):
a setup of commands, then the earliest cycle one more command is legal by timing, in the style of
Ramulator's tests/device_timings. Facts with their source (the rule's line in python/ramulator/dram/*.py
and the closed form of the expected cycle), written by hand from those rules; they are data, not code of
Ramulator. Cycles are the table's ticks (HBM3: half tCK), banks pimsim's flat bank index in the channel
(rank, [SID,] bank group, bank; see docs/dram_standards.md), bank -1 every bank.

Every expected cycle was also confirmed on Ramulator 2.1 itself (built locally at c5b1c3a; its
tests/device_timings DeviceUnderTest, first cycle whose probe reports timing_OK): 55 of 55 agree.
`earliest(scenario)` replays one on pimsim's Device; tests/dram/test_standards.py and the validate family
`dram.<standard>` (pimsim/validate/checks_dram.py) hold every scenario to its expected cycle.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Scenario:
    id: str
    standard: str
    preset: str
    setup: tuple[tuple[str, int, int], ...]   # (command, bank, cycle)
    probe: tuple[str, int]                    # (command, bank)
    earliest: int                             # cycle (tick) the probe is first legal by timing
    why: str                                  # closed form of `earliest`
    src: str                                  # the rule(s) that bind, in Ramulator 2.1
    org: dict = field(default_factory=dict)   # DramConfig overrides (ranks: 2 for rank switching)
    timing: dict = field(default_factory=dict)  # timing overrides (tCK)


def _s(id, standard, preset, setup, probe, earliest, why, src, **kw):
    return Scenario(id, standard, preset, tuple(setup), probe, earliest, why, src, **kw)


D, G, H, L = "DDR4_2400R", "GDDR6_14000_1250mV_double", "HBM3_6400Mbps", "LPDDR5_6400"
TWO_RANKS = {"ranks": 2}

SCENARIOS: tuple[Scenario, ...] = (
    # ---- DDR4_2400R (ddr4.py:191): nBL 4, nCL 16, nRCD 16, nRP 16, nRAS 39, nRC 55, nWR 18, nRTP 9, nCWL 12,
    #      nCCDS 4, nCCDL 6, nRRDS 4, nRRDL 6, nWTRS 3, nWTRL 9, nFAW 26, nRFC 433, nCS 2; bank = 16 rank + 4 bg + b
    _s("ddr4.act_rd", "ddr4", D, [("ACT", 0, 0)], ("RD", 0), 16, "nRCD = 16", "ddr4.py:78"),
    _s("ddr4.rd_wr_same_rank", "ddr4", D, [("ACT", 0, 0), ("ACT", 4, 4), ("RD", 0, 16)], ("WR", 4), 26,
       "16 + nCL + nBL + 2 - nCWL = 16 + 10", "ddr4.py:49"),
    _s("ddr4.rd_rd_same_bg", "ddr4", D, [("ACT", 0, 0), ("ACT", 1, 6), ("ACT", 4, 12), ("RD", 0, 30)], ("RD", 1), 36,
       "30 + nCCDL", "ddr4.py:70"),
    _s("ddr4.rd_rd_other_bg", "ddr4", D, [("ACT", 0, 0), ("ACT", 1, 6), ("ACT", 4, 12), ("RD", 0, 30)], ("RD", 4), 34,
       "30 + nCCDS", "ddr4.py:47"),
    _s("ddr4.wr_rd_other_bg", "ddr4", D, [("ACT", 0, 0), ("ACT", 4, 4), ("WR", 0, 16)], ("RD", 4), 35,
       "16 + nCWL + nBL + nWTRS = 16 + 19", "ddr4.py:50"),
    _s("ddr4.wr_rd_same_bg", "ddr4", D, [("ACT", 0, 0), ("ACT", 4, 4), ("WR", 0, 16)], ("RD", 0), 41,
       "16 + nCWL + nBL + nWTRL = 16 + 25", "ddr4.py:72"),
    _s("ddr4.rda_act", "ddr4", D, [("ACT", 0, 0), ("RDA", 0, 40)], ("ACT", 0), 65,
       "max(nRC = 55, 40 + nRTP + nRP = 65)", "ddr4.py:83"),
    _s("ddr4.wra_act", "ddr4", D, [("ACT", 0, 0), ("WRA", 0, 16)], ("ACT", 0), 66,
       "max(nRC = 55, 16 + nCWL + nBL + nWR + nRP = 66)", "ddr4.py:84"),
    _s("ddr4.rda_refab", "ddr4", D, [("ACT", 0, 0), ("RDA", 0, 40)], ("REFab", -1), 65,
       "max(nRC = 55, 40 + nRP + nRTP = 65)", "ddr4.py:63,65"),
    _s("ddr4.faw", "ddr4", D, [("ACT", 0, 0), ("ACT", 4, 4), ("ACT", 8, 8), ("ACT", 12, 12)], ("ACT", 1), 26,
       "max(nRRDL = 6, 12 + nRRDS = 16, 0 + nFAW = 26)", "ddr4.py:59"),
    _s("ddr4.refab_act", "ddr4", D, [("REFab", -1, 0)], ("ACT", 0), 433, "nRFC = ceil(360 ns / 0.833 ns)",
       "ddr4.py:67,151"),
    _s("ddr4.act_preab", "ddr4", D, [("ACT", 0, 0)], ("PREab", -1), 39, "nRAS", "ddr4.py:60"),
    _s("ddr4.rank_switch_rd_rd", "ddr4", D, [("ACT", 0, 0), ("ACT", 16, 1), ("RD", 0, 16)], ("RD", 16), 22,
       "16 + nBL + nCS (sibling rank)", "ddr4.py:52", org=TWO_RANKS),
    _s("ddr4.rank_switch_rd_wr", "ddr4", D, [("ACT", 0, 0), ("ACT", 16, 1), ("RD", 0, 16)], ("WR", 16), 22,
       "16 + nBL + nCS (sibling rank; the same rank's nCL + nBL + 2 - nCWL does not bind)", "ddr4.py:52",
       org=TWO_RANKS),
    _s("ddr4.rank_switch_wr_rd", "ddr4", D, [("ACT", 0, 0), ("ACT", 16, 1), ("WR", 0, 16)], ("RD", 16), 18,
       "max(1 + nRCD = 17, 16 + nCWL + nBL + nCS - nCL = 18)", "ddr4.py:53", org=TWO_RANKS),
    _s("ddr4.preab_own_rank", "ddr4", D, [("ACT", 0, 0)], ("PREab", 0), 39, "nRAS of rank 0", "ddr4.py:60",
       org=TWO_RANKS),
    _s("ddr4.preab_other_rank", "ddr4", D, [("ACT", 0, 0)], ("PREab", 16), 0,
       "no rule: rank-level nRAS binds rank 0 only", "ddr4.py:60", org=TWO_RANKS),

    # ---- GDDR6_14000_1250mV_double (gddr6.py:231): nBL 2, nCL 24, nRCDRD 30, nRCDWR 20, nRP 30, nRAS 60, nRC 90,
    #      nWR 30, nRTP 4, nCWL 6, nCCDS 2, nCCDL 4, nRRDS 11, nRRDL 11, nWTRS 9, nWTRL 11, nFAW 43,
    #      nRFCpb 106, nRREFD 22, nRFCab 211, nPPD 2; bank = 4 bg + b
    _s("gddr6.rd_wr", "gddr6", G, [("ACT", 0, 0), ("ACT", 4, 11), ("RD", 0, 30)], ("WR", 4), 55,
       "30 + nCL + 1", "gddr6.py:77"),
    _s("gddr6.wr_rd_other_bg", "gddr6", G, [("ACT", 0, 0), ("ACT", 4, 11), ("WR", 0, 40)], ("RD", 4), 57,
       "40 + nCWL + nBL + nWTRS", "gddr6.py:78"),
    _s("gddr6.wr_rd_same_bg", "gddr6", G, [("ACT", 0, 0), ("ACT", 4, 11), ("WR", 0, 40)], ("RD", 0), 59,
       "40 + nCWL + nBL + nWTRL", "gddr6.py:116"),
    _s("gddr6.rda_act", "gddr6", G, [("ACT", 0, 0), ("RDA", 0, 70)], ("ACT", 0), 104,
       "max(nRC = 90, 70 + nRTP + nRP = 104)", "gddr6.py:128"),
    _s("gddr6.wra_refpb", "gddr6", G, [("ACT", 0, 0), ("WRA", 0, 30)], ("REFpb", 0), 98,
       "max(nRC = 90, 30 + nCWL + nBL + nWR + nRP = 98)", "gddr6.py:108,135"),
    _s("gddr6.faw_refpb", "gddr6", G, [("ACT", 0, 0), ("ACT", 4, 11), ("ACT", 8, 22), ("ACT", 12, 33)],
       ("REFpb", 1), 60, "max(0 + nFAW = 60, 33 + nRRDS = 44, 0 + nRRDL = 11): REFpb inside the 4-ACT window",
       "gddr6.py:82", timing={"nFAW": 60}),
    _s("gddr6.refpb_act", "gddr6", G, [("ACT", 0, 0), ("ACT", 4, 11), ("ACT", 8, 22), ("ACT", 12, 33),
                                       ("REFpb", 1, 60)], ("ACT", 5), 82,
       "max(11 + nFAW = 71, 60 + nRREFD = 82)", "gddr6.py:82,109", timing={"nFAW": 60}),
    _s("gddr6.refab_act", "gddr6", G, [("REFab", -1, 0)], ("ACT", 0), 211, "nRFCab", "gddr6.py:93-95"),
    _s("gddr6.ppd", "gddr6", G, [("ACT", 0, 0), ("ACT", 4, 11), ("PREpb", 0, 80)], ("PREpb", 4), 82,
       "max(11 + nRAS = 71, 80 + nPPD = 82)", "gddr6.py:86"),

    # ---- HBM3_6400Mbps (hbm3.py:226) in half-tCK ticks: every value x 2 (nBL 4, nCL 40, nRCDRD 62, nRCDWR 30,
    #      nRP 52, nRAS 90, nRC 144, nRTP 18, nCCDS 4, nCCDL 8, nCCDR 6, nRRDS 8, nRRDL 10, nRTW 40, nRFC 832);
    #      ACT 3 ticks, PREpb/PREab/REF* 1, RD/WR 2; a rule p -> f binds (len_p - 1) - (len_f - 1) more
    #      (spec.py to_config); bank = 32 pseudo channel + 16 SID + 4 bg + b
    _s("hbm3.act_act_other_sid", "hbm3", H, [("ACT", 0, 0)], ("ACT", 16), 8, "nRRDS + 2 - 2", "hbm3.py:93"),
    _s("hbm3.act_act_same_bg", "hbm3", H, [("ACT", 0, 0)], ("ACT", 1), 10, "nRRDL + 2 - 2", "hbm3.py:134"),
    _s("hbm3.act_rd", "hbm3", H, [("ACT", 0, 0)], ("RD", 0), 63, "nRCDRD + (3 - 1) - (2 - 1)", "hbm3.py:140"),
    _s("hbm3.rd_rd_sibling_sid", "hbm3", H, [("ACT", 0, 0), ("ACT", 16, 8), ("RD", 0, 71)], ("RD", 16), 77,
       "max(8 + 63 = 71, 71 + nCCDR = 77)", "hbm3.py:125"),
    _s("hbm3.rd_rd_same_sid", "hbm3", H, [("ACT", 0, 0), ("ACT", 4, 8), ("RD", 0, 71)], ("RD", 4), 75,
       "71 + nCCDS (= 71 + nBL)", "hbm3.py:123"),
    _s("hbm3.rd_rd_same_bg", "hbm3", H, [("ACT", 0, 0), ("ACT", 1, 10), ("RD", 0, 73)], ("RD", 1), 81,
       "73 + nCCDL", "hbm3.py:130"),
    _s("hbm3.act_prepb", "hbm3", H, [("ACT", 0, 0)], ("PREpb", 0), 92, "nRAS + (3 - 1) - (1 - 1)", "hbm3.py:142"),
    _s("hbm3.prepb_act", "hbm3", H, [("ACT", 0, 0), ("PREpb", 0, 100)], ("ACT", 0), 150,
       "max(nRC = 144, 100 + nRP + (1 - 1) - (3 - 1) = 150)", "hbm3.py:143"),
    _s("hbm3.act_holds_row_bus", "hbm3", H, [("ACT", 0, 0)], ("PREpb", 5), 3,
       "ACT is 1.5 tCK = 3 ticks on the row bus", "hbm3.py:35,42; spec.py _generate_bus_constraints"),
    _s("hbm3.act_other_pc_column", "hbm3", H, [("ACT", 0, 0)], ("RD", 32), 0,
       "no rule: pseudo-channel rules bind their own pseudo channel, the column bus is free", "hbm3.py:43"),
    _s("hbm3.act_other_pc_row_bus", "hbm3", H, [("ACT", 0, 0)], ("ACT", 32), 3,
       "the row bus is the channel's, shared by both pseudo channels", "spec.py _generate_bus_constraints"),
    _s("hbm3.act_refpb_other_bank", "hbm3", H, [("ACT", 0, 0)], ("REFpb", 1), 10, "nRRDS + (3 - 1) - (1 - 1)",
       "hbm3.py:109"),
    _s("hbm3.act_refpb_same_bank", "hbm3", H, [("ACT", 0, 0)], ("REFpb", 0), 146, "nRC + (3 - 1) - (1 - 1)",
       "hbm3.py:151"),
    _s("hbm3.rd_wr", "hbm3", H, [("ACT", 0, 0), ("RD", 0, 63)], ("WR", 0), 103, "63 + nRTW", "hbm3.py:86"),
    _s("hbm3.refab_act", "hbm3", H, [("REFab", -1, 0)], ("ACT", 0), 830, "nRFC + (1 - 1) - (3 - 1)",
       "hbm3.py:104,167"),

    # ---- LPDDR5_6400 (lpddr5.py:206): nBL_min 2, nBL_max 4, nCL 17, nRCD 15, nRP 15, nRPab 17, nRAS 34, nRC 49,
    #      nRTP 8, nCWL 9, nPPD 2, nCCDS 2, nCCDL 4, nRRDS 4, nWTRS 5, nWTRL 10, nCS 2, nRFCpb 96,
    #      nPBR2PBR 72, nPBR2ACT 6; bank = 16 rank + 4 bg + b
    _s("lpddr5.act2_free", "lpddr5", L, [("ACT1", 0, 0)], ("ACT2", 0), 0,
       "no rule binds ACT-2 (ACT1.h / ACT2.h: a state step)", "lpddr5.py:22-27"),
    _s("lpddr5.act1_rd", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1)], ("RD", 0), 15, "nRCD from ACT-1",
       "lpddr5.py:112"),
    _s("lpddr5.rda_act1", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("RDA", 0, 30)], ("ACT1", 0), 53,
       "max(nRC = 49, 30 + nRTP + nRP = 53)", "lpddr5.py:117"),
    _s("lpddr5.preab_act1", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("PREab", -1, 40)], ("ACT1", 5), 57,
       "40 + nRPab", "lpddr5.py:88"),
    _s("lpddr5.prepb_act1", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("PREpb", 0, 40)], ("ACT1", 0), 55,
       "max(nRC = 49, 40 + nRP = 55)", "lpddr5.py:114"),
    _s("lpddr5.ppd", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("ACT1", 4, 4), ("ACT2", 4, 5),
                                   ("PREpb", 0, 40)], ("PREpb", 4), 42, "max(4 + nRAS = 38, 40 + nPPD = 42)",
       "lpddr5.py:90"),
    _s("lpddr5.refpb_act1_other_bank", "lpddr5", L, [("REFpb", 0, 0)], ("ACT1", 1), 6, "nPBR2ACT",
       "lpddr5.py:99"),
    _s("lpddr5.refpb_act1_same_bank", "lpddr5", L, [("REFpb", 0, 0)], ("ACT1", 0), 96, "nRFCpb",
       "lpddr5.py:121"),
    _s("lpddr5.refpb_refpb", "lpddr5", L, [("REFpb", 0, 0)], ("REFpb", 1), 72, "nPBR2PBR", "lpddr5.py:97"),
    _s("lpddr5.wr_rd_same_bg", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("WR", 0, 15)], ("RD", 0), 38,
       "15 + nCWL + nBL_max + nWTRL", "lpddr5.py:106"),
    _s("lpddr5.wr_rd_other_bg", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("WR", 0, 15)], ("RD", 4), 31,
       "15 + nCWL + nBL_min + nWTRS", "lpddr5.py:77"),
    _s("lpddr5.rank_switch_rd_rd", "lpddr5", L, [("ACT1", 0, 0), ("ACT2", 0, 1), ("ACT1", 16, 2), ("ACT2", 16, 3),
                                                 ("RD", 0, 17)], ("RD", 16), 21, "17 + nBL_min + nCS (sibling rank)",
       "lpddr5.py:79", org=TWO_RANKS),
    _s("lpddr5.act1_other_rank", "lpddr5", L, [("ACT1", 0, 0)], ("ACT1", 16), 0,
       "no rule: ACT-1 spacing is per rank", "lpddr5.py:85", org=TWO_RANKS),
    _s("lpddr5.act1_same_rank", "lpddr5", L, [("ACT1", 0, 0)], ("ACT1", 4), 4, "nRRDS", "lpddr5.py:85",
       org=TWO_RANKS),
)


def scenario_dram(s: Scenario, channels: int = 1):
    """The DramConfig a scenario runs on: the table's preset with the scenario's overrides."""
    from pimsim.hardware.standards import standard_dram

    dram = standard_dram(s.standard, s.preset, channels=channels)
    if s.org or s.timing:
        from pimsim.hardware.schema import DramConfig

        dram = DramConfig(**{**dram.model_dump(), **s.org, "timing": {**dram.timing, **s.timing}})
    return dram


def earliest(s: Scenario) -> int:
    """pimsim's earliest legal cycle of the scenario's probe after its setup (pimsim.dram.Device)."""
    from pimsim.dram.engine import Device

    dev = Device(scenario_dram(s))
    for cmd, bank, cycle in s.setup:
        dev.issue(cmd, cycle, bank=bank)
    return dev.earliest(s.probe[0], bank=s.probe[1])


# ---- Samsung HBM-PIM mode round trip (standard hbm-pim on preset hbm2-pim; SAITPublic/PIMSimulator b464dde's
#      SB / HAB / HAB_PIM switches, the rules' lines in pimsim/hardware/standards/hbm-pim.yaml). Not a Ramulator
#      scenario: an engine run of one GEMV group from a fresh (SB) device with every command's cycle written as a
#      closed form of the preset's timing (tCK 1 ns: nRRDL 3, nRRDS 2, nRCDWR 7, nCWL 2, nBL 2, nWR 8, nRP 7,
#      nFAW 15, nRCDRD 7, nRTP 3, nCL 7, nUNITMAC 4 for 16 fp16 lanes at 300 MHz).
@dataclass(frozen=True)
class ModeRoundTrip:
    preset: str
    program: tuple[tuple[str, int, int], ...]         # (AiM instruction, opsize, row) on channel 0
    commands: tuple[tuple[str, int, str], ...]        # (command, cycle, closed form of the cycle)
    end: tuple[int, str]                              # program end (cycle, closed form)


# SB2HAB -> HAB2PIM: the next switch's ACT waits for bank 1's reserved row 0x17ff (nRRDL + nRCDWR + WL + BL/2 +
# tWR + nRP = 29) over the barrier (2 nRRDL + nRRDS + nRCDWR + 1 = 16) and nFAW; WR_GB's GRF writes wait for the
# HAB2PIM barrier (nRCDWR + 1); ACT16 for bank 0's row 0x3fff to close; after the MACs, PREA (nRTP), PIM2HAB
# (nRP), HAB2SB (the 0x3fff write's recovery and nRP), and RD_MAC in SB after HAB2SB's precharges (+ 1).
HBM_PIM_ROUND_TRIP = ModeRoundTrip(
    "hbm2-pim",
    (("WR_GB", 4, -1), ("MAC_ABK", 8, 3), ("RD_MAC", 1, -1)),
    (("SB2HAB", 1, "1 (the request's arrival, decode tick + 1)"),
     ("HAB2PIM", 30, "1 + max(2 nRRDL + nRRDS + nRCDWR + 1, nRRDL + nRCDWR + nCWL + nBL + nWR + nRP, nFAW)"),
     ("WRGB", 38, "30 + nRCDWR + 1"), ("WRGB", 40, "38 + nBL"), ("WRGB", 42, "40 + nBL"), ("WRGB", 44, "42 + nBL"),
     ("ACT16", 56, "30 + nRCDWR + nCWL + nBL + nWR + nRP"),
     *((("MAC16", 63 + 4 * k, f"56 + nRCDRD + {k} nUNITMAC") for k in range(8))),
     ("PREA", 94, "91 + nRTP"),
     ("PIM2HAB", 101, "94 + nRP"),
     ("HAB2SB", 127, "101 + nRCDWR + nCWL + nBL + nWR + nRP"),
     ("RDMAC16", 150, "127 + nRRDL + nRCDWR + nCWL + nBL + nWR + 1")),
    (161, "150 + nCL + nBL (the read's data) + 2 (EOC handshake)"),
)
