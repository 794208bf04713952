"""Command energy as data (issue 15, item 5): every command of every standard's table carries its energy
expression and what it counts as (pimsim/dram/accounting.py); the engine's energy, refresh and MAC counting
read them instead of listing command names. Expected values are the closed forms of the energy model
(engine/energy.py's docstring: ACT+PRE pair on the activate, all-bank commands x banks or units, one
column over the pins per register/column transfer, refresh_pj per channel) written out by hand here."""

import pytest

from pimsim.dram.accounting import ENERGY_CLASSES, accounting, refresh_commands
from pimsim.engine.energy import command_counts, command_energy_pj, pim_command_energy_j
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware
from pimsim.hardware.schema import DramConfig
from pimsim.hardware.standards import known_standards, load_standard_table, standard_dram

PIM_PRESETS = ("pimgpt-gddr6", "hbm2-pim", "hbm3-pim", "lpddr5-pim", "aim-32ch")


@pytest.mark.parametrize("standard", known_standards())
def test_every_command_of_every_table_has_an_energy_and_a_class(standard):
    acc = accounting(standard)
    names = list(load_standard_table(standard)["commands"])
    assert [n for n, _ in acc.commands] == names
    assert all(c.energy_as in ENERGY_CLASSES for _, c in acc.commands)
    # the refresh commands are the table's refresh_commands (role: refresh), nothing else
    assert refresh_commands(standard) == set(load_standard_table(standard)["refresh_commands"].values())


def test_aim_energies_are_the_closed_forms():
    hw = load_hardware("pimgpt-gddr6")
    e, banks, units, io = hw.energy, hw.dram.banks, hw.dram.banks // hw.pim.banks_per_unit, 256 * hw.energy.io_pj_per_bit
    assert (banks, units, hw.dram.column_bytes) == (16, 16, 32)
    expected = {
        "ACT": ("pim_act", e.act_pre_pj_per_bank), "PRE": ("pim_act", 0), "PREA": ("pim_act", 0),
        "ACT16": ("pim_act", 16 * e.act_pre_pj_per_bank),
        "MAC": ("pim_mac", e.mac_pj_per_bank), "MAC16": ("pim_mac", 16 * e.mac_pj_per_bank),
        "EWMUL16": ("pim_mac", 16 * e.mac_pj_per_bank), "AF16": ("pim_mac", 16 * e.mac_pj_per_bank),
        "WRGB": ("pim_io", e.wr_gb_pj + io), "WRMAC16": ("pim_io", e.wr_gb_pj + io),
        "RDMAC16": ("pim_io", e.rd_mac_pj + io), "RDAF16": ("pim_io", e.rd_mac_pj + io),
        "RDCP": ("pim_io", e.rd_pj), "WRCP": ("pim_io", e.wr_pj), "RD": ("pim_io", e.rd_pj + io),
        "TMOD": ("pim_io", 0), "WR": ("kv_write", e.wr_pj + io), "WRA16": ("kv_write", 16 * e.wr_pj + io),
        "REFab": ("refresh", e.refresh_pj), "REFpb": ("refresh", e.refresh_pj / 16),
    }
    assert command_energy_pj(hw) == expected


@pytest.mark.parametrize("preset", PIM_PRESETS)
def test_mac_and_unit_column_counts(preset):
    hw = load_hardware(preset)
    units = hw.dram.banks // hw.pim.banks_per_unit
    mac = command_counts(hw, "mac_columns")
    cols = command_counts(hw, "unit_columns")
    names = set(load_standard_table(hw.dram.standard)["commands"])
    # the PIM tables: MAC16 drives every unit, MAC one; AF16 and EWMUL16 read a column per unit too
    per = {"MAC": 1, "MAC16": units}
    assert mac == {k: v for k, v in per.items() if k in names} and "MAC16" in mac
    assert cols == {k: v for k, v in {**per, "AF16": units, "EWMUL16": units}.items() if k in names}


def test_energy_of_counts_and_extra_vector_counts():
    hw = load_hardware("pimgpt-gddr6")
    e = hw.energy
    got = pim_command_energy_j({"MAC16": 10, "MAC16.extra_vectors": 30, "REFab": 2, "WR": 4}, hw)
    assert got["pim_mac"] == pytest.approx(40 * 16 * e.mac_pj_per_bank * 1e-12, rel=1e-15)
    assert got["refresh"] == pytest.approx(2 * e.refresh_pj * 1e-12, rel=1e-15)
    assert got["kv_write"] == pytest.approx(4 * (e.wr_pj + 256 * e.io_pj_per_bit) * 1e-12, rel=1e-15)


