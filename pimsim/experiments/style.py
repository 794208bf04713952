"""One plotting style for every pimsim figure: colours, printed labels, axis rules, captions, saving.

Rules (issue 18: figures users publish must read right at a glance):
- Colour: one fixed colour per machine / placement / mapping / model (`PALETTE`), looked up by the series'
  own name, never by its position in a figure, so the same series has the same colour in every figure
  (`color_of`). Unknown names get a colour from a hash of the name (stable across runs and figures).
- Labels: internal names (`all-pim`, `t4 (graph)`, `dram.channels`) are printed as a paper would print them
  (`label_of`, `axis_label`): "PIM-GPT (all on PIM)", "NVIDIA T4 (CUDA graph)", "PIM channels".
- Axes (`choose_scale`): log only where the values span at least a decade (`LOG_MIN_SPAN`); ratio axes
  (speedup, energy efficiency, normalised lines) always include 1x; values that cluster (spread under
  `ZOOM_MAX_SPREAD` of their level, e.g. row-hit rates of 0.96-0.99) get a zoomed linear axis.
- Captions (`caption`): model(s), workload (e.g. "64 + 960 tokens, batch 1"), system and mapping.
- Saving (`save_figure`): deterministic bytes: SVG without a date and with ids salted by a fixed string
  (`svg.hashsalt`), PNG with fixed metadata, so two runs on the same results give identical files.
"""

from __future__ import annotations

import hashlib
import math
import re
import textwrap
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

# ---------------------------------------------------------------- colours (colour-blind-safe base hues)
PIM_COLOR = "#0072B2"
PALETTE: dict[str, str] = {
    # PIM systems and placements
    "all-pim": PIM_COLOR, "pim": PIM_COLOR, "pim-gpt": PIM_COLOR, "pim-gpt-128ch": "#3A93D0",
    "policy-pim prm-gpu": "#7B4EA3",
    # baselines: one hue per machine, lighter for its eager (framework-bound) mode
    "t4 (graph)": "#E69F00", "t4 (eager)": "#F5CB70",
    "h100-sxm (graph)": "#009E73", "h100-sxm (eager)": "#74CDB0", "all-gpu (h100)": "#009E73",
    "h200-sxm (graph)": "#56B4E9", "h200-sxm (eager)": "#A6D8F4",
    "a100-80gb (graph)": "#CC79A7", "a100-80gb (eager)": "#E5B5D0",
    "xeon-gold-6154 (eager)": "#D55E00", "xeon-gold-6154 (graph)": "#D55E00",
    "server-16vcpu (eager)": "#8C564B", "server-16vcpu (graph)": "#8C564B",
    # mappings (the published one in the PIM colour)
    "pimgpt": PIM_COLOR, "naive": "#7F7F7F", "attn_asic": "#CC79A7", "cent": "#882255",
    "pimgpt_kv_fit": "#56B4E9",
    # models (Dark2)
    "gpt2-small": "#1B9E77", "gpt2-medium": "#D95F02", "gpt2-large": "#7570B3", "gpt2-xl": "#E7298A",
    "gpt3-small": "#66A61E", "gpt3-medium": "#E6AB02", "gpt3-large": "#A6761D", "gpt3-xl": "#666666",
}
# devices alone (a speedup bar is "over device X"): the graph-mode colour of the device
DEVICE_COLOR = {re.sub(r" \((graph|eager)\)$", "", k): v for k, v in PALETTE.items() if k.endswith("(graph)")}
_FALLBACK = ["#332288", "#117733", "#44AA99", "#88CCEE", "#DDCC77", "#CC6677", "#AA4499", "#882255",
             "#999933", "#661100", "#6699CC", "#888888"]
# latency categories of the breakdown plot
CATEGORY_COLOR = {
    "pim_mac_stream": "#0072B2", "pim_row_switch": "#56B4E9", "pim_gb_write": "#009E73",
    "pim_result_read": "#74CDB0", "pim_mode_switch": "#F0E442", "pim_drain": "#999933",
    "kv_write": "#E69F00", "kv_append": "#F5CB70", "asic": "#D55E00", "attention": "#CC79A7",
    "link": "#882255", "refresh": "#7F7F7F", "embedding": "#332288", "kernel_overhead": "#AA4499",
}


def _hash_color(name: str) -> str:
    return _FALLBACK[int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % len(_FALLBACK)]


def color_of(name: str) -> str:
    """The fixed colour of a series name: the whole name, then the name less a " (mapping)" or
    ", field=value" suffix, then each comma-separated part in turn; else a stable hash colour."""
    name = str(name)
    if name in PALETTE:
        return PALETTE[name]
    if name in DEVICE_COLOR:
        return DEVICE_COLOR[name]
    base = re.sub(r" \([^()]*\)$", "", name)
    if base != name and base in PALETTE and not re.search(r"\((graph|eager)\)$", name):
        return PALETTE[base]
    for part in name.split(", "):
        if part in PALETTE:
            return PALETTE[part]
        stem = re.sub(r" \([^()]*\)$", "", part)
        if stem in PALETTE and stem != part and not re.search(r"\((graph|eager)\)$", part):
            return PALETTE[stem]
    return _hash_color(name)


