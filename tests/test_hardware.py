"""Hardware box: shipped presets against the published figures they cite, `base:` inheritance, and one
clear error (file, field path, what is allowed) for every kind of bad hardware YAML."""

from __future__ import annotations

import math
from importlib import resources

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.errors import ConfigError, UnknownNameError
from pimsim.hardware import Hardware, load_hardware, preset_names

PRESETS = ["aim-32ch", "aim-32ch-mv4", "cent-aim-32ch", "hbm2-pim", "hbm3-pim", "ianus-aim-8ch", "lpddr5-pim", "neupims-hbm2", "pimgpt-gddr6"]

KiB, MiB, GiB = 2**10, 2**20, 2**30

# shared/reference/aim_gddr6.md, "Timing preset GDDR6_AiM" (cycles of tCK = 0.5 ns)
AIM_TCK_NS = 0.5
AIM_TIMING = {
    "nBL": 2, "nCL": 50, "nRCDRD": 36, "nRCDRDMAC": 56, "nRCDRDAF": 86, "nRCDRDCP": 66, "nRCDEWMUL": 25,
    "nRCDWR": 28, "nRCDWRCP": 48, "nRP": 32, "nRAS": 54, "nRC": 89, "nWR": 33, "nRTP": 12, "nCWL": 6,
    "nCCDS": 2, "nCCDL": 2, "nRRDS": 11, "nRRDL": 11, "nWTRS": 9, "nWTRL": 11, "nFAW": 42, "nRFC": 210,
    "nRFCpb": 105, "nRREFD": 21, "nREFI": 3333,
}
# aim_gddr6.md, "Organisation": 4 bank groups x 4 banks, 16K rows, 1K columns of 2 B (2 KB rows), 32 B per
# column access; "How that simulator executes a trace": effective nRRDS 5, nRRDL 6, nFAW 28.
AIM_BANK_GROUPS, AIM_BANKS_PER_GROUP, AIM_ROWS = 4, 4, 16 * 1024
AIM_ROW_BYTES = 1024 * 2
AIM_ACCESS_BYTES = 32
AIM_EFFECTIVE = {"nRRDS": 5, "nRRDL": 6, "nFAW": 28}


def _raw_preset(name: str) -> dict:
    return yaml.safe_load((resources.files("pimsim.hardware") / "presets" / f"{name}.yaml").read_text())


# ---- presets ---------------------------------------------------------------------------------------


def test_preset_names_are_the_five_shipped():
    assert preset_names() == sorted(PRESETS)


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_loads_and_derives_its_figures(name):
    hw = load_hardware(name)
    assert isinstance(hw, Hardware)
    assert hw.name == name
    d = hw.dram
    banks = d.ranks * d.bank_groups * d.banks_per_group
    assert d.banks == banks
    assert d.row_bytes == d.columns * d.column_bytes
    assert hw.capacity_bytes == d.channels * banks * d.rows * d.columns * d.column_bytes
    units = banks // hw.pim.banks_per_unit
    assert units * hw.pim.banks_per_unit == banks
    expected_peak = d.channels * units * d.column_bytes / (d.timing["nCCDL"] * d.tck_ns * 1e-9)
    assert hw.peak_mac_bandwidth_bytes_per_s == pytest.approx(expected_peak, rel=1e-12)
    # every timing relation a validated preset promises
    t = d.timing
    assert t["nRAS"] >= t["nRCDRD"] and t["nREFI"] > t["nRFC"] and t["nRC"] >= t["nRAS"] + t["nRP"]


