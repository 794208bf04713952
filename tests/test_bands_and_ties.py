"""Issue 11, "Winners within the model's error are ties": every comparison carries each side's error band
(pimsim.experiments.bands, from pimsim/validate/tolerances.yaml), a winner is called only when the bands
separate, and every series is labelled uniquely (two mappings never merge into one `all-pim` bar).

Tables are hand-made here (no simulation); the expected bands are computed from tolerances.yaml as read by
the test itself: the error is pimsim / measured - 1 within [lo, hi], so the real figure lies within
[v / (1 + hi), v / (1 + lo)]."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest
import yaml

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pimsim.errors import ConfigError  # noqa: E402
from pimsim.experiments import bands  # noqa: E402
from pimsim.experiments.plots import plot_bars  # noqa: E402
from pimsim.experiments.spec import BarsPlot  # noqa: E402
from pimsim.experiments.tables import (band_columns, call_winner, placement_labels, series_keys,  # noqa: E402
                                       winners_table)

REPO = Path(__file__).resolve().parent.parent
TOLERANCES = yaml.safe_load((REPO / "pimsim" / "validate" / "tolerances.yaml").read_text())["checks"]


def truth_band(family: str) -> tuple[float, float]:
    tol = TOLERANCES[family]["tolerance"]
    lo, hi = (-tol, tol) if isinstance(tol, (int, float)) else tol
    return 1 / (1 + hi) - 1, 1 / (1 + lo) - 1


def row(label: str, latency_s: float, band: float, mapping: str = "pimgpt", n: int = 1) -> dict:
    return {"key": label + mapping, "target": "pim", "placement": label, "mapping": mapping, "workload.n": n,
            "latency_s": latency_s, "latency_band_lo": -band, "latency_band_hi": band,
            "latency_band_source": "test", "error": None}


# ---------------------------------------------------------------- winner only where bands separate

def test_one_and_a_half_percent_inside_ten_percent_bands_is_a_tie():
    df = pd.DataFrame([row("A", 1.0, 0.10), row("B", 1.015, 0.10)])
    w = winners_table(df, ["workload.n"], ["placement"], ["latency_s"])
    assert len(w) == 1
    assert not w["separated"][0]
    assert w["result"][0] == "tie (within error): A vs B"
    assert w["best_lo"][0] == pytest.approx(0.9) and w["runner_up_hi"][0] == pytest.approx(1.015 * 1.1)


def test_thirty_percent_faster_with_ten_percent_bands_is_a_winner():
    df = pd.DataFrame([row("A", 1.0, 0.10), row("B", 1.30, 0.10)])
    w = winners_table(df, ["workload.n"], ["placement"], ["latency_s"])
    assert w["separated"][0] and w["result"][0] == "A" and w["tied"][0] == ""


def test_tie_names_only_the_overlapping_entries():
    v = call_winner([("A", 1.0, 0.9, 1.1), ("B", 1.05, 0.95, 1.15), ("C", 2.0, 1.8, 2.2)])
    assert v["result"] == "tie (within error): A vs B" and v["tied"] == "A; B"
    # higher is better: the low end of the best must clear every other's high end
    assert call_winner([("A", 2.0, 1.9, 2.1), ("B", 1.0, 0.9, 1.1)], higher_is_better=True)["result"] == "A"
    assert not call_winner([("A", 2.0, 1.5, 2.5), ("B", 1.8, 1.6, 2.0)], higher_is_better=True)["separated"]


# ---------------------------------------------------------------- bands from the validated tolerances

def test_h100_row_band_is_the_tolerance_of_tolerances_yaml():
    # a 7-8B model on the H100: the held-out 7-8B family; a GPT-2 size model: the calibrated decode family
    for params, family in ((7.6e9, "baseline.h100.large"), (1.2e8, "baseline.h100")):
        for quantity in ("latency", "energy"):
            b = bands.device_band("h100-sxm", quantity, [params])
            assert (b.lo, b.hi) == pytest.approx(truth_band(f"{family}.{quantity}"))
            assert b.source == f"{family}.{quantity}"
    assert truth_band("baseline.h100.latency") == pytest.approx((1 / 1.1 - 1, 1 / 0.9 - 1))


def test_unmeasured_devices_get_blind_transfer_bounds_and_say_so():
    for device in ("t4", "a100-80gb"):
        b = bands.device_band(device, "energy", [1.2e8])
        assert (b.lo, b.hi) == pytest.approx(truth_band("baseline.h200.transfer.energy"))
        assert "transferred by rule" in b.source and "baseline.h200.transfer.energy" in b.source
    # a 72B model on the H100 is a regime nothing measured
    b = bands.device_band("h100-sxm", "latency", [72e9])
    assert (b.lo, b.hi) == pytest.approx(truth_band("baseline.h200.transfer.latency"))
    assert "no measured family" in b.source


def test_pim_band_is_fast_vs_exact_and_called_a_lower_bound():
    b = bands.pim_band("latency")
    assert (b.lo, b.hi) == pytest.approx(truth_band("system.fast_vs_exact"))
    assert "lower bound" in b.source and "no PIM hardware" in b.source
    assert "no measured hardware" in bands.__doc__.replace("\n", " ") or "no PIM hardware" in bands.__doc__


def test_mixed_band_is_share_weighted_from_the_parts():
    point = {"key": "k", "target": "mixed", "placement": "p", "device": "h100-sxm", "mapping": "pimgpt",
             "pim_roles": ["policy"], "hardware": {"label": "pim"},
             "workload": {"kind": "best-of-n", "policy": "qwen2.5-math-7b-instruct", "prm": "qwen2.5-math-prm-7b",
                          "n": 4, "question_tokens": 128, "steps": 2, "step_tokens": 16, "scoring": "single-pass"},
             "model": "policy+prm", "workload_label": "b"}
    r = {"latency_s": 4.0, "energy_j": 10.0, "counters.pim_latency_s": 3.0, "counters.device_latency_s": 1.0,
         "counters.pim_energy_j": 5.0, "breakdown_j.pim_idle_during_device": 1.0,
         "counters.device_energy_j": 3.0, "breakdown_j.device_idle_during_pim": 1.0}
    cols = band_columns(point, r)
    pim_lo, pim_hi = truth_band("system.fast_vs_exact")
    lat_lo, lat_hi = truth_band("baseline.h100.large.latency")  # the PRM (7B) runs on the H100
    en_lo, en_hi = truth_band("baseline.h100.large.energy")
    assert cols["latency_band_lo"] == pytest.approx(0.75 * pim_lo + 0.25 * lat_lo)
    assert cols["latency_band_hi"] == pytest.approx(0.75 * pim_hi + 0.25 * lat_hi)
    assert cols["energy_band_lo"] == pytest.approx(0.6 * pim_lo + 0.4 * en_lo)
    assert cols["energy_j_hi"] == pytest.approx(10.0 * (1 + 0.6 * pim_hi + 0.4 * en_hi))


# ---------------------------------------------------------------- unique series

def test_two_mappings_keep_two_distinct_placement_labels():
    points = [{"key": f"k{m}", "target": "pim", "placement": "all-pim", "mapping": m,
               "hardware": {"label": "pim-gpt-128ch"}} for m in ("pimgpt", "pimgpt_kv_fit")]
    points.append({"key": "kb", "target": "baseline", "placement": "all-gpu (h100)", "mapping": None,
                   "hardware": None})
    assert placement_labels(points) == {"kpimgpt": "all-pim (pimgpt)", "kpimgpt_kv_fit": "all-pim (pimgpt_kv_fit)",
                                        "kb": "all-gpu (h100)"}
    # a hand-made table whose labels collide: the mapping column keeps the two series apart
    df = pd.DataFrame([row("all-pim", 1.0, 0.03, "pimgpt"), row("all-pim", 2.0, 0.03, "pimgpt_kv_fit")])
    _, s = series_keys(df, ["workload.n"], ["placement"])
    assert list(s) == ["all-pim, mapping=pimgpt", "all-pim, mapping=pimgpt_kv_fit"]
    w = winners_table(df, ["workload.n"], ["placement"], ["latency_s"])
    assert w["result"][0] == "all-pim, mapping=pimgpt" and w["runner_up"][0] == "all-pim, mapping=pimgpt_kv_fit"


def test_rows_nothing_tells_apart_are_an_error_not_a_shadowed_bar():
    a, b = row("all-pim", 1.0, 0.03), row("all-pim", 2.0, 0.03)
    b["key"] = "other"
    with pytest.raises(ConfigError, match=r"plot p: 2 rows share group \(workload.n\) = '1' and series "
                                          r"\(placement\) = 'all-pim'.*distinct labels"):
        series_keys(pd.DataFrame([a, b]), ["workload.n"], ["placement"], "plot p")


# ---------------------------------------------------------------- plots draw the bands and mark ties

def test_bars_plot_error_bars_equal_the_table_bounds_and_mark_ties(tmp_path, monkeypatch):
    df = pd.DataFrame([row("A", 1.0, 0.10, n=1), row("B", 1.015, 0.10, n=1),
                       row("A", 1.0, 0.10, n=4), row("B", 1.30, 0.10, n=4)])
    df["latency_s_lo"] = df["latency_s"] * 0.9
    df["latency_s_hi"] = df["latency_s"] * 1.1
    captured = {}
    monkeypatch.setattr(plt, "close", lambda fig: captured.setdefault("fig", fig))
    spec = BarsPlot(kind="bars", group=["workload.n"], series=["placement"], y=["latency_s"], winners=True)
    plot_bars(df, spec, tmp_path, "p", "t")
    ax = captured["fig"].axes[0]
    drawn = {}
    for c in ax.containers:
        if hasattr(c, "errorbar") and c.errorbar is not None:
            segs = c.errorbar.lines[2][0].get_segments()
            drawn[c.get_label()] = [y for s in segs for y in (s[0][1], s[1][1])]
    for label in ("A", "B"):
        sub = df[df["placement"] == label]
        expected = [y for lo, hi in zip(sub["latency_s_lo"], sub["latency_s_hi"]) for y in (lo, hi)]
        assert drawn[label] == pytest.approx(expected)
    marks = {t.get_gid(): t.get_text() for t in ax.texts if t.get_gid()}
    assert marks == {"tie:1": "tie", "win:4": "win"}
    w = pd.read_csv(tmp_path / "p_winners.csv")
    assert list(w["result"]) == ["tie (within error): A vs B", "A"]
    assert np.allclose(w["best_hi"], [1.1, 1.1])


def test_points_that_share_every_label_are_rejected_before_running(tmp_path, cli):
    spec = tmp_path / "dup.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "dup", "description": "two hardware entries with one label", "models": ["gpt2-small"],
        "workloads": [{"kind": "generate", "prompt": 8, "generate": 4}],
        "hardware": [{"preset": "pimgpt-gddr6", "label": "pg"},
                     {"preset": "pimgpt-gddr6", "label": "pg", "overrides": {"dram": {"channels": 16}}}],
        "mappings": ["pimgpt"]}))
    out = tmp_path / "out"
    rc, _, err = cli("run", spec, "--out", out, "--quiet")
    assert rc == 2
    assert str(spec) in err and "the same labels (placement 'all-pim', hardware 'pg'" in err
    assert "distinct `label:`s" in err
    assert not out.exists()  # rejected before the first point ran


def test_speedup_table_bounds_pair_the_extreme_ends():
    from pimsim.experiments.tables import speedup_table

    common = {"model": "m", "workload": "w", "error": None, "e2e_latency_per_token_s": 0.1}
    df = pd.DataFrame([
        {**common, "key": "a", "target": "pim", "placement": "all-pim", "hardware": "hw", "mapping": "mp",
         "device": None, "mode": None, "latency_s": 2.0, "energy_j": 4.0, "latency_s_lo": 1.9, "latency_s_hi": 2.1,
         "energy_j_lo": 3.8, "energy_j_hi": 4.2},
        {**common, "key": "b", "target": "baseline", "placement": "gpu", "hardware": None, "mapping": None,
         "device": "h100-sxm", "mode": "graph", "latency_s": 8.0, "energy_j": 10.0, "latency_s_lo": 7.0,
         "latency_s_hi": 9.0, "energy_j_lo": 8.0, "energy_j_hi": 12.0}])
    t = speedup_table(df).iloc[0]
    assert t["speedup"] == 4.0
    assert (t["speedup_lo"], t["speedup_hi"]) == pytest.approx((7.0 / 2.1, 9.0 / 1.9))
    assert (t["energy_efficiency_lo"], t["energy_efficiency_hi"]) == pytest.approx((8.0 / 4.2, 12.0 / 3.8))
