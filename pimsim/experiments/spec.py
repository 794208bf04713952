"""Experiment specs (`experiments/*.yaml`): what to run, validated before anything is simulated.

An experiment is a cartesian product of design-point axes:

    hardware entries x hardware grid x mappings   -> PIM targets
    baselines (device + mode)                     -> GPU/CPU targets (independent of the hardware axes)
    placements x hardware x mappings              -> mixed targets (some workload roles on PIM, the rest on
                                                     a GPU/CPU; see `pimsim.experiments.evaluate`)
    workloads (a field given as a list expands to one workload per value) x models

Format (every field is checked; unknown fields are errors that name the file and the field path):

    name: pimgpt_speedup
    description: what it reproduces or asks
    models: [gpt2-small, gpt3-xl]              # for generate / prm-score workloads without their own model
    workloads:
      - {label: gen, kind: generate, prompt: 64, generate: 960}
      - {kind: best-of-n, policy: ..., prm: ..., n: [1, 4, 16], ...}      # list -> one workload per value
    hardware:
      - {preset: pimgpt-gddr6, label: pim-gpt, overrides: {asic: {clock_ghz: 1.0}}}
      - {preset: cent-8dev, models: [llama2-7b]}  # only these models on this entry (a study's pairing)
    grid:                                       # override paths swept over every hardware entry
      dram.channels: [4, 8, 16, 32]
      "dram.timing.nCCDS,dram.timing.nCCDL": [2, 4]   # several paths set to the same value
    mappings: [pimgpt]
    baselines: [{device: t4, mode: graph}, {device: a100-80gb, mode: framework, num_devices: 4}]
    placements: [{label: policy-pim-prm-gpu, pim_roles: [policy], device: h100-sxm, mode: graph}]
    pim: true                                   # false: no all-PIM points (baselines/placements only)
    skip_beyond_context: false                  # true: drop points whose context exceeds the model's limit
    plots: [{kind: speedup, ...}, {kind: line, x: dram.channels}]
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pimsim.errors import ConfigError
from pimsim.util.config_io import read_yaml, validate

ROLES = ("policy", "prm", "verifier", "reference")

# result columns a plot may name (besides the prefixed ones below, point columns, grid paths and
# workload.<field>); ttft_s / tpot_s / e2e_latency_per_token_s as defined in `pimsim.result`
METRICS = ("latency_s", "energy_j", "tokens", "ttft_s", "tpot_s", "e2e_latency_per_token_s", "energy_per_token_j",
           "latency_per_problem_s", "energy_per_problem_j", "decode_energy_per_token_j", "row_hit_rate",
           "non_vmm_share", "tokens_per_second", "power_w")
ROW_PREFIXES = ("breakdown_s", "breakdown_j", "counters", "commands", "role_latency_s", "role_energy_j")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HardwareEntry(_Strict):
    """One PIM system: a shipped preset name or a YAML path, with optional field overrides."""

    preset: str = Field(min_length=1)
    label: str | None = None
    overrides: dict[str, Any] = Field(default_factory=dict)
    models: list[str] | None = Field(
        None, min_length=1, description="run only these models here (a study's pairing of each system with the "
                                        "models it was built for); default: every model")
    workloads: list[str] | None = Field(None, min_length=1,
                                        description="run only the workloads of these labels here; default: all")
    mappings: list[str] | None = Field(None, min_length=1, description="run only these of the experiment's "
                                       "mappings here (e.g. a paper's setting of a system with the paper's mapping); "
                                       "default: all")


class BaselineEntry(_Strict):
    device: str = Field(min_length=1)
    mode: Literal["graph", "eager", "framework"] | None = None
    label: str | None = None
    num_devices: int = Field(1, ge=1, le=1024, description="tensor-parallel devices (`pimsim baseline --num-devices`)")
    models: list[str] | None = Field(None, min_length=1, description="run only these models on this device")
    workloads: list[str] | None = Field(None, min_length=1,
                                        description="run only the workloads of these labels on this device")


class PlacementEntry(_Strict):
    """Workload roles in `pim_roles` run on the PIM system, the others on `device`."""

    label: str = Field(min_length=1)
    pim_roles: list[Literal["policy", "prm", "verifier", "reference"]] = Field(min_length=1)
    device: str = Field(min_length=1)
    mode: Literal["graph", "eager"] | None = None

    @field_validator("pim_roles")
    @classmethod
    def _not_all(cls, v: list[str]) -> list[str]:
        if set(v) >= set(ROLES):
            raise ValueError("lists every role; that is the all-PIM point (drop the placement)")
        return sorted(set(v))


Band = tuple[float, float]


class SpeedupPlot(_Strict):
    """PIM against each baseline per model: speedup and energy efficiency bars (log scale), with
    published ranges per baseline device drawn as shaded bands."""

    kind: Literal["speedup"]
    name: str = "speedup"
    bands: dict[str, dict[Literal["speedup", "energy_efficiency"], Band]] = Field(default_factory=dict)


class BreakdownPlot(_Strict):
    """Stacked share of PIM latency by category per model (and the non-VMM share)."""

    kind: Literal["breakdown"]
    name: str = "breakdown"
    reference_non_vmm: dict[str, float] = Field(default_factory=dict,
                                                description="model -> published non-VMM share (fraction)")


class LinePlot(_Strict):
    """Metrics against a numeric column (a grid path or workload field), one line per series."""

    kind: Literal["line"]
    name: str | None = None
    x: str
    y: list[str] = Field(default_factory=lambda: ["e2e_latency_per_token_s", "energy_per_token_j"], min_length=1)
    series: list[str] = Field(default_factory=lambda: ["model"])
    logx: bool = False
    logy: bool = False
    normalize: bool = Field(False, description="divide each line by its value at the first x")


class PublishedPoint(_Strict):
    """A published figure drawn on the bar(s) whose columns equal `match` (e.g. {model: llama2-7b,
    placement: cent-8dev-tp}), in `metric`'s panel, as a marker beside pimsim's bar."""

    match: dict[str, Any] = Field(min_length=1)
    metric: str = Field(min_length=1)
    value: float = Field(gt=0)
    source: str = Field(min_length=1, description="where the figure is published (file, figure)")


class BarsPlot(_Strict):
    """Grouped bars: one group per `group` value, one bar per `series` value, one panel per metric;
    `published` points are drawn beside the bars they match and listed with pimsim's figure and the
    error in NAME_published.csv."""

    kind: Literal["bars"]
    name: str | None = None
    group: list[str] = Field(min_length=1)
    series: list[str] = Field(min_length=1)
    y: list[str] = Field(min_length=1)
    logy: bool = False
    winners: bool = Field(False, description="also write NAME_winners.csv: best series per group and metric")
    published: list[PublishedPoint] = Field(default_factory=list)


class ParetoPlot(_Strict):
    """Latency against energy per point (both with their error bands), one panel per value of `panels`
    (the competitors of one front: e.g. one best-of-N problem size), one colour per `series`; marks the
    Pareto front and writes NAME_pareto.csv (`pimsim.experiments.plots.pareto_table`). `where` keeps
    only the rows whose columns equal the given values (e.g. one model pair)."""

    kind: Literal["pareto"]
    name: str | None = None
    x: str = "latency_per_problem_s"
    y: str = "energy_per_problem_j"
    panels: list[str] = Field(default_factory=lambda: ["workload.n"])
    series: list[str] = Field(default_factory=lambda: ["placement"], min_length=1)
    where: dict[str, Any] = Field(default_factory=dict)


PlotSpec = Annotated[Union[SpeedupPlot, BreakdownPlot, LinePlot, BarsPlot, ParetoPlot], Field(discriminator="kind")]


class Experiment(_Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$",
                      description="a plain file name: the default results folder is results/NAME")
    description: str = Field(min_length=1)
    models: list[str] = Field(default_factory=list)
    workloads: list[dict[str, Any]] = Field(min_length=1)
    hardware: list[HardwareEntry] = Field(default_factory=list)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    mappings: list[str] = Field(default_factory=lambda: ["pimgpt"])
    baselines: list[BaselineEntry] = Field(default_factory=list)
    placements: list[PlacementEntry] = Field(default_factory=list)
    pim: bool = True
    skip_beyond_context: bool = False
    evaluator: str | None = Field(
        None, pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$",
        description="module:function evaluating a point dict into a row dict instead of the built-in one "
                    "(an external simulator, or a cheap stand-in in tests)")
    plots: list[PlotSpec] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if v in (".", ".."):
            raise ValueError(f"{v!r} is not a plain file name (results/NAME would leave the results folder); "
                             "use letters, digits, '.', '_' and '-'")
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        for key, values in v.items():
            for path in key.split(","):
                if not path.strip() or not all(p.isidentifier() for p in path.strip().split(".")):
                    raise ValueError(f"{key}: not a dotted field path such as dram.channels")
            if not values:
                raise ValueError(f"{key}: give at least one value")
        return v

    @model_validator(mode="after")
    def _targets(self) -> "Experiment":
        if (self.pim or self.placements) and not self.hardware:
            raise ValueError("hardware: give at least one PIM system (or set pim: false and list baselines)")
        if not (self.pim or self.baselines or self.placements):
            raise ValueError("nothing to run: pim is false and there are no baselines or placements")
        if self.grid and not self.hardware:
            raise ValueError("grid: sweeps hardware overrides, but no hardware is given")
        names = [p.name or f"{p.kind}{i}" for i, p in enumerate(self.plots)]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"plots: two plots named {dup[0]!r}; give each a distinct name")
        if self.evaluator is None:
            check_plot_fields(self)
        return self


def plot_fields(exp: "Experiment") -> list[str]:
    """The columns of this experiment's results a plot may name (without the `ROW_PREFIXES` ones):
    point columns, grid paths, `workload.<field>` of its workloads and the result `METRICS`."""
    from pimsim.experiments.tables import POINT_COLUMNS
    from pimsim.workloads.spec import workload_adapter

    wl_fields: set[str] = set()
    for entry in exp.workloads:
        if not isinstance(entry, dict):
            continue
        data = {k: (v[0] if isinstance(v, list) and v else v) for k, v in entry.items() if k != "label"}
        try:
            spec = workload_adapter.validate_python(data).model_dump(mode="json")
        except Exception:  # noqa: BLE001 - an invalid workload is reported by the point expansion
            continue
        wl_fields |= {f"workload.{k}" for k, v in spec.items() if k != "kind" and v is not None}
    return [*POINT_COLUMNS, *exp.grid, *sorted(wl_fields), *METRICS, "machine", "problems"]


def check_plot_fields(exp: "Experiment") -> None:
    """Every column a `line` or `bars` plot names (x, y, series, group) must be one this experiment's
    results will have (`plot_fields`, or `PREFIX.name` of `ROW_PREFIXES`): checked at load, so a typo
    fails before the first point runs instead of drawing empty plots after the sweep. Skipped for a
    custom `evaluator:` (its row columns are unknown until it runs)."""
    import difflib

    allowed = plot_fields(exp)
    known = set(allowed)
    for i, plot in enumerate(exp.plots):
        for attr in ("x", "y", "series", "group", "panels", "where"):
            value = getattr(plot, attr, None)
            for name in ([value] if isinstance(value, str) else value or []):
                if name in known or name.split(".", 1)[0] in ROW_PREFIXES and "." in name:
                    continue
                close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
                raise ValueError(
                    f"plots.{i}.{attr}: plot {plot_name(plot, i)!r} names {name!r}, which is no column of this "
                    f"experiment's results" + (f"; did you mean {close[0]!r}?" if close else "")
                    + f" Allowed: {', '.join(allowed)}, or {', '.join(p + '.*' for p in ROW_PREFIXES)}")


def parse_experiment(data: dict[str, Any], source: str = "<experiment>") -> Experiment:
    """Validate an experiment mapping; errors name `source` and the field path."""
    return validate(Experiment, data, source)


def load_experiment(path: str | Path) -> Experiment:
    """Read and validate `experiments/NAME.yaml` (ConfigError naming the file and field on any problem)."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; give an experiment YAML file")
    return parse_experiment(read_yaml(path), str(path))


def plot_name(plot: Any, index: int) -> str:
    return plot.name or f"{plot.kind}{index}"
