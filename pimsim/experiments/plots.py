"""Plots of an experiment's results (matplotlib, Agg backend), each written as NAME.png and NAME.svg.

Kinds (`plots:` in the experiment file, see `pimsim.experiments.spec`):
- `speedup`: PIM vs each baseline per model, speedup and energy-efficiency bars rising from 1x (parity),
  with the error band of each ratio as error bars and each published range as its own hatched band and
  legend entry in the baseline's colour; also writes NAME.csv (the ratios and their bounds).
- `breakdown`: stacked share of PIM latency by category per model, non-VMM share printed above each
  bar (and a published reference, if given); also writes NAME.csv.
- `line`: metrics against a numeric column (a grid path such as `dram.channels`, `context`, or a
  `workload.<field>`), one line per series value (e.g. model), its error band shaded. `normalize`
  divides every line by its value at one common x (the smallest x every line has) and draws the ideal
  linear-scaling line where x is a resource (`IDEAL_SCALING`).
- `bars`: grouped bars, one panel per metric, each bar with its error band as an error bar; each group is
  marked "win" over its winner or "tie" when the bands do not separate (`tables.winners_table`);
  optionally NAME_winners.csv (the verdict per group and metric, with both sides' bounds). A unitless
  metric whose values cluster (row-hit rates) is drawn as points on a zoomed axis, not as bars.
- `pareto`: latency (x) against energy (y) per point, both with their error bands as error bars, one
  panel per value of `panels` (the rows competing on one front, e.g. one best-of-N problem size), one
  colour per `series`; the Pareto front (`pareto_table`) joined by a line, points dominated beyond their
  bands hollow; writes NAME_pareto.csv (each point's front verdict) and NAME_winners.csv (per panel and
  axis metric, the winner only where the bands separate, `tables.winners_table`).
Style (colours, printed labels, axis choice, captions, deterministic files): `pimsim.experiments.style`.
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
from matplotlib.colors import to_rgb  # noqa: E402
import pandas as pd  # noqa: E402

from pimsim.experiments import style  # noqa: E402
from pimsim.experiments.spec import (BarsPlot, BreakdownPlot, LinePlot, ParetoPlot, SpeedupPlot,  # noqa: E402
                                     plot_name)
from pimsim.experiments.tables import (metric_bounds, ok_rows, series_keys, speedup_table,  # noqa: E402
                                      winners_table)

LABELS = {m: style.axis_label(m) for m in style.METRIC_NAMES}
# metrics where larger is better (for winners)
HIGHER_IS_BETTER = {"row_hit_rate", "speedup", "energy_efficiency", "tokens_per_second"}
# x columns along which a latency ideally scales as 1/x (double the resource, halve the time)
IDEAL_SCALING = {"dram.channels", "asic.clock_ghz", "link.bytes_per_cycle"}
BAND_HATCHES = ("////", "\\\\\\\\", "xx", "..")
ERRORBAR_NOTE = ("Error bars: validated tolerance bands (PIM: fast/exact model error only, a lower bound); "
                 "win = bands separate, tie = within error.")


def _save(fig, out: Path, name: str) -> list[Path]:
    return style.save_figure(fig, out, name)


def _figure(ncols: int, width_in: float, height_in: float, notes: list[str] = ()):
    """(figure, axes, body): `ncols` panels in `body` (the sub-figure holding title, panels and legend)
    above a strip holding the `notes`, sized to their wrapped text, so no note is covered or cut off."""
    fig, axes, body = _grid_figure(1, ncols, width_in, height_in, notes)
    return fig, axes[0], body


def _title(fig, headline: str, df: pd.DataFrame) -> None:
    """Headline and a caption line (model, workload, system, mapping), wrapped to the figure width."""
    fig.suptitle(style.wrap(headline, fig, 10.5) + "\n" + style.wrap(style.caption(df), fig, 10.5),
                 fontsize=10.5)


def _legend(fig, axes, extra: list | None = None) -> None:
    """One figure legend outside every axes (below them), entries in drawing order, each label once."""
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels and not lab.startswith("_"):
                handles.append(h)
                labels.append(lab)
    for h, lab in extra or []:
        handles.append(h)
        labels.append(lab)
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith("published"))  # data first
    handles, labels = [handles[i] for i in order], [labels[i] for i in order]
    if handles:
        ncol = max(1, min(len(handles), int(fig.figure.get_figwidth() // 3.4)))
        fig.legend(handles, labels, loc="outside lower center", ncol=ncol, fontsize=8, frameon=False)


def _empty(ax, text: str) -> None:
    ax.text(0.5, 0.5, style.wrap(text, ax.figure, 9), ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()


def _pim_system(df: pd.DataFrame) -> str | None:
    hw = list(dict.fromkeys(df.loc[df["target"].isin(["pim", "mixed"]), "hardware"].dropna())) \
        if {"target", "hardware"} <= set(df) else []
    return hw[0] if len(hw) == 1 else None


def _same_results_note(df: pd.DataFrame) -> str:
    """Models whose PIM rows give identical latency and energy, with why when their shapes agree."""
    pim = ok_rows(df)
    if pim.empty or "target" not in pim:
        return ""
    pim = pim[pim["target"] == "pim"]
    if pim.empty:
        return ""
    groups = pim.groupby(["latency_s", "energy_j"], dropna=True)["model"].unique()
    notes = []
    for models in groups:
        models = list(dict.fromkeys(models))
        if len(models) < 2:
            continue
        why = ""
        try:
            from pimsim.models import load_model

            cfgs = [load_model(m) for m in models]
            shape = ("layers", "hidden", "heads", "ffn", "vocab")
            if all(all(getattr(c, f) == getattr(cfgs[0], f) for f in shape) for c in cfgs):
                c = cfgs[0]
                why = (f": the same layer shapes ({c.layers} layers, hidden {c.hidden}, {c.heads} heads, "
                       f"FFN {c.ffn}, vocabulary {c.vocab})")
        except Exception:  # noqa: BLE001 - a model file gone since the run: state the fact only
            why = ""
        notes.append(" and ".join(style.MODEL_NAMES.get(m, m) for m in models) + " give identical results" + why)
    return ("; ".join(notes) + ".") if notes else ""


def _bar_offsets(n: int) -> tuple[np.ndarray, float]:
    width = 0.8 / max(n, 1)
    return (np.arange(n) - (n - 1) / 2) * width, width


def plot_speedup(df: pd.DataFrame, spec: SpeedupPlot, out: Path, name: str, title: str) -> list[Path]:
    table = speedup_table(df)
    written = []
    if not table.empty:
        table.to_csv(out / f"{name}.csv", index=False)
        written.append(out / f"{name}.csv")
    notes = ["Bars rise from 1x (parity); error bars pair the baseline's validated band with PIM's (PIM: "
             "fast/exact model error only, a lower bound). Published ranges: the PIM-GPT paper.",
             _same_results_note(df)]
    fig, axes, body = _figure(2, 13, 6.4, notes if not table.empty else [])
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
    baseline_of = dict(zip(table["bar"], table["baseline"]))
    device_of = dict(zip(table["bar"], table["device"]))
    shades = style.colors_for(baseline_of[b] for b in bars)
    colour = {b: shades[baseline_of[b]] for b in bars}
    offsets, width = _bar_offsets(len(bars))
    x = np.arange(len(models))
    pim_sys = _pim_system(df)
    for ax, metric in zip(axes, ("speedup", "energy_efficiency")):
        plotted = []
        for j, b in enumerate(bars):
            sub = table[table["bar"] == b].set_index("cat").reindex(models)
            v = sub[metric].astype(float).to_numpy()
            lo = sub[f"{metric}_lo"].astype(float).to_numpy() if f"{metric}_lo" in sub else v
            hi = sub[f"{metric}_hi"].astype(float).to_numpy() if f"{metric}_hi" in sub else v
            label = style.label_of(baseline_of[b], pim_sys)
            if multi_pim:
                label += " / " + b[len(baseline_of[b]) + 3:]
            # bars rise (or fall) from 1x, parity, never from the axis floor
            ax.bar(x + offsets[j], v - 1.0, width, bottom=1.0, label=f"over {label}", color=colour[b],
                   yerr=_errbar(v, lo, hi), capsize=2, error_kw={"elinewidth": 0.8, "gid": f"band:{b}"})
            plotted += [*v, *lo, *hi]
        banded = []
        for k, (device, metric_bands) in enumerate(spec.bands.items()):
            band = metric_bands.get(metric)
            if not band:
                continue
            c = style.DEVICE_COLOR.get(device, style.color_of(device))
            ax.axhspan(band[0], band[1], facecolor=(*to_rgb(c), 0.16), edgecolor=c, lw=1.0,
                       hatch=BAND_HATCHES[k % len(BAND_HATCHES)], gid=f"published:{device}",
                       label=f"published PIM-GPT {style.METRIC_NAMES[metric]} over "
                             f"{style.DEVICE_NAMES.get(device, device)}: {band[0]:g}-{band[1]:g}x")
            banded += list(band)
        ax.axhline(1.0, color="black", lw=0.8, gid="parity")
        values = [p for p in plotted + banded if np.isfinite(p)]
        scale = style.choose_scale(values + [1.0])
        scale = "linear" if scale == "zoom" else scale
        style.apply_scale(ax, scale, style.padded_limits(values, scale, include=[1.0]), ratio=True)
        if scale == "log":  # a 10^0 tick on every log ratio axis
            ticks = [t for t in ax.get_yticks() if ax.get_ylim()[0] <= t <= ax.get_ylim()[1]]
            if 1.0 not in ticks:
                ax.set_yticks(sorted(ticks + [1.0]))
        ax.set_xticks(x, [style.label_of(m) for m in models], rotation=30, ha="right")
        ax.set_ylabel(style.axis_label(metric) + ", PIM over baseline")
        ax.grid(axis="y", which="major", alpha=0.3)
        ax.set_title(f"{style.METRIC_NAMES[metric]} of {style.label_of('all-pim', pim_sys)}")
    _legend(body, axes)
    _title(body, f"{style.label_of('all-pim', pim_sys)}: speedup and energy efficiency over GPU/CPU baselines", df)
    return written + _save(fig, out, name)


def plot_breakdown(df: pd.DataFrame, spec: BreakdownPlot, out: Path, name: str, title: str) -> list[Path]:
    pim = ok_rows(df)
    pim = pim[pim["target"] == "pim"] if not pim.empty else pim
    fig, (ax,), body = _figure(1, 12, 5.6)
    if pim.empty:
        _empty(ax, "no PIM point finished")
        return _save(fig, out, name)
    cols = [c for c in pim if c.startswith("breakdown_s.") and pim[c].fillna(0).gt(0).any()]
    label = pim["model"].astype(str).map(lambda m: style.label_of(m))
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
    for c in cols:
        cat = c.split(".", 1)[1]
        ax.bar(x, share[c], bottom=bottom, label=cat.replace("_", " "),
               color=style.CATEGORY_COLOR.get(cat, style.color_of(cat)))
        bottom += share[c].to_numpy()
    for xi, (model, nv) in enumerate(zip(pim["model"], pim["non_vmm_share"])):
        text = f"non-VMM {nv * 100:.2f}%" if pd.notna(nv) else ""
        ref = spec.reference_non_vmm.get(model)
        if ref is not None:
            text += f"\n(paper {ref * 100:.2f}%)"
        ax.text(xi, min(bottom[xi], 100) + 1, text, ha="center", va="bottom", fontsize=6,
                rotation=90 if len(share) > 10 else 0)
    ax.set_xticks(x, list(share.index), rotation=30, ha="right")
    ax.set_ylabel("share of latency (%)")
    ax.set_ylim(0, 118)
    _legend(body, [ax])
    _title(body, f"Where the time goes on {style.label_of('all-pim', _pim_system(df))}", df)
    return [out / f"{name}.csv"] + _save(fig, out, name)


def _missing_note(df: pd.DataFrame) -> str:
    failed = df[df["error"].notna()] if "error" in df else df.iloc[0:0]
    if not len(failed):
        return ""
    return (f"{len(failed)} point(s) failed and are not drawn (see the error column of results.csv), e.g. "
            f"{_clip(str(failed['error'].iloc[0]), 240)}")


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rsplit(" ", 1)[0] + " ..."


def _reference_x(good: pd.DataFrame, x: str, keys: pd.Series) -> float | None:
    """The smallest x that every series has (one normalisation point for all lines); None if none."""
    common = None
    for key in dict.fromkeys(keys):
        xs = set(good.loc[keys == key, x].astype(float))
        common = xs if common is None else common & xs
    return min(common) if common else None


def plot_line(df: pd.DataFrame, spec: LinePlot, out: Path, name: str, title: str) -> list[Path]:
    good = ok_rows(df)
    if spec.x in good:
        good = good[good[spec.x].notna()]
    notes = ["Shaded: validated tolerance band (PIM: fast/exact model error only, a lower bound).",
             _missing_note(df)]
    if spec.normalize and spec.x in good and not good.empty and _reference_x(
            good, spec.x, series_keys(good, [spec.x], spec.series, f"plot {name}")[1]) is None:
        notes.insert(0, "The lines share no x value: each is normalised to its own first point.")
    fig, axes, body = _figure(len(spec.y), max(5.6 * len(spec.y), 8.0), 5.4, notes)
    pim_sys = _pim_system(df) if "target" in df else None
    notes = []
    x_words = style.FIELD_NAMES.get(spec.x, spec.x)
    for ax, metric in zip(axes, spec.y):
        if good.empty or spec.x not in good or metric not in good:
            _empty(ax, f"no finished point has {spec.x} and {metric}")
            continue
        _, series_key = series_keys(good, [spec.x], spec.series, f"plot {name}")
        keys = list(dict.fromkeys(series_key))
        colours = style.colors_for(keys)
        lo_all, hi_all = metric_bounds(good, metric)
        ref_x = _reference_x(good, spec.x, series_key) if spec.normalize else None
        plotted, xs_all = [], []
        for key in keys:
            sub = good[series_key == key].sort_values(spec.x)
            y = sub[metric].astype(float).to_numpy()
            lo, hi = lo_all[sub.index].to_numpy(), hi_all[sub.index].to_numpy()
            xs = sub[spec.x].astype(float).to_numpy()
            if spec.normalize and len(y):
                at = np.flatnonzero(xs == ref_x) if ref_x is not None else np.array([0])
                base = y[at[0]] if len(at) and y[at[0]] else None
                if base:
                    lo, hi, y = lo / base, hi / base, y / base
            (line,) = ax.plot(xs, y, marker="o", label=style.label_of(key, pim_sys), color=colours[key])
            if np.any(hi > lo):
                ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.15, lw=0, gid=f"band:{key}")
            plotted += [*y, *lo, *hi]
            xs_all += list(xs)
        include = []
        relative_to = None
        if spec.normalize:
            include = [1.0]
            relative_to = (f"{ref_x:g} {x_words}" if spec.x == "dram.channels" and ref_x is not None
                           else f"{x_words} = {ref_x:g}" if ref_x is not None else f"each line's first {x_words}")
            if spec.x in IDEAL_SCALING and style.metric_unit(metric) == "s" and ref_x is not None:
                xi = np.array(sorted(set(xs_all)))
                ax.plot(xi, ref_x / xi, ls="--", color="black", lw=1, label="ideal linear scaling", gid="ideal")
                plotted += list(ref_x / xi)
        ax.set_xlabel(x_words)
        ax.set_ylabel(style.axis_label(metric, relative_to=relative_to))
        values = [v for v in plotted if np.isfinite(v)]
        scale = style.choose_scale(values + include, force_log=spec.logy)
        style.apply_scale(ax, scale, style.padded_limits(values, "log" if scale == "log" else "zoom", include),
                          unit="" if spec.normalize else style.metric_unit(metric), ratio=spec.normalize)
        if spec.logx and min(xs_all, default=0) > 0:
            from matplotlib.ticker import FuncFormatter, NullFormatter

            ax.set_xscale("log", base=2)
            ax.set_xticks(sorted(set(xs_all)))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(NullFormatter())
        ax.grid(alpha=0.3)
        ax.set_title(style.METRIC_NAMES.get(metric, metric))
    _legend(body, axes)
    what = " and ".join(style.METRIC_NAMES.get(m, m) for m in spec.y)
    _title(body, f"{what[:1].upper() + what[1:]} against {x_words}" + (" (relative)" if spec.normalize else ""), df)
    return _save(fig, out, name)


def _errbar(v: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """matplotlib's yerr (distances below and above) of values v with bounds lo, hi (NaN: no bar)."""
    return np.nan_to_num(np.vstack([v - lo, hi - v]), nan=0.0)


