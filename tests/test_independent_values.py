"""Expected values from sources independent of the code (issue 19).

Every expectation here is written out in the test from a second statement of the number: the datasheet
table of shared/reference/aim_gddr6.md, the JEDEC/Ramulator 2 values the preset YAML comments cite, the
energy figures of the preset files (read as plain YAML, not through the loader or `engine/energy.py`),
hand-derived single-command latencies, a hand-made two-row results table. A wrong number in a standard's
constraint table, a preset, the energy model, the speedup table or a plot fails here even where the
engine, the checker and the probes agree with each other (they all read the same table).
tools/planted_faults.py proves it: each fault it plants must fail a test of this file or another.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pimsim.dram import CommandEngine, Instr, Program, check_log
from pimsim.dram.table import OP
from pimsim.hardware import load_hardware

PRESETS_DIR = Path(__file__).resolve().parents[1] / "pimsim" / "hardware" / "presets"

# ---------------------------------------------------------------- second statements of the timing tables

# shared/reference/aim_gddr6.md, "Timing preset GDDR6_AiM of that model (tCK = 0.5 ns)", written out again;
# the register-path values from "Completion after the last command" (WRGB 3 = nCWLGB + nBL, RDMAC16 2 =
# nCLREG + nBL) and "each switch ... costs nMODCH = 32 cycles".
AIM_DATASHEET = {
    "nBL": 2, "nCL": 50, "nRCDRD": 36, "nRCDRDMAC": 56, "nRCDRDAF": 86, "nRCDRDCP": 66, "nRCDEWMUL": 25,
    "nRCDWR": 28, "nRCDWRCP": 48, "nRP": 32, "nRAS": 54, "nRC": 89, "nWR": 33, "nRTP": 12, "nCWL": 6,
    "nCCDS": 2, "nCCDL": 2, "nRRDS": 11, "nRRDL": 11, "nWTRS": 9, "nWTRL": 11, "nFAW": 42, "nRFC": 210,
    "nRFCpb": 105, "nRREFD": 21, "nREFI": 3333, "nMODCH": 32, "nCLREG": 0, "nCWLREG": 1, "nCWLGB": 1,
}
# the same source, "Effective timing after the simulator loads its preset": nRRDS 5, nRRDL 6, nFAW 28
AIM_EFFECTIVE = {**AIM_DATASHEET, "nRRDS": 5, "nRRDL": 6, "nFAW": 28}
# Ramulator 2 HBM2_2Gbps (tCK 1 ns), as hbm2-pim.yaml cites it; tRFC 260 ns, tREFI 3.9 us; JESD235 tRFCSB
# 160 ns and tRREFD 8 ns (8 Gb) for per-bank refresh
HBM2_2GBPS = {
    "nBL": 2, "nCL": 7, "nRCDRD": 7, "nRCDWR": 7, "nRP": 7, "nRAS": 17, "nRC": 24, "nWR": 8, "nRTP": 3,
    "nCWL": 2, "nCCDS": 1, "nCCDL": 2, "nRRDS": 2, "nRRDL": 3, "nWTRS": 3, "nWTRL": 4, "nFAW": 15,
    "nRFC": 260, "nREFI": 3900, "nRFCpb": 160, "nRREFD": 8,
}
# JESD209-5 LPDDR5-6400, CK = 1.25 ns (lpddr5-pim.yaml cites Ramulator 2's LPDDR5_6400): nRCD 15, nRP 17,
# nRAS 34, nRC = nRAS + nRP; tRFCab 280 ns, tRFCpb 140 ns, tpbR2act 7.5 ns, tpbR2pbR 90 ns and
# tREFI = 32 ms / 8192 = 3906 ns, each over 1.25 ns (floor)
_CK = 1.25
LPDDR5_6400 = {
    "nBL": 4, "nCL": 20, "nRCDRD": 15, "nRCDWR": 15, "nRP": 17, "nRAS": 34, "nRC": 34 + 17, "nWR": 28,
    "nRTP": 4, "nCWL": 11, "nCCDS": 4, "nCCDL": 4, "nRRDS": 4, "nRRDL": 4, "nWTRS": 5, "nWTRL": 10,
    "nFAW": 16, "nRFC": int(280 / _CK), "nRFCpb": int(140 / _CK), "nRREFD": int(7.5 / _CK),
    "nPBR2PBR": int(90 / _CK), "nREFI": int(3906 / _CK),
}
# AttAcc's HBM3_5.2Gbps (scale-snu/attacc_simulator c600051, pim_ramulator_src/HBM3-PIM.cpp:34), as hbm3-pim
# cites it: nRTP its nRTPL, nRC 64 (its 63 is below nRAS + nRP), nRFC 350 ns / 0.769 ns rounded up, nRFCpb its nRFCSB
ATTACC_HBM3_5_2 = {
    "nBL": 2, "nCL": 19, "nRCDRD": 19, "nRCDWR": 19, "nRP": 19, "nRAS": 45, "nRC": 64, "nWR": 21, "nRTP": 8,
    "nCWL": 6, "nCCDS": 2, "nCCDL": 4, "nCCDAB": 6, "nRRDS": 2, "nRRDL": 4, "nWTRS": 8, "nWTRL": 11, "nRTW": 3,
    "nFAW": 39, "nRFC": 456, "nRFCpb": 260, "nRREFD": 11, "nREFI": 5070,
}
SECOND_STATEMENT = {"pimgpt-gddr6": AIM_DATASHEET, "aim-32ch": AIM_EFFECTIVE, "hbm2-pim": HBM2_2GBPS,
                    "hbm3-pim": ATTACC_HBM3_5_2, "lpddr5-pim": LPDDR5_6400}
# MAC-to-MAC spacing the PIM units allow where it exceeds nCCDL: hbm2-pim's 16 fp16 lanes at 0.3 GHz take one
# 3.33 ns unit cycle per 32 B column, 4 tCK of 1 ns (issue 15, item 4)
UNIT_SPACING = {"hbm2-pim": 4}
# what an all-bank MAC waits for after the ACT16 that opens its row: the AiM ACT-to-MAC parameter on AiM,
# tRCD (a MAC16 is a column read of every bank) on HBM-PIM and LPDDR5-PIM
ACT_TO_MAC = {"pimgpt-gddr6": "nRCDRDMAC", "aim-32ch": "nRCDRDMAC", "hbm2-pim": "nRCDRD",
              "hbm3-pim": "nRCDRD", "lpddr5-pim": "nRCDRD"}


@pytest.mark.parametrize("preset", sorted(SECOND_STATEMENT))
def test_preset_timing_equals_the_second_statement_of_its_standard(preset):
    timing = load_hardware(preset).dram.timing
    want = SECOND_STATEMENT[preset]
    assert {k: timing[k] for k in want} == want
    if preset in ("pimgpt-gddr6", "aim-32ch"):
        assert timing["nWPRE"] == 1  # the AiM simulator's loader value (pimgpt-gddr6.yaml)


# ---------------------------------------------------------------- single-command latencies from the log

def _log(preset: str, instrs, *, refresh: bool, due_in: int | None = None, per_bank: bool = False):
    """(engine result, [(cycle, command name, bank)]) of `instrs` on one channel of `preset`; with `due_in`,
    the first refresh falls due that many cycles into the run."""
    over = {"dram": {"channels": 1, **({"refresh": "per_bank"} if per_bank else {})}}
    dram = load_hardware(preset, overrides=over).dram
    eng = CommandEngine(dram, refresh=refresh)
    start = None
    if due_in is not None:
        # a settled channel in the mode of MAC_ABK (hbm2-pim: HAB_PIM; AiM: compute, the default)
        start = eng.settled_state(mode=int(eng.table.ins_mode[OP["MAC_ABK"]]) or 1)
        start = replace(start, cycles_since_refresh=(eng.refresh_interval_cycles - due_in,))
    res = eng.run(Program.from_instrs(list(instrs) + [Instr("EOC")]), log=True, start_state=start)
    assert check_log(res.log, dram, refresh=refresh, end_cycle=res.cycles,
                     refresh_phase_cycles=0 if start is None else start.cycles_since_refresh[0]) == []
    names = res.command_names
    return res, [(int(r["cycle"]), names[int(r["command"])], int(r["bank"])) for r in res.log]


def _gaps(log, first: str, then: str) -> list[int]:
    """Cycles from each `first` command to the next command, where that next command is `then`."""
    return [b[0] - a[0] for a, b in zip(log, log[1:]) if a[1] == first and b[1] == then]


@pytest.mark.parametrize("preset", sorted(set(SECOND_STATEMENT) - {"hbm3-pim"}))  # hbm3-pim (half-tCK ticks,
def test_hand_derived_latencies_of_a_row_switching_mac_stream(preset):                # nCCDAB): tests/dram/test_hbm3_pim.py
    """Rows of full MAC_ABKs on a 1-channel machine, refresh on and due in the first row: ACT16 to the first
    MAC16 is exactly the ACT-to-MAC parameter, MAC16s nCCDL apart, the last MAC16 to PREA nRTP, PREA to
    ACT16 and to REFab nRP, REFab to the next ACT16 exactly nRFC (the values of the second statement)."""
    t = SECOND_STATEMENT[preset]
    cols = load_hardware(preset).dram.columns
    res, log = _log(preset, [Instr("MAC_ABK", cols, (0,), row=r % 3) for r in range(4)], refresh=True,
                    due_in=100)
    assert set(_gaps(log, "ACT16", "MAC16")) == {t[ACT_TO_MAC[preset]]}
    spacing = max(t["nCCDL"], UNIT_SPACING.get(preset, 1))
    assert set(_gaps(log, "MAC16", "MAC16")) == {spacing}
    # the row the refresh interrupts precharges when its next MAC16 would have issued, if that is later
    assert set(_gaps(log, "MAC16", "PREA")) == {t["nRTP"], max(t["nRTP"], spacing)}
    assert set(_gaps(log, "PREA", "ACT16")) == {t["nRP"]}
    assert _gaps(log, "PREA", "REFab") == [t["nRP"]]
    assert _gaps(log, "REFab", "ACT16") == [t["nRFC"]]
    assert res.commands["MAC16"] == 4 * cols and res.commands["REFab"] == 1


@pytest.mark.parametrize("preset", ["pimgpt-gddr6", "hbm2-pim", "lpddr5-pim"])
def test_refab_interval_is_trefi(preset):
    """With refresh just done, a long one-row MAC stream refreshes every tREFI of the second statement:
    exactly floor(cycles / tREFI) REFab (each falls due at k x tREFI and issues within a row switch)."""
    t = SECOND_STATEMENT[preset]
    cols = load_hardware(preset).dram.columns
    n = -(-3 * t["nREFI"] // (cols * t["nCCDL"])) + 1
    res, log = _log(preset, [Instr("MAC_ABK", cols, (0,), row=1)] * n, refresh=True)
    refs = [c for c, name, _ in log if name == "REFab"]
    assert len(refs) == res.cycles // t["nREFI"] >= 3
    for k, c in enumerate(refs, start=1):
        assert k * t["nREFI"] <= c <= k * t["nREFI"] + t["nRTP"] + t["nRP"] + t["nCCDL"]


@pytest.mark.parametrize("preset", ["pimgpt-gddr6", "lpddr5-pim"])
def test_per_bank_refresh_every_trefi_over_banks_to_each_bank_in_turn(preset):
    """JESD250 / JESD209-5 per-bank refresh: one REFpb every tREFI/banks, each to the next bank in turn."""
    t = SECOND_STATEMENT[preset]
    interval = t["nREFI"] // 16
    res, log = _log(preset, [Instr("MAC_ABK", 64, (0,), row=1)] * 60, refresh=True, per_bank=True)
    refs = [(c, b) for c, name, b in log if name == "REFpb"]
    assert len(refs) >= 8
    assert [b for _, b in refs] == [k % 16 for k in range(len(refs))]
    for k, (c, _) in enumerate(refs, start=1):
        assert k * interval <= c < (k + 1) * interval


def test_aim_unit_costs_measured_by_the_reference_simulator():
    """aim_gddr6.md, "Measured unit costs on one channel": one MAC_ABK of 64 columns from idle 185 cycles; a
    second on the same row +128, on a new row +226; WR_GB of 64 bursts 163; WR_BIAS or RD_MAC alone 37."""
    def cycles(instrs):
        return _log("aim-32ch", instrs, refresh=False)[0].cycles

    mac = Instr("MAC_ABK", 64, (0,), row=3)
    assert cycles([mac]) == 185
    assert cycles([mac, mac]) == 185 + 128
    assert cycles([mac, Instr("MAC_ABK", 64, (0,), row=4)]) == 185 + 226
    assert cycles([Instr("WR_GB", 64, (0,))]) == 163
    assert cycles([Instr("WR_BIAS", 1, (0,))]) == 37 == cycles([Instr("RD_MAC", 1, (0,))])


# ---------------------------------------------------------------- energy: per-command figures x counts

def preset_yaml(name: str) -> dict:
    """A preset file as plain YAML, its `base:` chain merged by hand (a second reading of the files)."""
    data = yaml.safe_load((PRESETS_DIR / f"{name}.yaml").read_text())
    base = data.pop("base", None)
    if base is None:
        return data
    merged = preset_yaml(base)
    for section, values in data.items():
        if isinstance(values, dict):
            merged[section] = {**merged.get(section, {}), **values}
        else:
            merged[section] = values
    return merged


def hand_command_energy_j(name: str, counts: dict[str, float]) -> dict[str, float]:
    """Energy by category from DRAM command counts, computed from the preset file's figures: ACT16 =
    banks x ACT+PRE of one bank (PREA adds nothing: the pair is counted at the ACT), MAC16 = PIM units x
    one unit's MAC, register transfers = array side + 256 DQ bits, REFab = refresh_pj per channel."""
    f = preset_yaml(name)
    e, d, p = f["energy"], f["dram"], f["pim"]
    banks = d["bank_groups"] * d["banks_per_group"]
    units = banks // p["banks_per_unit"]
    io = 256 * e["io_pj_per_bit"]
    per_pj = {"ACT16": ("pim_act", banks * e["act_pre_pj_per_bank"]), "PREA": ("pim_act", 0.0),
              "ACT": ("pim_act", e["act_pre_pj_per_bank"]), "PRE": ("pim_act", 0.0),
              "MAC16": ("pim_mac", units * e["mac_pj_per_bank"]),
              "WRGB": ("pim_io", e["wr_gb_pj"] + io), "WRMAC16": ("pim_io", e["wr_gb_pj"] + io),
              "RDMAC16": ("pim_io", e["rd_mac_pj"] + io), "TMOD": ("pim_io", 0.0),
              "REFab": ("refresh", e["refresh_pj"]), "REFpb": ("refresh", e["refresh_pj"] / banks),
              "WR": ("kv_write", e["wr_pj"] + io), "WRA16": ("kv_write", banks * e["wr_pj"] + io),
              "RD": ("pim_io", e["rd_pj"] + io),
              # hbm-pim's mode switches: their reserved-row ACTs and WRs as plain ones (hbm-pim.yaml)
              "SB2HAB": ("pim_io", 4 * (e["act_pre_pj_per_bank"] + e["wr_pj"] + io)),
              "HAB2SB": ("pim_io", 2 * (e["act_pre_pj_per_bank"] + e["wr_pj"] + io)),
              "HAB2PIM": ("pim_io", e["act_pre_pj_per_bank"] + e["wr_pj"] + io),
              "PIM2HAB": ("pim_io", e["act_pre_pj_per_bank"] + e["wr_pj"] + io)}
    out: dict[str, float] = {}
    for cmd, n in counts.items():
        cat, pj = per_pj[cmd]
        out[cat] = out.get(cat, 0.0) + n * pj * 1e-12
    return {k: v for k, v in out.items() if v}