def test_pimgpt_gddr6_matches_the_aim_reference():
    hw = load_hardware("pimgpt-gddr6")
    d = hw.dram
    assert d.standard == "gddr6-aim"
    assert d.tck_ns == AIM_TCK_NS
    assert (d.channels, d.bank_groups, d.banks_per_group, d.rows) == (8, AIM_BANK_GROUPS, AIM_BANKS_PER_GROUP, AIM_ROWS)
    assert d.banks == 16
    assert d.column_bytes == AIM_ACCESS_BYTES
    assert d.row_bytes == AIM_ROW_BYTES == 2 * KiB
    assert d.channel_bytes == AIM_BANK_GROUPS * AIM_BANKS_PER_GROUP * AIM_ROWS * AIM_ROW_BYTES == 512 * MiB
    assert hw.capacity_bytes == 8 * 512 * MiB == 4 * GiB
    for key, cycles in AIM_TIMING.items():
        assert d.timing[key] == cycles, key
    assert "nFAW" in d.disabled_constraints  # "marked unused for all-bank PIM"
    # 16 banks x 32 B per access, one access per nCCDL = 2 x 0.5 ns = 1 ns, x 8 channels
    ns_per_access = AIM_TIMING["nCCDL"] * AIM_TCK_NS
    assert ns_per_access == 1.0
    per_channel = 16 * AIM_ACCESS_BYTES / (ns_per_access * 1e-9)
    assert per_channel == pytest.approx(512e9)
    assert hw.peak_mac_bandwidth_bytes_per_s == pytest.approx(8 * per_channel, rel=1e-12)
    assert hw.peak_mac_bandwidth_bytes_per_s == pytest.approx(4.096e12, rel=1e-12)
    # 16 bf16 MACs per bank; the link is x16 at 16 Gb/s/pin = 32 GB/s = 16 B per 0.5 ns tCK
    assert hw.pim.mac_lanes == 16 and hw.pim.dtype == "bf16" and hw.pim.banks_per_unit == 1
    assert hw.link.bytes_per_cycle / (d.tck_ns * 1e-9) == pytest.approx(16 * 16e9 / 8)
    assert hw.asic.clock_ghz == 1.0


def test_aim_32ch_is_pimgpt_with_32_channels_and_effective_timing():
    assert _raw_preset("aim-32ch")["base"] == "pimgpt-gddr6"
    base, hw = load_hardware("pimgpt-gddr6"), load_hardware("aim-32ch")
    assert hw.dram.channels == 32
    for key, cycles in AIM_EFFECTIVE.items():
        assert hw.dram.timing[key] == cycles, key
    # everything else is inherited unchanged
    expected_timing = {**AIM_TIMING, **AIM_EFFECTIVE}
    assert {k: hw.dram.timing[k] for k in expected_timing} == expected_timing
    assert set(hw.dram.timing) == set(base.dram.timing)
    a, b = hw.model_dump(), base.model_dump()
    for dump in (a, b):
        dump.pop("name"), dump.pop("description")
        dump["dram"].pop("channels"), dump["dram"].pop("timing")
    assert a == b
    assert hw.capacity_bytes == 32 * 512 * MiB == 16 * GiB
    assert hw.peak_mac_bandwidth_bytes_per_s == pytest.approx(32 * 512e9, rel=1e-12)