def plot_bars(df: pd.DataFrame, spec: BarsPlot, out: Path, name: str, title: str) -> list[Path]:
    good = ok_rows(df)
    notes = [ERRORBAR_NOTE, _same_results_note(good) if spec.group == ["model"] else "", _missing_note(df)]
    fig, axes, body = _figure(len(spec.y), max(5.6 * len(spec.y), 8.0), 5.6, notes)
    written: list[Path] = []
    needed = spec.group + spec.series
    if good.empty or any(c not in good for c in needed):
        for ax in axes:
            _empty(ax, "no finished point")
        return _save(fig, out, name)
    group_key, series_key = series_keys(good, spec.group, spec.series, f"plot {name}")
    groups = list(dict.fromkeys(group_key))
    series = list(dict.fromkeys(series_key))
    colours = style.colors_for(series)
    pim_sys = _pim_system(good) if "target" in good else None
    offsets, width = _bar_offsets(len(series))
    x = np.arange(len(groups))
    metrics = [m for m in spec.y if m in good]
    verdicts = winners_table(good, spec.group, spec.series, metrics, HIGHER_IS_BETTER, f"plot {name}")
    published_rows: list[dict] = []
    for ax, metric in zip(axes, spec.y):
        if metric not in good:
            _empty(ax, f"no column {metric}")
            continue
        lo, hi = metric_bounds(good, metric)
        table = pd.DataFrame({"g": group_key, "s": series_key, "v": good[metric].astype(float), "lo": lo,
                              "hi": hi})
        values = [v for v in pd.concat([table["v"], table["lo"], table["hi"]]) if np.isfinite(v)]
        unit = style.metric_unit(metric)
        scale = style.choose_scale(values, force_log=spec.logy and metric != "row_hit_rate")
        if scale == "zoom" and unit:
            scale = "linear"  # a quantity with a unit keeps its zero: bar lengths are values
        for j, s in enumerate(series):
            sub = table[table["s"] == s].set_index("g").reindex(groups)
            v = sub["v"].to_numpy()
            err = _errbar(v, sub["lo"].to_numpy(), sub["hi"].to_numpy())
            if scale == "zoom":  # clustered values: points, since a bar on a cut axis misstates its length
                ax.errorbar(x + offsets[j], v, yerr=err, fmt="o", ms=5, color=colours[s], capsize=2,
                            label=style.label_of(s, pim_sys), gid=f"band:{s}")
            else:
                ax.bar(x + offsets[j], v, width, label=style.label_of(s, pim_sys), color=colours[s], yerr=err,
                       capsize=2, error_kw={"elinewidth": 0.8, "gid": f"band:{s}"})
        marks = _published_marks(good, spec, metric, group_key, series_key, groups, series)
        for k, (gi, sj, point, value) in enumerate(marks):
            ax.plot(x[gi] + offsets[sj], point.value, marker="D", ms=6, ls="none", color="black",
                    markerfacecolor="white", label="published" if k == 0 else None, gid=f"published:{metric}:{k}")
            published_rows.append({"metric": metric, "group": groups[gi], "series": series[sj], "pimsim": value,
                                   "published": point.value, "error": value / point.value - 1,
                                   "source": point.source})
        values += [m[2].value for m in marks]
        limits = style.padded_limits(values, scale)
        mine = verdicts[verdicts["metric"] == metric] if not verdicts.empty else verdicts
        if len(mine):  # headroom for the win/tie marks above the bars
            limits = (limits[0], limits[1] * 1.6 if scale == "log" else limits[1] + (limits[1] - limits[0]) * 0.08)
        style.apply_scale(ax, scale, limits, unit="%" if metric == "row_hit_rate" else unit)
        ax.set_xticks(x, [style.label_of(g) for g in groups], rotation=30, ha="right")
        ax.set_ylabel(style.axis_label(metric) + (" (zoomed: axis does not start at 0)" if scale == "zoom" else ""))
        ax.grid(axis="y", alpha=0.3)
        ax.set_title(style.METRIC_NAMES.get(metric, metric))
        for _, v in mine.iterrows():
            gi = groups.index(v["group"])
            top = table.loc[table["g"] == v["group"], ["v", "hi"]].max().max()
            if v["separated"]:
                xi = x[gi] + offsets[series.index(v["best"])]
                ax.annotate("win", (xi, v["best_hi"]), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7, color="green", gid=f"win:{v['group']}")
            else:
                ax.annotate("tie", (x[gi], top), xytext=(0, 2), textcoords="offset points", ha="center",
                            va="bottom", fontsize=7, color="gray", gid=f"tie:{v['group']}")
    _legend(body, axes)
    names = [style.METRIC_NAMES.get(m, m) for m in spec.y]
    what = ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1]
    by = " and ".join(style.FIELD_NAMES.get(s, s) for s in spec.series)
    _title(body, f"{what[:1].upper() + what[1:]} by {by}", good)
    if spec.winners and not verdicts.empty:
        verdicts.to_csv(out / f"{name}_winners.csv", index=False)
        written.append(out / f"{name}_winners.csv")
    if spec.published:
        cols = ["metric", "group", "series", "pimsim", "published", "error", "source"]
        pd.DataFrame(published_rows, columns=cols).to_csv(out / f"{name}_published.csv", index=False)
        written.append(out / f"{name}_published.csv")
    return written + _save(fig, out, name)


