"""Issue 11, reporting and CLI/experiment holes: per-token figures by phase role (TTFT, TPOT, end to end),
output paths checked before any work, experiment names and plot fields checked at load, pool workers
that die with `pimsim run`, and hardware results/errors labelled by the user's file.

Expected values come from the workload's phases (`pimsim.workloads.phases` token conventions), never
from the figure under test."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest
import yaml

from pimsim.baselines import run_baseline
from pimsim.result import PhaseResult, Result
from pimsim.workloads import expand, parse_workload

GEN = ["--model", "gpt2-small", "--workload", "generate"]


def _phase(result: Result, name: str) -> PhaseResult:
    return next(p for p in result.phases if p.name == name)


# ---------------------------------------------------------------- 1. TTFT / TPOT / end to end
def test_simulate_json_reports_ttft_tpot_and_e2e_separately(cli):
    prompt, gen = 1000, 16
    rc, out, err = cli("simulate", *GEN, "--prompt", prompt, "--generate", gen, "--json")
    assert rc == 0, err
    d = json.loads(out)
    phases = {p["name"]: p for p in d["phases"]}
    # generate: the prefill emits the first token, G-1 decode steps follow
    assert d["ttft_s"] == pytest.approx(phases["prefill"]["latency_s"])
    assert d["tpot_s"] == pytest.approx(phases["decode"]["latency_s"] / (gen - 1))
    assert d["ttft_s"] + (gen - 1) * d["tpot_s"] == pytest.approx(d["latency_s"])
    assert d["e2e_latency_per_token_s"] == pytest.approx(d["latency_s"] / gen)
    assert "latency_per_token_s" not in d
    # the figure the issue complained about: e2e/token is dominated by the prefill, TPOT is not
    assert d["e2e_latency_per_token_s"] > 10 * d["tpot_s"]


def test_simulate_text_names_each_figure(cli):
    rc, out, err = cli("simulate", *GEN, "--prompt", 1000, "--generate", 16)
    assert rc == 0, err
    rc, js, _ = cli("simulate", *GEN, "--prompt", 1000, "--generate", 16, "--json")
    d = json.loads(js)
    assert f"time to first    {d['ttft_s'] * 1e3:.4g} ms (policy prefill)" in out
    assert f"time per output  {d['tpot_s'] * 1e6:.4g} us/token (policy decode, per sequence)" in out
    assert f"{d['e2e_latency_per_token_s'] * 1e6:.4g} us/token (end-to-end latency over 16 generated" in out


def test_tpot_is_per_sequence_for_a_batch():
    from pimsim.models import load_model

    wl = expand(parse_workload({"kind": "generate", "prompt": 64, "generate": 9, "batch": 4}), load_model("gpt2-small"))
    r = run_baseline(wl, "h100-sxm")
    # 4 sequences decode together: each step emits one token of each, 8 steps
    assert r.tpot_s == pytest.approx(_phase(r, "decode").latency_s / 8)
    assert r.ttft_s == pytest.approx(_phase(r, "prefill").latency_s)


def _baseline(spec: dict, model: str | None = None) -> Result:
    from pimsim.models import load_model

    return run_baseline(expand(parse_workload(spec), load_model(model) if model else None), "h100-sxm")


def test_prm_scoring_without_decode_has_ttft_latency_and_no_tpot(cli):
    spec = {"kind": "prm-score", "solutions": 4, "question_tokens": 64, "steps": 4, "step_tokens": 16}
    r = _baseline(spec, "gpt2-small")
    assert r.ttft_s == r.latency_s and r.tpot_s is None
    rc, out, err = cli("simulate", "--model", "gpt2-small", "--workload", "prm-score", "--solutions", 4,
                       "--question-tokens", 64, "--steps", 4, "--step-tokens", 16, "--json")
    assert rc == 0, err
    d = json.loads(out)
    assert d["ttft_s"] == d["latency_s"] and d["tpot_s"] is None


def test_generative_scoring_ttft_is_the_verifier_prefill():
    spec = {"kind": "prm-score", "solutions": 2, "question_tokens": 32, "steps": 2, "step_tokens": 8,
            "scoring": "generative", "verify_tokens": 11}
    r = _baseline(spec, "gpt2-small")
    assert r.ttft_s == pytest.approx(_phase(r, "prm.verify.prefill").latency_s)
    assert r.tpot_s == pytest.approx(_phase(r, "prm.verify.decode").latency_s / 10)


def test_best_of_n_per_role():
    spec = {"kind": "best-of-n", "policy": "gpt2-small", "prm": "gpt2-medium", "n": 4, "question_tokens": 32,
            "steps": 3, "step_tokens": 5}
    r = _baseline(spec)
    answer = 3 * 5
    assert r.ttft_s == pytest.approx(_phase(r, "policy.prefill").latency_s)
    assert r.tpot_s == pytest.approx(_phase(r, "policy.decode").latency_s / (answer - 1))
    assert r.latency_s > r.ttft_s + (answer - 1) * r.tpot_s  # the PRM scoring is in latency_s only


def test_beam_search_per_role():
    spec = {"kind": "beam-search", "policy": "gpt2-small", "prm": "gpt2-medium", "beam_width": 2,
            "expansions": 2, "question_tokens": 32, "steps": 3, "step_tokens": 4}
    r = _baseline(spec)
    decode = sum(p.latency_s for p in r.phases if p.name.startswith("policy.decode.step"))
    assert r.ttft_s == pytest.approx(_phase(r, "policy.prefill").latency_s)
    assert r.tpot_s == pytest.approx(decode / (3 * 4))


def test_old_per_token_name_is_gone_everywhere():
    from pimsim.experiments.plots import LABELS
    from pimsim.experiments.spec import METRICS

    assert not hasattr(Result, "latency_per_token_s")
    assert "latency_per_token_s" not in METRICS and "latency_per_token_s" not in LABELS
    assert {"ttft_s", "tpot_s", "e2e_latency_per_token_s"} <= set(METRICS)
    repo = Path(__file__).resolve().parents[1]
    for f in sorted((repo / "experiments").glob("*.yaml")):
        assert "latency_per_token_s:" not in f.read_text() and "[latency_per_token_s" not in f.read_text(), f


def test_experiment_rows_carry_ttft_and_tpot(cli, tmp_path):
    exp = tmp_path / "e.yaml"
    exp.write_text(yaml.safe_dump({
        "name": "e", "description": "rows", "models": ["gpt2-small"],
        "workloads": [{"kind": "generate", "prompt": 64, "generate": 9}], "pim": False,
        "baselines": [{"device": "h100-sxm"}],
        "plots": [{"kind": "bars", "name": "b", "group": ["model"], "series": ["placement"], "y": ["tpot_s"]}]}))
    rc, out, err = cli("run", exp, "--out", tmp_path / "out", "--workers", 1, "--quiet")
    assert rc == 0, err
    import pandas as pd

    row = pd.read_csv(tmp_path / "out" / "results.csv").iloc[0]
    r = _baseline({"kind": "generate", "prompt": 64, "generate": 9}, "gpt2-small")
    assert row["ttft_s"] == pytest.approx(r.ttft_s) and row["tpot_s"] == pytest.approx(r.tpot_s)


# ---------------------------------------------------------------- 2. --trace checked first
@pytest.fixture
def no_simulation(monkeypatch):
    import pimsim.engine.system as system

    def boom(*a, **k):
        raise AssertionError("the simulation ran before the --trace path was checked")

    monkeypatch.setattr(system, "simulate", boom)


def test_trace_into_missing_folder_fails_before_simulating(cli, tmp_path, no_simulation):
    target = tmp_path / "nowhere" / "t.json"
    rc, out, err = cli("simulate", *GEN, "--prompt", 8, "--generate", 4, "--trace", target)
    assert rc == 2
    assert f"--trace {target}: folder {target.parent} does not exist" in err


def test_trace_onto_a_folder_fails_before_simulating(cli, tmp_path, no_simulation):
    rc, out, err = cli("simulate", *GEN, "--prompt", 8, "--generate", 4, "--trace", tmp_path)
    assert rc == 2
    assert f"--trace {tmp_path}: is a folder" in err


# ---------------------------------------------------------------- 3. run --out, experiment names
def _exp(tmp_path: Path, **fields) -> Path:
    data = {"name": "small", "description": "d", "models": ["gpt2-small"],
            "workloads": [{"kind": "generate", "prompt": 8, "generate": 2}], "pim": False,
            "baselines": [{"device": "h100-sxm"}], **fields}
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_run_out_onto_a_file(cli, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    rc, out, err = cli("run", _exp(tmp_path), "--out", f, "--quiet")
    assert rc == 2 and f"--out {f}: is a file" in err
    rc, out, err = cli("run", _exp(tmp_path), "--out", f / "sub", "--quiet")
    assert rc == 2 and f"has the file {f} on its path" in err


@pytest.mark.parametrize("name", ["..", "."])
def test_experiment_name_must_be_a_plain_file_name(cli, tmp_path, name, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = _exp(tmp_path, name=name)
    rc, out, err = cli("run", path, "--quiet")
    assert rc == 2
    assert f"{path}: name: {name!r} is not a plain file name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp.yaml"]  # nothing written


# ---------------------------------------------------------------- 4. plot fields checked at load
def test_plot_field_typo_fails_before_the_first_point(cli, tmp_path):
    path = _exp(tmp_path, pim=True, baselines=[], hardware=[{"preset": "pimgpt-gddr6"}],
                grid={"dram.channels": [8, 16]},
                plots=[{"kind": "line", "name": "channels", "x": "dram.chanels", "y": ["tpot_s"]}])
    out = tmp_path / "out"
    rc, _, err = cli("run", path, "--out", out, "--quiet")
    assert rc == 2
    assert (f"{path}: plots.0.x: plot 'channels' names 'dram.chanels', which is no column of this "
            f"experiment's results; did you mean 'dram.channels'?") in err
    assert "Allowed: " in err and "tpot_s" in err
    assert not out.exists()  # no point ran


@pytest.mark.parametrize("plot, attr, bad", [
    ({"kind": "bars", "group": ["model"], "series": ["mappng"], "y": ["latency_s"]}, "series", "mappng"),
    ({"kind": "bars", "group": ["model"], "series": ["placement"], "y": ["latency_per_token_s"]}, "y",
     "latency_per_token_s"),
    ({"kind": "line", "x": "workload.prompt", "series": ["model"], "y": ["ttft"]}, "y", "ttft"),
])
def test_every_plot_field_is_checked(cli, tmp_path, plot, attr, bad):
    rc, _, err = cli("run", _exp(tmp_path, plots=[plot]), "--out", tmp_path / "o", "--quiet")
    assert rc == 2 and f"plots.0.{attr}: plot '{plot['kind']}0' names {bad!r}" in err


def test_plot_fields_that_exist_are_accepted():
    from pimsim.experiments.spec import load_experiment

    repo = Path(__file__).resolve().parents[1]
    for f in sorted((repo / "experiments").glob("*.yaml")):
        load_experiment(f)  # every shipped experiment's plots name real columns


# ---------------------------------------------------------------- 5. workers die with their parent
SLEEPY = """
import time
def slow(point):
    time.sleep(120)
    return {"latency_s": 1.0}
