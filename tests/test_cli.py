"""The `pimsim` CLI end to end: exit codes, JSON outputs checked against independent closed forms, and one
clear message (never a traceback) on bad input.

A few representative commands run through real subprocesses (in parallel, once per module); the many
variations run in-process through `pimsim.cli.main.main` to keep the suite fast.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from pimsim.cli.main import build_parser
from pimsim.models import ModelGraph, get_model, zoo_names

PRESETS = ["aim-32ch", "aim-32ch-mv4", "cent-aim-32ch", "hbm2-pim", "hbm3-pim", "ianus-aim-8ch", "lpddr5-pim", "neupims-hbm2",
           "pimgpt-gddr6"]

# a GPT-2 small config.json as Hugging Face ships it (shared/reference/models.md: 12 x 768, 12 heads)
GPT2_CONFIG = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12,
    "n_inner": None, "n_positions": 1024, "n_ctx": 1024, "vocab_size": 50257, "activation_function": "gelu_new",
    "layer_norm_epsilon": 1e-05, "tie_word_embeddings": True,
}


def gpt2_params(layers: int, d: int, vocab: int, context: int, ffn: int | None = None) -> int:
    """Exact GPT-2 parameter count: token + position embeddings, per layer 2 LayerNorms (2d each),
    QKV (3d^2 + 3d), out proj (d^2 + d), MLP (2 d ffn + ffn + d); final LayerNorm; tied head."""
    ffn = ffn or 4 * d
    per_layer = 2 * 2 * d + (3 * d * d + 3 * d) + (d * d + d) + (2 * d * ffn + ffn + d)
    return vocab * d + context * d + layers * per_layer + 2 * d


# ---- subprocess runs (one batch, in parallel) -------------------------------------------------------


@pytest.fixture(scope="module")
def e2e(run_cli, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli")
    (tmp / "gpt2").mkdir()
    (tmp / "gpt2" / "config.json").write_text(json.dumps(GPT2_CONFIG))
    (tmp / "broken.json").write_text('{"model_type": "gpt2", "n_layer": 12,\n')
    (tmp / "bad_hw.yaml").write_text("base: pimgpt-gddr6\ndram:\n  chanels: 16\n")
    commands = {
        "presets_list": ["presets", "list"],
        "presets_show": ["presets", "show", "pimgpt-gddr6", "--json"],
        "presets_bad": ["presets", "show", tmp / "bad_hw.yaml"],
        "presets_unknown": ["presets", "show", "no-such-preset"],
        "models_list": ["models", "list"],
        "models_show": ["models", "show", "gpt2-xl", "--json"],
        "models_config": ["models", "show", "--model-config", tmp / "gpt2" / "config.json", "--json"],
        "models_broken": ["models", "show", "--model-config", tmp / "broken.json"],
        "explain": ["workload", "explain", "--model", "gpt2-small", "--workload", "generate",
                    "--prompt", "64", "--generate", "16", "--json"],
        "explain_too_long": ["workload", "explain", "--model", "gpt2-small", "--workload", "generate",
                             "--prompt", "1000", "--generate", "100"],
        "explain_missing_flag": ["workload", "explain", "--model", "gpt2-small", "--workload", "generate",
                                 "--prompt", "64"],
    }
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        futures = {name: pool.submit(run_cli, *argv) for name, argv in commands.items()}
        results = {name: f.result() for name, f in futures.items()}
    return {"tmp": tmp, **results}


def _ok(result) -> str:
    rc, out, err = result
    assert rc == 0, err
    assert "Traceback" not in err
    return out


def _fails(result, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, a single `pimsim: error:` message containing every fragment."""
    rc, out, err = result
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert err.count("pimsim: error:") == 1 and err.startswith("pimsim: error:"), err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def test_presets_list_names_all_five(e2e):
    out = _ok(e2e["presets_list"])
    hardware_table = out.split("\n\n")[0]  # the systems table follows after a blank line
    rows = hardware_table.splitlines()[2:]
    assert sorted(r.split()[0] for r in rows) == PRESETS


def test_presets_show_json(e2e):
    data = json.loads(_ok(e2e["presets_show"]))
    assert data["name"] == "pimgpt-gddr6"
    assert data["dram"]["channels"] == 8
    assert data["derived"]["capacity_bytes"] == 4 * 2**30
    assert data["derived"]["banks_per_channel"] == 16 and data["derived"]["row_bytes"] == 2048
    assert data["derived"]["peak_mac_bandwidth_bytes_per_s"] == pytest.approx(8 * 16 * 32 / 1e-9, rel=1e-12)


