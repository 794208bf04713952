"""The `pareto` plot kind (pimsim/experiments/plots.py): its front and verdicts against hand computations
and against an independent skyline sweep, the figure it draws, and its spec checked at load.

The hand cases are written down with their answers before the code ran on them:
- panel N=1, bands +/-5% on both metrics (relative band -0.05 / +0.05):
  A (1.0 s, 10 J), B (2.0 s, 5 J): a trade-off, both on the front;
  C (3.0 s, 20 J): A's bands [0.95, 1.05] x [9.5, 10.5] and B's [1.9, 2.1] x [4.75, 5.25] lie wholly below
  C's [2.85, 3.15] x [19, 21] -> "dominated", surely by A and B;
  D (1.02 s, 10.3 J): A dominates it on the central values, but A's upper bounds (1.05, 10.5) are not below
  D's lower bounds (0.969, 9.785) -> "dominated, within error", surely by nobody.
- panel N=4, zero-width bands: E (1 s, 1 J) and F (1 s, 1 J) tie exactly -> both on the front; G (1 s, 2 J)
  is dominated by both (same x, larger y) but not surely: x_hi(E) = 1 is not below x_lo(G) = 1.
"""

from __future__ import annotations

import random

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pimsim.errors import ConfigError  # noqa: E402
from pimsim.experiments import plots as plots_mod  # noqa: E402
from pimsim.experiments.spec import ParetoPlot, parse_experiment  # noqa: E402


def _row(key, n, placement, x, y, band):
    return {"key": key, "target": "system", "placement": placement, "hardware": "h100-aim", "mapping": placement,
            "model": "m", "workload": f"bon n={n}", "workload.n": n, "error": None,
            "latency_per_problem_s": x, "energy_per_problem_j": y,
            "latency_band_lo": -band, "latency_band_hi": band, "energy_band_lo": -band, "energy_band_hi": band}


def hand_frame() -> pd.DataFrame:
    rows = [_row("a", 1, "A", 1.0, 10.0, 0.05), _row("b", 1, "B", 2.0, 5.0, 0.05),
            _row("c", 1, "C", 3.0, 20.0, 0.05), _row("d", 1, "D", 1.02, 10.3, 0.05),
            _row("e", 4, "E", 1.0, 1.0, 0.0), _row("f", 4, "F", 1.0, 1.0, 0.0), _row("g", 4, "G", 1.0, 2.0, 0.0),
            {**_row("h", 4, "H", float("nan"), float("nan"), 0.0), "error": "CapacityError: does not fit"}]
    return pd.DataFrame(rows)


SPEC = ParetoPlot(kind="pareto", name="p", panels=["workload.n"], series=["placement"])


def test_hand_cases():
    t = pareto_table(hand_frame())
    got = {r.series: (r.on_front, r.verdict, set(filter(None, r.dominated_by.split("; "))),
                      set(filter(None, r.surely_dominated_by.split("; ")))) for r in t.itertuples()}
    assert got == {
        "A": (True, "front", set(), set()),
        "B": (True, "front", set(), set()),
        "C": (False, "dominated", {"A", "B", "D"}, {"A", "B", "D"}),
        "D": (False, "dominated, within error", {"A"}, set()),
        "E": (True, "front", set(), set()),
        "F": (True, "front", set(), set()),
        "G": (False, "dominated, within error", {"E", "F"}, set()),
    }
    # the failed point is not drawn; bounds are value x (1 + band)
    assert "H" not in set(t["series"])
    a = t[t["series"] == "A"].iloc[0]
    assert (a["x_lo"], a["x_hi"], a["y_lo"], a["y_hi"]) == pytest.approx((0.95, 1.05, 9.5, 10.5))
    # panels in order of N, points by latency within a panel
    assert list(t["workload.n"]) == [1, 1, 1, 1, 4, 4, 4]


def pareto_table(df):
    return plots_mod.pareto_table(df, SPEC)


def _skyline(points: list[tuple[float, float]]) -> set[int]:
    """Indices of the non-dominated points by the classic sweep (sort by x, then y; keep each point whose
    y is below every y seen so far): a different algorithm from the pairwise test in `pareto_table`.
    Only for points with distinct coordinates (the random cases below)."""
    order = sorted(range(len(points)), key=lambda i: points[i])
    best_y = float("inf")
    front = set()
    for i in order:
        if points[i][1] < best_y:
            front.add(i)
            best_y = points[i][1]
    return front