@pytest.mark.parametrize("preset", ["pimgpt-gddr6", "hbm2-pim", "lpddr5-pim"])
def test_energy_of_one_act16_64_mac16_and_a_prea(preset):
    """One ACT16 + 64 MAC16 + PREA (a MAC_ABK of 64, then another row's ACT16 closes it): on pimgpt-gddr6
    16 x 2950 pJ + 64 x 16 x 82 pJ (energy.md, CENT calculator); hbm2-pim drives 8 units per MAC16."""
    from pimsim.engine.energy import pim_command_energy_j

    res, _ = _log(preset, [Instr("MAC_ABK", 64, (0,), row=1), Instr("MAC_ABK", 1, (0,), row=2)], refresh=False)
    counts = {k: v for k, v in res.commands.items() if k not in ("SB2HAB", "HAB2PIM")}  # hbm2-pim's entry
    assert counts == {"ACT16": 2, "MAC16": 65, "PREA": 1}
    one = {"ACT16": 1, "MAC16": 64, "PREA": 1}
    got = pim_command_energy_j(one, load_hardware(preset))
    assert got == pytest.approx(hand_command_energy_j(preset, one), rel=1e-12)
    if preset == "pimgpt-gddr6":
        assert got == pytest.approx({"pim_act": 16 * 2950e-12, "pim_mac": 64 * 16 * 82e-12}, rel=1e-12)