def _published_marks(good: pd.DataFrame, spec: BarsPlot, metric: str, group_key: pd.Series,
                     series_key: pd.Series, groups: list, series: list) -> list[tuple[int, int, object, float]]:
    """(group index, series index, point, pimsim's value) for every bar a published point of `metric`
    matches (all its `match` columns equal, compared as text); a point matching no finished bar is skipped."""
    out = []
    for point in spec.published:
        if point.metric != metric:
            continue
        mask = pd.Series(True, index=good.index)
        for col, want in point.match.items():
            mask &= good[col].astype(str) == str(want) if col in good else False
        for i in good.index[mask]:
            out.append((groups.index(group_key[i]), series.index(series_key[i]), point, float(good.at[i, metric])))
    return out


def _panel_value(v) -> str:
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return f"{float(v):g}"
    return str(v)


def _sort_value(v):
    """Sort key of a panel column's value: numbers by value before strings, strings by text."""
    if isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool):
        return (0, float(v), "")
    return (1, 0.0, str(v))


# short panel-title words of the columns a Pareto plot's panels are usually cut by
PANEL_WORDS = {"workload.n": "N", "workload.step_tokens": "step tokens", "workload.beam_width": "beam width",
               "workload.rollouts": "rollouts", "workload.scoring": "scoring", "workload.steps": "steps"}
