"""Experiments: spec errors, design-point expansion, mixed placements, the results store (resume after a
kill), the Dask executor against the local pool, plots, and `pimsim run` / `pimsim plot` end to end.

Points that need the PIM system simulation use `fake_evaluator` (cheap, deterministic, picklable);
baseline points are real everywhere."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from pimsim.errors import ConfigError
from pimsim.experiments import (LocalExecutor, ResultStore, compose_mixed, evaluate_point, expand_points,
                                parse_experiment, redraw, run_experiment, split_workload)
from pimsim.experiments.points import load_point_workload
from pimsim.result import PhaseResult, Result

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def fake_evaluator(point: dict) -> dict:
    """Baseline points: the real baseline. PIM and mixed points: a synthetic row derived from the key."""
    delay = float(os.environ.get("PIMSIM_TEST_DELAY", "0"))
    if delay:
        time.sleep(delay)
    if point["target"] == "baseline":
        return evaluate_point(point)
    if point.get("model") == "gpt2-xl" and (point.get("grid") or {}).get("dram.channels") == 4:
        from pimsim.errors import CapacityError
        raise CapacityError("gpt2-xl does not fit 4 channels (fake)")
    h = int(point["key"][:8], 16)
    channels = (point.get("grid") or {}).get("dram.channels", 8)
    lat = 1e-3 * (1 + (h % 97) / 97) * 8 / channels
    tokens = 16
    return {"latency_s": lat, "energy_j": lat * 3.0, "tokens": tokens, "e2e_latency_per_token_s": lat / tokens,
            "energy_per_token_j": lat * 3.0 / tokens, "latency_per_problem_s": lat,
            "energy_per_problem_j": lat * 3.0, "row_hit_rate": 0.98, "non_vmm_share": 0.0116,
            "breakdown_s.pim_mac_stream": lat * 0.8, "breakdown_s.pim_row_switch": lat * 0.15,
            "breakdown_s.asic": lat * 0.05}


SPEC = {
    "name": "t",
    "description": "test experiment",
    "models": ["gpt2-small", "gpt2-xl"],
    "workloads": [{"label": "gen", "kind": "generate", "prompt": 16, "generate": [8, 16]}],
    "hardware": [{"preset": "pimgpt-gddr6", "label": "pg"}],
    "grid": {"dram.channels": [4, 8, 16]},
    "mappings": ["pimgpt"],
    "baselines": [{"device": "t4", "mode": "graph"}, {"device": "xeon-gold-6154"}],
    "evaluator": "test_experiments:fake_evaluator",
    "plots": [
        {"kind": "speedup", "bands": {"t4": {"speedup": [41, 137], "energy_efficiency": [123, 383]}}},
        {"kind": "breakdown", "reference_non_vmm": {"gpt2-xl": 0.0116}},
        {"kind": "line", "name": "channels", "x": "dram.channels", "logx": True},
        {"kind": "bars", "name": "bars", "group": ["model"], "series": ["placement"],
         "y": ["e2e_latency_per_token_s", "energy_per_token_j"], "logy": True, "winners": True},
    ],
}
BASELINES_ONLY = {
    "name": "b", "description": "real baselines", "models": ["gpt2-small", "gpt2-medium"],
    "workloads": [{"kind": "generate", "prompt": 32, "generate": [16, 32]}], "pim": False,
    "baselines": [{"device": "t4"}, {"device": "h100-sxm", "mode": "graph"}, {"device": "xeon-gold-6154"}],
    "plots": [{"kind": "bars", "name": "bars", "group": ["model", "workload"], "series": ["placement"],
               "y": ["e2e_latency_per_token_s"], "logy": True}],
}


def write_spec(tmp_path: Path, data: dict, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# ---------------------------------------------------------------- spec errors (exit code 2)

@pytest.mark.parametrize("change, expect", [
    ({"sweeps": {}}, "sweeps: unknown field"),
    ({"workloads": [{"kind": "generate", "prompt": 0, "generate": 8}]}, "workloads.0"),
    ({"models": ["gpt9"]}, "models.0: unknown model"),
    ({"hardware": [{"preset": "nope"}]}, "hardware.0"),
    ({"mappings": ["nope"]}, "mappings.0: unknown mapping"),
    ({"baselines": [{"device": "v100"}]}, "baselines.0: unknown baseline device"),
    ({"grid": {"dram.channels": [0]}}, "dram.channels"),
    ({"plots": [{"kind": "pie"}]}, "plots.0"),
    ({"workloads": [{"kind": "generate", "prompt": 1000, "generate": 100}]}, "supports at most 1024"),
])
def test_bad_experiment_files_exit_2_naming_file_and_field(tmp_path, cli, change, expect):
    path = write_spec(tmp_path, {**SPEC, **change})
    rc, out, err = cli("run", path, "--out", tmp_path / "out", "--workers", "1")
    assert rc == 2, err
    assert str(path) in err and expect in err, err
    assert not (tmp_path / "out" / "results.sqlite").exists()  # caught before any simulation


def test_malformed_yaml_and_missing_file(tmp_path, cli):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nworkloads: [\n")
    rc, _, err = cli("run", path)
    assert rc == 2 and "bad.yaml: malformed YAML at line" in err
    rc, _, err = cli("run", tmp_path / "missing.yaml")
    assert rc == 2 and "file not found" in err
    rc, _, err = cli("plot", tmp_path)
    assert rc == 2 and "no results store" in err


# ---------------------------------------------------------------- expansion

def test_expansion_grid_dedup_and_stable_keys():
    exp = parse_experiment(SPEC)
    points = expand_points(exp)
    pim = [p for p in points if p["target"] == "pim"]
    base = [p for p in points if p["target"] == "baseline"]
    assert len(pim) == 2 * 2 * 3  # models x workloads x channels
    assert len(base) == 2 * 2 * 2  # baselines do not depend on the hardware grid: run once
    assert {p["grid"]["dram.channels"] for p in pim} == {4, 8, 16}
    assert len({p["key"] for p in points}) == len(points)
    json.dumps(points)  # plain JSON
    relabelled = parse_experiment({**SPEC, "name": "other", "hardware": [{"preset": "pimgpt-gddr6", "label": "x"}]})
    assert [p["key"] for p in expand_points(relabelled)] == [p["key"] for p in points]
    changed = parse_experiment({**SPEC, "hardware": [{"preset": "pimgpt-gddr6",
                                                       "overrides": {"asic": {"clock_ghz": 0.5}}}]})
    assert {p["key"] for p in expand_points(changed) if p["target"] == "pim"}.isdisjoint(p["key"] for p in pim)


def test_grid_key_with_several_paths_and_context_skip():
    exp = parse_experiment({**SPEC, "grid": {"dram.timing.nCCDS,dram.timing.nCCDL": [2, 4]},
                            "workloads": [{"kind": "generate", "prompt": [100, 1500], "generate": 8}],
                            "skip_beyond_context": True})
    points = expand_points(exp)
    pim = [p for p in points if p["target"] == "pim"]
    assert {p["hardware"]["overrides"]["dram"]["timing"]["nCCDL"] for p in pim} == {2, 4}
    assert all(p["hardware"]["overrides"]["dram"]["timing"]["nCCDS"] ==
               p["hardware"]["overrides"]["dram"]["timing"]["nCCDL"] for p in pim)
    # gpt2 (1024 tokens) cannot take a 1500-token prompt: those points are dropped, not errors
    assert {(p["model"], p["workload"]["prompt"]) for p in pim} == {("gpt2-small", 100), ("gpt2-xl", 100)}


def test_placements_split_roles_and_compose():
    exp = parse_experiment({
        "name": "prm", "description": "d",
        "workloads": [{"kind": "best-of-n", "policy": "qwen2.5-math-1.5b-instruct", "prm": "skywork-prm-1.5b",
                       "n": 4, "question_tokens": 32, "steps": 2, "step_tokens": 16},
                      {"kind": "generate", "model": "gpt2-small", "prompt": 8, "generate": 8}],
        "hardware": [{"preset": "pimgpt-gddr6"}], "baselines": [{"device": "h100-sxm"}],
        "placements": [{"label": "mixed", "pim_roles": ["policy"], "device": "h100-sxm", "mode": "graph"}]})
    points = expand_points(exp)
    mixed = [p for p in points if p["target"] == "mixed"]
    assert len(mixed) == 1 and mixed[0]["workload"]["kind"] == "best-of-n"  # generate has no PRM phase
    wl = load_point_workload(mixed[0])
    on_pim, rest = split_workload(wl, ["policy"])
    assert {p.role for p in on_pim.phases} == {"policy"} and {p.role for p in rest.phases} == {"prm"}
    assert len(on_pim.phases) + len(rest.phases) == len(wl.phases)
    pim = Result("pim", 2.0, 10.0, 64, breakdown_s={"pim_mac_stream": 2.0},
                 phases=(PhaseResult("policy.decode", 2.0, 10.0, 64),), row_hit_rate=0.97)
    gpu = Result("h100", 0.5, 100.0, 64, breakdown_s={"gemm": 0.5})
    r = compose_mixed(wl, pim, gpu, device_idle_w=100.0, pim_idle_w=4.0)
    assert r.latency_s == 2.5
    assert r.energy_j == pytest.approx(10.0 + 100.0 + 100.0 * 2.0 + 4.0 * 0.5)
    assert r.breakdown_s == {"pim.pim_mac_stream": 2.0, "device.gemm": 0.5} and r.row_hit_rate == 0.97
    assert r.tokens == wl.generated_tokens


def test_shipped_experiments_expand():
    for path in sorted((REPO / "experiments").glob("*.yaml")):
        exp = parse_experiment(yaml.safe_load(path.read_text()), str(path))
        assert path.read_text().startswith("#"), f"{path.name} must begin with what it reproduces or asks"
        assert expand_points(exp, str(path)), path
    names = {p.stem for p in (REPO / "experiments").glob("*.yaml")}
    assert {"pimgpt_speedup", "latency_breakdown", "sweep_channels", "sweep_bandwidth", "sweep_asic_clock",
            "sweep_context", "mapping_compare", "prm_best_of_n", "prm_beam_search"} <= names


# ---------------------------------------------------------------- store, resume after a kill

def _stored(out: Path) -> dict[str, dict]:
    con = sqlite3.connect(out / "results.sqlite")
    rows = con.execute("SELECT key, result FROM points").fetchall()
    con.close()
    keys = [k for k, _ in rows]
    assert len(keys) == len(set(keys))
    return {k: json.loads(r) for k, r in rows}


def test_resume_after_killed_run(tmp_path):
    spec = write_spec(tmp_path, {**SPEC, "plots": []})
    n_points = len(expand_points(parse_experiment(SPEC)))
    ref = run_experiment(spec, tmp_path / "ref", executor=LocalExecutor(1), progress=False)
    assert ref.ran == n_points and not ref.failed
    reference = _stored(tmp_path / "ref")

    out = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
           "PIMSIM_TEST_DELAY": "0.2"}
    cmd = [sys.executable, "-m", "pimsim.cli.main", "run", str(spec), "--out", str(out), "--workers", "2", "--quiet"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 40
    stored = 0
    while time.time() < deadline and proc.poll() is None:
        try:
            con = sqlite3.connect(out / "results.sqlite", timeout=5)
            stored = con.execute("SELECT COUNT(*) FROM points").fetchone()[0]
            con.close()
        except sqlite3.Error:
            stored = 0
        if stored >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run: the CLI and its worker processes
    proc.wait(timeout=10)
    partial = _stored(out)
    assert 3 <= len(partial) < n_points
    for key, row in partial.items():
        assert row == reference[key]

    rc = subprocess.run(cmd, env={**env, "PIMSIM_TEST_DELAY": "0"}, capture_output=True, text=True, timeout=60)
    assert rc.returncode == 0, rc.stderr
    assert f"{len(partial)} already stored, {n_points - len(partial)} run" in rc.stdout
    assert _stored(out) == reference  # every point exactly once, identical values
    assert len(pd.read_csv(out / "results.csv")) == n_points


# ---------------------------------------------------------------- executors

def test_dask_local_cluster_matches_local_pool(tmp_path):
    pytest.importorskip("distributed")
    from pimsim.experiments import DaskExecutor

    spec = write_spec(tmp_path, {**BASELINES_ONLY, "plots": []})
    local = run_experiment(spec, tmp_path / "local", executor=LocalExecutor(2), progress=False)
    dask = run_experiment(spec, tmp_path / "dask", executor=DaskExecutor(workers=2), progress=False)
    assert local.ran == dask.ran == 12 and not dask.failed
    assert _stored(tmp_path / "dask") == _stored(tmp_path / "local")
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "dask" / "results.csv"),
                                  pd.read_csv(tmp_path / "local" / "results.csv"))


# ---------------------------------------------------------------- plots and tables

def test_plots_written_nonempty_and_redrawn(tmp_path, cli):
    spec = write_spec(tmp_path, SPEC)
    out = tmp_path / "out"
    s = run_experiment(spec, out, executor=LocalExecutor(1), progress=False)
    assert s.errors == 2 and not s.failed  # gpt2-xl on 4 channels: stored as an error row
    names = ["speedup", "breakdown", "channels", "bars"]
    for name in names:
        for ext in ("png", "svg"):
            assert (out / f"{name}.{ext}").stat().st_size > 5000, name
    df = pd.read_csv(out / "results.csv")
    assert len(df) == len(expand_points(parse_experiment(SPEC))) and df["error"].notna().sum() == 2
    speed = pd.read_csv(out / "speedup.csv")
    assert set(speed["baseline"]) == {"t4 (graph)", "xeon-gold-6154 (eager)"}
    # every ratio from the stored rows: baseline latency / PIM latency of the same model and workload (was
    # `speedup > 0`, which an inverted ratio passed); one row per finished PIM point x baseline point
    ok = df[df["error"].isna()]
    pim, base = ok[ok["target"] == "pim"], ok[ok["target"] == "baseline"]
    expect = pim.merge(base, on=["model", "workload"], suffixes=("_p", "_b"))
    assert len(speed) == len(expect) > 0
    got = sorted(zip(speed["latency_s_pim"], speed["latency_s_baseline"], speed["speedup"]))
    want = sorted(zip(expect["latency_s_p"], expect["latency_s_b"], expect["latency_s_b"] / expect["latency_s_p"]))
    assert np.allclose(np.array(got), np.array(want), rtol=1e-12, atol=0)
    assert (out / "bars_winners.csv").stat().st_size > 0
    for name in names:
        (out / f"{name}.png").unlink()
    rc, stdout, err = cli("plot", out)
    assert rc == 0, err
    assert all((out / f"{name}.png").stat().st_size > 5000 for name in names)
    assert "speedup.png" in stdout
    # a rerun simulates nothing
    again = run_experiment(spec, out, executor=LocalExecutor(1), progress=False, plots=False)
    assert again.ran == 0 and again.already_stored == again.points


def test_cli_run_real_baselines_end_to_end(tmp_path, run_cli):
    spec = write_spec(tmp_path, BASELINES_ONLY)
    out = tmp_path / "out"
    rc, stdout, err = run_cli("run", spec, "--out", out, "--workers", "2")
    assert rc == 0, err
    assert "12 points (0 already stored, 12 run)" in stdout and str(out / "bars.png") in stdout
    df = pd.read_csv(out / "results.csv")
    assert len(df) == 12 and df["latency_s"].gt(0).all() and df["error"].isna().all()
    assert (out / "bars.svg").stat().st_size > 5000
    rc, stdout, err = run_cli("run", spec, "--out", out, "--quiet")
    assert rc == 0 and "12 already stored, 0 run" in stdout
    with ResultStore(out / "results.sqlite") as store:
        assert store.count() == 12
    assert redraw(out)
