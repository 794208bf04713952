"""Tables from stored results: one row per design point, and PIM-vs-baseline ratios.

`results_frame` joins each point's identifying columns (target, placement, hardware, mapping, model,
workload, device, mode, grid paths, `workload.<field>`) with its result row. `speedup_table` joins every
PIM row with every baseline row of the same model and workload: speedup = baseline latency / PIM latency,
energy efficiency = baseline energy / PIM energy (same workload, so per-token ratios are the same).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from pimsim.experiments.spec import METRICS

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


def results_frame(points: list[dict[str, Any]], results: dict[str, tuple[dict, dict]]) -> pd.DataFrame:
    """One row per point of `points` that has a stored result (in `points` order)."""
    rows = []
    for p in points:
        if p["key"] not in results:
            continue
        rows.append({**point_columns(p), **results[p["key"]][1]})
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
    rest = sorted(c for c in df if c not in set(first) | set(grid) | set(wl) | set(metrics) | {"error"})
    return df[first + grid + wl + ["error"] + metrics + rest]


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    """Rows whose point evaluated (no `error`)."""
    if df.empty or "error" not in df:
        return df
    return df[df["error"].isna()]


def speedup_table(df: pd.DataFrame) -> pd.DataFrame:
    """Every PIM row against every baseline row of the same model and workload."""
    df = ok_rows(df)
    if df.empty:
        return pd.DataFrame()
    pim = df[df["target"] == "pim"][["model", "workload", "hardware", "mapping", "latency_s", "energy_j",
                                     "e2e_latency_per_token_s"]]
    base = df[df["target"] == "baseline"][["model", "workload", "placement", "device", "mode", "latency_s",
                                           "energy_j"]]
    m = pim.merge(base, on=["model", "workload"], suffixes=("_pim", "_baseline"))
    if m.empty:
        return m
    m = m.rename(columns={"placement": "baseline"})
    m["speedup"] = m["latency_s_baseline"] / m["latency_s_pim"]
    m["energy_efficiency"] = m["energy_j_baseline"] / m["energy_j_pim"]
    return m[["model", "workload", "hardware", "mapping", "baseline", "device", "mode", "latency_s_pim",
              "latency_s_baseline", "speedup", "energy_j_pim", "energy_j_baseline", "energy_efficiency",
              "e2e_latency_per_token_s"]].rename(columns={"e2e_latency_per_token_s": "pim_e2e_latency_per_token_s"})