# printed names of the placements a system's shipped mappings make (docs/systems.md); others: style.label_of
SYSTEM_PLACEMENT_NAMES = {"gpu-only": "all on GPU (gpu-only)", "attacc": "AttAcc: attention on PIM (attacc)",
                          "prefill-gpu": "prefill + PRM on GPU, decode on PIM (prefill-gpu)",
                          "pimgpt_kv_fit": "all on PIM (pimgpt_kv_fit)", "pimgpt_vsplit": "all on PIM (pimgpt_vsplit)",
                          "pimgpt": "all on PIM (pimgpt)"}


def _field_words(col: str) -> str:
    """A column as a panel title prints it: `PANEL_WORDS`, else the field without `workload.`."""
    return PANEL_WORDS.get(col, col.removeprefix("workload.").replace("_", " "))


def _series_words(series: str, pim_sys: str | None) -> str:
    return SYSTEM_PLACEMENT_NAMES.get(series, style.label_of(series, pim_sys))


def pareto_rows(df: pd.DataFrame, spec: ParetoPlot) -> pd.DataFrame:
    """The finished rows a `pareto` plot draws: `where` applied (column equals value), rows without a
    value in a `panels` column or a finite positive x or y left out (another workload's rows)."""
    good = ok_rows(df)
    if good.empty:
        return good
    for col, value in spec.where.items():
        if col not in good:
            return good.iloc[0:0]
        good = good[good[col] == value]
    for col in [*spec.panels, spec.x, spec.y]:
        if col not in good:
            return good.iloc[0:0]
        good = good[good[col].notna()]
    x, y = good[spec.x].astype(float), good[spec.y].astype(float)
    return good[np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)]


