"""Test-time-compute workloads of issue 14: scoring for best-of-n / beam-search, lookahead, dvts,
omega-annotate, rl-rollout and resident KV with prefix sharing. Every expected value is a closed form
written out here from the algorithm's definition (docs/workloads.md), not read back from the code."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.baselines.model import run_baseline
from pimsim.engine import simulate
from pimsim.errors import ConfigError
from pimsim.models import get_model, load_model
from pimsim.workloads import expand, parse_workload, phase_kv_tokens, resident_kv
from pimsim.workloads.search import binary_search_probes

GPT2 = get_model("gpt2-small")
POLICY, PRM = "qwen2.5-math-1.5b-instruct", "skywork-prm-1.5b"
KV_PER_TOKEN_GPT2 = 2 * 12 * 12 * 64 * 2  # K and V x layers x heads x head_dim x bf16 bytes
KV_PER_TOKEN_QWEN15 = 2 * 28 * 2 * 128 * 2  # 2 KV heads of 128 (models.md)


def wl(**data):
    return expand(parse_workload(data), resolve=load_model)


def tokens(w, role=None, kind=None):
    return sum(p.tokens for p in w.phases if (role is None or p.role == role) and (kind is None or p.kind == kind))


def shapes(w):
    return [(p.name, p.role, p.kind, p.model.name, p.batch, p.new_tokens, p.past_context, p.steps,
             p.head_positions) for p in w.phases]


# ---- lookahead and beam search -------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(w_=st.integers(1, 4), e=st.integers(1, 4), s_=st.integers(1, 8), t=st.integers(1, 20), q=st.integers(1, 60),
       k=st.integers(0, 9), reuse=st.booleans())
def test_lookahead_tokens_closed_form(w_, e, s_, t, q, k, reuse):
    """Policy: question once, then per step s C = W x E candidates decode T tokens and roll out
    a_s = min(k, S - s) steps more. PRM (single-pass): reuse scores (1 + a_s)(T+1) new tokens per candidate
    after a question prefill, else re-reads Q + (s + a_s)(T+1)."""
    w = wl(kind="lookahead", policy=POLICY, prm=PRM, beam_width=w_, expansions=e, steps=s_, step_tokens=t,
           question_tokens=q, lookahead=k, prefix_reuse=reuse)
    c = w_ * e
    a = [min(k, s_ - s) for s in range(1, s_ + 1)]
    assert w.generated_tokens == c * t * sum(1 + x for x in a)
    assert tokens(w, "policy") == q + c * t * sum(1 + x for x in a)
    if reuse:
        assert tokens(w, "prm") == q + sum(c * (1 + x) * (t + 1) for x in a)
    else:
        assert tokens(w, "prm") == sum(c * (q + (s + x) * (t + 1)) for s, x in zip(range(1, s_ + 1), a))
    if k >= s_ - 1 and not reuse:  # every rollout reaches the end: each step scores whole solutions
        assert tokens(w, "prm") == s_ * c * (q + s_ * (t + 1))
    if k == 0:
        assert w.generated_tokens == c * s_ * t


@pytest.mark.parametrize("reuse", [False, True])
def test_lookahead_zero_is_beam_search(reuse):
    common = dict(policy=POLICY, prm=PRM, beam_width=3, expansions=2, steps=5, step_tokens=9, question_tokens=40,
                  prefix_reuse=reuse)
    beam, look = wl(kind="beam-search", **common), wl(kind="lookahead", lookahead=0, **common)
    assert shapes(beam) == shapes(look)
    assert beam.generated_tokens == look.generated_tokens == 6 * 5 * 9


def test_beam_search_scorings_by_hand():
    """Beam search W=2, E=3 (C=6), S=3, T=10, Q=50, for each scoring (docs/workloads.md)."""
    base = dict(kind="beam-search", policy=POLICY, beam_width=2, expansions=3, steps=3, step_tokens=10,
                question_tokens=50)
    per_step = wl(**base, prm=PRM, scoring="per-step-prefix")
    assert [(p.new_tokens, p.head_positions) for p in per_step.phases if p.role == "prm"] == [(61, 1), (72, 1), (83, 1)]
    implicit = wl(**base, prm="qwen2.5-math-1.5b-instruct", scoring="implicit", prefix_reuse=True)
    ref = [(p.batch, p.new_tokens, p.past_context, p.head_positions) for p in implicit.phases if p.role == "reference"]
    assert ref == [(1, 50, 0, 0), (6, 10, 50, 10), (6, 10, 60, 10), (6, 10, 70, 10)]
    no_reuse = wl(**base, prm="qwen2.5-math-1.5b-instruct", scoring="implicit")
    assert [(p.new_tokens, p.head_positions) for p in no_reuse.phases if p.role == "reference"] == \
        [(60, 10), (70, 20), (80, 30)]
    gen = wl(**base, prm="thinkprm-1.5b", scoring="generative", verify_tokens=100, critique_tokens=30, verify_chains=4)
    pre = [(p.batch, p.new_tokens) for p in gen.phases if p.role == "verifier" and p.kind == "prefill"]
    dec = [(p.batch, p.past_context, p.steps) for p in gen.phases if p.role == "verifier" and p.kind == "decode"]
    assert pre == [(6, 30 + 50 + 10), (6, 30 + 50 + 20), (6, 30 + 50 + 30)]
    assert dec == [(24, 90, 99), (24, 100, 99), (24, 110, 99)]
    assert gen.generated_tokens == 6 * 3 * 10  # policy tokens; the verification chains are scoring overhead


# ---- dvts ------------------------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(m=st.integers(1, 4), sub1=st.integers(1, 3), sub2=st.integers(1, 3), s_=st.integers(1, 5),
       t=st.integers(1, 12), q=st.integers(1, 40), reuse=st.booleans())
def test_dvts_subtrees_are_independent(m, sub1, sub2, s_, t, q, reuse):
    """DVTS of n = (a + b) M candidates costs what DVTS of a M and of b M cost together, minus one copy of
    the question's prefills (policy and, with reuse, PRM): its subtrees share nothing past the question.
    (Weight bytes are not additive: weights are read once per step whatever the batch.)"""
    def run(sub):
        return wl(kind="dvts", policy=POLICY, prm=PRM, n=sub * m, beam_width=m, steps=s_, step_tokens=t,
                  question_tokens=q, prefix_reuse=reuse)
    whole, a, b = run(sub1 + sub2), run(sub1), run(sub2)
    question = [p for p in a.phases if p.name in ("policy.prefill", "prm.prefill.question")]
    assert len(question) == (2 if reuse else 1) and all(p.batch == 1 for p in question)
    for key in ("flops", "kv_read_bytes", "kv_write_bytes", "tokens"):
        once = sum(p.totals()[key] for p in question)
        assert whole.totals()[key] == a.totals()[key] + b.totals()[key] - once
    assert whole.generated_tokens == (sub1 + sub2) * m * s_ * t


def test_dvts_is_a_search_of_n_over_m_kept_nodes():
    d = wl(kind="dvts", policy=POLICY, prm=PRM, n=16, beam_width=4, steps=4, step_tokens=20, question_tokens=60)
    b = wl(kind="beam-search", policy=POLICY, prm=PRM, beam_width=4, expansions=4, steps=4, step_tokens=20,
           question_tokens=60)
    assert shapes(d) == shapes(b)


# ---- omega-annotate ----------------------------------------------------------------------------------------

@settings(max_examples=60, deadline=None)
@given(s_=st.integers(2, 300), data=st.data())
def test_binary_search_brackets_the_first_error(s_, data):
    e = data.draw(st.integers(1, s_))
    probes = binary_search_probes(s_, e)
    assert len(probes) == len(set(probes)) and all(1 <= m < s_ for m in probes)
    assert len(probes) <= math.ceil(math.log2(s_))
    assert (e - 1 == 0 or e - 1 in probes) and (e == s_ or e in probes)  # the answer is bracketed by probes
    assert len(binary_search_probes(s_, s_)) == math.ceil(math.log2(s_))


@settings(max_examples=30, deadline=None)
@given(j=st.integers(1, 5), t=st.integers(1, 20), q=st.integers(1, 80), k=st.integers(1, 8), data=st.data())
def test_omega_tokens_power_of_two(j, t, q, k, data):
    """S = 2^j. Error at the last step: probes at S - S/2^i (i = 1..j), rollouts of S/2^i steps, summing to
    S - 1. Error at step 1: probes at S/2^i, rollouts of S - S/2^i steps, summing to jS - (S - 1)."""
    s_ = 2 ** j
    n = data.draw(st.integers(1, k))
    last = wl(kind="omega-annotate", policy=POLICY, question_tokens=q, steps=s_, step_tokens=t, rollouts=k, searches=n)
    assert last.generated_tokens == k * s_ * t + n * k * t * (s_ - 1)
    first = wl(kind="omega-annotate", policy=POLICY, question_tokens=q, steps=s_, step_tokens=t, rollouts=k,
               searches=n, first_error=1)
    assert first.generated_tokens == k * s_ * t + n * k * t * (j * s_ - (s_ - 1))
    # forward tokens: question, its K rollouts' S T - 1 decode steps, per probe n one-token prefills (the
    # prefix is in the tree) and n K rollouts of (S - m) T - 1 steps
    rests = [s_ - m for m in binary_search_probes(s_, s_)]
    assert sum(p.tokens for p in last.phases) == (q + k * (s_ * t - 1) + j * n
                                                  + sum(n * k * (r * t - 1) for r in rests if r * t > 1))


def test_omega_cheaper_than_math_shepherd():
    """Same solution (S = 8, T = 40, Q = 100, K = 8): Math-Shepherd decodes K T S(S-1)/2 = 8960 tokens;
    OmegaPRM the question's K rollouts (K S T = 2560) plus ceil(log2 8) = 3 probes (K T (S-1) = 2240)."""
    mc = wl(kind="mc-annotate", policy=POLICY, question_tokens=100, steps=8, step_tokens=40, rollouts=8)
    om = wl(kind="omega-annotate", policy=POLICY, question_tokens=100, steps=8, step_tokens=40, rollouts=8)
    assert mc.generated_tokens == 8960 and om.generated_tokens == 2560 + 2240


