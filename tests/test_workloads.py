"""Phase accounting: exact token counts per workload kind, closed-form sums, split invariance."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.errors import ConfigError
from pimsim.models import ModelGraph, get_model
from pimsim.workloads import COST_KEYS, Phase, expand, parse_workload
from pimsim.workloads.spec import BeamSearchSpec, BestOfNSpec, GenerateSpec, PrmScoreSpec

GPT2 = get_model("gpt2-small")
QWEN = get_model("qwen2.5-math-1.5b-instruct")
PRM = get_model("skywork-prm-1.5b")


def brute_force(phase: Phase) -> dict[str, int]:
    """Sum the per-step op costs one step at a time (the definition the closed form must equal)."""
    out = dict.fromkeys(COST_KEYS, 0)
    graph = ModelGraph(phase.model)
    for i in range(phase.steps):
        for c in graph.step(phase.new_tokens, phase.past_context + i * phase.new_tokens, phase.batch,
                            head_positions=phase.head_positions):
            for k in COST_KEYS:
                out[k] += getattr(c, k)
    return out


@settings(max_examples=25, deadline=None)
@given(steps=st.integers(1, 40), past=st.integers(0, 300), batch=st.integers(1, 8),
       new=st.integers(1, 3), model=st.sampled_from([GPT2, QWEN]))
def test_closed_form_equals_step_by_step_sum(steps, past, batch, new, model):
    ph = Phase("p", "policy", "decode", model, batch, new, past, steps=steps)
    t = ph.totals()
    assert {k: t[k] for k in COST_KEYS} == brute_force(ph)
    assert t["tokens"] == batch * steps * new


@settings(max_examples=40, deadline=None)
@given(a=st.integers(1, 200), b=st.integers(1, 200), past=st.integers(0, 400), batch=st.integers(1, 16))
def test_decode_totals_invariant_to_split(a, b, past, batch):
    whole = Phase("d", "policy", "decode", GPT2, batch, 1, past, steps=a + b).totals()
    first = Phase("d1", "policy", "decode", GPT2, batch, 1, past, steps=a).totals()
    second = Phase("d2", "policy", "decode", GPT2, batch, 1, past + a, steps=b).totals()
    assert whole == {k: first[k] + second[k] for k in whole}


@settings(max_examples=40, deadline=None)
@given(n1=st.integers(1, 300), n2=st.integers(1, 300), batch=st.integers(1, 4))
def test_chunked_prefill_keeps_flops_and_kv_writes(n1, n2, batch):
    """Splitting a prefill into two chunks (head only on the last) does the same arithmetic and writes
    the same cache; only KV reads differ (the second chunk re-reads the first chunk's cache)."""
    whole = Phase("p", "policy", "prefill", QWEN, batch, n1 + n2, 0).totals()
    c1 = Phase("c1", "policy", "prefill", QWEN, batch, n1, 0, head_positions=0).totals()
    c2 = Phase("c2", "policy", "prefill", QWEN, batch, n2, n1).totals()
    for k in ("flops", "kv_write_bytes", "tokens"):
        assert whole[k] == c1[k] + c2[k]
    kv_per_token = 2 * QWEN.layers * QWEN.kv_heads * QWEN.head_dim * 2  # K and V, bf16
    assert c1["kv_read_bytes"] + c2["kv_read_bytes"] - whole["kv_read_bytes"] == batch * n1 * kv_per_token


def test_generate_token_accounting():
    w = expand(GenerateSpec(prompt=64, generate=960, batch=2), GPT2)
    prefill, decode = w.phases
    assert (prefill.new_tokens, prefill.past_context, prefill.batch) == (64, 0, 2)
    assert (decode.steps, decode.past_context, decode.end_context) == (959, 64, 1023)
    assert w.generated_tokens == 2 * 960
    assert w.totals()["tokens"] == 2 * (64 + 960 - 1)


def test_generate_flops_close_to_two_params_per_token():
    """FLOPs ~ 2 x (params without embeddings) x tokens + attention (independent closed form)."""
    p, g = 64, 64
    w = expand(GenerateSpec(prompt=p, generate=g), GPT2)
    d, L, V = GPT2.hidden, GPT2.layers, GPT2.vocab
    layer_params = 12 * d * d  # QKV + out + MLP 4d, biases ignored
    tokens = p + g - 1
    matmul = 2 * layer_params * L * tokens
    head = 2 * d * V * (1 + (g - 1))  # LM head on the last prefill position and every decode step
    attended = sum(range(1, tokens + 1))  # causal: token i attends i keys
    attention = 2 * 2 * d * L * attended  # q.K^T and p.V, 2 FLOPs per MAC
    expected = matmul + head + attention
    assert w.totals()["flops"] == pytest.approx(expected, rel=0.02)


def test_prm_single_pass_and_per_step_prefix():
    q, s, t, n = 100, 6, 50, 4
    single = expand(PrmScoreSpec(solutions=n, question_tokens=q, steps=s, step_tokens=t), PRM)
    (ph,) = single.phases
    assert (ph.batch, ph.new_tokens, ph.head_positions) == (n, q + s * (t + 1), s)
    per_step = expand(PrmScoreSpec(solutions=n, question_tokens=q, steps=s, step_tokens=t,
                                   scoring="per-step-prefix"), PRM)
    assert [p.new_tokens for p in per_step.phases] == [q + k * (t + 1) for k in range(1, s + 1)]
    # re-scoring every prefix costs more than one pass (models.md: use_cache=False multiplies cost)
    assert per_step.totals()["flops"] > 3 * single.totals()["flops"]


def test_prm_implicit_runs_two_models_and_generative_decodes():
    implicit = expand(PrmScoreSpec(solutions=2, question_tokens=50, steps=3, step_tokens=40,
                                   scoring="implicit"), QWEN)
    assert [p.role for p in implicit.phases] == ["prm", "reference"]
    assert implicit.phases[0].totals() == implicit.phases[1].totals()
    gen = expand(PrmScoreSpec(solutions=2, question_tokens=50, steps=3, step_tokens=40, scoring="generative",
                              verify_tokens=256), QWEN)
    pre, dec = gen.phases
    assert (pre.new_tokens, dec.steps, dec.past_context) == (50 + 120, 255, 170)
    assert gen.generated_tokens == 2 * 256


def test_best_of_n_accounting():
    spec = BestOfNSpec(policy="qwen2.5-math-1.5b-instruct", prm="skywork-prm-1.5b", n=16, question_tokens=185,
                       steps=8, step_tokens=60)
    w = expand(spec)
    pre, dec, score = w.phases
    assert (pre.batch, pre.new_tokens) == (1, 185)
    assert (dec.batch, dec.steps, dec.past_context) == (16, 8 * 60 - 1, 185)
    assert (score.batch, score.new_tokens) == (16, 185 + 8 * 61)
    assert w.generated_tokens == 16 * 480


def test_beam_search_prefix_reuse_scores_only_new_tokens():
    common = dict(policy="qwen2.5-math-1.5b-instruct", prm="skywork-prm-1.5b", beam_width=4, expansions=4,
                  steps=10, step_tokens=50, question_tokens=100)
    no_reuse = expand(BeamSearchSpec(**common))
    reuse = expand(BeamSearchSpec(**common, prefix_reuse=True))
    prm_tokens = lambda w: sum(p.tokens for p in w.phases if p.role == "prm")  # noqa: E731
    assert prm_tokens(reuse) == 100 + 10 * 16 * 51
    assert prm_tokens(no_reuse) == sum(16 * (100 + s * 51) for s in range(1, 11))
    policy = lambda w: [p.totals() for p in w.phases if p.role == "policy"]  # noqa: E731
    assert policy(reuse) == policy(no_reuse)
    assert reuse.generated_tokens == 16 * 10 * 50


def test_bad_phases_and_specs_are_rejected_clearly():
    with pytest.raises(ConfigError, match="context reaches 1100 tokens.*at most 1024"):
        expand(GenerateSpec(prompt=1000, generate=101), GPT2)
    with pytest.raises(ConfigError, match="batch must be positive"):
        Phase("x", "policy", "decode", GPT2, 0, 1, 0)
    with pytest.raises(ConfigError, match=r"wl\.yaml: workload\.generate-?.*prompt"):
        parse_workload({"kind": "generate", "prompt": -3, "generate": 4}, source="wl.yaml")
    with pytest.raises(ConfigError, match="unknown field"):
        parse_workload({"kind": "generate", "prompt": 3, "generate": 4, "promt": 1}, source="wl.yaml")
    with pytest.raises(ConfigError, match="no model given"):
        expand(GenerateSpec(prompt=3, generate=4))
