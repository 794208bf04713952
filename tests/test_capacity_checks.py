"""Issue 11: capacity on every device (GPU/CPU baselines, the implicit PRM's reference copy on PIM and
baselines) and a workload's models and scoring consistent with its flags and its PRM.

Expected byte counts are written out from the models' published shapes, not from pimsim's code:
- qwen2.5-math-prm-72b: 71,527,628,802 parameters (zoo.py's count), 80 layers x 8 KV heads x 128 dims,
  so 2 (K, V) x 80 x 8 x 128 x 2 B = 327,680 B of KV cache per token in bf16;
- qwen2.5-math-1.5b-instruct: 1,543,714,304 parameters (3,087,428,608 B in bf16), 28 layers x 2 KV heads
  x 128 dims: 28,672 B per token; the pimgpt mapping reserves its 4,096-token limit per sequence.
"""

from __future__ import annotations

import json

import pytest

from pimsim.baselines import load_device, run_baseline
from pimsim.errors import CapacityError, ConfigError
from pimsim.models import get_model
from pimsim.workloads import BestOfNSpec, GenerateSpec, PrmScoreSpec, expand, parse_workload

PRM72_WEIGHTS = 71_527_628_802 * 2
PRM72_KV_PER_TOKEN = 2 * 80 * 8 * 128 * 2
QWEN15 = "qwen2.5-math-1.5b-instruct"
QWEN15_WEIGHTS = 1_543_714_304 * 2
QWEN15_KV_PER_TOKEN = 2 * 28 * 2 * 128 * 2
PRM_FLAGS = ["--workload", "prm-score", "--solutions", "4", "--question-tokens", "64", "--steps", "4",
             "--step-tokens", "32"]


# ------------------------------------------------------------------ 1. baselines check device memory

# datasheet memory of each GPU preset (energy.md, Baseline devices; NVIDIA H200 datasheet), GB = 10^9 B
DATASHEET_BYTES = {"t4": 16e9, "a100-80gb": 80e9, "h100-sxm": 80e9, "h200-sxm": 141e9,
                  "neupims-npu": 32e9, "ianus-npu": 8e9,  # the NPUs: their papers (peer_studies.md)
                  "a100a-hbm3": 80 * 2**30, "a100a-hbm3-160gb": 160 * 2**30}  # AttAcc src/config.py, main.py


def test_every_device_preset_states_its_memory_and_source():
    from pimsim.baselines import device_names

    for name in device_names():
        dev = load_device(name)
        assert dev.memory_bytes > 0 and dev.notes.get("memory_bytes"), name
        if name in DATASHEET_BYTES:
            assert dev.memory_bytes == DATASHEET_BYTES[name], name
        else:  # the CPUs: an assumed DRAM size, marked as such
            assert dev.kind == "cpu" and "[assumption]" in dev.notes["memory_bytes"], name


def test_a_device_preset_without_memory_bytes_is_refused():
    data = load_device("t4").model_dump(mode="json")
    del data["memory_bytes"]
    with pytest.raises(ConfigError, match="memory_bytes"):
        load_device(data)


def test_cli_72b_on_a_t4_does_not_fit(cli):
    rc, out, err = cli("baseline", "--device", "t4", "--model", "qwen2.5-math-prm-72b", "--workload", "generate",
                       "--prompt", "64", "--generate", "64")
    kv = 1 * 127 * PRM72_KV_PER_TOKEN  # 64 prompt + 63 decoded tokens cached
    assert rc == 2 and out == ""
    assert "does not fit t4" in err
    assert f"weights {PRM72_WEIGHTS:,}" in err and f"KV cache {kv:,}" in err
    assert f"{PRM72_WEIGHTS + kv:,} bytes" in err and "16,000,000,000 bytes" in err


def test_cli_72b_batch_256_on_an_h100_does_not_fit(cli):
    rc, _, err = cli("baseline", "--device", "h100-sxm", "--model", "qwen2.5-math-prm-72b", "--workload",
                     "generate", "--prompt", "64", "--generate", "64", "--batch", "256")
    kv = 256 * 127 * PRM72_KV_PER_TOKEN
    assert rc == 2 and "does not fit h100-sxm" in err
    assert f"KV cache {kv:,}" in err and "256 sequence(s) x 127 tokens" in err and "80,000,000,000 bytes" in err


def test_run_baseline_checks_capacity_for_every_caller():
    big = expand(GenerateSpec(prompt=64, generate=64), get_model("qwen2.5-math-prm-72b"))
    with pytest.raises(CapacityError, match="does not fit h200-sxm"):
        run_baseline(big, "h200-sxm")
    # just fits / just does not: the limit is weights + KV cache against memory_bytes
    small = expand(GenerateSpec(prompt=64, generate=64, batch=2), get_model("gpt2-small"))
    need = 124_439_808 * 2 + 2 * 127 * (2 * 12 * 768 * 2)  # gpt2-small: 12 layers x 768 wide, MHA
    t4 = load_device("t4")
    assert run_baseline(small, t4.model_copy(update={"memory_bytes": need})).latency_s > 0
    with pytest.raises(CapacityError, match=f"requires {need:,} bytes"):
        run_baseline(small, t4.model_copy(update={"memory_bytes": need - 1}))


