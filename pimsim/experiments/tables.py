"""Tables from stored results: one row per design point, PIM-vs-baseline ratios, and winners.

`results_frame` joins each point's identifying columns (target, placement, hardware, mapping, model,
workload, device, mode, grid paths, `workload.<field>`) with its result row and its error band
(`pimsim.experiments.bands`: `latency_band_lo/hi`, `energy_band_lo/hi` relative, `latency_s_lo/hi`,
`energy_j_lo/hi` absolute, `*_band_source`). A PIM or mixed placement label carries the mapping (and the
hardware label) when the experiment has several, e.g. `all-pim (pimgpt)` and `all-pim (pimgpt_kv_fit)`.
`speedup_table` joins every PIM row with every baseline row of the same model and workload: speedup =
baseline latency / PIM latency, energy efficiency = baseline energy / PIM energy (same workload, so
per-token ratios are the same); its bounds pair the extreme ends (speedup_lo = baseline lo / PIM hi).
`series_keys` labels the rows of a plot uniquely (never two rows in one bar) and `winners_table` calls a
winner only where the bands separate (rules in their docstrings).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from pimsim.errors import ConfigError
from pimsim.experiments import bands
from pimsim.experiments.spec import METRICS, ROW_PREFIXES

POINT_COLUMNS = ("experiment", "key", "target", "placement", "hardware", "mapping", "model", "workload",
                 "device", "mode", "context")


def point_columns(point: dict[str, Any]) -> dict[str, Any]:
    cols = {
        "experiment": point.get("experiment"), "key": point["key"], "target": point["target"],
        "placement": point.get("placement"),
        "hardware": (point.get("hardware") or {}).get("label"), "mapping": point.get("mapping"),
        "model": point.get("model"), "workload": point.get("workload_label"),
        "device": point.get("device"), "mode": point.get("mode"), "context": point.get("context"),
    }
    cols.update({k: v for k, v in (point.get("grid") or {}).items()})
    cols.update({f"workload.{k}": v for k, v in point["workload"].items() if k != "kind" and v is not None})
    return cols


BAND_COLUMNS = ("latency_band_lo", "latency_band_hi", "energy_band_lo", "energy_band_hi", "latency_s_lo",
                "latency_s_hi", "energy_j_lo", "energy_j_hi", "latency_band_source", "energy_band_source")


def placement_labels(points: list[dict[str, Any]]) -> dict[str, str]:
    """key -> display placement: a PIM or mixed point's label gets its mapping appended when the points
    have several mappings, and its hardware label when they have several hardware labels, so no two
    placements share a label (`all-pim (pimgpt)` vs `all-pim (pimgpt_kv_fit)`)."""
    on_pim = [p for p in points if p["target"] in ("pim", "mixed")]
    multi_map = len({p.get("mapping") for p in on_pim}) > 1
    multi_hw = len({(p.get("hardware") or {}).get("label") for p in on_pim}) > 1
    out = {}
    for p in points:
        label = p.get("placement")
        if p["target"] in ("pim", "mixed") and (multi_map or multi_hw):
            parts = ([str((p.get("hardware") or {}).get("label"))] if multi_hw else []) + \
                    ([str(p.get("mapping"))] if multi_map else [])
            label = f"{label} ({', '.join(parts)})"
        out[p["key"]] = label
    return out


def check_distinct_labels(points: list[dict[str, Any]], source: str = "<experiment>") -> None:
    """Every point must differ from every other in a label (placement as shown, hardware label, mapping,
    model, workload, device, mode, grid value, workload field): two that share all of them would be one
    bar, one line point or one table row in every output. ConfigError naming `source` and the labels."""
    labels = placement_labels(points)
    seen: dict[tuple, dict[str, Any]] = {}
    for p in points:
        cols = {**point_columns(p), "placement": labels[p["key"]]}
        ident = tuple(sorted((k, str(v)) for k, v in cols.items() if k not in ("experiment", "key")))
        if ident in seen:
            first = seen[ident]
            raise ConfigError(
                f"{source}: points {first['key']} and {p['key']} have different configurations but the same "
                f"labels (placement {labels[p['key']]!r}, hardware {(p.get('hardware') or {}).get('label')!r}, "
                f"mapping {p.get('mapping')!r}, workload {p.get('workload_label')!r}): their results would be "
                "indistinguishable in every table and plot; give the hardware entries (or placements, "
                "baselines) distinct `label:`s")
        seen[ident] = p


def _device_side(point: dict[str, Any]) -> tuple[list[float], str]:
    """(parameter counts of the models that run on the point's device, the device kind gpu|cpu)."""
    from pimsim.baselines import load_device
    from pimsim.experiments.points import load_point_workload

    try:
        workload = load_point_workload(point)
        roles = set(point.get("pim_roles") or ())
        params = sorted({float(ph.model.params) for ph in workload.phases if ph.role not in roles})
    except Exception:  # noqa: BLE001 - a model that cannot be resolved: size unknown (transfer bounds)
        params = []
    try:
        kind = load_device(point["device"]).kind
    except Exception:  # noqa: BLE001 - a device file gone since the run: assume a GPU
        kind = "gpu"
    return params, kind


def band_columns(point: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """The band columns (`BAND_COLUMNS`) of one point's row; NaN for an error row."""
    cols: dict[str, Any] = {c: np.nan for c in BAND_COLUMNS}
    cols["latency_band_source"] = cols["energy_band_source"] = None
    params, kind = _device_side(point) if point["target"] != "pim" else ([], "gpu")
    full = {**point_columns(point), **row}
    for quantity, metric in (("latency", "latency_s"), ("energy", "energy_j")):
        band = bands.row_band(full, quantity, params, kind)
        if band is None:
            continue
        cols[f"{quantity}_band_lo"], cols[f"{quantity}_band_hi"] = band.lo, band.hi
        cols[f"{quantity}_band_source"] = band.source
        value = row.get(metric)
        if value is not None:
            cols[f"{metric}_lo"], cols[f"{metric}_hi"] = band.bounds(float(value))
    return cols


def results_frame(points: list[dict[str, Any]], results: dict[str, tuple[dict, dict]]) -> pd.DataFrame:
    """One row per point of `points` that has a stored result (in `points` order), with its band."""
    rows = []
    labels = placement_labels(points)
    for p in points:
        if p["key"] not in results:
            continue
        row = results[p["key"]][1]
        rows.append({**point_columns(p), "placement": labels[p["key"]], **row, **band_columns(p, row)})
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    if "error" not in df:
        df["error"] = None
    first = [c for c in POINT_COLUMNS if c in df]
    grid = [c for c in df if c not in first and not c.startswith("workload.") and "." in c
            and not c.split(".")[0] in ("breakdown_s", "breakdown_j", "counters", "commands",
                                        "role_latency_s", "role_energy_j")]
    wl = [c for c in df if c.startswith("workload.")]
    metrics = [c for c in METRICS if c in df]
    band = [c for c in BAND_COLUMNS if c in df]
    rest = sorted(c for c in df if c not in set(first) | set(grid) | set(wl) | set(metrics) | set(band) | {"error"})
    return df[first + grid + wl + ["error"] + metrics + band + rest]


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose point evaluated (no `error`)."""
    if df.empty or "error" not in df:
        return df
    return df[df["error"].isna()]


def identifying_columns(df: pd.DataFrame) -> list[str]:
    """Columns of `df` that say which point a row is (point columns, grid paths, `workload.<field>`)."""
    return [c for c in df if c in POINT_COLUMNS and c not in ("experiment", "key")
            or c.startswith("workload.")
            or ("." in c and c.split(".")[0] not in ROW_PREFIXES)]


def metric_bounds(df: pd.DataFrame, metric: str) -> tuple[pd.Series, pd.Series]:
    """(low, high) of `metric` per row from the row's band: a latency metric scales with the latency
    band, an energy metric with the energy band (`bands.METRIC_QUANTITY`); any other metric, or a row
    without band columns, has no validated tolerance and gets zero width (low = high = value)."""
    value = df[metric].astype(float)
    ratio = bands.RATIO_METRIC_QUANTITIES.get(metric)
    if ratio is not None:  # a quotient: its low end is the numerator's low over the denominator's high
        num, den = ratio
        if any(q is not None and f"{q}_band_lo" not in df for q in ratio):
            return value, value
        band = lambda q, end: 1.0 if q is None else 1.0 + df[f"{q}_band_{end}"].astype(float)  # noqa: E731
        return value * band(num, "lo") / band(den, "hi"), value * band(num, "hi") / band(den, "lo")
    quantity = bands.METRIC_QUANTITY.get(metric)
    if quantity is None or f"{quantity}_band_lo" not in df:
        return value, value
    return (value * (1.0 + df[f"{quantity}_band_lo"].astype(float)),
            value * (1.0 + df[f"{quantity}_band_hi"].astype(float)))


def series_keys(df: pd.DataFrame, group: list[str], series: list[str], where: str = "plot") -> tuple[pd.Series, pd.Series]:
    """(group label, series label) per row of `df`, unique per row: rows that would share a group and a
    series (one bar for two results) get the identifying columns that tell them apart appended to their
    series label ("all-pim, dram.channels=4"); rows that no identifying column tells apart are a
    ConfigError naming `where`, the shared labels and the rows' keys (give them distinct labels)."""
    def join(cols: list[str]) -> pd.Series:  # a column a row has no value in (a baseline's hardware) is left out
        if not cols:
            return pd.Series("", index=df.index)
        return df[cols].apply(lambda r: ", ".join(str(v) for v in r if not (v is None or v != v)), axis=1)

    g, s = join(group), join(series)
    for _ in range(len(df)):
        dup = pd.DataFrame({"g": g, "s": s}).duplicated(keep=False)
        if not dup.any():
            return g, s
        extra = [c for c in identifying_columns(df) if c not in group + series
                 and df.loc[dup].groupby([g[dup], s[dup]])[c].nunique(dropna=False).gt(1).any()]
        if not extra:
            first = df.loc[dup].iloc[0]
            keys = ", ".join(str(k) for k in df.loc[dup & (g == g[dup].iloc[0]) & (s == s[dup].iloc[0])]
                             .get("key", pd.Series(dtype=str)))
            raise ConfigError(f"{where}: {int(dup.sum())} rows share group ({', '.join(group)}) = "
                              f"{g[dup].iloc[0]!r} and series ({', '.join(series)}) = {s[dup].iloc[0]!r} and "
                              f"no identifying column tells them apart (e.g. placement {first.get('placement')!r}, "
                              f"keys {keys or '?'}); give the hardware entries or placements distinct labels")
        col = extra[0]
        s = s.where(~dup, s + ", " + col + "=" + df[col].astype(str))
    raise AssertionError("series_keys did not converge")


def call_winner(entries: list[tuple[str, float, float, float]], higher_is_better: bool = False) -> dict[str, Any]:
    """Verdict among (label, value, low, high): the best central value wins only when its band separates
    from every other's (lower is better: its high below every other's low; higher is better: its low above
    every other's high). Otherwise "tie (within error): A vs B", A, B being the best and every entry whose
    band overlaps the best's. A lone entry is "A (only entry)"."""
    entries = [e for e in entries if e[1] is not None and np.isfinite(e[1])]
    if not entries:
        return {}
    order = sorted(entries, key=lambda e: -e[1] if higher_is_better else e[1])
    best = order[0]
    if higher_is_better:
        tied = [best] + [e for e in order[1:] if e[3] >= best[2]]
    else:
        tied = [best] + [e for e in order[1:] if e[2] <= best[3]]
    separated = len(tied) == 1
    runner = order[1] if len(order) > 1 else None
    verdict = (f"{best[0]} (only entry)" if runner is None else best[0]) if separated else \
        "tie (within error): " + " vs ".join(e[0] for e in tied)
    out = {"result": verdict,
           "separated": separated, "best": best[0], "best_value": best[1], "best_lo": best[2],
           "best_hi": best[3], "tied": "; ".join(e[0] for e in tied) if not separated else "",
           "runner_up": runner[0] if runner else None, "runner_up_value": runner[1] if runner else np.nan,
           "runner_up_lo": runner[2] if runner else np.nan, "runner_up_hi": runner[3] if runner else np.nan,
           "runner_up_ratio": (max(runner[1], best[1]) / min(runner[1], best[1]))
           if runner and min(runner[1], best[1]) > 0 else np.nan}
    return out


def winners_table(df: pd.DataFrame, group: list[str], series: list[str], metrics: list[str],
                  higher_is_better: set[str] = frozenset(), where: str = "winners") -> pd.DataFrame:
    """One row per (group, metric) of the finished rows of `df`: the verdict of `call_winner` over the
    series with their bands (`metric_bounds`), and the band sources of the best entry."""
    good = ok_rows(df)
    if good.empty:
        return pd.DataFrame()
    g, s = series_keys(good, group, series, where)
    rows = []
    for metric in metrics:
        if metric not in good:
            continue
        lo, hi = metric_bounds(good, metric)
        quantity = bands.METRIC_QUANTITY.get(metric)
        src = good.get(f"{quantity}_band_source") if quantity else None
        for grp in dict.fromkeys(g):
            sel = g == grp
            entries = [(s[i], float(good.at[i, metric]), float(lo[i]), float(hi[i])) for i in good.index[sel]]
            verdict = call_winner(entries, metric in higher_is_better)
            if not verdict:
                continue
            best_i = good.index[sel & (s == verdict["best"])][0]
            source = src[best_i] if src is not None else bands.NO_BAND
            rows.append({"group": grp, "metric": metric, **verdict,
                         "best_band_source": source if isinstance(source, str) else bands.NO_BAND})
    return pd.DataFrame(rows)


def speedup_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every PIM row against every baseline row of the same model and workload, with bounds: speedup_lo =
    baseline latency low / PIM latency high, speedup_hi = baseline high / PIM low (energy alike). PIM rows
    keep their grid and workload columns, so sweep points stay apart."""
    df = ok_rows(df)
    if df.empty:
        return pd.DataFrame()
    grid = [c for c in identifying_columns(df) if "." in c and not c.startswith("workload.")]
    vals = ["latency_s", "energy_j", "latency_s_lo", "latency_s_hi", "energy_j_lo", "energy_j_hi"]
    vals = [c for c in vals if c in df]
    pim = df[df["target"] == "pim"][["model", "workload", "hardware", "mapping", *grid, *vals,
                                     "e2e_latency_per_token_s"]]
    base = df[df["target"] == "baseline"][["model", "workload", "placement", "device", "mode", *vals]]
    m = pim.merge(base, on=["model", "workload"], suffixes=("_pim", "_baseline"))
    if m.empty:
        return m
    m = m.rename(columns={"placement": "baseline"})
    m["speedup"] = m["latency_s_baseline"] / m["latency_s_pim"]
    m["energy_efficiency"] = m["energy_j_baseline"] / m["energy_j_pim"]
    bounded = []
    if "latency_s_lo_pim" in m:
        m["speedup_lo"] = m["latency_s_lo_baseline"] / m["latency_s_hi_pim"]
        m["speedup_hi"] = m["latency_s_hi_baseline"] / m["latency_s_lo_pim"]
        m["energy_efficiency_lo"] = m["energy_j_lo_baseline"] / m["energy_j_hi_pim"]
        m["energy_efficiency_hi"] = m["energy_j_hi_baseline"] / m["energy_j_lo_pim"]
        bounded = ["speedup_lo", "speedup_hi", "energy_efficiency_lo", "energy_efficiency_hi"]
    return m[["model", "workload", "hardware", "mapping", *grid, "baseline", "device", "mode", "latency_s_pim",
              "latency_s_baseline", "speedup", "energy_j_pim", "energy_j_baseline", "energy_efficiency",
              *bounded, "e2e_latency_per_token_s"]].rename(
                  columns={"e2e_latency_per_token_s": "pim_e2e_latency_per_token_s"})
