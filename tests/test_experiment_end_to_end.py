"""The real evaluator end to end (issue 19): an experiment file with a PIM point, a baseline point and a
mixed placement runs through `run_experiment` with the built-in evaluator (no fake), and its stored rows
equal `pimsim simulate` and `pimsim baseline` run separately (CLI --json); the mixed row is their
composition by the rule stated in pimsim/experiments/evaluate.py, recomputed here from the CLI's
per-phase results and the presets' idle powers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from pimsim.experiments import LocalExecutor, run_experiment

REPO = Path(__file__).resolve().parents[1]
BON = {"kind": "best-of-n", "policy": "qwen2.5-math-1.5b-instruct", "prm": "skywork-prm-1.5b", "n": 2,
       "question_tokens": 16, "steps": 2, "step_tokens": 8}
BON_FLAGS = ("--workload", "best-of-n", "--policy", BON["policy"], "--prm", BON["prm"], "--n", "2",
             "--question-tokens", "16", "--steps", "2", "--step-tokens", "8")
GEN_FLAGS = ("--model", "gpt2-small", "--workload", "generate", "--prompt", "8", "--generate", "8")


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e")
    hw = tmp / "pim32.yaml"  # two 1.5B models need more than pimgpt-gddr6's 4 GiB
    hw.write_text(yaml.safe_dump({"base": "pimgpt-gddr6", "name": "pim32", "dram": {"channels": 32}}))
    spec = tmp / "e2e.yaml"
    spec.write_text(yaml.safe_dump({
        "name": "e2e", "description": "real evaluator on a PIM, a baseline and a mixed point",
        "workloads": [{"label": "gen", "kind": "generate", "model": "gpt2-small", "prompt": 8, "generate": 8},
                      {"label": "bon", **BON}],
        "hardware": [{"preset": str(hw), "label": "pim32"}], "mappings": ["pimgpt"],
        "baselines": [{"device": "h100-sxm", "mode": "graph"}],
        "placements": [{"label": "policy-pim", "pim_roles": ["policy"], "device": "h100-sxm", "mode": "graph"}],
        "plots": [{"kind": "speedup"}],
    }, sort_keys=False))
    out = tmp / "out"
    summary = run_experiment(spec, out, executor=LocalExecutor(1), progress=False)
    assert not summary.failed and summary.errors == 0
    return hw, pd.read_csv(out / "results.csv"), pd.read_csv(out / "speedup.csv")


def _cli_json(run_cli, *argv) -> dict:
    rc, out, err = run_cli(*argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def _row(df: pd.DataFrame, target: str, workload: str) -> pd.Series:
    rows = df[(df["target"] == target) & (df["workload"] == workload)]
    assert len(rows) == 1, rows
    return rows.iloc[0]


def test_pim_and_baseline_points_equal_the_cli(experiment, run_cli):
    hw, df, speed = experiment
    sim = _cli_json(run_cli, "simulate", "--hardware", str(hw), "--mapping", "pimgpt", *GEN_FLAGS)
    base = _cli_json(run_cli, "baseline", "--device", "h100-sxm", "--mode", "graph", *GEN_FLAGS)
    pim_row, base_row = _row(df, "pim", "gen"), _row(df, "baseline", "gen")
    for row, ref in ((pim_row, sim), (base_row, base)):
        assert row["latency_s"] == pytest.approx(ref["latency_s"], rel=1e-12)
        assert row["energy_j"] == pytest.approx(ref["energy_j"], rel=1e-12)
        assert row["tokens"] == ref["tokens"] == 8
        assert row["ttft_s"] == pytest.approx(ref["ttft_s"], rel=1e-12)
        assert row["tpot_s"] == pytest.approx(ref["tpot_s"], rel=1e-12)
    assert pim_row["commands.MAC16"] == sim["commands"]["MAC16"]
    # the speedup table of the same run: H100 latency / PIM latency of the CLI's numbers
    s = speed[(speed["model"] == "gpt2-small") & (speed["workload"] == "gen")]
    assert len(s) == 1
    assert s["speedup"].iloc[0] == pytest.approx(base["latency_s"] / sim["latency_s"], rel=1e-12)
    assert s["energy_efficiency"].iloc[0] == pytest.approx(base["energy_j"] / sim["energy_j"], rel=1e-12)


def test_mixed_point_is_the_composition_of_the_cli_parts(experiment, run_cli):
    """Policy phases on PIM (their latencies and energies from `pimsim simulate` of the whole workload),
    PRM phases on the H100 (from `pimsim baseline`); energy adds the H100's idle power while PIM works and
    PIM's standby (32 channels x 0.26375 W + 0.1 W ASIC leakage, pimgpt-gddr6.yaml) while the H100 works."""
    hw, df, _ = experiment
    sim = _cli_json(run_cli, "simulate", "--hardware", str(hw), "--mapping", "pimgpt", *BON_FLAGS)
    base = _cli_json(run_cli, "baseline", "--device", "h100-sxm", "--mode", "graph", *BON_FLAGS)
    pim_s = sum(p["latency_s"] for p in sim["phases"] if p["role"] == "policy")
    pim_j = sum(p["energy_j"] for p in sim["phases"] if p["role"] == "policy")
    dev_s = sum(p["latency_s"] for p in base["phases"] if p["role"] == "prm")
    dev_j = sum(p["energy_j"] for p in base["phases"] if p["role"] == "prm")
    assert pim_s > 0 and dev_s > 0
    device = yaml.safe_load((REPO / "pimsim" / "baselines" / "presets" / "h100-sxm.yaml").read_text())
    idle_w = device["power"]["idle_w"]
    pim_idle_w = 32 * 0.26375 + 0.1
    mixed = _row(df, "mixed", "bon")
    assert mixed["latency_s"] == pytest.approx(pim_s + dev_s, rel=1e-9)
    assert mixed["energy_j"] == pytest.approx(pim_j + dev_j + idle_w * pim_s + pim_idle_w * dev_s, rel=1e-9)
    assert mixed["counters.pim_latency_s"] == pytest.approx(pim_s, rel=1e-9)
    assert mixed["counters.device_latency_s"] == pytest.approx(dev_s, rel=1e-9)
    # the all-PIM point of the same workload is the CLI's whole-workload simulation
    assert _row(df, "pim", "bon")["latency_s"] == pytest.approx(sim["latency_s"], rel=1e-12)
    assert _row(df, "baseline", "bon")["energy_j"] == pytest.approx(base["energy_j"], rel=1e-12)
