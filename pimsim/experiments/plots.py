"""Plots of an experiment's results (matplotlib, Agg backend), each written as NAME.png and NAME.svg.

Kinds (`plots:` in the experiment file, see `pimsim.experiments.spec`):
- `speedup`: PIM vs each baseline per model, speedup and energy-efficiency bars on a log scale with the
  error band of each ratio as error bars, and published ranges drawn as shaded bands in the baseline's
  colour; also writes NAME.csv (the ratios and their bounds).
- `breakdown`: stacked share of PIM latency by category per model, non-VMM share printed above each
  bar (and a published reference, if given); also writes NAME.csv.
- `line`: metrics against a numeric column (a grid path such as `dram.channels`, `context`, or a
  `workload.<field>`), one line per series value (e.g. model), its error band shaded.
- `bars`: grouped bars, one panel per metric, each bar with its error band as an error bar; each group is
  marked "win" over its winner or "tie" when the bands do not separate (`tables.winners_table`);
  optionally NAME_winners.csv (the verdict per group and metric, with both sides' bounds).
Error bands: `pimsim.experiments.bands` (PIM's is fast/exact model error only, a lower bound). Every bar
and line is one row: series labels are made unique (`tables.series_keys`), never merged.
A point that failed (e.g. the model does not fit the PIM capacity) has no bar; the figure says so.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pimsim.experiments.spec import BarsPlot, BreakdownPlot, LinePlot, SpeedupPlot, plot_name  # noqa: E402
from pimsim.experiments.tables import (metric_bounds, ok_rows, series_keys, speedup_table,  # noqa: E402
                                      winners_table)

LABELS = {
    "latency_s": "latency (s)", "energy_j": "energy (J)", "e2e_latency_per_token_s": "end-to-end latency per token (s)",
    "ttft_s": "time to first token (s)", "tpot_s": "time per output token (s)",
    "energy_per_token_j": "energy per token (J)", "latency_per_problem_s": "time per problem (s)",
    "energy_per_problem_j": "energy per problem (J)", "row_hit_rate": "row-hit rate",
    "non_vmm_share": "non-VMM share", "speedup": "speedup (x)", "energy_efficiency": "energy efficiency (x)",
}
# metrics where larger is better (for winners)
HIGHER_IS_BETTER = {"row_hit_rate", "speedup", "energy_efficiency"}


def _save(fig, out: Path, name: str) -> list[Path]:
    paths = []
    for ext in ("png", "svg"):
        p = out / f"{name}.{ext}"
        fig.savefig(p, dpi=120, bbox_inches="tight")
        paths.append(p)
    plt.close(fig)
    return paths


def _model_order(df: pd.DataFrame) -> list[str]:
    return list(dict.fromkeys(df["model"]))


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def plot_speedup(df: pd.DataFrame, spec: SpeedupPlot, out: Path, name: str, title: str) -> list[Path]:
    table = speedup_table(df)
    written = []
    if not table.empty:
        table.to_csv(out / f"{name}.csv", index=False)
        written.append(out / f"{name}.csv")
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    if table.empty:
        for ax in axes:
            _empty(ax, "no PIM/baseline pair finished")
        return written + _save(fig, out, name)
    table = table.copy()
    multi_pim = table["hardware"].nunique() > 1 or table["mapping"].nunique() > 1
    table["bar"] = table["baseline"] + ((" / " + table["hardware"].astype(str) + " " + table["mapping"].astype(str))
                                        if multi_pim else "")
    table["cat"] = table["model"] + ((" / " + table["workload"].astype(str)) if table["workload"].nunique() > 1 else "")
    cat, bar = series_keys(table, ["cat"], ["bar"], f"plot {name}")
    table["cat"], table["bar"] = cat, bar
    models = list(dict.fromkeys(table["cat"]))
    bars = list(dict.fromkeys(table["bar"]))
    device_of = dict(zip(table["bar"], table["device"]))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    width = 0.8 / len(bars)
    x = np.arange(len(models))
    for ax, metric in zip(axes, ("speedup", "energy_efficiency")):
        banded = set()
        for j, bar in enumerate(bars):
            color = colors[j % len(colors)]
            sub = table[table["bar"] == bar].set_index("cat").reindex(models)
            v = sub[metric].astype(float).to_numpy()
            lo = sub[f"{metric}_lo"].astype(float).to_numpy() if f"{metric}_lo" in sub else v
            hi = sub[f"{metric}_hi"].astype(float).to_numpy() if f"{metric}_hi" in sub else v
            ax.bar(x + (j - (len(bars) - 1) / 2) * width, v, width, label=bar, color=color,
                   yerr=np.vstack([v - lo, hi - v]), capsize=2, error_kw={"elinewidth": 0.8})
            device = device_of[bar]
            band = spec.bands.get(device, {}).get(metric)
            if band and device not in banded:
                banded.add(device)
                ax.axhspan(band[0], band[1], color=color, alpha=0.15, lw=0,
                           label=f"published vs {device}: {band[0]:g}-{band[1]:g}x")
        ax.set_yscale("log")
        ax.set_xticks(x, models, rotation=30, ha="right")
        ax.set_ylabel(LABELS[metric])
        ax.grid(axis="y", which="both", alpha=0.3)
        ax.set_title(f"PIM {LABELS[metric]}")
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    return written + _save(fig, out, name)


def plot_breakdown(df: pd.DataFrame, spec: BreakdownPlot, out: Path, name: str, title: str) -> list[Path]:
    pim = ok_rows(df)
    pim = pim[pim["target"] == "pim"] if not pim.empty else pim
    fig, ax = plt.subplots(figsize=(11, 5))
    if pim.empty:
        _empty(ax, "no PIM point finished")
        return _save(fig, out, name)
    cols = [c for c in pim if c.startswith("breakdown_s.") and pim[c].fillna(0).gt(0).any()]
    label = pim["model"].astype(str)
    if pim["hardware"].nunique() > 1 or pim["mapping"].nunique() > 1:
        label = label + " / " + pim["hardware"].astype(str) + " " + pim["mapping"].astype(str)
    if pim["workload"].nunique() > 1:
        label = label + " / " + pim["workload"].astype(str)
    share = pim[cols].fillna(0.0).div(pim["latency_s"], axis=0) * 100
    share.index = label
    table = share.rename(columns=lambda c: c.split(".", 1)[1]).copy()
    table["non_vmm_share_pct"] = (pim["non_vmm_share"] * 100).to_numpy()
    table.to_csv(out / f"{name}.csv", index_label="point")
    bottom = np.zeros(len(share))
    x = np.arange(len(share))
    cmap = plt.get_cmap("tab20")
    for i, c in enumerate(cols):
        ax.bar(x, share[c], bottom=bottom, label=c.split(".", 1)[1], color=cmap(i % 20))
        bottom += share[c].to_numpy()
    for xi, (model, nv) in enumerate(zip(pim["model"], pim["non_vmm_share"])):
        text = f"non-VMM {nv * 100:.2f}%" if pd.notna(nv) else ""
        ref = spec.reference_non_vmm.get(model)
        if ref is not None:
            text += f"\n(paper {ref * 100:.2f}%)"
        ax.text(xi, min(bottom[xi], 100) + 1, text, ha="center", va="bottom", fontsize=6, rotation=90 if len(share) > 10 else 0)
    ax.set_xticks(x, list(share.index), rotation=30, ha="right")
    ax.set_ylabel("share of latency (%)")
    ax.set_ylim(0, 118)
    ax.legend(fontsize=7, ncol=2, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.set_title(title)
    return [out / f"{name}.csv"] + _save(fig, out, name)


def _missing_note(fig, df: pd.DataFrame) -> None:
    failed = df[df["error"].notna()] if "error" in df else df.iloc[0:0]
    if len(failed):
        fig.text(0.01, -0.02, f"{len(failed)} point(s) failed and are not drawn (see the error column of "
                 f"results.csv), e.g. {failed['error'].iloc[0][:110]}", fontsize=7, ha="left", va="top")


def plot_line(df: pd.DataFrame, spec: LinePlot, out: Path, name: str, title: str) -> list[Path]:
    fig, axes = plt.subplots(1, len(spec.y), figsize=(5.5 * len(spec.y), 4.2), squeeze=False)
    good = ok_rows(df)
    if spec.x in good:
        good = good[good[spec.x].notna()]
    for ax, metric in zip(axes[0], spec.y):
        if good.empty or spec.x not in good or metric not in good:
            _empty(ax, f"no finished point has {spec.x} and {metric}")
            continue
        _, series_key = series_keys(good, [spec.x], spec.series, f"plot {name}")
        lo_all, hi_all = metric_bounds(good, metric)
        for key in dict.fromkeys(series_key):
            sub = good[series_key == key].sort_values(spec.x)
            y = sub[metric].astype(float).to_numpy()
            lo, hi = lo_all[sub.index].to_numpy(), hi_all[sub.index].to_numpy()
            if spec.normalize and len(y) and y[0]:
                lo, hi, y = lo / y[0], hi / y[0], y / y[0]
            xs = sub[spec.x].astype(float).to_numpy()
            (line,) = ax.plot(xs, y, marker="o", label=key)
            if np.any(hi > lo):
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15, lw=0, gid=f"band:{key}")
        ax.set_xlabel(spec.x)
        ax.set_ylabel(LABELS.get(metric, metric) + (" (relative to first x)" if spec.normalize else ""))
        if spec.logx:
            ax.set_xscale("log", base=2)
        if spec.logy:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    _missing_note(fig, df)
    return _save(fig, out, name)


def _errbar(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """matplotlib's yerr (distances below and above) of values v with bounds lo, hi (NaN: no bar)."""
    return np.nan_to_num(np.vstack([v - lo, hi - v]), nan=0.0)


