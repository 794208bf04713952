"""PIM unit parameters take effect (issue 15, item 4): pim.mac_lanes and pim.unit_clock_ghz set the units'
own MAC-to-MAC spacing nUNITMAC, a timing parameter the hardware schema derives and the PIM tables
constrain MAC/MAC16/EWMUL16 by; asic.sram_bytes must hold what the ASIC stages per PIM pass.

Expected values are closed forms: a column of column_bytes / dtype_bytes elements takes
ceil(elements / lanes) unit cycles of 1 / clock ns, rounded up to whole tCK; a MAC_ABK of n columns on an
open row issues its MAC16s max(nCCDL, nUNITMAC) apart, so its cycles grow by (n - 1) x that spacing."""

import math

import pytest

from pimsim.dram import CommandEngine, Instr, Program, check_log
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware
from pimsim.hardware.schema import unit_mac_cycles

SLOW = {"pim": {"mac_lanes": 1, "unit_clock_ghz": 3.0}}     # 16 unit cycles of 1/3 ns: 5.33 ns
FAST = {"pim": {"unit_clock_ghz": 3.0}}                     # 1 unit cycle of 1/3 ns: under one tCK


def _expected_spacing(hw) -> int:
    elements = hw.dram.column_bytes // hw.pim.dtype_bytes
    ns = math.ceil(elements / hw.pim.mac_lanes) / hw.pim.unit_clock_ghz
    return max(1, math.ceil(round(ns / hw.dram.tck_ns, 9)))


@pytest.mark.parametrize("preset, overrides, spacing", [
    ("hbm2-pim", None, 4),          # 16 fp16 / 16 lanes = 1 cycle at 0.3 GHz = 3.33 ns -> 4 x 1 ns
    ("hbm2-pim", SLOW, 6),          # 16 cycles at 3 GHz = 5.33 ns -> 6
    ("hbm2-pim", FAST, 1),          # 0.33 ns -> 1 (nCCDL 2 binds)
    ("pimgpt-gddr6", None, 2),      # AiM: 1 cycle at 1 GHz = 1 ns = 2 x 0.5 ns = its tCCD_L
    ("lpddr5-pim", None, 1),        # 1 cycle at 0.8 GHz = 1.25 ns = 1 tCK
])
def test_unit_spacing_is_the_closed_form(preset, overrides, spacing):
    hw = load_hardware(preset, overrides=overrides)
    assert hw.dram.timing["nUNITMAC"] == spacing == _expected_spacing(hw)
    assert unit_mac_cycles(hw.dram.column_bytes, hw.pim.dtype_bytes, hw.pim.mac_lanes, hw.pim.unit_clock_ghz,
                           hw.dram.tck_ns) == spacing


def _mac_abk_cycles(hw, n: int, mode: str) -> tuple[int, list]:
    eng = CommandEngine(hw.dram, refresh=False)
    res = eng.run(Program.from_instrs([Instr("MAC_ABK", n, (0,), row=3), Instr("EOC")]), mode=mode, log=True)
    return res.cycles, check_log(res.log, hw.dram, end_cycle=res.cycles)


@pytest.mark.parametrize("mode", ["runlength", "exact"])
def test_slow_units_limit_the_mac_rate_by_the_closed_form(mode):
    """hbm2-pim at 0.3 GHz / 16 lanes vs 3.0 GHz / 1 lane (the issue's example) and vs units faster than the
    column rate: the 64-column MAC_ABK differs by 63 x the spacing difference, nothing else."""
    n = 64
    out = {}
    for name, ov in (("published", None), ("slow", SLOW), ("fast", FAST)):
        hw = load_hardware("hbm2-pim", overrides=ov)
        one, v1 = _mac_abk_cycles(hw, 1, mode)
        cyc, v = _mac_abk_cycles(hw, n, mode)
        assert not v and not v1, (name, v[:3])            # the independent checker reads nUNITMAC too
        spacing = max(hw.dram.timing["nCCDL"], _expected_spacing(hw))
        assert cyc - one == (n - 1) * spacing, name
        out[name] = cyc
    assert out["slow"] - out["published"] == (n - 1) * (6 - 4)
    assert out["published"] - out["fast"] == (n - 1) * (4 - 2)


