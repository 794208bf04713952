"""`pimsim run` and `pimsim plot`: experiments into a results folder, and plots redrawn from it.

    pimsim run experiments/NAME.yaml [--out DIR] [--executor local|dask] [--scheduler ADDRESS] [--workers N]
    pimsim plot DIR [--spec experiments/NAME.yaml]
"""

from __future__ import annotations

import sys
from pathlib import Path


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser(
        "run", help="run an experiment (sweep) into a results folder",
        description="Expand an experiment file into design points (hardware x mapping x model x workload x "
                    "baseline), evaluate them on a local process pool or a Dask cluster, store each finished "
                    "point in DIR/results.sqlite (a rerun skips stored points), then write DIR/results.csv "
                    "and the plots (PNG + SVG).")
    p.add_argument("spec", metavar="EXPERIMENT.yaml")
    p.add_argument("--out", metavar="DIR", help="results folder (default: results/NAME)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local process pool (default) or a Dask cluster")
    p.add_argument("--scheduler", metavar="ADDRESS", help="dask: scheduler address (default: a local cluster)")
    p.add_argument("--workers", type=_positive, metavar="N",
                   help="worker processes (default: CPU count); local with 1: in this process")
    p.add_argument("--no-plots", action="store_true", help="store and tabulate only")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_run)

    q = sub.add_parser("plot", help="redraw an experiment's plots from its results folder (no simulation)",
                       description="Rewrite DIR/results.csv and the plots from DIR/results.sqlite.")
    q.add_argument("dir", metavar="DIR")
    q.add_argument("--spec", metavar="EXPERIMENT.yaml", help="draw this file's plots: instead of the stored ones")
    q.set_defaults(func=_plot)


def _claim(out: Path, experiment: str) -> None:
    """Refuse (ConfigError) a folder whose store holds another experiment's results (pimsim/experiments/store.py)."""
    from pimsim.experiments.store import STORE_NAME, ResultStore

    if (out / STORE_NAME).is_file():
        with ResultStore(out / STORE_NAME, create=False) as store:
            store.claim(experiment)


def _replace_outputs(out: Path, files, keep_old: bool = False) -> list[Path]:
    """Record this run's files in the store and delete the previous run's files it did not rewrite."""
    from pimsim.experiments.store import STORE_NAME, ResultStore

    with ResultStore(out / STORE_NAME, create=False) as store:
        return store.replace_outputs(files, keep_old=keep_old)


def _run(args) -> int:
    from pimsim.experiments import load_experiment, make_executor, run_experiment

    name = load_experiment(args.spec).name
    _claim(Path(args.out) if args.out is not None else Path("results") / name, name)
    executor = make_executor(args.executor, workers=args.workers, scheduler=args.scheduler)
    s = run_experiment(args.spec, args.out, executor=executor, progress=not args.quiet, plots=not args.no_plots)
    for p in _replace_outputs(s.out, s.files, keep_old=args.no_plots):
        print(f"removed stale {p} (written by an earlier run, not by this one)", file=sys.stderr)
    print(f"{s.experiment}: {s.points} points ({s.already_stored} already stored, {s.ran} run"
          + (f", {s.errors} with an error row" if s.errors else "")
          + (f", {len(s.failed)} failed" if s.failed else "") + f") in {s.wall_s:.1f} s")
    _print_files(s.out, s.files)
    if s.failed:
        print(f"pimsim: {len(s.failed)} point(s) failed (not stored; rerun to retry): "
              + "; ".join(list(dict.fromkeys(d for _, d in s.failed))[:3]), file=sys.stderr)
        return 1
    return 0


def _plot(args) -> int:
    from pimsim.experiments import redraw

    files = redraw(args.dir, args.spec)
    for p in _replace_outputs(Path(args.dir), files):
        print(f"removed stale {p} (written by an earlier run or plot, not by this one)", file=sys.stderr)
    _print_files(Path(args.dir), files)
    return 0


def _print_files(out: Path, files) -> None:
    print(f"results: {out / 'results.csv'}")
    figs = [str(f) for f in files if f.suffix in (".png", ".svg")]
    tables = [str(f) for f in files if f.suffix == ".csv" and f.name != "results.csv"]
    if tables:
        print("tables:  " + " ".join(tables))
    if figs:
        print("plots:   " + " ".join(figs))