# ---- rl-rollout and scoring of whole solutions ---------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(p1=st.integers(1, 4), p2=st.integers(1, 4), g=st.integers(1, 8), s_=st.integers(1, 4), t=st.integers(1, 30),
       q=st.integers(1, 60), reuse=st.booleans(), scoring=st.sampled_from(["single-pass", "implicit", "generative"]))
def test_rl_rollout_totals_split_over_prompts(p1, p2, g, s_, t, q, reuse, scoring):
    """P prompts are independent: FLOPs, KV bytes and tokens of P1 + P2 prompts are those of P1 and of P2
    (each phase's batch is a multiple of P). Weight bytes are not additive (read once per step)."""
    def run(p):
        extra = {"verify_tokens": 16} if scoring == "generative" else {}
        return wl(kind="rl-rollout", policy=POLICY, prm="qwen2.5-math-1.5b-instruct", prompts=p, group=g,
                  question_tokens=q, steps=s_, step_tokens=t, scoring=scoring, prefix_reuse=reuse, **extra)
    whole, a, b = run(p1 + p2), run(p1), run(p2)
    for key in ("flops", "kv_read_bytes", "kv_write_bytes", "tokens"):
        assert whole.totals()[key] == a.totals()[key] + b.totals()[key]
    assert whole.generated_tokens == (p1 + p2) * g * s_ * t