def pareto_table(df: pd.DataFrame, spec: ParetoPlot, where: str = "pareto") -> pd.DataFrame:
    """One row per drawn point: its panel, series, x and y with their bands (`tables.metric_bounds`), and
    its place on its panel's Pareto front (both metrics lower-is-better):
    - `on_front`: no other point of the panel dominates it, i.e. none has x_j <= x_i and y_j <= y_i with
      one of them strictly smaller (ties in both keep both on the front);
    - `dominated_by`: the series that dominate it on the central values;
    - `surely_dominated_by`: the series whose bands lie wholly below its bands in both metrics
      (x_hi_j < x_lo_i and y_hi_j < y_lo_i): dominated beyond error;
    - `verdict`: "front", "dominated, within error" (dominated on the central values, but no dominating
      point's bands separate from its bands in both metrics: a tie with the front) or "dominated".
    Panels are ordered by their `panels` values (numbers by value)."""
    good = pareto_rows(df, spec)
    cols = ["panel", *spec.panels, "series", "x_metric", "x", "x_lo", "x_hi", "y_metric", "y", "y_lo", "y_hi",
            "on_front", "dominated_by", "surely_dominated_by", "verdict", "key"]
    if good.empty:
        return pd.DataFrame(columns=cols)
    _, series = series_keys(good, spec.panels, spec.series, f"plot {where}")
    x_lo, x_hi = metric_bounds(good, spec.x)
    y_lo, y_hi = metric_bounds(good, spec.y)
    panel = good[spec.panels].apply(lambda r: ", ".join(f"{c}={_panel_value(r[c])}" for c in spec.panels), axis=1)
    table = pd.DataFrame({"panel": panel, **{c: good[c] for c in spec.panels}, "series": series,
                          "x_metric": spec.x, "x": good[spec.x].astype(float), "x_lo": x_lo, "x_hi": x_hi,
                          "y_metric": spec.y, "y": good[spec.y].astype(float), "y_lo": y_lo, "y_hi": y_hi,
                          "key": good["key"] if "key" in good else None})
    out = []
    for _, sub in table.groupby("panel", sort=False):
        recs = sub.to_dict("records")
        for a in recs:
            dom = [b["series"] for b in recs if b is not a and b["x"] <= a["x"] and b["y"] <= a["y"]
                   and (b["x"] < a["x"] or b["y"] < a["y"])]
            sure = [b["series"] for b in recs if b is not a and b["x_hi"] < a["x_lo"] and b["y_hi"] < a["y_lo"]]
            a["on_front"] = not dom
            a["dominated_by"] = "; ".join(dom)
            a["surely_dominated_by"] = "; ".join(sure)
            a["verdict"] = "front" if not dom else "dominated" if sure else "dominated, within error"
            out.append(a)
    result = pd.DataFrame(out)[cols]
    order = sorted(range(len(result)), key=lambda i: (tuple(_sort_value(result.iloc[i][c]) for c in spec.panels),
                                                      result.iloc[i]["x"]))
    return result.iloc[order].reset_index(drop=True)