@pytest.mark.parametrize("seed", range(20))
def test_front_matches_independent_sweep(seed):
    rng = random.Random(seed)
    rows, pts = [], {}
    for n in (1, 16):
        pts[n] = [(rng.uniform(0.1, 10), rng.uniform(1, 100)) for _ in range(rng.randint(2, 9))]
        for j, (x, y) in enumerate(pts[n]):
            rows.append(_row(f"{n}-{j}", n, f"s{j}", x, y, 0.1))
    t = pareto_table(pd.DataFrame(rows))
    for n, p in pts.items():
        sub = t[t["workload.n"] == n]
        want = {f"s{i}" for i in _skyline(p)}
        assert set(sub.loc[sub["on_front"], "series"]) == want
        # surely dominated: brute force on the +/-10% bands, written out again
        for j, (x, y) in enumerate(p):
            sure = {f"s{k}" for k, (xk, yk) in enumerate(p) if k != j and xk * 1.1 < x * 0.9 and yk * 1.1 < y * 0.9}
            row = sub[sub["series"] == f"s{j}"].iloc[0]
            assert set(filter(None, row["surely_dominated_by"].split("; "))) == sure
            assert row["verdict"] == ("front" if f"s{j}" in want else "dominated" if sure else
                                      "dominated, within error")


def test_plot_writes_front_csv_winners_and_figure(tmp_path, monkeypatch):
    seen = {}
    real = plots_mod._save

    def keep(fig, out, name):
        seen[name] = fig
        lines = {ln.get_gid(): (list(ln.get_xdata()), list(ln.get_ydata())) for ax in fig.axes for ln in ax.lines
                 if (ln.get_gid() or "").startswith("front:")}
        seen["fronts"] = lines
        seen["titles"] = [ax.get_title() for ax in fig.axes if ax.get_title()]
        return real(fig, out, name)

    monkeypatch.setattr(plots_mod, "_save", keep)
    files = plots_mod.draw_plots(hand_frame(), [SPEC], tmp_path)
    names = sorted(p.name for p in files)
    assert names == ["p.png", "p.svg", "p_pareto.csv", "p_winners.csv"]
    # the dashed front of each panel joins exactly the front points, in latency order
    assert seen["fronts"]["front:workload.n=1"] == ([1.0, 2.0], [10.0, 5.0])
    assert seen["fronts"]["front:workload.n=4"] == ([1.0, 1.0], [1.0, 1.0])
    assert seen["titles"] == ["N 1", "N 4"]
    w = pd.read_csv(tmp_path / "p_winners.csv", dtype={"group": str})
    lat1 = w[(w["group"] == "1") & (w["metric"] == "latency_per_problem_s")].iloc[0]
    # N=1 latency: A (1.0, band up to 1.05) vs D (1.02, band from 0.969): overlapping -> a tie
    assert not lat1["separated"] and lat1["result"] == "tie (within error): A vs D"
    en1 = w[(w["group"] == "1") & (w["metric"] == "energy_per_problem_j")].iloc[0]
    # N=1 energy: B (5 J, up to 5.25) below every other's lower bound (A 9.5, D 9.785, C 19) -> B wins
    assert en1["separated"] and en1["result"] == "B"
    csv = pd.read_csv(tmp_path / "p_pareto.csv")
    assert list(csv["verdict"]) == list(pareto_table(hand_frame())["verdict"])


def test_where_keeps_matching_rows_only():
    df = hand_frame()
    spec = ParetoPlot(kind="pareto", panels=["workload.n"], where={"workload.n": 4})
    t = plots_mod.pareto_table(df, spec)
    assert set(t["series"]) == {"E", "F", "G"}


def test_spec_checks_pareto_columns():
    base = {"name": "e", "description": "d", "workloads": [{"kind": "generate", "prompt": 8, "generate": 8}],
            "models": ["gpt2-small"], "hardware": [{"preset": "pimgpt-gddr6"}]}
    parse_experiment({**base, "plots": [{"kind": "pareto", "panels": ["workload.batch"]}]})
    with pytest.raises(ConfigError, match="panels.*workload.nn"):
        parse_experiment({**base, "plots": [{"kind": "pareto", "panels": ["workload.nn"]}]})
    with pytest.raises(ConfigError, match="latency_per_problem"):
        parse_experiment({**base, "plots": [{"kind": "pareto", "x": "latency_per_problem"}]})