def test_rl_rollout_prime_reference_model_is_a_real_model():
    """PRIME: implicit PRM eurus-prm-7b with reference qwen2.5-math-7b-instruct (same 152064 vocabulary).
    P=2, G=4, Q=100, S=5, T=40: the reference prefills 8 x (100 + 200) tokens, reads 200 answer positions."""
    w = wl(kind="rl-rollout", policy="qwen2.5-math-1.5b-instruct", prm="eurus-prm-7b",
           reference="qwen2.5-math-7b-instruct", prompts=2, group=4, question_tokens=100, steps=5, step_tokens=40)
    (ref,) = [p for p in w.phases if p.role == "reference"]
    assert (ref.model.name, ref.batch, ref.new_tokens, ref.head_positions) == ("qwen2.5-math-7b-instruct", 8, 300, 200)
    labels = [c.label for c in w.resident_copies()]
    assert labels == ["qwen2.5-math-1.5b-instruct", "eurus-prm-7b", "qwen2.5-math-7b-instruct (reference copy)"]
    assert tokens(w, "policy") == 2 * 100 + 8 * 199
    assert w.generated_tokens == 2 * 4 * 200


def test_generative_chains_and_critique_whole_solutions():
    """prm-score generative, 3 solutions, C=20, Q=50, S=2 x T=30, V=64, K=4: prefill 3 x 130, decode 12 x 63."""
    w = wl(kind="prm-score", model="thinkprm-1.5b", solutions=3, question_tokens=50, steps=2, step_tokens=30,
           scoring="generative", verify_tokens=64, critique_tokens=20, verify_chains=4)
    pre, dec = w.phases
    assert (pre.batch, pre.new_tokens, dec.batch, dec.past_context, dec.steps) == (3, 130, 12, 130, 63)
    assert w.generated_tokens == 3 * 4 * 64


