"""Experiments box: specs (`experiments/*.yaml`) expanded into design points, evaluated on a process pool
or a Dask cluster into an SQLite results store, then tables and plots.

    from pimsim.experiments import run_experiment, redraw
    summary = run_experiment("experiments/pimgpt_speedup.yaml", "results/pimgpt_speedup")
    redraw("results/pimgpt_speedup")            # plots again from the store, no simulation

See docs/experiments.md for the spec format and what each shipped experiment computes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pimsim.util.lazy import lazy_exports

# public name -> defining module, imported on first use: tables and plots import pandas (issue 17)
_EXPORTS = {
    "compose_mixed": "pimsim.experiments.evaluate",
    "evaluate_point": "pimsim.experiments.evaluate",
    "result_row": "pimsim.experiments.evaluate",
    "run_point": "pimsim.experiments.evaluate",
    "split_workload": "pimsim.experiments.evaluate",
    "DaskExecutor": "pimsim.experiments.executors",
    "LocalExecutor": "pimsim.experiments.executors",
    "make_executor": "pimsim.experiments.executors",
    "expand_points": "pimsim.experiments.points",
    "RunSummary": "pimsim.experiments.runner",
    "redraw": "pimsim.experiments.runner",
    "run_experiment": "pimsim.experiments.runner",
    "Experiment": "pimsim.experiments.spec",
    "load_experiment": "pimsim.experiments.spec",
    "parse_experiment": "pimsim.experiments.spec",
    "STORE_NAME": "pimsim.experiments.store",
    "ResultStore": "pimsim.experiments.store",
    "results_frame": "pimsim.experiments.tables",
    "speedup_table": "pimsim.experiments.tables",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from pimsim.experiments.evaluate import compose_mixed, evaluate_point, result_row, run_point, split_workload  # noqa: F401
    from pimsim.experiments.executors import DaskExecutor, LocalExecutor, make_executor  # noqa: F401
    from pimsim.experiments.points import expand_points  # noqa: F401
    from pimsim.experiments.runner import RunSummary, redraw, run_experiment  # noqa: F401
    from pimsim.experiments.spec import Experiment, load_experiment, parse_experiment  # noqa: F401
    from pimsim.experiments.store import STORE_NAME, ResultStore  # noqa: F401
    from pimsim.experiments.tables import results_frame, speedup_table  # noqa: F401