"""


def _children_gone(pids: list[int], within_s: float) -> bool:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        alive = []
        for pid in pids:
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.NoSuchProcess:
                pass
        if not alive:
            return True
        time.sleep(0.2)
    return False


def test_kill_9_of_run_takes_its_workers_with_it(tmp_path):
    (tmp_path / "sleepy_eval.py").write_text(SLEEPY)
    path = _exp(tmp_path, evaluator="sleepy_eval:slow", pim=True, baselines=[],
                hardware=[{"preset": "pimgpt-gddr6"}],
                workloads=[{"kind": "generate", "prompt": 8, "generate": [2, 3, 4, 5]}])
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    proc = subprocess.Popen([sys.executable, "-m", "pimsim.cli.main", "run", str(path), "--out",
                             str(tmp_path / "out"), "--workers", "2", "--quiet"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.monotonic() + 60
        while len(parent.children()) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
        workers = [c.pid for c in parent.children()]
        assert len(workers) >= 2, "the pool never started"
        time.sleep(1.0)  # let the workers finish their initializer and start on a point
        proc.kill()
        proc.wait(10)
        assert _children_gone(workers, within_s=5), f"orphaned workers: {workers}"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_watchdog_fallback_exits_when_the_parent_dies(tmp_path):
    """Where prctl is unavailable, a daemon thread polls getppid(): check it alone (no prctl)."""
    script = textwrap.dedent("""
        import os, sys, threading, time
        from pimsim.experiments.executors import _watch_parent
        parent = os.getpid()  # before the fork: the parent may exit before the child reads getppid()
        pid = os.fork()
        if pid == 0:
            threading.Thread(target=_watch_parent, args=(parent, 0.1), daemon=True).start()
            time.sleep(60)
            os._exit(0)
        print(pid, flush=True)
        os._exit(0)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    child = int(out.stdout.split()[0])
    assert _children_gone([child], within_s=5)