def test_best_of_n_prefix_reuse_prefills_the_question_once():
    common = dict(kind="best-of-n", policy=POLICY, prm=PRM, n=8, question_tokens=100, steps=4, step_tokens=25)
    plain, reuse = wl(**common), wl(**common, prefix_reuse=True)
    assert tokens(plain, "prm") == 8 * (100 + 4 * 26)
    assert tokens(reuse, "prm") == 100 + 8 * 4 * 26
    assert [p.totals() for p in plain.phases if p.role == "policy"] == \
        [p.totals() for p in reuse.phases if p.role == "policy"]


# ---- resident KV ----------------------------------------------------------------------------------------------

def test_best_of_64_holds_the_question_once(run_cli):
    """Q=200, 4 steps x 50: the policy's 64 samples hold Q once plus 64 x 199 own tokens (the last token
    is never fed back); without sharing 64 x 399. The PRM with --prefix-reuse: Q once plus 64 x 4 x 51."""
    args = ["workload", "explain", "--workload", "best-of-n", "--policy", POLICY, "--prm", PRM, "--n", "64",
            "--question-tokens", "200", "--steps", "4", "--step-tokens", "50", "--prefix-reuse", "--json"]
    rc, out, err = run_cli(*args)
    assert rc == 0, err
    on = json.loads(out)
    assert on["resident_kv_tokens"] == {POLICY: 200 + 64 * 199, PRM: 200 + 64 * 204}
    assert on["resident_bytes"][POLICY] == (200 + 64 * 199) * KV_PER_TOKEN_QWEN15
    rc, out, err = run_cli(*args, "--no-prefix-sharing")
    assert rc == 0, err
    off = json.loads(out)
    assert off["prefix_sharing"] is False and off["workload"]["prefix_sharing"] is False
    assert off["resident_kv_tokens"] == {POLICY: 64 * 399, PRM: 64 * 404}
    assert off["resident_bytes"][POLICY] - on["resident_bytes"][POLICY] == 63 * 200 * KV_PER_TOKEN_QWEN15


def test_beam_search_resident_kv_by_hand():
    """W=4, E=4, S=5, T=20, Q=100, PRM with reuse. Policy, last step: Q once, each beam's 4 kept steps once
    (4 x 80), each candidate's own 20 tokens (16 x 20). PRM, last step: Q + 4 x 4 x 21 + 16 x 21."""
    w = wl(kind="beam-search", policy=POLICY, prm=PRM, beam_width=4, expansions=4, steps=5, step_tokens=20,
           question_tokens=100, prefix_reuse=True)
    r = resident_kv(w)
    assert r[POLICY].tokens == 100 + 4 * 80 + 16 * 20
    assert r[PRM].tokens == 100 + 4 * 84 + 16 * 21
    off = resident_kv(w, prefix_sharing=False)
    assert off[POLICY].tokens == 16 * 200 and off[PRM].tokens == 16 * 205


def test_one_model_as_policy_and_prm_holds_both_caches():
    """gpt2-small as policy and PRM (one weight copy): rl-rollout P=2, G=3, Q=16, 2 x 8: the policy holds
    2 x 16 + 6 x 15, the PRM (single-pass, no reuse) 6 x (16 + 18), together."""
    w = expand(parse_workload({"kind": "rl-rollout", "prompts": 2, "group": 3, "question_tokens": 16, "steps": 2,
                               "step_tokens": 8, "scoring": "single-pass"}), GPT2)
    r = resident_kv(w)["gpt2-small"]
    assert r.tokens == 2 * 16 + 6 * 15 + 6 * 34
    assert r.bytes == r.tokens * KV_PER_TOKEN_GPT2


def test_a_phase_split_by_batch_keeps_sharing_sensible():
    """A placement may split a phase's batch (dataclasses.replace): a level wider than the part counts
    as one group per sequence, so the part never holds less than nothing shared."""
    ph = wl(kind="best-of-n", policy=POLICY, prm=PRM, n=8, question_tokens=100, steps=2, step_tokens=10).phases[1]
    assert phase_kv_tokens(ph) == 100 + 8 * 19
    assert phase_kv_tokens(replace(ph, batch=1)) == 119