def test_presets_show_bad_yaml_is_one_message(e2e):
    err = _fails(e2e["presets_bad"], str(e2e["tmp"] / "bad_hw.yaml"), "dram.chanels", "unknown field", "channels")
    assert err.strip().count("\n") == 0  # one problem, one line


def test_presets_show_unknown_lists_known(e2e):
    _fails(e2e["presets_unknown"], "'no-such-preset'", *PRESETS)


def test_models_list_has_the_whole_zoo(e2e):
    out = _ok(e2e["models_list"])
    assert [r.split()[0] for r in out.splitlines()[2:]] == zoo_names()


def test_models_show_gpt2_xl_matches_reference(e2e):
    data = json.loads(_ok(e2e["models_show"]))
    # shared/reference/models.md: 48 layers, d 1600, 25 heads of 64, MLP 4d, vocab 50257, context 1024, 1558M
    expected = {"layers": 48, "hidden": 1600, "heads": 25, "kv_heads": 25, "ffn": 6400, "vocab": 50257}
    assert {k: data[k] for k in expected} == expected
    assert data["head_dim"] == 1600 // 25 == 64
    assert data["params"] == gpt2_params(48, 1600, 50257, 1024)
    assert data["params"] == pytest.approx(1558e6, rel=1e-3)


def test_models_show_from_config_json(e2e):
    data = json.loads(_ok(e2e["models_config"]))
    assert data["name"] == "gpt2"  # a config.json is named after its folder
    assert (data["layers"], data["hidden"], data["heads"], data["ffn"], data["vocab"]) == (12, 768, 12, 3072, 50257)
    assert data["params"] == gpt2_params(12, 768, 50257, 1024) == get_model("gpt2-small").params
    assert data["params"] == pytest.approx(124e6, rel=5e-3)


def test_models_show_malformed_config_names_the_file(e2e):
    _fails(e2e["models_broken"], str(e2e["tmp"] / "broken.json"), "line 2")


def test_explain_generate_matches_independent_flops(e2e):
    data = json.loads(_ok(e2e["explain"]))
    phases = {p["phase"]: p for p in data["phases"]}
    assert list(phases) == ["prefill", "decode"]
    cfg = get_model("gpt2-small")
    graph = ModelGraph(cfg)
    prompt, generate = 64, 16
    prefill, decode = phases["prefill"], phases["decode"]
    assert (prefill["tokens"], prefill["context_start"], prefill["context_end"]) == (64, 0, 64)
    # the prefill emits the first new token; 15 decode steps follow at contexts 64 .. 78
    assert (decode["steps"], decode["tokens"], decode["context_start"], decode["context_end"]) == (15, 15, 64, 79)
    assert prefill["flops"] == sum(c.flops for c in graph.step(prompt, 0))
    assert decode["flops"] == sum(c.flops for i in range(generate - 1) for c in graph.step(1, prompt + i))

    # closed form: 2 FLOPs per non-embedding weight per forward token, the (tied) LM head on the one
    # position per step that emits a token, and q.K + p.V over every attended key (2 x 2 x d per key, per layer)
    L, d, V, ctx = 12, 768, 50257, 1024
    non_embedding = gpt2_params(L, d, V, ctx) - (V + ctx) * d
    assert non_embedding == cfg.params - cfg.embedding_params
    tokens = prompt + (generate - 1)
    head_positions = 1 + (generate - 1)
    attended = sum(range(1, prompt + 1)) + sum(prompt + i + 1 for i in range(generate - 1))
    expected = 2 * non_embedding * tokens + 2 * d * V * head_positions + L * 4 * d * attended
    total = prefill["flops"] + decode["flops"]
    assert total == pytest.approx(expected, rel=0.05)


def test_explain_context_beyond_model_limit(e2e):
    _fails(e2e["explain_too_long"], "gpt2-small", "1024")


def test_explain_missing_required_flag(e2e):
    _fails(e2e["explain_missing_flag"], "--generate", "required")


# ---- in-process: every workload kind ------------------------------------------------------------------


def _explain_json(cli, *argv) -> dict:
    rc, out, err = cli("workload", "explain", *argv, "--json")
    assert rc == 0, err
    return json.loads(out)


