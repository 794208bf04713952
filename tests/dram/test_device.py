"""Device tests in the style of Ramulator 2: probe whether a command is legal at a cycle, issue it, probe
again, for every constraint of the GDDR6 and GDDR6-AiM tables, plus hand-checked numbers."""

import itertools

import pytest
import yaml

from pimsim.dram import Device
from pimsim.hardware import load_hardware
from pimsim.hardware.standards import load_standard_table, standard_dram

AIM = load_hardware("pimgpt-gddr6").dram
# Plain GDDR6 (standard gddr6) with the timing of an older Ramulator 2 preset (GDDR6_2000_1350mV_quad) and
# nFAW binding over 4 ACTs; nPPD left to the table's default
GDDR6 = load_hardware({"base": "pimgpt-gddr6", "dram": {
    "standard": "gddr6", "disabled_constraints": [], "tck_ns": 0.57,
    "timing": {"nBL": 4, "nCL": 24, "nRCDRD": 26, "nRCDWR": 16, "nRP": 26, "nRAS": 53, "nRC": 79, "nWR": 26,
               "nRTP": 4, "nCWL": 6, "nCCDS": 4, "nCCDL": 6, "nRRDS": 4, "nRRDL": 6, "nWTRS": 9, "nWTRL": 11,
               "nFAW": 32, "nRFC": 210, "nRFCpb": 105, "nRREFD": 14, "nREFI": 3333}}}).dram
T0 = 1000


def _latency(text, timing):
    """Test-side evaluation of a table latency (sum/difference of names and integers, or max(...))."""
    text = str(text).replace(" ", "")
    if text.startswith("max("):
        return max(_latency(a, timing) for a in text[4:-1].split(","))
    total, sign, tok = 0, 1, ""
    for ch in text + "+":
        if ch in "+-":
            total += sign * (int(tok) if tok.isdigit() else timing[tok])
            sign, tok = (1 if ch == "+" else -1), ""
        else:
            tok += ch
    return total


def _banks_per_node(raw, dram):
    unit = {"channel": dram.banks, "rank": dram.bank_groups * dram.banks_per_group,
            "bankgroup": dram.banks_per_group, "bank": 1}
    spec = raw.get("levels") or {u: u for u in ("channel", "rank", "bankgroup", "bank")}
    return {n: (u["bank_groups"] * dram.banks_per_group if isinstance(u, dict) else unit[u]) for n, u in spec.items()}


