"""Differential facts from Ramulator 2.1 itself: random state-legal command sequences with probes, recorded
from its tests/device_timings DeviceUnderTest (built locally at c5b1c3a; see the data file's `source`).
pimsim's Device must accept every issued command at its recorded cycle and give every probe the earliest
legal cycle Ramulator gave. CI replays the data; it never needs Ramulator."""

import pytest

from pimsim.dram import Device
from pimsim.hardware.schema import DramConfig
from pimsim.hardware.standards import standard_dram
from pimsim.validate.checks_dram import recorded_sequences

DATA = recorded_sequences()   # pimsim/validate/data/dram_ramulator21_sequences.yaml (also read by `pimsim validate`)
SEQ = DATA["sequences"]


@pytest.mark.parametrize("seq", SEQ, ids=[f"{s['standard']}{'-' + str(s['org']['ranks']) + 'rank' if s['org'] else ''}"
                                          for s in SEQ])
def test_pimsim_gives_ramulators_earliest_cycles(seq):
    dram = standard_dram(seq["standard"], seq["preset"])
    if seq["org"]:
        dram = DramConfig(**{**dram.model_dump(), **seq["org"]})
    dev = Device(dram)
    probes = issued = 0
    for kind, cmd, bank, *rest in seq["events"]:
        if kind == "issue":
            dev.issue(cmd, rest[0], bank=bank)
            issued += 1
        else:
            start, expected = rest
            assert max(start, dev.earliest(cmd, bank=bank)) == expected, (cmd, bank, start)
            probes += 1
    assert issued >= 100 and probes >= 300
    kinds = {e[1] for e in seq["events"] if e[0] == "issue"}
    assert len(kinds) >= 8 and kinds & {"RD", "RDA"} and kinds & {"WR", "WRA"}   # rows, columns, refresh