def colors_for(names: Iterable[str]) -> dict[str, str]:
    """`color_of` each name; a name whose colour another name of the same figure already took gets a
    darker shade of it, so series stay apart while keeping their family's hue."""
    from matplotlib.colors import to_hex, to_rgb

    out: dict[str, str] = {}
    used: dict[str, int] = {}
    for n in dict.fromkeys(names):
        c = color_of(n)
        k = used.get(c, 0)
        used[c] = k + 1
        if k:
            rgb = np.array(to_rgb(c)) * (0.72 ** k)
            c = to_hex(np.clip(rgb, 0, 1))
        out[n] = c
    return out


# ---------------------------------------------------------------- printed labels
DEVICE_NAMES = {
    "t4": "NVIDIA T4", "h100-sxm": "NVIDIA H100 SXM", "h200-sxm": "NVIDIA H200 SXM", "a100-80gb": "NVIDIA A100 80GB",
    "xeon-gold-6154": "Intel Xeon Gold 6154", "server-16vcpu": "16-vCPU server",
}
MODE_NAMES = {"graph": "CUDA graph", "eager": "PyTorch eager"}
HARDWARE_NAMES = {"pim-gpt": "PIM-GPT", "pimgpt-gddr6": "PIM-GPT", "pim-gpt-128ch": "PIM-GPT, 128 channels"}
SYSTEM_DETAIL = {"pim-gpt": "PIM-GPT: GDDR6-AiM, {channels} channels, published ASIC",
                 "pimgpt-gddr6": "PIM-GPT: GDDR6-AiM, {channels} channels, published ASIC"}
GRID_ROW_PREFIXES = ("breakdown_s", "breakdown_j", "counters", "commands", "role_latency_s", "role_energy_j")
MAPPING_NAMES = {"pimgpt": "PIM-GPT mapping", "naive": "naive mapping", "attn_asic": "attention on ASIC",
                 "cent": "CENT mapping", "pimgpt_kv_fit": "PIM-GPT mapping, KV fit",
                 "cent_paper": "CENT's own programs"}
MODEL_NAMES = {f"gpt{v}-{s}": f"GPT-{v} {s.upper() if s == 'xl' else s}" for v in (2, 3)
               for s in ("small", "medium", "large", "xl")}
PLACEMENT_NAMES = {"policy-pim prm-gpu": "policy on PIM, PRM on GPU", "all-gpu (h100)": "all on NVIDIA H100"}
FIELD_NAMES = {
    "dram.channels": "PIM channels", "context": "context (tokens)", "asic.clock_ghz": "ASIC clock (GHz)",
    "link.bytes_per_cycle": "ASIC-PIM link width (bytes/cycle)", "workload.n": "N (solutions per problem)",
    "dram.timing.nCCDS,dram.timing.nCCDL": "column-to-column delay nCCDS, nCCDL (cycles)",
    "model": "model", "placement": "placement", "mapping": "mapping", "workload": "workload",
}
METRIC_NAMES = {
    "latency_s": "latency", "energy_j": "energy", "e2e_latency_per_token_s": "end-to-end latency per token",
    "ttft_s": "time to first token", "tpot_s": "time per output token", "energy_per_token_j": "energy per token",
    "decode_energy_per_token_j": "decode energy per token",
    "latency_per_problem_s": "time per problem", "energy_per_problem_j": "energy per problem",
    "row_hit_rate": "row-hit rate", "non_vmm_share": "non-VMM share", "speedup": "speedup",
    "energy_efficiency": "energy efficiency", "tokens_per_second": "throughput (tokens/s)",
    "power_w": "mean power",
}
METRIC_UNITS = {"s": "s", "j": "J", "w": "W"}


def metric_unit(metric: str) -> str:
    """SI unit of a metric column from its name's suffix (`_s`, `_j`); "" for ratios and shares."""
    suffix = metric.rsplit("_", 1)[-1]
    return METRIC_UNITS.get(suffix, "") if "_" in metric else ""


