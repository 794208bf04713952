"""Device tests in the style of Ramulator 2: probe whether a command is legal at a cycle, issue it, probe
again, for every constraint of the GDDR6 and GDDR6-AiM tables, plus hand-checked numbers."""

import itertools

import pytest
import yaml

from pimsim.dram import Device
from pimsim.hardware import load_hardware
from pimsim.hardware.standards import load_standard_table

AIM = load_hardware("pimgpt-gddr6").dram
# Plain GDDR6 (standard gddr6): Ramulator 2's GDDR6_2000_1350mV_quad timing with nFAW binding over 4 ACTs
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


def _cases(dram):
    raw = load_standard_table(dram.standard)
    scope = {n: (a or {}).get("scope", "bank") for n, a in raw["commands"].items()}
    rules = []
    for c in raw["constraints"]:
        if c.get("window", 1) > 1 or (set(str(c["latency"]).replace("max(", "").replace(")", "").replace(",", " ")
                                          .replace("+", " ").replace("-", " ").split()) & set(dram.disabled_constraints)):
            continue
        rules.append((c["level"], c["from"], c["to"], _latency(c["latency"], dram.timing)))
    cases = set()
    for level, frm, to, _ in rules:
        for p, f in itertools.product(frm, to):
            cases.add((p, f, level))
    return sorted(cases), rules, scope


def _target(scope, name, where):
    """Bank for `name` relative to bank 0: same bank, same bank group, another bank group."""
    if scope[name] != "bank":
        return -1
    return {"bank": 0, "bankgroup": 1, "rank": 4, "channel": 4}[where]


def _shared(level, pb, fb, dram):
    if pb < 0 or fb < 0 or level == "channel":
        return True
    key = {"rank": lambda b: b // dram.banks, "bankgroup": lambda b: b // dram.banks_per_group, "bank": lambda b: b}
    return key[level](pb) == key[level](fb)


@pytest.mark.parametrize("dram", [GDDR6, AIM], ids=["gddr6", "gddr6-aim"])
def test_every_constraint_probe_issue_probe(dram):
    cases, rules, scope = _cases(dram)
    assert len(cases) >= len(rules)
    for p, f, level in cases:
        dev = Device(dram)
        pb = _target(scope, p, "bank")
        fb = _target(scope, f, level)
        assert dev.can_issue(p, T0, bank=pb)
        assert dev.can_issue(f, T0, bank=fb)
        dev.issue(p, T0, bank=pb)
        lat = max([l for lv, fr, to, l in rules if p in fr and f in to and _shared(lv, pb, fb, dram)] + [0])
        where = f"{p} -> {f} ({level}, banks {pb} -> {fb})"
        # a latency <= 0 (e.g. RDMAC16 -> WR: nCLREG + nBL + 3 - nCWL + nWPRE = 0) constrains nothing
        assert dev.earliest(f, bank=fb) == (T0 + lat if lat > 0 else 0), where
        if lat > 0:
            assert not dev.can_issue(f, T0 + lat - 1, bank=fb), where
        assert dev.can_issue(f, T0 + max(lat, 0), bank=fb), where
        # another channel is independent
        assert dev.can_issue(f, T0, channel=1, bank=fb), where


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
    assert dev.earliest("PRE", bank=0) == 53      # nRAS
    dev.issue("RD", 26, bank=0)
    assert dev.earliest("RD", bank=1) == 32       # nCCDL
    assert dev.earliest("RD", bank=4) == 30       # nCCDS = nBL
    assert dev.earliest("WR", bank=4) == 26 + 24 + 4 + 2 - 6   # nCL + nBL + 2 - nCWL


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