def _expected(raw, dram, p, pb, f, fb):
    """Ticks f must wait after p (spec.py to_config: latencies x ticks_per_cycle, + (len_p - 1) -
    (len_f - 1); a command of c > 1 ticks holds its bus c ticks; node.cpp: a rule binds the same node at its
    level, a sibling rule the other nodes under the same parent, never a command that names no node there)."""
    mult = raw.get("ticks_per_cycle", 1)
    timing = {k: v * mult for k, v in {**raw.get("parameter_defaults", {}), **dram.timing}.items()}
    cmds = raw["commands"]
    length = {n: round((a or {}).get("cycles", 1) * mult) for n, a in cmds.items()}
    bus = {n: (a or {}).get("bus", "command") for n, a in cmds.items()}
    per = _banks_per_node(raw, dram)
    levels = list(per)
    lat = [length[p]] if length[p] > 1 and bus[p] == bus[f] else []
    for c in raw["constraints"]:
        if p not in c["from"] or f not in c["to"] or set(c["latency"].split() if isinstance(c["latency"], str)
                                                        else []) & set(dram.disabled_constraints):
            continue
        if c.get("window", 1) > 1:
            continue
        lv = c["level"]
        if c.get("sibling"):
            if pb < 0:
                continue
            parent = per[levels[levels.index(lv) - 1]]
            if fb >= 0 and not (pb // per[lv] != fb // per[lv] and pb // parent == fb // parent):
                continue
        elif pb >= 0 and fb >= 0 and pb // per[lv] != fb // per[lv]:
            continue
        lat.append(_latency(c["latency"], timing) + (length[p] - 1) - (length[f] - 1))
    return max(lat + [0])


def _cases(dram):
    """(preceding, its bank, following, its bank, src) for every rule of the table: the following command on
    the same node of the rule's level but another node one level down (a sibling node for sibling rules)."""
    raw = load_standard_table(dram.standard)
    scope = {n: (a or {}).get("scope", "bank") for n, a in raw["commands"].items()}
    per = _banks_per_node(raw, dram)
    levels = list(per)
    cases = set()
    for c in raw["constraints"]:
        if c.get("window", 1) > 1:
            continue
        lv = c["level"]
        if c.get("sibling"):
            parent = per[levels[levels.index(lv) - 1]]
            if parent == per[lv]:
                continue                     # a single child: no sibling exists in this organisation
            fbank = per[lv]                  # first bank of node 1 of the level: same parent as bank 0
        else:
            # the first deeper level that splits the node (a rank level with one rank splits nothing)
            fbank = next((per[d] for d in levels[levels.index(lv) + 1:] if per[d] < per[lv]), 0)
        for p, f in itertools.product(c["from"], c["to"]):
            pb = 0 if scope[p] == "bank" else -1
            fb = fbank if scope[f] == "bank" else -1
            cases.add((p, pb, f, fb, c.get("src", lv)))
    return sorted(cases), raw


def _dram_of(standard, preset, **org):
    base = standard_dram(standard, preset, channels=2)
    return base.model_copy(update=org) if org else base


# The tables restating Ramulator 2.1 (CMU-SAFARI/ramulator2 c5b1c3a, python/ramulator/dram/*.py) with
# the presets it ships; DDR4 and LPDDR5 with two ranks so that their sibling (rank-switch) rules bind.
DDR4 = _dram_of("ddr4", "DDR4_2400R")
DDR4_2R = _dram_of("ddr4", "DDR4_2400R", ranks=2)
GDDR6_R21 = _dram_of("gddr6", "GDDR6_14000_1250mV_double")
HBM3 = _dram_of("hbm3", "HBM3_6400Mbps")
LPDDR5 = _dram_of("lpddr5", "LPDDR5_6400")
LPDDR5_2R = _dram_of("lpddr5", "LPDDR5_6400", ranks=2)
ALL = {"gddr6-aim": AIM, "gddr6-old-preset": GDDR6, "gddr6": GDDR6_R21, "ddr4": DDR4, "ddr4-2rank": DDR4_2R,
       "hbm3": HBM3, "lpddr5": LPDDR5, "lpddr5-2rank": LPDDR5_2R}
# Samsung HBM-PIM (standard hbm-pim with its SB / HAB / HAB_PIM mode switches, PIMSimulator b464dde)
ALL["hbm2-pim"] = load_hardware("hbm2-pim").dram.model_copy(update={"channels": 2})


@pytest.mark.parametrize("name", sorted(ALL))
def test_every_constraint_probe_issue_probe(name):
    dram = ALL[name]
    cases, raw = _cases(dram)
    assert len(cases) >= len([c for c in raw["constraints"] if c.get("window", 1) == 1 and not c.get("sibling")])
    for p, pb, f, fb, src in cases:
        dev = Device(dram)
        where = f"{name}: {p} bank {pb} -> {f} bank {fb} ({src})"
        assert dev.can_issue(p, T0, bank=pb), where
        assert dev.can_issue(f, T0, bank=fb), where
        dev.issue(p, T0, bank=pb)
        lat = _expected(raw, dram, p, pb, f, fb)
        # a latency <= 0 (e.g. RDMAC16 -> WR: nCLREG + nBL + 3 - nCWL + nWPRE = 0) constrains nothing
        assert dev.earliest(f, bank=fb) == (T0 + lat if lat > 0 else 0), where
        if lat > 0:
            assert not dev.can_issue(f, T0 + lat - 1, bank=fb), where
        assert dev.can_issue(f, T0 + max(lat, 0), bank=fb), where
        # another channel is independent
        assert dev.can_issue(f, T0, channel=1, bank=fb), where


def test_sibling_rules_are_probed_where_the_organisation_has_siblings():
    """Every sibling rule of ddr4 / lpddr5 (two ranks) and hbm3 (two SIDs) gets a case."""
    for dram in (DDR4_2R, LPDDR5_2R, HBM3):
        cases, raw = _cases(dram)
        sib_src = {c["src"] for c in raw["constraints"] if c.get("sibling")}
        assert sib_src and sib_src <= {src for *_, src in cases}


def test_hand_checked_aim_numbers():
    dev = Device(AIM)
    dev.issue("ACT16", 0)
    assert dev.earliest("MAC16") == 56            # nRCDRDMAC
    assert dev.earliest("PREA") == 54             # nRAS
    assert dev.earliest("AF16") == 86             # nRCDRDAF
    dev.issue("MAC16", 56)
    assert dev.earliest("MAC16") == 58            # nCCDL
    assert dev.earliest("PREA") == 68             # nRTP after the MAC
    dev.issue("PREA", 68)
    assert dev.earliest("ACT16") == 100           # nRP
    dev.issue("TMOD", 100)
    assert dev.earliest("WRGB") == 132            # nMODCH
    dev.issue("WRGB", 132)
    assert dev.earliest("WRGB") == 134            # nBL
    assert dev.earliest("RDMAC16") == 132 + 1 + 2 + 9   # nCWLGB + nBL + nWTRS


def test_hand_checked_gddr6_numbers():
    dev = Device(GDDR6)
    dev.issue("ACT", 0, bank=0)
    assert dev.earliest("RD", bank=0) == 26       # nRCDRD
    assert dev.earliest("WR", bank=0) == 16       # nRCDWR
    assert dev.earliest("ACT", bank=1) == 6       # nRRDL, same bank group
    assert dev.earliest("ACT", bank=4) == 4       # nRRDS, other bank group
    assert dev.earliest("ACT", bank=0) == 79      # nRC
    assert dev.earliest("PREpb", bank=0) == 53    # nRAS
    dev.issue("RD", 26, bank=0)
    assert dev.earliest("RD", bank=1) == 32       # nCCDL
    assert dev.earliest("RD", bank=4) == 30       # nCCDS = nBL
    assert dev.earliest("WR", bank=4) == 26 + 24 + 1   # nCL + 1 (Ramulator 2.1 gddr6.py:77)


def test_faw_window_limits_the_fifth_activation():
    dev = Device(GDDR6)
    for i, b in enumerate((0, 4, 8, 12)):        # four bank groups, nRRDS apart
        dev.issue("ACT", 4 * i, bank=b)
    # the 5th ACT: nRRDL after bank 0 (6), nRRDS after bank 12 (16), but nFAW after the first: 32
    assert dev.earliest("ACT", bank=1) == 32
    assert not dev.can_issue("ACT", 31, bank=1)
    dev.issue("ACT", 32, bank=1)
    assert dev.earliest("ACT", bank=5) == 4 + 32  # window slides: 4 ACTs back is the one at cycle 4


def test_disabled_faw_is_not_enforced_on_aim():
    assert "nFAW" in AIM.disabled_constraints
    dev = Device(AIM)
    for i, b in enumerate((0, 4, 8, 12)):
        dev.issue("ACT", AIM.timing["nRRDS"] * i, bank=b)
    assert dev.earliest("ACT", bank=1) == max(3 * AIM.timing["nRRDS"] + AIM.timing["nRRDS"], AIM.timing["nRRDL"])


def test_all_bank_command_obeys_each_banks_constraints():
    dev = Device(AIM)
    dev.issue("ACT", 0, bank=7)
    dev.issue("PRE", AIM.timing["nRAS"], bank=7)
    # ACT16 opens bank 7 too: it waits for bank 7's precharge (channel-level nRP from PRE)
    assert dev.earliest("ACT16") == AIM.timing["nRAS"] + AIM.timing["nRP"]


def test_illegal_issue_is_refused():
    dev = Device(AIM)
    dev.issue("ACT16", 0)
    with pytest.raises(ValueError, match="not legal"):
        dev.issue("MAC16", 55)
