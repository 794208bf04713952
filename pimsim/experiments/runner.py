"""Running an experiment: expand, skip stored points, evaluate the rest, store each as it finishes, then
write results.csv (results.parquet with pyarrow) and the plots. `redraw` does the last step alone."""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Callable

from pimsim.errors import ConfigError
from pimsim.experiments.evaluate import evaluator_id, run_point
from pimsim.experiments.executors import LocalExecutor
from pimsim.experiments.points import cost_order, expand_points
from pimsim.experiments.spec import Experiment, load_experiment, parse_experiment
from pimsim.experiments.store import STORE_NAME, ResultStore
from pimsim.experiments.tables import results_frame


@dataclass
class RunSummary:
    experiment: str
    out: Path
    points: int
    already_stored: int
    ran: int = 0
    failed: list[tuple[dict, str]] = field(default_factory=list)
    errors: int = 0  # points stored with an error row (bad input, e.g. does not fit)
    wall_s: float = 0.0
    files: list[Path] = field(default_factory=list)


def write_outputs(out: Path, exp: Experiment, points: list[dict], store: ResultStore,
                  plots: bool = True) -> list[Path]:
    """results.csv (+ parquet) of `points` from `store`, and the experiment's plots."""
    df = results_frame(points, store.results(p["key"] for p in points))
    files = []
    csv = out / "results.csv"
    df.to_csv(csv, index=False)
    files.append(csv)
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        pass
    else:
        df.to_parquet(out / "results.parquet", index=False)
        files.append(out / "results.parquet")
    if plots and exp.plots:
        from pimsim.experiments.plots import draw_plots

        files += draw_plots(df, exp.plots, out, exp.name)
    return files


def results_folder(out: Path) -> Path:
    """`out` as a results folder: an existing folder, or a path whose nearest existing parent is a
    folder (created later); a file anywhere on the path is a `ConfigError` naming it, before any work."""
    for p in (out, *out.parents):
        if p.exists():
            if not p.is_dir():
                what = "is a file" if p == out else f"has the file {p} on its path"
                raise ConfigError(f"--out {out}: {what}; give a results folder")
            break
    return out


def run_experiment(spec: str | Path | Experiment, out: str | Path | None = None, *, executor=None,
                   evaluator: str | Callable | None = None, progress: bool = True, plots: bool = True,
                   log: Callable[[str], Any] | None = None) -> RunSummary:
    """Run `spec` (a YAML path or an `Experiment`) into `out` (default results/NAME); see module docstring.

    `evaluator` replaces the built-in point evaluator (a picklable top-level function or
    "module:function"); it is part of every point key. Interrupting (KeyboardInterrupt) keeps every
    finished point; rerunning completes the rest."""
    t0 = time.perf_counter()
    log = log or (lambda msg: print(msg, file=sys.stderr))
    if isinstance(spec, Experiment):
        exp, source = spec, "<experiment>"
    else:
        exp, source = load_experiment(spec), str(spec)
    out = results_folder(Path(out) if out is not None else Path("results") / exp.name)
    points = expand_points(exp, source, evaluator_id(evaluator))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot create the results folder ({exc.strerror or exc})") from None
    executor = executor or LocalExecutor()
    fn = partial(run_point, evaluator=evaluator if evaluator is not None else exp.evaluator)
    with ResultStore(out / STORE_NAME) as store:
        store.set_meta("experiment", exp.model_dump(mode="json"))
        store.set_meta("points", points)
        stored = store.keys()
        todo = [p for p in points if p["key"] not in stored]
        todo = [todo[i] for i in cost_order(todo)]
        summary = RunSummary(exp.name, out, len(points), len(points) - len(todo))
        if summary.already_stored:
            log(f"{exp.name}: {summary.already_stored} of {len(points)} points already in {out / STORE_NAME}; "
                f"running the other {len(todo)}")
        if todo:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc=exp.name, unit="point", file=sys.stderr, disable=not progress,
                       dynamic_ncols=True, bar_format="{l_bar}{bar}| {n_fmt}/{total_fmt} done, {remaining} "
                       "left (ETA) [{elapsed}, {rate_fmt}]")
            try:
                for i, row, exc in executor.run(fn, todo):
                    if exc is not None:
                        detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
                        summary.failed.append((todo[i], detail))
                        bar.write(f"{exp.name}: point {_describe(todo[i])} failed: {detail}", file=sys.stderr)
                    else:
                        store.put(todo[i], row)
                        summary.ran += 1
                        summary.errors += "error" in row
                    bar.update(1)
            finally:
                bar.close()
        summary.files = write_outputs(out, exp, points, store, plots)
    summary.wall_s = time.perf_counter() - t0
    return summary


def _describe(point: dict) -> str:
    parts = [point.get("placement"), point.get("model"), point.get("workload_label"),
             (point.get("hardware") or {}).get("label"), point.get("mapping")]
    return "[" + ", ".join(str(p) for p in parts if p) + f"] ({point['key']})"


def redraw(out: str | Path, spec: str | Path | None = None) -> list[Path]:
    """Rewrite results.csv and the plots of the results folder `out` from its store, without simulating.

    `spec`: an experiment file whose `plots:` to draw instead of the stored one's."""
    out = Path(out)
    if not out.is_dir():
        raise ConfigError(f"{out}: no such results folder")
    with ResultStore(out / STORE_NAME, create=False) as store:
        stored_exp = store.get_meta("experiment")
        points = store.get_meta("points")
        if stored_exp is None or points is None:
            raise ConfigError(f"{out / STORE_NAME}: no experiment recorded (was it written by `pimsim run`?)")
        exp = parse_experiment(stored_exp, str(out / STORE_NAME))
        if spec is not None:
            exp = exp.model_copy(update={"plots": load_experiment(spec).plots})
        return write_outputs(out, exp, points, store)