def test_aim_is_unchanged_its_units_keep_pace_with_tccdl():
    hw = load_hardware("pimgpt-gddr6")
    assert hw.dram.timing["nUNITMAC"] == hw.dram.timing["nCCDL"]
    cyc, v = _mac_abk_cycles(hw, 64, "runlength")
    assert not v and cyc - _mac_abk_cycles(hw, 1, "runlength")[0] == 63 * 2


def test_whole_runs_now_depend_on_the_unit():
    from pimsim.engine import simulate
    from pimsim.workloads import GenerateSpec

    spec = GenerateSpec(prompt=8, generate=2)
    r = {name: simulate("gpt2-small", load_hardware("hbm2-pim", overrides=ov), "pimgpt", spec)
         for name, ov in (("published", None), ("slow", SLOW), ("fast", FAST))}
    assert r["fast"].latency_s < r["published"].latency_s < r["slow"].latency_s
    # same program, other timing: the column commands agree (a longer run only refreshes more, and re-opens
    # the rows each refresh closes)
    cols = [{k: v for k, v in x.commands.items() if k not in ("REFab", "REFpb", "ACT16", "PREA")} for x in r.values()]
    assert cols[0] == cols[1] == cols[2] and cols[0]["MAC16"] > 0
    assert r["slow"].commands["REFab"] > r["published"].commands["REFab"] > r["fast"].commands["REFab"]


def test_a_given_spacing_must_be_the_derived_one():
    ok = load_hardware("hbm2-pim", overrides={"dram": {"timing": {"nUNITMAC": 4}}})
    assert ok.dram.timing["nUNITMAC"] == 4
    with pytest.raises(ConfigError, match=r"dram\.timing\.nUNITMAC: 2 given, but it is derived .* = 4"):
        load_hardware("hbm2-pim", overrides={"dram": {"timing": {"nUNITMAC": 2}}})


def test_too_small_sram_is_a_config_error_naming_what_needs_it():
    """The ASIC stages one PIM pass: hbm3-pim's 512 B global buffer and one channel's result read, 64 units x
    16 result registers x 2 B = 2048 B, 2560 B in all."""
    assert load_hardware("hbm3-pim", overrides={"asic": {"sram_bytes": 2560}}).asic.sram_bytes == 2560
    with pytest.raises(ConfigError, match=r"asic\.sram_bytes: 2559 is smaller than what the ASIC stages for one "
                                          r"PIM pass, 2560 bytes: .*= 512\) .*= 2048\)"):
        load_hardware("hbm3-pim", overrides={"asic": {"sram_bytes": 2559}})


# ---------------------------------------------------------------- attention.k_layout / v_layout


def _mapping_file(tmp_path, name: str, **attention) -> str:
    import yaml

    from pimsim.mapper.schema import _mappings_dir

    data = yaml.safe_load((_mappings_dir() / f"{name}.yaml").read_text())
    data["attention"].update(attention)
    path = tmp_path / f"{name}-edited.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_row_major_v_on_pim_units_is_a_config_error(tmp_path):
    """A PIM unit's MAC reduces along a DRAM row, so score.V on PIM needs V transposed (column-major)."""
    from pimsim.mapper import load_mapping

    bad = _mapping_file(tmp_path, "pimgpt", v_layout="row_major")
    with pytest.raises(ConfigError, match=r"attention\.v_layout: row_major cannot run score\.V on the PIM units"):
        load_mapping(bad)
    with pytest.raises(ConfigError, match=r"attention\.k_layout"):
        load_mapping(_mapping_file(tmp_path, "pimgpt", k_layout="column_major"))


def test_v_layout_with_asic_attention_reads_the_same_bytes(tmp_path):
    """placement asic: the ASIC reads K and V whole over the link, whatever their layout (attn_asic ships
    row_major): the same run as column_major, as the field's description states."""
    from pimsim.engine import simulate
    from pimsim.workloads import GenerateSpec

    spec = GenerateSpec(prompt=8, generate=2)
    a = simulate("gpt2-small", "pimgpt-gddr6", "attn_asic", spec)
    b = simulate("gpt2-small", "pimgpt-gddr6", _mapping_file(tmp_path, "attn_asic", v_layout="column_major"), spec)
    assert a.latency_s == b.latency_s and a.energy_j == b.energy_j