@pytest.mark.parametrize("preset, mapping", [("pimgpt-gddr6", "pimgpt"), ("hbm2-pim", "pimgpt"),
                                             ("lpddr5-pim", "pimgpt")])
def test_simulated_energy_is_the_sum_of_hand_computed_parts(preset, mapping):
    """A real simulation's energy by category equals its command counts x the preset file's figures, the
    link's bytes x (DQ bits + one column read per 32 B), the ASIC's flops, and background = (channels x
    standby + ASIC leakage) x latency; the total is their sum."""
    from pimsim.engine import simulate
    from pimsim.workloads import GenerateSpec

    r = simulate("gpt2-small", load_hardware(preset), mapping, GenerateSpec(prompt=4, generate=4))
    KV = ("WR", "WRA16")  # the KV-cache appends
    f = preset_yaml(preset)
    e = f["energy"]
    cmd = hand_command_energy_j(preset, {k: v for k, v in r.commands.items() if k not in KV})
    # Result.commands are rounded to whole commands; the energy counts the refreshes' fractional commands
    for cat in ("pim_act", "pim_mac", "pim_io", "refresh"):
        assert r.breakdown_j.get(cat, 0.0) == pytest.approx(cmd.get(cat, 0.0), rel=1e-4), cat
    kv = hand_command_energy_j(preset, {k: v for k, v in r.commands.items() if k in KV}).get("kv_write", 0.0)
    assert r.breakdown_j.get("kv_write", 0.0) == pytest.approx(kv, rel=1e-4)
    background = (f["dram"]["channels"] * e["background_w_per_channel"] + e["asic_static_w"]) * r.latency_s
    assert r.breakdown_j["background"] == pytest.approx(background, rel=1e-9)
    link_bytes = r.counters["link_bytes"]
    link = link_bytes * 8 * e["io_pj_per_bit"] * 1e-12 + link_bytes / 32 * e["rd_pj"] * 1e-12
    assert r.breakdown_j.get("link", 0.0) == pytest.approx(link, rel=1e-9)
    assert r.energy_j == pytest.approx(sum(r.breakdown_j.values()), rel=1e-12)
    # the two categories that carry most of the energy are bounded by the hand figures on both sides
    assert r.breakdown_j["pim_act"] + r.breakdown_j["pim_mac"] + background <= r.energy_j