def test_plain_tables_refresh_and_column_energy():
    """The engine issues an all-bank refresh as one REFab to every node of its scope (bank -1: both ranks of
    a 2-rank DDR4/LPDDR5, both HBM3 pseudo channels), so one REFab costs refresh_pj, the channel's refresh;
    a column access moves column_bytes x 8 bits over the pins."""
    hw = load_hardware("pimgpt-gddr6")
    for standard, preset, ranks in (("ddr4", "DDR4_2400R", 2), ("lpddr5", "LPDDR5_6400", 2),
                                    ("hbm3", "HBM3_6400Mbps", None), ("ddr4", "DDR4_2400R", 1)):
        dram = standard_dram(standard, preset)
        if ranks:
            dram = DramConfig(**{**dram.model_dump(), "ranks": ranks})
        table = accounting(standard).energy_pj(dram, 1, hw.energy)
        assert table["REFab"] == ("refresh", hw.energy.refresh_pj)
        assert table["RD"][1] == pytest.approx(hw.energy.rd_pj + 8 * dram.column_bytes * hw.energy.io_pj_per_bit)
        assert table["RDA"] == table["RD"] and table["PREpb"] == ("pim_act", 0)
        assert table["WR"][0] == "kv_write"


def test_the_engine_refreshes_a_group_scoped_refab_as_one_command_for_the_channel():
    from pimsim.dram import CommandEngine, Instr, Program

    d = load_hardware("hbm3-pim").dram.model_copy(update={"channels": 1})
    eng = CommandEngine(d, refresh=True)
    r = eng.run(Program.from_instrs([Instr("MAC_ABK", 32, (0,), row=i % 4) for i in range(600)] + [Instr("EOC")]),
                log=True)
    refab = r.command_names.index("REFab")
    banks = {int(x["bank"]) for x in r.log if int(x["command"]) == refab}
    assert banks == {-1} and r.commands["REFab"] == r.cycles // eng.refresh_interval_cycles


def _broken(monkeypatch, edit):
    import pimsim.dram.accounting as acc

    raw = {**load_standard_table("gddr6"), "commands": {k: dict(v) for k, v in
                                                         load_standard_table("gddr6")["commands"].items()}}
    edit(raw["commands"])
    monkeypatch.setattr(acc, "load_standard_table", lambda name: raw)
    return acc.accounting.__wrapped__("gddr6")


@pytest.mark.parametrize("edit, match", [
    (lambda c: c["RD"].pop("energy"), r"commands\.RD\.energy: every command needs energy"),
    (lambda c: c["RD"].update(energy={"pj": "rd_pj", "as": "io"}), r"commands\.RD\.energy\.as: 'io' is not an energy class"),
    (lambda c: c["RD"].update(energy={"pj": "rd_pJ + 1", "as": "pim_io"}), r"commands\.RD\.energy\.pj: unknown names \['rd_pJ'\]"),
    (lambda c: c["RD"].update(energy={"pj": "rd_pj ** 2", "as": "pim_io"}), r"commands\.RD\.energy\.pj: .*Pow is not allowed"),
    (lambda c: c["RD"].update(energy={"pj": 1, "as": "pim_io", "macs": 1}), r"unknown keys \['macs'\]"),
])
def test_an_incomplete_table_is_a_config_error_naming_file_and_command(monkeypatch, edit, match):
    with pytest.raises(ConfigError, match=match) as exc:
        _broken(monkeypatch, edit)
    assert "standards/gddr6.yaml" in str(exc.value)


def test_engine_code_lists_no_command_names():
    """The counting sites read the table (regression guard for the names issue 15 removed)."""
    from pathlib import Path

    import pimsim.engine as eng

    root = Path(eng.__file__).parent
    for f, banned in (("energy.py", ('"MAC16"', '"ACT16"', '"REFab"', '"WRGB"')), ("refresh.py", ('startswith("REF")',)),
                      ("trace.py", ('"MAC16"', '"EWMUL16"')), ("system.py", ('"MAC16"', '"MAC"'))):
        text = (root / f).read_text()
        assert not [b for b in banned if b in text], f