def _label_part(part: str, pim_system: str | None = None) -> str:
    part = part.strip()
    if part == "all-pim" or part.startswith("all-pim ("):
        hw = HARDWARE_NAMES.get(pim_system or "pim-gpt", pim_system or "PIM")
        rest = part[len("all-pim"):].strip()
        if rest:  # "all-pim (pimgpt)" / "all-pim (pim-gpt-128ch, pimgpt)"
            inner = [HARDWARE_NAMES.get(x, MAPPING_NAMES.get(x, x)) for x in rest.strip("()").split(", ")]
            return f"{hw} (all on PIM), " + ", ".join(inner)
        return f"{hw} (all on PIM)"
    if part in PLACEMENT_NAMES:
        return PLACEMENT_NAMES[part]
    m = re.fullmatch(r"(.+) \((graph|eager)\)", part)
    if m and m.group(1) in DEVICE_NAMES:
        return f"{DEVICE_NAMES[m.group(1)]} ({MODE_NAMES[m.group(2)]})"
    for table in (DEVICE_NAMES, MAPPING_NAMES, MODEL_NAMES, HARDWARE_NAMES):
        if part in table:
            return table[part]
    m = re.fullmatch(r"([^=]+)=(.+)", part)
    if m:
        return f"{FIELD_NAMES.get(m.group(1), m.group(1))} {m.group(2)}"
    return part


def label_of(name: str, pim_system: str | None = None) -> str:
    """The printed label of a series name (each comma-separated part mapped; unknown parts kept)."""
    name = str(name)
    if name in PLACEMENT_NAMES or "(" in name and ", " in name[name.find("("):]:
        return _label_part(name, pim_system)
    return ", ".join(_label_part(p, pim_system) for p in name.split(", "))


def axis_label(metric: str, *, relative_to: str | None = None) -> str:
    """Axis label of a metric: words, the unit in brackets, ratios as "(x)"; a normalised metric is a
    ratio and says what it is relative to (no unit)."""
    words = METRIC_NAMES.get(metric, FIELD_NAMES.get(metric, metric))
    if relative_to is not None:
        return f"{words}\n(relative to {relative_to})"
    if metric in ("speedup", "energy_efficiency"):
        return f"{words} (x)"
    unit = metric_unit(metric)
    return f"{words} ({unit})" if unit else words


# ---------------------------------------------------------------- axes
LOG_MIN_SPAN = 10.0     # log axis only where max/min of the plotted values reaches one decade
ZOOM_MAX_SPREAD = 0.15  # values whose (max - min) / max is below this get a zoomed linear axis


def choose_scale(values: Iterable[float], *, force_log: bool = False) -> str:
    """"log", "zoom" or "linear" for positive plotted values (rule: module docstring)."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if v.size == 0:
        return "linear"
    if (v > 0).all() and (force_log or v.max() / v.min() >= LOG_MIN_SPAN):
        return "log"
    if v.size > 1 and v.max() > 0 and (v.max() - v.min()) / v.max() < ZOOM_MAX_SPREAD:
        return "zoom"
    return "linear"


def padded_limits(values: Iterable[float], scale: str, include: Iterable[float] = ()) -> tuple[float, float]:
    """Axis limits holding every value and every `include` (e.g. 1x), with a margin (a factor on log)."""
    v = np.asarray([x for x in list(values) + list(include) if x is not None and np.isfinite(x)], dtype=float)
    lo, hi = float(v.min()), float(v.max())
    if scale == "log":
        span = math.log10(hi / lo) if hi > lo else 1.0
        f = 10 ** max(0.08 * span, 0.05)
        return lo / f, hi * f
    pad = (hi - lo) * 0.08 or abs(hi) * 0.05 or 1.0
    if scale == "linear" and lo >= 0:
        return 0.0, hi + pad
    return lo - pad, hi + pad


def ratio_formatter():
    """Tick labels of a ratio axis: 1x, 10x, 100x, 0.5x (no 6x10^1)."""
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda y, _: f"{y:g}x")


def apply_scale(ax, scale: str, limits: tuple[float, float], *, unit: str = "", ratio: bool = False,
                axis: str = "y") -> None:
    """Set a scale, limits and readable tick labels: engineering units (100 µs, 1 ms), ratios as 1x;
    unlabelled minor ticks on log axes; a log axis spanning under a decade gets labelled 1-2-5 ticks."""
    from matplotlib.ticker import EngFormatter, LogLocator, NullFormatter, PercentFormatter

    set_scale = ax.set_yscale if axis == "y" else ax.set_xscale
    set_lim = ax.set_ylim if axis == "y" else ax.set_xlim
    target = ax.yaxis if axis == "y" else ax.xaxis
    set_scale("log" if scale == "log" else "linear")
    set_lim(*limits)
    fmt = ratio_formatter() if ratio else EngFormatter(unit=unit, sep=" ") if unit else None
    if scale == "log":
        decades = math.log10(limits[1] / limits[0])
        if decades < 2.5:
            target.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        target.set_minor_formatter(NullFormatter())
        if fmt is None:
            from matplotlib.ticker import FuncFormatter
            fmt = FuncFormatter(lambda y, _: f"{y:g}")
    if unit == "%":
        fmt = PercentFormatter(xmax=1.0, decimals=1)
    if fmt is not None:
        target.set_major_formatter(fmt)


# ---------------------------------------------------------------- captions
def _uniq(df: pd.DataFrame, col: str) -> list:
    return list(dict.fromkeys(df[col].dropna())) if col in df else []


def _count(v) -> str:
    """A token count as text: a whole number, or a length distribution's spec as given."""
    try:
        return str(int(v))
    except (TypeError, ValueError):
        return str(v)