def test_experiment_baseline_point_that_does_not_fit_is_an_error_row():
    from pimsim.experiments.evaluate import run_point

    spec = GenerateSpec(model="qwen2.5-math-prm-72b", prompt=64, generate=8).model_dump(mode="json")
    row = run_point({"target": "baseline", "workload": spec, "model": "qwen2.5-math-prm-72b",
                          "device": "t4", "mode": "graph", "key": "k", "experiment": "x"})
    assert row["error"].startswith("CapacityError: workload does not fit t4")


# ------------------------------------------------------------------ 2. the implicit PRM's reference copy

def test_implicit_prm_counts_the_reference_models_weights():
    w = expand(PrmScoreSpec(solutions=4, question_tokens=64, steps=4, step_tokens=32, scoring="implicit"),
               get_model(QWEN15))
    copies = w.resident_copies()
    assert [(c.model.name, c.copy) for c in copies] == [(QWEN15, "main"), (QWEN15, "reference")]
    single = expand(PrmScoreSpec(solutions=4, question_tokens=64, steps=4, step_tokens=32), get_model(QWEN15))
    assert len(single.resident_copies()) == 1
    # policy and PRM of the same model share one copy (best-of-n with the policy as its own scorer)
    same = expand(BestOfNSpec(policy="gpt2-small", prm="gpt2-small", n=2, question_tokens=8, steps=2,
                              step_tokens=4))
    assert len(same.resident_copies()) == 1


def test_cli_implicit_prm_does_not_fit_pimgpt(cli):
    rc, _, err = cli("simulate", "--model", QWEN15, *PRM_FLAGS, "--scoring", "implicit")
    kv = 4 * 4096 * QWEN15_KV_PER_TOKEN  # pimgpt reserves the model's 4096-token context per sequence
    assert rc == 2 and "do not fit pimgpt-gddr6" in err
    assert f"{2 * (QWEN15_WEIGHTS + kv):,} bytes" in err and "(reference copy)" in err
    assert err.count(f"weights {QWEN15_WEIGHTS:,}") == 2 and "4,294,967,296 bytes" in err


def test_implicit_prm_on_a_baseline_counts_both_copies():
    spec = PrmScoreSpec(solutions=4, question_tokens=64, steps=4, step_tokens=32)
    kv = 4 * (64 + 4 * 33) * QWEN15_KV_PER_TOKEN  # single-pass input: question + steps with separators
    dev = load_device("t4").model_copy(update={"memory_bytes": 5_000_000_000})
    assert run_baseline(expand(spec, get_model(QWEN15)), dev).latency_s > 0  # one copy: 3.1 GB fits
    implicit = spec.model_copy(update={"scoring": "implicit"})
    kv = 4 * (64 + 4 * 32) * QWEN15_KV_PER_TOKEN  # implicit: plain text, no separators
    with pytest.raises(CapacityError, match=f"requires {2 * (QWEN15_WEIGHTS + kv):,} bytes") as exc:
        run_baseline(expand(implicit, get_model(QWEN15)), dev)
    assert "(reference copy)" in str(exc.value)


# ------------------------------------------------------------------ 3. a workload file's models are used

@pytest.fixture
def xl_file(tmp_path):
    path = tmp_path / "xl.yaml"
    path.write_text("kind: generate\nmodel: gpt2-xl\nprompt: 8\ngenerate: 2\n")
    return path


def test_cli_file_model_and_a_different_model_flag_exit_2(cli, xl_file):
    for command in (["simulate"], ["baseline", "--device", "t4"], ["workload", "explain"]):
        rc, out, err = cli(*command, "--workload", xl_file, "--model", "gpt2-small")
        assert rc == 2 and out == "", command
        assert str(xl_file) in err and "model: gpt2-xl" in err and "--model gpt2-small" in err, command


def test_cli_file_model_is_the_model_that_runs(cli, xl_file):
    rc, out, err = cli("baseline", "--device", "t4", "--workload", xl_file, "--json")
    assert rc == 0, err
    assert json.loads(out)["config"]["models"] == ["gpt2-xl"]
    rc, out, _ = cli("workload", "explain", "--workload", xl_file, "--model", "gpt2-xl", "--json")
    assert rc == 0 and {p["model"] for p in json.loads(out)["phases"]} == {"gpt2-xl"}
    rc, out, err = cli("simulate", "--workload", xl_file, "--json")  # said "needs one model" before
    assert rc == 0, err
    assert json.loads(out)["tokens"] == 2


def test_cli_file_model_and_a_model_config_exit_2(cli, xl_file, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"model_type": "gpt2", "n_layer": 2, "n_embd": 64, "n_head": 2,
                                  "vocab_size": 100, "n_positions": 64}))
    rc, _, err = cli("simulate", "--workload", xl_file, "--model-config", config)
    assert rc == 2 and "model: gpt2-xl" in err and "--model-config" in err and str(xl_file) in err