# ---- bad input -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("data, match", [
    ({"kind": "lookahead", "beam_width": 2, "expansions": 2, "steps": 0, "step_tokens": 4, "question_tokens": 8,
      "lookahead": 1}, "steps"),
    ({"kind": "lookahead", "beam_width": 2, "expansions": 2, "steps": 2, "step_tokens": 4, "question_tokens": 8,
      "lookahead": -1}, "lookahead"),
    ({"kind": "dvts", "n": 6, "beam_width": 4, "steps": 2, "step_tokens": 4, "question_tokens": 8}, "n: 6"),
    ({"kind": "omega-annotate", "question_tokens": 8, "steps": 4, "step_tokens": 4, "rollouts": 2,
      "first_error": 5}, "first_error"),
    ({"kind": "omega-annotate", "question_tokens": 8, "steps": 4, "step_tokens": 4, "rollouts": 2,
      "searches": 3}, "searches"),
    ({"kind": "best-of-n", "policy": POLICY, "prm": PRM, "n": 2, "question_tokens": 8, "steps": 2, "step_tokens": 4,
      "verify_chains": 2}, "verify_chains: applies only to scoring generative"),
    ({"kind": "beam-search", "policy": POLICY, "prm": PRM, "beam_width": 2, "expansions": 2, "steps": 2,
      "step_tokens": 4, "question_tokens": 8, "reference": POLICY}, "reference: applies only to scoring implicit"),
    ({"kind": "beam-search", "policy": POLICY, "prm": PRM, "beam_width": 2, "expansions": 2, "steps": 2,
      "step_tokens": 4, "question_tokens": 8, "scoring": "per-step-prefix", "prefix_reuse": True}, "prefix_reuse"),
])
def test_bad_specs_name_the_field(data, match):
    with pytest.raises(ConfigError, match=match):
        parse_workload(data, source="wl.yaml")


@pytest.mark.parametrize("extra, match", [
    ({"prm": PRM, "scoring": "implicit"}, "scoring .*implicit needs a PRM with a full LM head"),
    ({"prm": POLICY, "scoring": "implicit", "reference": "no-such-model"}, r"reference \(--reference\) no-such-model"),
    ({"prm": POLICY, "scoring": "implicit", "reference": "gpt2-small"}, "vocabulary of 50257"),
    ({"prm": POLICY, "scoring": "implicit", "reference": PRM}, "value head"),
])
def test_bad_models_name_the_field(extra, match):
    with pytest.raises(ConfigError, match=match):
        wl(kind="beam-search", policy=POLICY, beam_width=2, expansions=2, steps=2, step_tokens=4, question_tokens=8,
           **extra)


def test_cli_errors_exit_2_with_the_flag(run_cli):
    rc, out, err = run_cli("workload", "explain", "--workload", "dvts", "--policy", POLICY, "--prm", PRM, "--n", "5",
                           "--beam-width", "2", "--steps", "2", "--step-tokens", "4", "--question-tokens", "8")
    assert rc == 2 and "--n" in err and "Traceback" not in err
    rc, out, err = run_cli("workload", "explain", "--workload", "lookahead", "--model", "gpt2-small", "--steps", "0",
                           "--beam-width", "2", "--expansions", "2", "--step-tokens", "4", "--question-tokens", "8",
                           "--lookahead", "1")
    assert rc == 2 and "--steps" in err and "Traceback" not in err
    rc, out, err = run_cli("workload", "explain", "--workload", "omega-annotate", "--steps", "4", "--step-tokens", "4",
                           "--question-tokens", "8", "--rollouts", "2")
    assert rc == 2 and "no policy given" in err


# ---- end to end ---------------------------------------------------------------------------------------------

CHEAP = {
    "lookahead": ["--beam-width", "2", "--expansions", "2", "--lookahead", "1"],
    "dvts": ["--n", "4", "--beam-width", "2", "--scoring", "implicit", "--reference", "gpt2-medium"],
    "omega-annotate": ["--rollouts", "4"],
    "rl-rollout": ["--prompts", "2", "--group", "2", "--scoring", "generative", "--verify-tokens", "8",
                   "--verify-chains", "2", "--critique-tokens", "4"],
}
EXPECTED_GENERATED = {"lookahead": 4 * 8 * (2 + 2 + 1), "dvts": 4 * 3 * 8, "omega-annotate": 4 * 24 + 4 * 8 * (2 + 1),
                      "rl-rollout": 4 * 24}  # Q=16, S=3, T=8; omega probes m = 1, 2 (e = 3)