def _grid_figure(nrows: int, ncols: int, width_in: float, height_in: float, notes: list[str] = ()):
    """As `_figure`, with an nrows x ncols grid of panels (axes as a 2-D array)."""
    fig = plt.figure(figsize=(width_in, height_in), layout="constrained")
    notes = [n for n in notes if n]
    body = fig
    if notes:
        size = 7.5
        text = style.wrap("\n".join(notes), fig, size)
        strip_in = (text.count("\n") + 1) * size * 1.3 / 72 + 0.12
        body, foot = fig.subfigures(2, 1, height_ratios=[height_in - strip_in, strip_in])
        foot.text(0.01, 0.5, text, fontsize=size, ha="left", va="center", gid="footnote")
    return fig, body.subplots(nrows, ncols, squeeze=False), body


PARETO_NOTE = ("Error bars: validated tolerance bands (PIM: fast/exact model error only, a lower bound). "
               "Dashed: the Pareto front (no other placement both faster and cheaper); hollow: dominated beyond "
               "the bands in both metrics; filled off the front: dominated, but within error.")


def plot_pareto(df: pd.DataFrame, spec: ParetoPlot, out: Path, name: str, title: str) -> list[Path]:
    from matplotlib.ticker import MaxNLocator

    table = pareto_table(df, spec, name)
    scope = df
    for col, value in spec.where.items():
        scope = scope[scope[col] == value] if col in scope else scope.iloc[0:0]
    if all(c in scope for c in spec.panels):
        scope = scope[scope[spec.panels].notna().all(axis=1)]
    else:
        scope = scope.iloc[0:0]
    notes = [PARETO_NOTE, _missing_note(scope)]
    written: list[Path] = []
    if table.empty:
        fig, axes, body = _grid_figure(1, 1, 8.0, 5.0, notes)
        _empty(axes[0, 0], f"no finished point has {', '.join(spec.panels)}, {spec.x} and {spec.y}")
        return _save(fig, out, name)
    table.to_csv(out / f"{name}_pareto.csv", index=False)
    written.append(out / f"{name}_pareto.csv")
    good = pareto_rows(df, spec)
    verdicts = winners_table(good, spec.panels, spec.series, [spec.x, spec.y], HIGHER_IS_BETTER, f"plot {name}")
    if not verdicts.empty:
        verdicts.to_csv(out / f"{name}_winners.csv", index=False)
        written.append(out / f"{name}_winners.csv")
    panels = list(dict.fromkeys(table["panel"]))
    last = spec.panels[-1]
    col_values = sorted(dict.fromkeys(table[last]), key=_sort_value)
    rest = spec.panels[:-1]
    row_keys = sorted(dict.fromkeys(tuple(r) for r in table[rest].itertuples(index=False)),
                      key=lambda t: tuple(_sort_value(v) for v in t)) if rest else [()]
    nrows, ncols = len(row_keys), len(col_values)
    fig, axes, body = _grid_figure(nrows, ncols, max(3.4 * ncols, 8.0), 3.0 * nrows + 2.2, notes)
    series = list(dict.fromkeys(table["series"]))
    colours = style.colors_for(series)
    pim_sys = _pim_system(good) if "target" in good else None
    used = np.zeros((nrows, ncols), dtype=bool)
    # panel titles name the panel columns that vary (a constant one goes to the caption's workloads)
    shown = [c for c in spec.panels if table[c].nunique() > 1] or spec.panels[-1:]
    for panel in panels:
        sub = table[table["panel"] == panel]
        first = sub.iloc[0]
        r = row_keys.index(tuple(first[c] for c in rest)) if rest else 0
        c = col_values.index(first[last])
        used[r, c] = True
        ax = axes[r, c]
        for _, p in sub.iterrows():
            hollow = p["verdict"] == "dominated"
            ax.errorbar([p["x"]], [p["y"]], xerr=_errbar(np.array([p["x"]]), np.array([p["x_lo"]]), np.array([p["x_hi"]])),
                        yerr=_errbar(np.array([p["y"]]), np.array([p["y_lo"]]), np.array([p["y_hi"]])),
                        fmt="o", ms=6, color=colours[p["series"]], mfc="white" if hollow else colours[p["series"]],
                        capsize=2, elinewidth=0.8, label="_nolegend_",
                        gid=f"point:{panel}:{p['series']}")
        front = sub[sub["on_front"]].sort_values(["x", "y"])
        ax.plot(front["x"], front["y"], ls="--", color="black", lw=0.9, gid=f"front:{panel}", label="Pareto front")
        for metric, axis, lo_c, hi_c, v_c in ((spec.x, "x", "x_lo", "x_hi", "x"), (spec.y, "y", "y_lo", "y_hi", "y")):
            values = [v for v in pd.concat([sub[v_c], sub[lo_c], sub[hi_c]]) if np.isfinite(v)]
            scale = style.choose_scale(values)
            scale = "log" if scale == "log" else "linear"
            style.apply_scale(ax, scale, style.padded_limits(values, "log" if scale == "log" else "zoom"),
                              unit=style.metric_unit(metric), axis=axis)
        ax.set_xlabel(style.axis_label(spec.x), fontsize=8)
        ax.set_ylabel(style.axis_label(spec.y), fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.set_title(", ".join(f"{_field_words(c)} {_panel_value(first[c])}" for c in shown) or spec.panels[0],
                     fontsize=8)
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "linear":
                axis.set_major_locator(MaxNLocator(4))
    for r in range(nrows):
        for c in range(ncols):
            if not used[r, c]:
                _empty(axes[r, c], "no finished point (see the failed-point note)")
    from matplotlib.lines import Line2D

    proxies = [(Line2D([], [], marker="o", ls="none", color=colours[sname]), _series_words(sname, pim_sys))
               for sname in series]  # filled markers: the legend names the colour, not a verdict
    _legend(body, list(axes.flat), proxies)
    _title(body, f"{style.METRIC_NAMES.get(spec.y, spec.y)[:1].upper() + style.METRIC_NAMES.get(spec.y, spec.y)[1:]}"
                 f" against {style.METRIC_NAMES.get(spec.x, spec.x)}, Pareto front per "
                 + ", ".join(_field_words(p) for p in spec.panels), good)
    return written + _save(fig, out, name)


_DRAW = {"speedup": plot_speedup, "breakdown": plot_breakdown, "line": plot_line, "bars": plot_bars,
         "pareto": plot_pareto}


def draw_plots(df: pd.DataFrame, plots: list, out: str | Path, experiment: str = "") -> list[Path]:
    """Draw every plot of `plots` (spec objects) from the results frame; returns the files written."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for i, spec in enumerate(plots):
        name = plot_name(spec, i)
        written += _DRAW[spec.kind](df, spec, out, name, f"{experiment}: {name}" if experiment else name)
    return written