def _tokens(data, prefix: str) -> int:
    return sum(p["tokens"] for p in data["phases"] if p["phase"].startswith(prefix))


Q, S, T, N = 40, 3, 10, 4  # question tokens, steps, step tokens, solutions / samples
PRM_FLAGS = ["--question-tokens", Q, "--steps", S, "--step-tokens", T]


@pytest.mark.parametrize("scoring,expected_tokens,phases", [
    # models.md, "How PRMs score": the PRM input is the question plus each step and its separator token
    ("single-pass", N * (Q + S * (T + 1)), 1),
    ("per-step-prefix", N * sum(Q + s * (T + 1) for s in range(1, S + 1)), S),
    ("implicit", 2 * N * (Q + S * T), 2),  # PRM and reference model over the plain text
    ("generative", N * (Q + S * T) + N * (7 - 1), 2),  # prefill, then the verification chain of 7 tokens
])
def test_prm_score_each_scoring(cli, scoring, expected_tokens, phases):
    # implicit and generative scoring need an LM head (workloads.spec.SCORING_HEADS): an LM-head PRM for them
    model = "eurus-prm-7b" if scoring in ("implicit", "generative") else "qwen2.5-math-prm-7b"
    data = _explain_json(cli, "--model", model, "--workload", "prm-score", "--solutions", N,
                         *PRM_FLAGS, "--scoring", scoring, *(["--verify-tokens", 7] if scoring == "generative" else []))
    assert data["workload"]["scoring"] == scoring
    assert len(data["phases"]) == phases
    assert sum(p["tokens"] for p in data["phases"]) == expected_tokens
    assert all(p["flops"] > 0 and p["model"] == model for p in data["phases"])


def test_best_of_n(cli):
    data = _explain_json(cli, "--workload", "best-of-n", "--policy", "gpt2-small", "--prm", "skywork-prm-1.5b",
                         "--n", N, *PRM_FLAGS)
    assert _tokens(data, "policy.prefill") == Q  # the shared question is prefilled once
    assert _tokens(data, "policy.decode") == N * (S * T - 1)
    assert _tokens(data, "prm.") == N * (Q + S * (T + 1))
    assert {p["model"] for p in data["phases"] if p["role"] == "prm"} == {"skywork-prm-1.5b"}


@pytest.mark.parametrize("reuse", [False, True])
def test_beam_search_with_and_without_prefix_reuse(cli, reuse):
    W, E = 2, 3
    cand = W * E
    data = _explain_json(cli, "--workload", "beam-search", "--policy", "gpt2-small", "--prm", "gpt2-small",
                         "--beam-width", W, "--expansions", E, *PRM_FLAGS, *(["--prefix-reuse"] if reuse else []))
    assert data["workload"]["prefix_reuse"] is reuse
    assert _tokens(data, "policy.decode") == cand * S * T
    if reuse:  # the question once, then only each candidate's new step and its separator
        assert _tokens(data, "prm.") == Q + cand * S * (T + 1)
    else:  # every candidate's whole prefix again at every step
        assert _tokens(data, "prm.") == cand * sum(Q + s * (T + 1) for s in range(1, S + 1))


@pytest.mark.parametrize("flags,spec", [
    (["--model", "gpt2-small", "--workload", "generate", "--prompt", "64", "--generate", "16", "--batch", "2"],
     {"kind": "generate", "prompt": 64, "generate": 16, "batch": 2}),
    (["--workload", "beam-search", "--policy", "gpt2-small", "--prm", "gpt2-medium", "--beam-width", "2",
      "--expansions", "2", "--steps", "3", "--step-tokens", "8", "--question-tokens", "20", "--prefix-reuse"],
     {"workload": {"kind": "beam-search", "policy": "gpt2-small", "prm": "gpt2-medium", "beam_width": 2,
                   "expansions": 2, "steps": 3, "step_tokens": 8, "question_tokens": 20, "prefix_reuse": True}}),
])
def test_yaml_workload_file_equals_flags(cli, tmp_path, flags, spec):
    path = tmp_path / "w.yaml"
    path.write_text(yaml.safe_dump(spec))
    from_flags = _explain_json(cli, *flags)
    model = flags[:2] if flags[0] == "--model" else []
    from_file = _explain_json(cli, *model, "--workload", path)
    assert from_file == from_flags


# ---- in-process: bad input is exit code 2 with one message, never a traceback --------------------------