# ---------------------------------------------------------------- speedup table against a hand-made table

def _two_rows() -> pd.DataFrame:
    """One PIM row and one baseline row of the same model and workload, numbers chosen by hand."""
    common = {"experiment": "t", "model": "m", "workload": "w", "error": None}
    return pd.DataFrame([
        {**common, "key": "a", "target": "pim", "placement": "pim", "hardware": "hw", "mapping": "mp",
         "device": None, "mode": None, "latency_s": 2.0, "energy_j": 4.0, "e2e_latency_per_token_s": 0.25},
        {**common, "key": "b", "target": "baseline", "placement": "gpu (graph)", "hardware": None,
         "mapping": None, "device": "gpu", "mode": "graph", "latency_s": 8.0, "energy_j": 10.0,
         "e2e_latency_per_token_s": 1.0},
    ])


def test_speedup_table_against_a_hand_made_two_row_table():
    """speedup = baseline latency / PIM latency = 8 / 2 = 4; energy efficiency = 10 / 4 = 2.5."""
    from pimsim.experiments.tables import speedup_table

    t = speedup_table(_two_rows())
    assert len(t) == 1
    row = t.iloc[0]
    assert (row["model"], row["baseline"], row["device"]) == ("m", "gpu (graph)", "gpu")
    assert row["latency_s_pim"] == 2.0 and row["latency_s_baseline"] == 8.0
    assert row["speedup"] == 4.0 and row["energy_efficiency"] == 2.5