def test_cli_best_of_n_file_policy_vs_flag(cli, tmp_path):
    path = tmp_path / "bon.yaml"
    path.write_text("kind: best-of-n\npolicy: gpt2-small\nprm: gpt3-small\nn: 2\nquestion_tokens: 8\n"
                    "steps: 2\nstep_tokens: 4\n")
    rc, _, err = cli("baseline", "--device", "t4", "--workload", path, "--policy", "gpt2-medium")
    assert rc == 2 and "policy: gpt2-small" in err and "--policy gpt2-medium" in err and str(path) in err
    rc, _, err = cli("baseline", "--device", "t4", "--workload", path, "--prm", "gpt3-small")
    assert rc == 0, err  # the same model: no conflict
    rc, _, err = cli("baseline", "--device", "t4", "--workload", path, "--model", "gpt2-small")
    assert rc == 2 and "--model" in err and "--policy and --prm" in err  # was silently ignored


# ------------------------------------------------------------------ 4. combinations that mean nothing

EXPERIMENT = "name: e\ndescription: d\npim: false\nbaselines: [{device: t4}]\nworkloads:\n"

def test_cli_verify_tokens_without_generative_scoring_exit_2(cli):
    for scoring in ([], ["--scoring", "single-pass"], ["--scoring", "implicit"]):
        rc, _, err = cli("workload", "explain", "--model", QWEN15, *PRM_FLAGS, *scoring, "--verify-tokens", "64")
        assert rc == 2 and "--verify-tokens" in err and "only to scoring generative" in err, scoring


def test_verify_tokens_without_generative_in_files_and_experiments(tmp_path):
    with pytest.raises(ConfigError, match=r"w\.yaml: workload\.prm-score\.verify_tokens: applies only to scoring "
                                          r"generative, but scoring is per-step-prefix"):
        parse_workload({"kind": "prm-score", "solutions": 2, "question_tokens": 8, "steps": 2, "step_tokens": 4,
                        "scoring": "per-step-prefix", "verify_tokens": 16}, source="w.yaml")
    from pimsim.experiments.points import expand_points
    from pimsim.experiments.spec import load_experiment

    exp = tmp_path / "e.yaml"
    exp.write_text(EXPERIMENT + "  - {kind: best-of-n, policy: gpt2-small, prm: gpt3-small, n: 2, "
                   "question_tokens: 8, steps: 2, step_tokens: 4, verify_tokens: 16}\n")
    with pytest.raises(ConfigError, match=r"e\.yaml: workloads\.0.*verify_tokens: applies only to scoring generative"):
        expand_points(load_experiment(exp), source=str(exp))


def test_generative_default_verify_tokens_unchanged():
    spec = PrmScoreSpec(solutions=2, question_tokens=8, steps=2, step_tokens=4, scoring="generative")
    assert spec.verify_tokens == 1024
    assert PrmScoreSpec(solutions=2, question_tokens=8, steps=2, step_tokens=4).verify_tokens is None


@pytest.mark.parametrize("model,scoring,head", [
    ("skywork-prm-1.5b", "generative", "value"),
    ("skywork-prm-1.5b", "implicit", "value"),
    ("qwen2.5-math-prm-7b", "generative", "prm_classifier"),
])
def test_cli_generative_or_implicit_scoring_needs_an_lm_head(cli, model, scoring, head):
    rc, _, err = cli("workload", "explain", "--model", model, *PRM_FLAGS, "--scoring", scoring)
    assert rc == 2 and "--scoring" in err and f"{model} has a {head} head" in err
    assert "allowed for " + model + ": single-pass, per-step-prefix" in err


def test_scoring_head_rule_applies_to_best_of_n_and_experiments(tmp_path):
    with pytest.raises(ConfigError, match="prm skywork-prm-1.5b has a value head"):
        expand(BestOfNSpec(policy=QWEN15, prm="skywork-prm-1.5b", n=2, question_tokens=8, steps=2, step_tokens=4,
                           scoring="generative"))
    from pimsim.experiments.points import expand_points
    from pimsim.experiments.spec import load_experiment

    exp = tmp_path / "e.yaml"
    exp.write_text(EXPERIMENT + "  - {kind: prm-score, model: skywork-prm-1.5b, scoring: generative, "
                   "solutions: 2, question_tokens: 8, steps: 2, step_tokens: 4}\n")
    with pytest.raises(ConfigError, match=r"e\.yaml: workloads\.0: .*skywork-prm-1.5b has a value head"):
        expand_points(load_experiment(exp), source=str(exp))
    # what is allowed still expands: generative on an LM-head verifier, single-pass on a value head
    assert expand(PrmScoreSpec(solutions=2, question_tokens=8, steps=2, step_tokens=4, scoring="generative",
                               verify_tokens=4), get_model("thinkprm-1.5b")).generated_tokens == 8
    assert expand(PrmScoreSpec(solutions=2, question_tokens=8, steps=2, step_tokens=4),
                  get_model("skywork-prm-1.5b")).phases