GEN = ["workload", "explain", "--model", "gpt2-small", "--workload", "generate"]
BAD_ARGV = [
    # id, argv, fragments of the message
    ("missing-generate", GEN + ["--prompt", "64"], ["--generate is required"]),
    ("missing-prompt", GEN + ["--generate", "4"], ["--prompt is required"]),
    ("foreign-flag", GEN + ["--prompt", "64", "--generate", "4", "--n", "3"], ["--n", "generate", "--prompt"]),
    ("foreign-flag-beam", GEN + ["--prompt", "64", "--generate", "4", "--beam-width", "2"], ["--beam-width"]),
    ("zero-prompt", GEN + ["--prompt", "0", "--generate", "4"], ["--prompt", "greater than 0"]),
    ("negative-generate", GEN + ["--prompt", "8", "--generate", "-4"], ["--generate", "greater than 0"]),
    ("zero-batch", GEN + ["--prompt", "8", "--generate", "4", "--batch", "0"], ["--batch", "greater than 0"]),
    ("negative-n", ["workload", "explain", "--workload", "best-of-n", "--policy", "gpt2-small", "--prm",
                    "gpt2-small", "--n", "-1", *map(str, PRM_FLAGS)], ["--n", "greater than 0"]),
    ("zero-beam", ["workload", "explain", "--workload", "beam-search", "--policy", "gpt2-small", "--prm",
                   "gpt2-small", "--beam-width", "0", "--expansions", "2", *map(str, PRM_FLAGS)],
     ["--beam-width", "greater than 0"]),
    ("model-with-best-of-n", ["workload", "explain", "--workload", "best-of-n", "--model", "gpt2-small",
                              "--policy", "gpt2-small", "--prm", "gpt2-small", "--n", "2", *map(str, PRM_FLAGS)],
     ["--model", "best-of-n", "--policy"]),
    ("context-too-long", GEN + ["--prompt", "1000", "--generate", "100"], ["gpt2-small", "1024", "1099"]),
    ("prompt-too-long", GEN + ["--prompt", "1025", "--generate", "1"], ["gpt2-small", "1024"]),
    ("decode-one-past-limit", GEN + ["--prompt", "1000", "--generate", "26"], ["gpt2-small", "1024"]),
    ("unknown-kind", ["workload", "explain", "--model", "gpt2-small", "--workload", "sample"],
     ["'sample'", "generate", "prm-score", "best-of-n", "beam-search"]),
    ("unknown-model", ["workload", "explain", "--model", "gpt5", "--workload", "generate", "--prompt", "8",
                       "--generate", "2"], ["'gpt5'", "gpt2-small"]),
    ("unknown-policy", ["workload", "explain", "--workload", "best-of-n", "--policy", "nope", "--prm",
                        "gpt2-small", "--n", "2", *map(str, PRM_FLAGS)], ["'nope'", "gpt2-small"]),
    ("no-model", ["workload", "explain", "--workload", "generate", "--prompt", "8", "--generate", "2"],
     ["--model"]),
    ("unknown-model-show", ["models", "show", "gpt5"], ["'gpt5'", "gpt2-xl"]),
    ("models-show-nothing", ["models", "show"], ["NAME", "--model-config"]),
    ("unknown-preset", ["presets", "show", "nope"], ["'nope'", *PRESETS]),
]


@pytest.mark.parametrize("argv,fragments", [c[1:] for c in BAD_ARGV], ids=[c[0] for c in BAD_ARGV])
def test_bad_input_exits_2_with_one_message(cli, argv, fragments):
    _fails(cli(*argv), *fragments)


def test_context_exactly_at_the_limit_is_fine(cli):
    # prefill of 1000, then 24 decode steps feeding tokens 1001..1024: the cache ends at 1024
    data = _explain_json(cli, *GEN[2:], "--prompt", "1000", "--generate", "25")
    assert data["phases"][-1]["context_end"] == 1024


