"""Experiment features a reproduction needs (issue 13): pairing hardware and baselines with the models and
workloads they serve (`models:` / `workloads:` filters), tensor-parallel baselines (`num_devices`), the
throughput and power columns with their bands, and published points drawn beside the bars they match."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import yaml

from pimsim.baselines import run_baseline
from pimsim.errors import ConfigError
from pimsim.experiments import evaluate_point, expand_points, parse_experiment
from pimsim.experiments.points import load_point_workload
from pimsim.experiments.tables import metric_bounds, series_keys

SPEC = {
    "name": "pairing", "description": "pairing filters",
    "models": ["gpt2-small", "gpt2-medium"],
    "workloads": [{"label": "short", "kind": "generate", "prompt": 16, "generate": 4},
                  {"label": "long", "kind": "generate", "prompt": 64, "generate": 4, "batch": 2}],
    "hardware": [{"preset": "pimgpt-gddr6", "label": "small-only", "models": ["gpt2-small"]},
                 {"preset": "pimgpt-gddr6", "label": "long-only", "workloads": ["long"],
                  "overrides": {"asic": {"clock_ghz": 0.5}}}],
    "mappings": ["pimgpt"],
    "baselines": [{"device": "a100-80gb", "mode": "graph", "num_devices": 2, "models": ["gpt2-medium"]},
                  {"device": "t4", "mode": "framework", "workloads": ["short"]}],
}


def _points(spec=SPEC):
    return expand_points(parse_experiment(spec, "<t>"), "<t>")


def test_filters_keep_only_the_paired_points():
    got = sorted((p["target"], (p["hardware"] or {}).get("label") if p["hardware"] else p["placement"],
                  p["model"], p["workload_label"]) for p in _points())
    want = sorted(
        [("pim", "small-only", "gpt2-small", w) for w in ("short", "long")]          # models filter
        + [("pim", "long-only", m, "long") for m in ("gpt2-small", "gpt2-medium")]  # workloads filter
        + [("baseline", "a100-80gb x2 (graph)", "gpt2-medium", w) for w in ("short", "long")]
        + [("baseline", "t4 (framework)", m, "short") for m in ("gpt2-small", "gpt2-medium")])
    assert got == want


def test_a_mappings_filter_runs_only_those_mappings_on_that_hardware():
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    spec["mappings"] = ["pimgpt", "naive"]
    spec["hardware"][0]["mappings"] = ["naive"]
    got = {((p["hardware"] or {}).get("label"), p["mapping"]) for p in _points(spec) if p["target"] == "pim"}
    assert got == {("small-only", "naive"), ("long-only", "pimgpt"), ("long-only", "naive")}


@pytest.mark.parametrize("where, change, expect", [
    ("hardware", {"mappings": ["cent"]}, "hardware.0.mappings.0: 'cent' is not one of the experiment's mappings"),
    ("hardware", {"models": ["gpt9"]}, "hardware.0.models.0"),
    ("hardware", {"workloads": ["nope"]}, "hardware.0.workloads.0: no workload is labelled 'nope'"),
    ("baselines", {"models": ["gpt9"]}, "baselines.0.models.0"),
    ("baselines", {"workloads": ["nope"]}, "baselines.0.workloads.0"),
    ("baselines", {"num_devices": 0}, "num_devices"),
    ("baselines", {"device": "t4"}, "baselines.0.num_devices: 2 devices of t4 need an `interconnect:`"),
])
def test_bad_filters_name_the_field(where, change, expect):
    spec = yaml.safe_load(yaml.safe_dump(SPEC))
    spec[where][0].update(change)
    with pytest.raises(ConfigError) as e:
        _points(spec)
    assert expect in str(e.value)


def test_tensor_parallel_baseline_point_equals_run_baseline_and_columns_are_closed_forms():
    point = next(p for p in _points() if p.get("num_devices") == 2 and p["workload_label"] == "long")
    row = evaluate_point(point)
    wl = load_point_workload(point)
    ref = run_baseline(wl, "a100-80gb", "graph", 2)
    assert row["latency_s"] == ref.latency_s and row["energy_j"] == ref.energy_j
    # forward tokens: batch 2 x (prompt 64 + generate 4 - 1) = 134
    assert row["tokens_per_second"] == pytest.approx(134 / ref.latency_s, rel=1e-12)
    assert row["power_w"] == pytest.approx(ref.energy_j / ref.latency_s, rel=1e-12)
    single = next(p for p in _points() if p["placement"] == "t4 (framework)")
    assert "num_devices" not in single  # single-device keys are unchanged by the new field


def test_quotient_bands():
    df = pd.DataFrame({"tokens_per_second": [100.0], "power_w": [50.0], "latency_band_lo": [-0.1],
                       "latency_band_hi": [0.25], "energy_band_lo": [-0.2], "energy_band_hi": [0.1]})
    lo, hi = metric_bounds(df, "tokens_per_second")
    assert lo[0] == pytest.approx(100 / 1.25) and hi[0] == pytest.approx(100 / 0.9)
    lo, hi = metric_bounds(df, "power_w")
    assert lo[0] == pytest.approx(50 * 0.8 / 1.25) and hi[0] == pytest.approx(50 * 1.1 / 0.9)


def test_series_labels_leave_out_missing_values():
    df = pd.DataFrame({"hardware": ["CENT TP", None, math.nan], "placement": ["kv", "4 x A100", "t4"]})
    _, s = series_keys(df, ["placement"], ["hardware", "placement"])
    assert list(s) == ["CENT TP, kv", "4 x A100", "t4"]


def test_published_points_are_drawn_and_tabled(tmp_path):
    spec = parse_experiment({
        "name": "p", "description": "published", "models": ["gpt2-small"],
        "workloads": [{"kind": "generate", "prompt": 8, "generate": 2}], "pim": False,
        "baselines": [{"device": "t4", "mode": "graph"}, {"device": "h100-sxm", "mode": "graph"}],
        "plots": [{"kind": "bars", "name": "b", "group": ["model"], "series": ["placement"], "y": ["latency_s"],
                   "published": [
                       {"match": {"placement": "t4 (graph)"}, "metric": "latency_s", "value": 0.01, "source": "x"},
                       {"match": {"placement": "nowhere"}, "metric": "latency_s", "value": 1.0, "source": "y"}]}],
    }, "<t>")
    from pimsim.experiments import LocalExecutor, run_experiment

    run_experiment(spec, tmp_path, executor=LocalExecutor(1), progress=False)
    df = pd.read_csv(tmp_path / "results.csv")
    table = pd.read_csv(tmp_path / "b_published.csv")
    t4 = df[df["placement"] == "t4 (graph)"]["latency_s"].iloc[0]
    assert len(table) == 1 and table["pimsim"][0] == pytest.approx(t4)           # the unmatched point is skipped
    assert table["error"][0] == pytest.approx(t4 / 0.01 - 1) and table["source"][0] == "x"
    svg = (tmp_path / "b.svg").read_text()
    assert 'id="published:latency_s:0"' in svg and (tmp_path / "b.png").stat().st_size > 0