@pytest.mark.parametrize("kind", sorted(CHEAP))
def test_new_kinds_run_on_pim_and_on_a_gpu(kind, run_cli):
    sizes = ["--question-tokens", "16", "--steps", "3", "--step-tokens", "8"]
    rc, out, err = run_cli("simulate", "--model", "gpt2-small", "--hardware", "pimgpt-gddr6", "--mapping", "pimgpt",
                           "--workload", kind, *sizes, *CHEAP[kind], "--json")
    assert rc == 0, err
    pim = json.loads(out)
    data = {"kind": kind, "question_tokens": 16, "steps": 3, "step_tokens": 8}
    flags = CHEAP[kind]
    for flag, value in zip(flags[::2], flags[1::2]):
        field = flag[2:].replace("-", "_")
        data[field] = value if field in ("scoring", "reference") else int(value)
    data["policy"] = "gpt2-small"
    if kind != "omega-annotate":
        data["prm"] = "gpt2-small"
    w = expand(parse_workload(data), resolve=load_model)
    gpu = run_baseline(w, "h100-sxm")
    assert w.generated_tokens == EXPECTED_GENERATED[kind]
    assert pim["tokens"] == gpu.tokens == EXPECTED_GENERATED[kind]
    assert [p["name"] for p in pim["phases"]] == [p.name for p in gpu.phases] == [p.name for p in w.phases]
    assert pim["latency_s"] > 0 and gpu.latency_s > 0


def test_reference_copy_counts_on_pim():
    """An implicit PRM's distinct reference model is resident beside the PRM on PIM too."""
    spec = parse_workload({"kind": "best-of-n", "policy": "gpt2-small", "prm": "gpt2-small", "n": 2,
                           "question_tokens": 16, "steps": 2, "step_tokens": 8, "scoring": "implicit",
                           "reference": "gpt2-medium"})
    res = simulate(None, "pimgpt-gddr6", "pimgpt", spec)
    assert sorted(res.config["models"]) == ["gpt2-medium", "gpt2-small"]


# ---- experiments: MODEL_DEFAULT_KINDS run on the experiment's models --------------------------------------

def test_experiment_model_default_kinds_run_on_each_model(tmp_path):
    """A lookahead / dvts / omega-annotate / rl-rollout workload that leaves a model field out runs on each of
    the experiment's `models:` (as `--model M` does on the CLI); one naming every model runs once."""
    from pimsim.experiments.evaluate import run_point
    from pimsim.experiments.points import expand_points
    from pimsim.experiments.spec import load_experiment

    exp = tmp_path / "e.yaml"
    exp.write_text(
        "name: e\ndescription: d\npim: false\nbaselines: [{device: t4}]\nmodels: [gpt2-small, gpt2-medium]\n"
        "workloads:\n"
        "  - {kind: dvts, n: 4, beam_width: 2, steps: 2, step_tokens: 4, question_tokens: 8}\n"
        "  - {kind: lookahead, policy: gpt2-small, beam_width: 2, expansions: 2, steps: 2, step_tokens: 4,\n"
        "     question_tokens: 8, lookahead: 1}\n"
        "  - {kind: omega-annotate, question_tokens: 8, steps: 4, step_tokens: 4, rollouts: 2}\n"
        "  - {kind: rl-rollout, policy: gpt2-small, prm: gpt2-small, prompts: 2, group: 2, question_tokens: 8,\n"
        "     steps: 2, step_tokens: 4, scoring: single-pass}\n")
    points = expand_points(load_experiment(exp), source=str(exp))
    got = sorted((p["workload"]["kind"], p["model"]) for p in points)
    assert got == sorted([("dvts", "gpt2-small"), ("dvts", "gpt2-medium"), ("lookahead", "gpt2-small"),
                          ("lookahead", "gpt2-medium"), ("omega-annotate", "gpt2-small"),
                          ("omega-annotate", "gpt2-medium"), ("rl-rollout", "gpt2-small+gpt2-small")])
    for p in points:
        row = run_point(p)
        assert not row.get("error"), row.get("error")
        spec = parse_workload(p["workload"])
        model = None if p["workload"]["kind"] == "rl-rollout" else load_model(p["model"])
        alone = run_baseline(expand(spec, model, resolve=load_model), "t4")  # the CLI's --model path
        assert row["latency_s"] == pytest.approx(alone.latency_s, rel=1e-12)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: e\ndescription: d\npim: false\nbaselines: [{device: t4}]\nworkloads:\n"
                   "  - {kind: dvts, n: 4, beam_width: 2, steps: 2, step_tokens: 4, question_tokens: 8}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: workloads\.0: a dvts workload needs a model \(for its policy, "
                                          r"prm\)"):
        expand_points(load_experiment(bad), source=str(bad))