def workload_text(df: pd.DataFrame) -> str:
    """"64 + 960 tokens, batch 1" for generate workloads (prompt + generated); else the workload labels."""
    if {"workload.prompt", "workload.generate"} <= set(df):
        rows = df[["workload.prompt", "workload.generate"] + (["workload.batch"] if "workload.batch" in df else [])]
        texts = []
        for _, r in rows.drop_duplicates().iterrows():
            if pd.isna(r["workload.prompt"]) or pd.isna(r["workload.generate"]):
                continue
            t = f"{_count(r['workload.prompt'])} + {_count(r['workload.generate'])} tokens"
            if "workload.batch" in r and pd.notna(r["workload.batch"]):
                t += f", batch {int(r['workload.batch'])}"
            texts.append(t)
        if texts:
            return "; ".join(dict.fromkeys(texts))
    labels = _uniq(df, "workload")
    return "; ".join(map(str, labels)) if len(labels) <= 3 else f"{len(labels)} workloads"


def models_text(df: pd.DataFrame) -> str:
    models = _uniq(df, "model")
    if len(models) <= 4:
        return ", ".join(MODEL_NAMES.get(m, m) for m in models)
    fams = sorted({re.sub(r"-(small|medium|large|xl)$", "", m).upper().replace("GPT", "GPT-") for m in models})
    return f"{len(models)} models ({'/'.join(fams)})"


def _swept(df: pd.DataFrame) -> dict[str, list]:
    """Grid columns (hardware paths such as `dram.channels`) that take several values in `df`."""
    cols = [c for c in df if "." in c and not c.startswith("workload.") and c.split(".")[0] not in GRID_ROW_PREFIXES
            and not c.endswith(("_lo", "_hi"))]
    return {c: sorted(df[c].dropna().unique()) for c in cols if df[c].nunique() > 1}


def caption(df: pd.DataFrame) -> str:
    """Model(s), workload, system and mapping of the rows in `df`, one line; swept hardware fields are
    stated as ranges ("PIM channels 4-32"), not as one system per value."""
    pim = df[df["target"].isin(["pim", "mixed"])] if "target" in df else df
    swept = _swept(pim)
    systems = list(dict.fromkeys(str(h).split(" ")[0] for h in _uniq(pim, "hardware")))
    mappings = _uniq(pim, "mapping")
    parts = [models_text(df), workload_text(df)]
    if systems:
        texts = []
        for sname in systems:
            detail = SYSTEM_DETAIL.get(sname, HARDWARE_NAMES.get(sname, sname))
            if "{channels}" in detail:
                detail = detail.replace("{channels} channels, ", "" if "dram.channels" in swept else "8 channels, ")
            texts.append(detail)
        parts.append("system: " + "; ".join(texts))
    for col, vals in swept.items():
        words = FIELD_NAMES.get(col, col)
        parts.append(f"swept: {words} {vals[0]:g}-{vals[-1]:g}" if all(isinstance(v, (int, float, np.number))
                     for v in vals) else f"swept: {words}")
    if mappings:
        parts.append("mapping: " + ", ".join(MAPPING_NAMES.get(m, m) for m in mappings))
    return " | ".join(p for p in parts if p)


def wrap(text: str, fig, fontsize: float) -> str:
    """`text` wrapped to the figure's width at `fontsize` (about 0.55 em per character)."""
    width_pt = fig.figure.get_figwidth() * 72
    chars = max(20, int(width_pt / (0.6 * fontsize)) - 4)
    return "\n".join(textwrap.fill(line, chars, break_on_hyphens=False) for line in text.split("\n"))


# ---------------------------------------------------------------- saving
SVG_HASHSALT = "pimsim"
PNG_METADATA = {"Software": "pimsim (matplotlib Agg)"}
SVG_METADATA = {"Date": None, "Creator": "pimsim (matplotlib)"}
DPI = 120


def save_figure(fig, out: Path, name: str) -> list[Path]:
    """NAME.png and NAME.svg with deterministic bytes (fixed metadata, salted ids); closes the figure."""
    import matplotlib.pyplot as plt

    paths = []
    with plt.rc_context({"svg.hashsalt": SVG_HASHSALT}):
        for ext, meta in (("png", PNG_METADATA), ("svg", SVG_METADATA)):
            p = Path(out) / f"{name}.{ext}"
            fig.savefig(p, dpi=DPI, metadata=meta)
            paths.append(p)
    plt.close(fig)
    return paths