# ---------------------------------------------------------------- plots by their data

def _captured_figures(monkeypatch):
    """Figures the plot functions save, kept open so their Axes can be read back."""
    import pimsim.experiments.plots as plots

    figs: dict[str, object] = {}
    real = plots._save

    def keep(fig, out, name):
        figs[name] = fig
        for ext in ("png", "svg"):
            fig.savefig(Path(out) / f"{name}.{ext}")
        return [Path(out) / f"{name}.{ext}" for ext in ("png", "svg")]

    monkeypatch.setattr(plots, "_save", keep)
    assert real is not keep
    return figs


def _bar_heights(ax) -> list[float]:
    """The value each bar shows: its top (speedup bars rise from 1x, issue 18; others from 0)."""
    return [float(p.get_y() + p.get_height()) for p in ax.patches if hasattr(p, "get_height") and p.get_width() < 1.0]


def test_speedup_plot_draws_the_csv_values(tmp_path, monkeypatch):
    from pimsim.experiments.plots import draw_plots
    from pimsim.experiments.spec import SpeedupPlot

    figs = _captured_figures(monkeypatch)
    draw_plots(_two_rows(), [SpeedupPlot(kind="speedup")], tmp_path)
    csv = pd.read_csv(tmp_path / "speedup.csv")
    assert csv["speedup"].tolist() == [4.0] and csv["energy_efficiency"].tolist() == [2.5]
    ax_speed, ax_energy = figs["speedup"].axes[:2]
    assert _bar_heights(ax_speed) == [4.0]
    assert _bar_heights(ax_energy) == [2.5]


