"""The test-time-compute placement study (experiments/ttc_placement*.yaml, issue 14 item 5) end to end on
a cut of its own spec: the shipped file's system, mappings and plots, its 7B best-of-N workload cut to
N = 1, 16 and 2 steps of 16 tokens (fast), plus one point that cannot fit (N = 256 x 3840 tokens).

Checked against numbers computed here, not printed by the run:
- all-GPU (gpu-only on h100-aim) equals `pimsim baseline` on h100-sxm for the same workload in latency
  (docs/systems.md: exact), and its energy adds only the idle PIM's standby over that time;
- per-problem figures are the run's figures over its one problem;
- each verdict in the winners tables equals the argmin over the recorded per-problem column, and is a
  win exactly when the best's upper bound lies below every other placement's lower bound, else a tie
  naming every placement whose band overlaps the best's (written out again here from the CSV columns);
- the Pareto CSV's front equals the non-dominated set recomputed from results.csv;
- the point that does not fit is an error row naming the device and its capacity, and the run exits 0.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import yaml

from pimsim.experiments import LocalExecutor, run_experiment

REPO = Path(__file__).resolve().parents[1]
METRICS = ("latency_per_problem_s", "energy_per_problem_j")


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    data = yaml.safe_load((REPO / "experiments" / "ttc_placement.yaml").read_text())
    bon = next(w for w in data["workloads"] if w["kind"] == "best-of-n")
    data["workloads"] = [{**bon, "n": [1, 16], "steps": 2, "step_tokens": 16},
                         {**bon, "label": "too big", "n": 256, "steps": 8, "step_tokens": 480}]
    data["mappings"] = ["gpu-only", "attacc", "prefill-gpu"]
    # the shipped plots that the cut's columns can draw (beam and mc-annotate panels need their workloads)
    data["plots"] = [p for p in data["plots"] if p["name"] in ("best_of_n_pareto", "placement_winners")]
    assert len(data["plots"]) == 2
    d = tmp_path_factory.mktemp("ttc")
    spec = d / "ttc_placement.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    s = run_experiment(spec, d / "out", executor=LocalExecutor(1), progress=False, log=lambda m: None)
    assert not s.failed
    return d / "out", pd.read_csv(d / "out" / "results.csv"), bon


def test_every_point_recorded_and_the_oversized_one_as_capacity_error(study):
    out, df, _ = study
    assert len(df) == 9  # 3 workloads x 3 mappings
    big = df[df["workload"] == "too big"]
    assert len(big) == 3 and big["error"].notna().all()
    assert big["error"].str.startswith("CapacityError").all()
    assert big["error"].str.contains("does not fit device").all()
    assert df[df["workload"] != "too big"]["error"].isna().all()


def test_all_gpu_equals_the_baseline(study):
    from pimsim.baselines import run_baseline
    from pimsim.hardware import load_hardware
    from pimsim.hardware.system import load_system
    from pimsim.workloads import expand
    from pimsim.workloads.spec import workload_adapter

    _, df, bon = study
    system, _ = load_system("h100-aim")
    pim = system.devices["pim"]
    hw = load_hardware(pim.pim, overrides=pim.overrides or None)
    standby_w = hw.dram.channels * hw.energy.background_w_per_channel + hw.energy.asic_static_w
    for n in (1, 16):
        spec = workload_adapter.validate_python({**{k: v for k, v in bon.items() if k != "label"},
                                                 "n": n, "steps": 2, "step_tokens": 16})
        base = run_baseline(expand(spec, None), "h100-sxm", "graph")
        row = df[(df["placement"] == "gpu-only") & (df["workload.n"] == n)].iloc[0]
        # exact: the same baseline model on the same phases (docs/systems.md, tests/test_systems.py)
        assert row["latency_s"] == pytest.approx(base.latency_s, rel=1e-12)
        # energy: the baseline's + the idle PIM's standby for the whole run (rel 1e-9: float sums)
        assert row["energy_j"] == pytest.approx(base.energy_j + standby_w * base.latency_s, rel=1e-9)
        assert row["latency_per_problem_s"] == row["latency_s"] and row["energy_per_problem_j"] == row["energy_j"]


def _verdict(sub: pd.DataFrame, metric: str) -> tuple[str, bool, set[str]]:
    """(best placement, separated, placements tied with it) from results.csv's own columns."""
    q = "latency_s" if metric.startswith("latency") else "energy_j"
    # the per-problem bounds are the run's bounds over its one problem
    lo, hi = sub[f"{q}_lo"], sub[f"{q}_hi"]
    best = sub[metric].idxmin()
    others = sub.index[sub.index != best]
    tied = {sub.at[i, "placement"] for i in others if lo[i] <= hi[best]}
    return sub.at[best, "placement"], not tied, tied


def test_winners_are_the_argmin_and_ties_where_bands_overlap(study):
    out, df, _ = study
    ok = df[df["error"].isna()]
    w = pd.read_csv(out / "placement_winners_winners.csv")
    outcomes = set()
    for wl, sub in ok.groupby("workload"):
        for metric in METRICS:
            best, separated, tied = _verdict(sub, metric)
            row = w[(w["group"] == wl) & (w["metric"] == metric)].iloc[0]
            assert row["best"] == best and bool(row["separated"]) == separated
            if separated:
                assert row["result"] == best
            else:
                assert row["result"].startswith("tie (within error): " + best)
                assert set(row["tied"].split("; ")) == {best} | tied
            outcomes.add(separated)
    assert outcomes == {True, False}, "the cut should hold both a separated win and a tie"
    # the Pareto plot's winners table says the same per N
    pw = pd.read_csv(out / "best_of_n_pareto_winners.csv")
    assert len(pw) == 2 * len(METRICS)
    for _, row in pw.iterrows():
        n = float(row["group"].split(", ")[-1])
        sub = ok[ok["workload.n"] == n]
        best, separated, _ = _verdict(sub, row["metric"])
        assert row["best"] == best and bool(row["separated"]) == separated


def test_pareto_front_recomputed_from_results(study):
    out, df, _ = study
    ok = df[df["error"].isna()]
    front = pd.read_csv(out / "best_of_n_pareto_pareto.csv")
    for n, sub in ok.groupby("workload.n"):
        pts = {r.placement: (r.latency_per_problem_s, r.energy_per_problem_j) for r in sub.itertuples()}
        want = {p for p, (x, y) in pts.items()
                if not any((x2 <= x and y2 <= y and (x2, y2) != (x, y)) for q, (x2, y2) in pts.items() if q != p)}
        got = front[(front["workload.n"] == n) & front["on_front"]]["series"]
        assert set(got) == want
    assert (out / "best_of_n_pareto.png").exists() and (out / "best_of_n_pareto.svg").exists()