# ---------------------------------------------------------------- 6. labelled by the user's file
def test_hardware_file_without_name_is_labelled_by_its_file(cli, tmp_path):
    hw = tmp_path / "one_channel.yaml"
    hw.write_text("base: pimgpt-gddr6\ndram: {channels: 1}\n")
    rc, out, err = cli("simulate", *GEN, "--prompt", 8, "--generate", 2, "--hardware", hw, "--json")
    assert rc == 0, err
    assert json.loads(out)["machine"] == "one_channel/pimgpt"
    named = tmp_path / "named.yaml"
    named.write_text("base: pimgpt-gddr6\nname: my-machine\n")
    rc, out, err = cli("simulate", *GEN, "--prompt", 8, "--generate", 2, "--hardware", named, "--json")
    assert json.loads(out)["machine"] == "my-machine/pimgpt"


def test_override_error_names_the_experiment_file_not_the_preset(cli, tmp_path):
    path = _exp(tmp_path, pim=True, baselines=[],
                hardware=[{"preset": "pimgpt-gddr6", "overrides": {"dram": {"channels": 0}}}])
    rc, _, err = cli("run", path, "--out", tmp_path / "o", "--quiet")
    assert rc == 2
    assert err.startswith(f"pimsim: error: {path}: hardware.0.overrides: dram.channels:")
    assert "presets" not in err and "pimgpt-gddr6.yaml" not in err


def test_grid_error_names_the_point(cli, tmp_path):
    path = _exp(tmp_path, pim=True, baselines=[], hardware=[{"preset": "pimgpt-gddr6"}],
                grid={"dram.channels": [8, -1]})
    rc, _, err = cli("run", path, "--out", tmp_path / "o", "--quiet")
    assert rc == 2
    assert f"{path}: hardware.0 overrides at grid point dram.channels=-1: dram.channels:" in err
    assert "pimgpt-gddr6.yaml" not in err


def test_an_invalid_hardware_file_is_still_blamed_on_itself(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: pimgpt-gddr6\ndram: {channels: 0}\n")
    path = _exp(tmp_path, pim=True, baselines=[], hardware=[{"preset": str(bad)}],
                grid={"asic.clock_ghz": [1.0]})  # overrides that do not cause the error
    rc, _, err = cli("run", path, "--out", tmp_path / "o", "--quiet")
    assert rc == 2 and f"{path}: hardware.0: {bad}: dram.channels:" in err