def test_bars_and_line_plots_draw_the_results_values(tmp_path, monkeypatch):
    from pimsim.experiments.plots import draw_plots
    from pimsim.experiments.spec import BarsPlot, LinePlot

    figs = _captured_figures(monkeypatch)
    df = _two_rows()
    df["context"] = [16, 16]
    extra = df.iloc[[0]].assign(key="c", context=32, latency_s=3.0, e2e_latency_per_token_s=0.5)
    df = pd.concat([df, extra], ignore_index=True)
    draw_plots(df, [BarsPlot(kind="bars", name="bars", group=["model"], series=["placement"],
                             y=["e2e_latency_per_token_s"]),
                    LinePlot(kind="line", name="line", x="context", y=["latency_s"], series=["placement"])],
               tmp_path)
    # bars: one bar per row; the two pim rows (context 16, 32) become two series, never one shadowing the
    # other (issue 11: the old pivot aggfunc "first" silently dropped the second)
    assert _bar_heights(figs["bars"].axes[0]) == [0.25, 1.0, 0.5]
    lines = {ln.get_label(): (list(ln.get_xdata()), list(ln.get_ydata())) for ln in figs["line"].axes[0].lines}
    assert lines["pim"] == ([16.0, 32.0], [2.0, 3.0])
    assert lines["gpu (graph)"] == ([16.0], [8.0])
    assert np.isfinite(_bar_heights(figs["bars"].axes[0])).all()


# ---------------------------------------------------------------- baseline capacity counts the KV cache

def test_baseline_capacity_counts_the_kv_cache_not_only_the_weights(cli):
    """gpt2-xl (48 layers, hidden 1600) on a 16 GB T4: its 3.1 GB of weights fit, but 64 sequences of
    512 + 512 tokens hold 1023 tokens of K and V each: 64 x 1023 x 2 x 48 x 1600 x 2 B = 20.1 GB."""
    kv = 64 * 1023 * 2 * 48 * 1600 * 2
    weights = 1_557_611_200 * 2  # gpt2-xl's parameters, bf16
    args = ("baseline", "--device", "t4", "--model", "gpt2-xl", "--workload", "generate", "--prompt", "512",
            "--generate", "512")
    rc, _, err = cli(*args, "--batch", "64")
    assert rc == 2, err
    assert f"weights {weights:,} + KV cache {kv:,}" in err and "16,000,000,000 bytes" in err
    rc, _, err = cli(*args, "--batch", "8")  # 8 x 1023 tokens: 2.5 GB of KV + 3.1 GB fits
    assert rc == 0, err