def test_bad_files_exit_2_naming_the_file(cli, tmp_path):
    missing = tmp_path / "nowhere.json"
    _fails(cli("models", "show", "--model-config", missing), str(missing))
    not_object = tmp_path / "list.json"
    not_object.write_text("[1, 2]")
    _fails(cli("models", "show", "--model-config", not_object), str(not_object), "object")
    bad_key = tmp_path / "zero.json"
    bad_key.write_text(json.dumps({**GPT2_CONFIG, "n_layer": 0}))
    _fails(cli("models", "show", "--model-config", bad_key), str(bad_key), "n_layer")

    wl = tmp_path / "w.yaml"
    wl.write_text("kind: generate\nprompt: 8\ngenerate: 0\n")
    _fails(cli(*GEN[:4], "--workload", wl), str(wl), "generate", "greater than 0")
    wl.write_text("kind: generate\nprompt: 8\ngenerate: 2\nbeams: 3\n")
    _fails(cli(*GEN[:4], "--workload", wl), str(wl), "beams", "unknown field", "prompt")
    wl.write_text("kind: generate\nprompt: 8\n  generate: 2\nbatch: 1\n")
    _fails(cli(*GEN[:4], "--workload", wl), str(wl), "malformed YAML", "line 3")
    wl.write_text("kind: generate\nprompt: 8\ngenerate: 2\n")
    _fails(cli(*GEN[:4], "--workload", wl, "--prompt", "9"), str(wl), "--prompt")  # flags cannot override a file

    hw = tmp_path / "hw.yaml"
    hw.write_text("base: pimgpt-gddr6\ndram:\n  timing:\n    nREFI: 100\n")
    _fails(cli("presets", "show", hw), str(hw), "dram.timing", "nREFI=100", "nRFC=210")
    hw.write_text("- not a mapping\n")
    _fails(cli("presets", "show", hw), str(hw), "mapping")
    _fails(cli("presets", "show", tmp_path / "absent.yaml"), str(tmp_path / "absent.yaml"), "not found")


def test_usage_errors_exit_2(cli):
    rc, out, err = cli("workload", "explain", "--workload", "generate", "--prompt", "many")
    assert rc == 2 and "--prompt" in err and "invalid int value" in err
    rc, out, err = cli("workload", "explain", "--workload", "prm-score", "--scoring", "vibes")
    assert rc == 2 and "--scoring" in err and "single-pass" in err
    rc, out, err = cli("no-such-command")
    assert rc == 2 and "invalid choice" in err


def test_presets_show_yaml_equals_json(cli):
    rc, text, _ = cli("presets", "show", "aim-32ch")
    assert rc == 0
    rc, js, _ = cli("presets", "show", "aim-32ch", "--json")
    assert rc == 0
    assert yaml.safe_load(text) == json.loads(js)


# ---- --help of every command ---------------------------------------------------------------------------


def _commands(parser: argparse.ArgumentParser, path=()):
    yield list(path)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


def test_the_expected_commands_exist():
    assert {" ".join(c) for c in COMMANDS} >= {"", "presets list", "presets show", "models list", "models show",
                                               "workload explain"}


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "pimsim")
def test_help_of_every_command(cli, command):
    rc, out, err = cli(*command, "--help")
    assert rc == 0 and err == ""
    assert out.startswith("usage: pimsim") and "Traceback" not in out


@pytest.mark.parametrize("args", [
    ["--workload", "mc-annotate", "--policy", "gpt2-small", "--question-tokens", "8", "--steps", "3",
     "--step-tokens", "4", "--rollouts", "2"],
    ["--workload", "lookahead", "--policy", "gpt2-small", "--prm", "gpt2-small", "--beam-width", "2",
     "--expansions", "2", "--lookahead", "1", "--question-tokens", "8", "--steps", "2", "--step-tokens", "4"],
    ["--model", "gpt2-small", "--workload", "dvts", "--n", "4", "--beam-width", "2", "--question-tokens", "8",
     "--steps", "2", "--step-tokens", "4"],
], ids=["mc-annotate", "lookahead-policy-prm", "dvts-model"])
def test_search_kinds_run_from_simulate_and_baseline(cli, args):
    """Kinds that name their models (--policy/--prm) need no --model; the search kinds take --model for any
    model flag not given (docs/workloads.md)."""
    rc, out, err = cli("simulate", "--hardware", "pimgpt-gddr6", "--mapping", "pimgpt", *args)
    assert rc == 0, err
    rc, out, err = cli("baseline", "--device", "h100-sxm", *args)
    assert rc == 0, err


def test_mc_annotate_refuses_model(cli):
    rc, _, err = cli("simulate", "--hardware", "pimgpt-gddr6", "--model", "gpt2-small", "--workload", "mc-annotate",
                     "--policy", "gpt2-small", "--question-tokens", "8", "--steps", "3", "--step-tokens", "4",
                     "--rollouts", "2")
    assert rc == 2 and "it takes --policy" in err