def plot_bars(df: pd.DataFrame, spec: BarsPlot, out: Path, name: str, title: str) -> list[Path]:
    fig, axes = plt.subplots(1, len(spec.y), figsize=(6 * len(spec.y), 4.6), squeeze=False)
    good = ok_rows(df)
    written: list[Path] = []
    needed = spec.group + spec.series
    if good.empty or any(c not in good for c in needed):
        for ax in axes[0]:
            _empty(ax, "no finished point")
        return _save(fig, out, name)
    group_key, series_key = series_keys(good, spec.group, spec.series, f"plot {name}")
    groups = list(dict.fromkeys(group_key))
    series = list(dict.fromkeys(series_key))
    width = 0.8 / len(series)
    x = np.arange(len(groups))
    metrics = [m for m in spec.y if m in good]
    verdicts = winners_table(good, spec.group, spec.series, metrics, HIGHER_IS_BETTER, f"plot {name}")
    for ax, metric in zip(axes[0], spec.y):
        if metric not in good:
            _empty(ax, f"no column {metric}")
            continue
        lo, hi = metric_bounds(good, metric)
        table = pd.DataFrame({"g": group_key, "s": series_key, "v": good[metric].astype(float), "lo": lo,
                              "hi": hi})
        for j, s in enumerate(series):
            sub = table[table["s"] == s].set_index("g").reindex(groups)
            v = sub["v"].to_numpy()
            ax.bar(x + (j - (len(series) - 1) / 2) * width, v, width, label=s,
                   yerr=_errbar(v, sub["lo"].to_numpy(), sub["hi"].to_numpy()), capsize=2,
                   error_kw={"elinewidth": 0.8, "gid": f"band:{s}"})
        ax.set_xticks(x, groups, rotation=30, ha="right")
        ax.set_ylabel(LABELS.get(metric, metric))
        if spec.logy and metric != "row_hit_rate":
            ax.set_yscale("log")
        ax.grid(axis="y", alpha=0.3)
        mine = verdicts[verdicts["metric"] == metric] if not verdicts.empty else verdicts
        for _, v in mine.iterrows():
            gi = groups.index(v["group"])
            top = table.loc[table["g"] == v["group"], ["v", "hi"]].max().max()
            if v["separated"]:
                xi = x[gi] + (series.index(v["best"]) - (len(series) - 1) / 2) * width
                ax.annotate("win", (xi, v["best_hi"]), ha="center", va="bottom", fontsize=7, color="green",
                            gid=f"win:{v['group']}")
            else:
                ax.annotate("tie", (x[gi], top), ha="center", va="bottom", fontsize=7, color="gray",
                            gid=f"tie:{v['group']}")
    axes[0][0].legend(fontsize=7)
    fig.suptitle(title)
    fig.text(0.01, 1.0, "error bars: validated tolerance bands (PIM: fast/exact model error only, a lower "
             "bound); win = bands separate, tie = within error", fontsize=7, ha="left", va="bottom")
    _missing_note(fig, df)
    if spec.winners and not verdicts.empty:
        verdicts.to_csv(out / f"{name}_winners.csv", index=False)
        written.append(out / f"{name}_winners.csv")
    return written + _save(fig, out, name)


_DRAW = {"speedup": plot_speedup, "breakdown": plot_breakdown, "line": plot_line, "bars": plot_bars}


def draw_plots(df: pd.DataFrame, plots: list, out: str | Path, experiment: str = "") -> list[Path]:
    """Draw every plot of `plots` (spec objects) from the results frame; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i, spec in enumerate(plots):
        name = plot_name(spec, i)
        written += _DRAW[spec.kind](df, spec, out, name, f"{experiment}: {name}" if experiment else name)
    return written