def test_hbm_presets_share_units_as_published():
    hbm2, hbm3 = load_hardware("hbm2-pim"), load_hardware("hbm3-pim")
    assert hbm2.pim.banks_per_unit == 2 and hbm2.pim.dtype == "fp16"
    # 16 pseudo-channels x 16 banks x 16K rows x 1 KB rows; one 32 B unit access per 2 banks per nCCDL (2 ns)
    assert hbm2.dram.row_bytes == 1 * KiB
    assert hbm2.capacity_bytes == 16 * 16 * 16384 * KiB == 4 * GiB
    assert hbm2.peak_mac_bandwidth_bytes_per_s == pytest.approx(16 * (16 // 2) * 32 / 2e-9, rel=1e-12)
    # hbm3-pim is AttAcc's HBM3 stack on the hbm3-pim standard: 16 channels x 64 banks, a bank-level fp16 unit
    # per bank; its MAC rate is nCCDAB-bound (tests/dram/test_hbm3_pim.py)
    assert hbm3.dram.standard == "hbm3-pim" and "base" not in _raw_preset("hbm3-pim")
    assert hbm3.pim.banks_per_unit == 1 and hbm3.pim.dtype == "fp16" and hbm3.dram.channels == 16
    assert hbm3.dram.banks == 64 and hbm3.capacity_bytes == 16 * GiB
    assert hbm3.peak_mac_bandwidth_bytes_per_s == pytest.approx(16 * 64 * 32 / (4 * 0.769e-9), rel=1e-12)


# ---- user files and base: inheritance ----------------------------------------------------------------


def _write(path, data) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return str(path)


def test_user_yaml_overrides_nested_fields_and_keeps_the_rest(tmp_path):
    f = _write(tmp_path / "mine.yaml", {"base": "pimgpt-gddr6", "name": "mine",
                                        "dram": {"channels": 16}, "asic": {"clock_ghz": 0.1}})
    hw, base = load_hardware(f), load_hardware("pimgpt-gddr6")
    assert hw.name == "mine"
    assert hw.dram.channels == 16 and hw.asic.clock_ghz == 0.1
    # siblings of the overridden fields are kept, whole sections untouched
    assert hw.dram.timing == base.dram.timing
    assert hw.dram.rows == base.dram.rows and hw.dram.standard == base.dram.standard
    assert hw.asic.latency_cycles == base.asic.latency_cycles and hw.asic.vector_lanes == base.asic.vector_lanes
    assert hw.pim == base.pim and hw.link == base.link and hw.energy == base.energy
    assert hw.capacity_bytes == 2 * base.capacity_bytes == 8 * GiB
    assert hw.peak_mac_bandwidth_bytes_per_s == pytest.approx(2 * 4.096e12, rel=1e-12)


def test_overriding_one_timing_parameter_keeps_the_others(tmp_path):
    f = _write(tmp_path / "t.yaml", {"base": "pimgpt-gddr6", "dram": {"timing": {"nRP": 30}}})
    timing = load_hardware(f).dram.timing
    assert timing == {**load_hardware("pimgpt-gddr6").dram.timing, "nRP": 30}


def test_base_chain_through_a_relative_yaml_path(tmp_path, monkeypatch):
    _write(tmp_path / "lib" / "wide.yaml", {"base": "pimgpt-gddr6", "name": "wide", "dram": {"channels": 16}})
    _write(tmp_path / "lib" / "slow.yaml", {"base": "wide.yaml", "name": "slow", "asic": {"clock_ghz": 0.1}})
    top = _write(tmp_path / "top.yaml", {"base": "lib/slow.yaml", "name": "top", "dram": {"rows": 8192}})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # relative bases resolve against the file that names them, not the cwd
    hw = load_hardware(top)
    assert hw.name == "top"
    assert (hw.dram.channels, hw.asic.clock_ghz, hw.dram.rows) == (16, 0.1, 8192)
    assert hw.dram.timing == load_hardware("pimgpt-gddr6").dram.timing
    assert hw.capacity_bytes == 16 * 16 * 8192 * 2 * KiB


def test_boundary_values_are_accepted(tmp_path):
    # equalities the timing rules allow: nRAS == nRCDRD, nRC == nRAS + nRP
    f = _write(tmp_path / "edge.yaml", {"base": "pimgpt-gddr6",
                                        "dram": {"timing": {"nRAS": 36, "nRC": 36 + 32}, "channels": 1}})
    hw = load_hardware(f)
    assert hw.dram.timing["nRC"] == 68 and hw.capacity_bytes == 512 * MiB


# ---- bad input: one ConfigError / UnknownNameError naming file, field path and what is allowed -------

BASE = {"base": "pimgpt-gddr6"}


def _full_preset_without(*timing_keys) -> dict:
    raw = _raw_preset("pimgpt-gddr6")
    for k in timing_keys:
        del raw["dram"]["timing"][k]
    return raw


BAD_CASES = [
    # id, files {name: content}, error type, fragments the message must contain
    ("unknown-top-level-field", {"hw.yaml": {**BASE, "colour": "red"}}, ConfigError,
     ["colour", "unknown field", "dram", "energy"]),
    ("unknown-nested-field", {"hw.yaml": {**BASE, "dram": {"chanels": 16}}}, ConfigError,
     ["dram.chanels", "unknown field", "channels"]),
    ("wrong-type", {"hw.yaml": {**BASE, "dram": {"channels": "eight"}}}, ConfigError,
     ["dram.channels", "integer", "'eight'"]),
    ("fractional-count", {"hw.yaml": {**BASE, "dram": {"channels": 8.5}}}, ConfigError,
     ["dram.channels", "integer", "8.5"]),
    ("zero-channels", {"hw.yaml": {**BASE, "dram": {"channels": 0}}}, ConfigError,
     ["dram.channels", "greater than 0", "got 0"]),
    ("negative-rows", {"hw.yaml": {**BASE, "dram": {"rows": -1}}}, ConfigError,
     ["dram.rows", "greater than 0", "got -1"]),
    ("zero-tck", {"hw.yaml": {**BASE, "dram": {"tck_ns": 0}}}, ConfigError,
     ["dram.tck_ns", "greater than 0"]),
    ("zero-asic-clock", {"hw.yaml": {**BASE, "asic": {"clock_ghz": 0}}}, ConfigError,
     ["asic.clock_ghz", "greater than 0"]),
    ("negative-energy", {"hw.yaml": {**BASE, "energy": {"rd_pj": -1}}}, ConfigError,
     ["energy.rd_pj", "greater than or equal to 0"]),
    ("negative-timing", {"hw.yaml": {**BASE, "dram": {"timing": {"nCL": -3}}}}, ConfigError,
     ["dram.timing.nCL", ">= 0"]),
    ("nRAS-below-nRCDRD", {"hw.yaml": {**BASE, "dram": {"timing": {"nRAS": 30}}}}, ConfigError,
     ["dram.timing", "nRAS=30", "nRCDRD=36"]),
    ("nREFI-below-nRFC", {"hw.yaml": {**BASE, "dram": {"timing": {"nREFI": 100}}}}, ConfigError,
     ["dram.timing", "nREFI=100", "nRFC=210"]),
    ("nRC-below-nRAS-plus-nRP", {"hw.yaml": {**BASE, "dram": {"timing": {"nRC": 85}}}}, ConfigError,
     ["dram.timing", "nRC=85", "nRAS+nRP=86"]),
    ("missing-timing-parameter", {"hw.yaml": _full_preset_without("nMODCH")}, ConfigError,
     ["dram.timing", "gddr6-aim", "nMODCH"]),
    ("standard-needs-more-timing", {"hw.yaml": {"base": "lpddr5-pim", "dram": {"standard": "gddr6-aim"}}},
     ConfigError, ["dram.timing", "gddr6-aim", "nMODCH", "nRCDRDMAC"]),
    ("unknown-standard", {"hw.yaml": {**BASE, "dram": {"standard": "ddr9"}}}, ConfigError,
     ["dram.standard", "'ddr9'", "gddr6-aim", "hbm-pim", "lpddr5-pim"]),
    ("bad-refresh-mode", {"hw.yaml": {**BASE, "dram": {"refresh": "sometimes"}}}, ConfigError,
     ["dram.refresh", "all_bank", "per_bank"]),
    ("disabled-unknown-constraint", {"hw.yaml": {**BASE, "dram": {"disabled_constraints": ["nXYZ"]}}},
     ConfigError, ["dram.disabled_constraints", "nXYZ"]),
    ("units-do-not-divide-banks", {"hw.yaml": {**BASE, "pim": {"banks_per_unit": 3}}}, ConfigError,
     ["pim.banks_per_unit", "16 banks"]),
    ("missing-section", {"hw.yaml": {"name": "x"}}, ConfigError, ["dram", "required"]),
    ("unknown-base", {"hw.yaml": {"base": "nope"}}, UnknownNameError,
     ["base", "'nope'", "pimgpt-gddr6", "aim-32ch"]),
    ("missing-base-file", {"hw.yaml": {"base": "missing.yaml"}}, ConfigError,
     ["base", "missing.yaml", "not found"]),
    ("base-cycle", {"hw.yaml": {"base": "other.yaml"}, "other.yaml": {"base": "hw.yaml"}}, ConfigError,
     ["base", "cycle"]),
    ("malformed-yaml", {"hw.yaml": "base: pimgpt-gddr6\ndram:\n  channels: [1, 2\n  rows: 3\n"}, ConfigError,
     ["malformed YAML", "line 4"]),
    ("top-level-list", {"hw.yaml": "- base\n- pimgpt-gddr6\n"}, ConfigError, ["mapping", "list"]),
    ("missing-file", {}, ConfigError, ["not found"]),
]


@pytest.mark.parametrize("files,exc_type,fragments", [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES])
def test_bad_hardware_yaml_gives_one_clear_error(tmp_path, files, exc_type, fragments):
    for name, content in files.items():
        _write(tmp_path / name, content)
    path = str(tmp_path / "hw.yaml")
    with pytest.raises(exc_type) as info:
        load_hardware(path)
    msg = str(info.value)
    assert path in msg, msg
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} not in {msg!r}"
    assert "pydantic" not in msg and "Traceback" not in msg and "Value error" not in msg


def test_unknown_preset_lists_the_known_ones():
    with pytest.raises(UnknownNameError) as info:
        load_hardware("no-such-preset")
    msg = str(info.value)
    assert "'no-such-preset'" in msg
    assert all(name in msg for name in PRESETS)


def test_nRC_rule_has_no_slack(tmp_path):
    """nRC >= nRAS + nRP exactly: one cycle short is rejected (not silently tolerated)."""
    f = _write(tmp_path / "hw.yaml", {**BASE, "dram": {"timing": {"nRC": 54 + 32 - 1}}})
    with pytest.raises(ConfigError, match=r"dram\.timing: nRC=85"):
        load_hardware(f)


def test_every_error_of_a_file_is_reported(tmp_path):
    f = _write(tmp_path / "hw.yaml", {**BASE, "dram": {"channels": 0, "rows": -2}, "asic": {"sram_bytes": "lots"}})
    msg = str(pytest.raises(ConfigError, load_hardware, f).value)
    lines = msg.splitlines()
    assert len(lines) == 3
    assert all(line.startswith(f"{f}: ") for line in lines)
    assert {line.split(": ")[1] for line in lines} == {"dram.channels", "dram.rows", "asic.sram_bytes"}


# ---- properties ---------------------------------------------------------------------------------------

ORG_FIELDS = ("channels", "ranks", "bank_groups", "banks_per_group", "rows", "columns", "column_bytes")
_PIMGPT_RAW = _raw_preset("pimgpt-gddr6")


@settings(max_examples=60, deadline=None)
@given(org=st.fixed_dictionaries({
    "channels": st.integers(1, 128), "ranks": st.integers(1, 4), "bank_groups": st.integers(1, 16),
    "banks_per_group": st.integers(1, 16), "rows": st.integers(1, 1 << 20), "columns": st.integers(1, 4096),
    # whole bf16 elements, at most the 2 KB global buffer (a buffer must hold one column)
    "column_bytes": st.integers(1, 256).map(lambda n: 2 * n),
}))
def test_capacity_is_the_product_of_the_organisation(org):
    hw = load_hardware({**_PIMGPT_RAW, "dram": {**_PIMGPT_RAW["dram"], **org}, "pim": {**_PIMGPT_RAW["pim"],
                                                                                         "banks_per_unit": 1}})
    assert hw.capacity_bytes == math.prod(org.values())
    assert hw.dram.channel_bytes * org["channels"] == hw.capacity_bytes
    assert hw.peak_mac_bandwidth_bytes_per_s == pytest.approx(
        org["channels"] * org["ranks"] * org["bank_groups"] * org["banks_per_group"] * org["column_bytes"]
        / (2 * 0.5e-9), rel=1e-12)


@settings(max_examples=60, deadline=None)
@given(field=st.sampled_from(ORG_FIELDS + ("tck_ns",)), value=st.integers(-10**9, 0))
def test_non_positive_organisation_is_rejected_naming_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        load_hardware({**_PIMGPT_RAW, "dram": {**_PIMGPT_RAW["dram"], field: value}})
    msg = str(info.value)
    assert msg.startswith(f"<hardware mapping>: dram.{field}: ")
    assert "greater than 0" in msg and f"got {value}" in msg
