"""Experiments box: specs (`experiments/*.yaml`) expanded into design points, evaluated on a process pool
or a Dask cluster into an SQLite results store, then tables and plots.

    from pimsim.experiments import run_experiment, redraw
    summary = run_experiment("experiments/pimgpt_speedup.yaml", "results/pimgpt_speedup")
    redraw("results/pimgpt_speedup")            # plots again from the store, no simulation

See docs/experiments.md for the spec format and what each shipped experiment computes.
"""

from pimsim.experiments.evaluate import compose_mixed, evaluate_point, result_row, run_point, split_workload
from pimsim.experiments.executors import DaskExecutor, LocalExecutor, make_executor
from pimsim.experiments.points import expand_points
from pimsim.experiments.runner import RunSummary, redraw, run_experiment
from pimsim.experiments.spec import Experiment, load_experiment, parse_experiment
from pimsim.experiments.store import STORE_NAME, ResultStore
from pimsim.experiments.tables import results_frame, speedup_table

__all__ = [
    "STORE_NAME",
    "DaskExecutor",
    "Experiment",
    "LocalExecutor",
    "ResultStore",
    "RunSummary",
    "compose_mixed",
    "evaluate_point",
    "expand_points",
    "load_experiment",
    "make_executor",
    "parse_experiment",
    "redraw",
    "result_row",
    "results_frame",
    "run_experiment",
    "run_point",
    "speedup_table",
    "split_workload",
]
