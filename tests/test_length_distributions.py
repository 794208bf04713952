"""Issue 14, item 2: token counts drawn from a distribution, batches that shrink as sequences finish.

Expectations are written from the definitions in docs/workloads.md ("Length distributions"): lognormal
lengths are max(1, rint(x)) of numpy default_rng(seed).lognormal(ln(mean) - sigma^2/2, sigma, n), the
empirical ones default_rng(seed).choice(lengths, n, p=counts/sum); a decode of sequences with d_1 <= ... <=
d_B steps is batch B for d_1 steps, then one fewer, ... (sum d_i tokens). Each test redraws the lengths
itself from that definition, not from pimsim.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.models import get_model, load_model
from pimsim.workloads import COST_KEYS, Phase, expand, parse_workload, resident_kv
from pimsim.workloads.phases import shrinking_decode

GPT2 = get_model("gpt2-small")
POLICY, PRM = "qwen2.5-math-1.5b-instruct", "skywork-prm-1.5b"


def lognormal(mean, sigma, seed, n, cap=None):
    x = np.maximum(np.rint(np.random.default_rng(seed).lognormal(math.log(mean) - sigma ** 2 / 2, sigma, n)), 1)
    return [int(v) for v in (np.minimum(x, cap) if cap else x)]


def wl(**data):
    return expand(parse_workload(data), resolve=load_model)


def totals(phases):
    out = dict.fromkeys(COST_KEYS + ("tokens",), 0)
    for p in phases:
        for k, v in p.totals().items():
            out[k] += v
    return out


def shapes(w):
    return [(p.role, p.kind, p.model.name, p.batch, p.new_tokens, p.past_context, p.steps, p.head_positions,
             p.shared_kv) for p in w.phases]


# ---- the shrinking decode: closed forms and invariance to splitting ---------------------------------------

def test_shrinking_decode_runs_by_hand():
    """d = (3, 3, 5, 9): batch 4 for 3 steps, batch 2 for 2 more, batch 1 for 4 more."""
    ph = shrinking_decode("d", "policy", GPT2, 10, [3, 9, 3, 5])
    assert [(p.batch, p.past_context, p.steps, p.name) for p in ph] == [
        (4, 10, 3, "d.batch4"), (2, 13, 2, "d.batch2"), (1, 15, 4, "d.batch1")]
    assert sum(p.tokens for p in ph) == 3 + 9 + 3 + 5
    assert shrinking_decode("d", "policy", GPT2, 10, [0, 0]) == []
    (one,) = shrinking_decode("d", "policy", GPT2, 10, [7, 7, 7])
    assert (one.name, one.batch, one.steps) == ("d", 3, 7)  # equal lengths: the fixed-length phase


@settings(max_examples=40, deadline=None)
@given(ds=st.lists(st.integers(0, 40), min_size=1, max_size=12), past=st.integers(0, 200), data=st.data())
def test_shrinking_decode_totals_are_invariant_to_splitting(ds, past, data):
    """FLOPs, KV bytes and tokens are per sequence: the batch equals any split of it into two batches, and
    the sum of each sequence decoded alone. Weights are read once per step of the whole batch (max(d) steps),
    but for the embedding row each sequence gathers (hidden x 2 B per sequence and step)."""
    whole = totals(shrinking_decode("d", "policy", GPT2, past, ds))
    mask = data.draw(st.lists(st.booleans(), min_size=len(ds), max_size=len(ds)))
    a = totals(shrinking_decode("d", "policy", GPT2, past, [d for d, m in zip(ds, mask) if m]))
    b = totals(shrinking_decode("d", "policy", GPT2, past, [d for d, m in zip(ds, mask) if not m]))
    alone = totals([Phase("d", "policy", "decode", GPT2, 1, 1, past, steps=d) for d in ds if d])
    for k in ("flops", "kv_read_bytes", "kv_write_bytes", "tokens"):
        assert whole[k] == a[k] + b[k] == alone[k], k
    assert whole["tokens"] == sum(ds)
    row = GPT2.hidden * 2
    per_step = Phase("d", "policy", "decode", GPT2, 1, 1, past).totals()["weight_bytes"] - row
    assert whole["weight_bytes"] == max(ds) * per_step + sum(ds) * row


# ---- parsing, determinism ---------------------------------------------------------------------------------

DIST = {"dist": "lognormal", "mean": 300, "sigma": 0.6, "seed": 7}


def test_generate_lengths_are_the_seeded_lognormal_draws():
    w = wl(kind="generate", model="gpt2-small", prompt=16, generate=DIST, batch=32)
    lengths = lognormal(300, 0.6, 7, 32, cap=None)
    lengths = [min(x, 1024 - 16 + 1) for x in lengths]  # (no draw reaches gpt2's limit: checked next)
    assert max(lengths) < 1024 - 16
    assert w.generated_tokens == sum(lengths)
    assert sum(p.tokens for p in w.phases if p.kind == "decode") == sum(x - 1 for x in lengths)
    assert [p.batch for p in w.phases if p.kind == "decode"] == sorted(
        {sum(1 for x in lengths if x - 1 >= v) for v in {x - 1 for x in lengths if x > 1}}, reverse=True)
    again = wl(kind="generate", model="gpt2-small", prompt=16, generate=DIST, batch=32)
    assert shapes(again) == shapes(w)  # one seed, one workload
    other = wl(kind="generate", model="gpt2-small", prompt=16, generate={**DIST, "seed": 8}, batch=32)
    assert other.generated_tokens == sum(lognormal(300, 0.6, 8, 32)) != w.generated_tokens


def test_lognormal_max_caps_the_draws():
    w = wl(kind="generate", model="gpt2-small", prompt=16, generate={**DIST, "max": 200}, batch=32)
    assert w.generated_tokens == sum(lognormal(300, 0.6, 7, 32, cap=200))
    assert max(p.end_context for p in w.phases) == 16 + 200 - 1


@pytest.mark.parametrize("kind", ["generate", "best-of-n", "mc-annotate", "rl-rollout"])
def test_sigma_zero_is_the_fixed_workload_phase_for_phase(kind):
    """sigma 0: every draw is rint(mean), so the workload is the fixed-length one (names included)."""
    base = {"generate": dict(model="gpt2-small", prompt=16, generate=40, batch=4),
            "best-of-n": dict(policy=POLICY, prm=PRM, n=8, question_tokens=50, steps=4, step_tokens=40,
                              prefix_reuse=True),
            "mc-annotate": dict(policy=POLICY, question_tokens=50, steps=5, step_tokens=40, rollouts=4),
            "rl-rollout": dict(policy=POLICY, prm=PRM, prompts=2, group=4, question_tokens=50, steps=4,
                               step_tokens=40, scoring="single-pass")}[kind]
    field = "generate" if kind == "generate" else "step_tokens"
    fixed = wl(kind=kind, **base)
    drawn = wl(kind=kind, **{**base, field: {"dist": "lognormal", "mean": 40, "sigma": 0, "seed": 3}})
    assert shapes(drawn) == shapes(fixed) and [p.name for p in drawn] == [p.name for p in fixed]
    assert drawn.generated_tokens == fixed.generated_tokens


# ---- kinds -------------------------------------------------------------------------------------------------

def test_best_of_n_tokens_and_resident_kv_by_hand():
    """Sample i has S steps of T_i tokens: the policy decodes S T_i - 1 after the shared question; the PRM
    (single-pass, reuse) prefills the question once and S (T_i + 1) tokens per solution; resident PRM KV
    holds the question once for the whole ragged batch."""
    q, s, n = 100, 4, 16
    spec = dict(kind="best-of-n", policy=POLICY, prm=PRM, n=n, question_tokens=q, steps=s,
                step_tokens={"dist": "lognormal", "mean": 60, "sigma": 0.5, "seed": 11}, prefix_reuse=True)
    ts = lognormal(60, 0.5, 11, n)
    w = wl(**spec)
    assert w.generated_tokens == s * sum(ts)
    assert sum(p.tokens for p in w.phases if p.role == "policy") == q + sum(s * t - 1 for t in ts)
    assert sum(p.tokens for p in w.phases if p.role == "prm") == q + sum(s * (t + 1) for t in ts)
    kv = resident_kv(w)
    assert kv[PRM].tokens == q + sum(s * (t + 1) for t in ts)
    # the policy's largest run: batch b_k at its end context, the question once
    runs = [p for p in w.phases if p.role == "policy" and p.kind == "decode"]
    assert kv[POLICY].tokens == max(q + p.batch * (p.end_context - q) for p in runs)
    own = resident_kv(w, prefix_sharing=False)
    assert own[PRM].tokens == sum(q + s * (t + 1) for t in ts)
    noreuse = wl(**{**spec, "prefix_reuse": False})
    assert sum(p.tokens for p in noreuse.phases if p.role == "prm") == sum(q + s * (t + 1) for t in ts)
    implicit = wl(**{**spec, "scoring": "implicit", "prm": POLICY})
    assert sum(p.tokens for p in implicit.phases if p.role == "reference") == q + s * sum(ts)
    perstep = wl(**{**spec, "scoring": "per-step-prefix", "prefix_reuse": False})
    assert sum(p.tokens for p in perstep.phases if p.role == "prm") == sum(
        q + r * (t + 1) for t in ts for r in range(1, s + 1))


def test_mc_annotate_generated_tokens_by_hand():
    """Draw 0 is the solution's step length T; rollout j of boundary s draws T_sj and decodes (S - s) T_sj."""
    q, s_, k = 80, 6, 4
    w = wl(kind="mc-annotate", policy=POLICY, question_tokens=q, steps=s_, rollouts=k,
           step_tokens={"dist": "lognormal", "mean": 50, "sigma": 0.4, "seed": 5})
    ts = lognormal(50, 0.4, 5, 1 + (s_ - 1) * k)
    t0, rest = ts[0], ts[1:]
    gen = sum((s_ - s) * rest[(s - 1) * k + j] for s in range(1, s_) for j in range(k))
    assert w.generated_tokens == gen
    prefills = [p for p in w.phases if p.kind == "prefill"]
    assert [p.new_tokens for p in prefills] == [q + s * t0 for s in range(1, s_)]
    assert sum(p.tokens for p in w.phases if p.kind == "decode") == gen - k * (s_ - 1)


def test_rl_rollout_generated_tokens_by_hand():
    w = wl(kind="rl-rollout", policy=POLICY, prm=PRM, prompts=3, group=4, question_tokens=50, steps=3,
           step_tokens={"dist": "lognormal", "mean": 40, "sigma": 0.5, "seed": 2}, scoring="single-pass")
    ts = lognormal(40, 0.5, 2, 12)
    assert w.generated_tokens == 3 * sum(ts)
    assert sum(p.tokens for p in w.phases if p.role == "prm") == sum(50 + 3 * (t + 1) for t in ts)


def test_empirical_histogram(tmp_path):
    path = tmp_path / "lengths.csv"
    path.write_text("length,count\n20,3\n45,1\n# a comment\n90,0\n")
    w = wl(kind="generate", model="gpt2-small", prompt=8, generate={"dist": "empirical", "file": str(path),
                                                                    "seed": 4}, batch=50)
    draws = np.random.default_rng(4).choice(np.array([20, 45, 90]), size=50, p=np.array([3, 1, 0]) / 4)
    assert w.generated_tokens == int(draws.sum()) and 90 not in draws
    single = tmp_path / "one.csv"
    single.write_text("length,count\n33,5\n")
    one = wl(kind="generate", model="gpt2-small", prompt=8, generate={"dist": "empirical", "file": str(single)},
             batch=5)
    assert shapes(one) == shapes(wl(kind="generate", model="gpt2-small", prompt=8, generate=33, batch=5))


# ---- CLI: explain reports the drawn totals; bad specs exit 2 naming the field -------------------------------

def test_cli_explain_generated_tokens_is_the_sum_of_draws(cli):
    rc, out, err = cli("workload", "explain", "--workload", "best-of-n", "--policy", POLICY, "--prm", PRM, "--n", "8",
                       "--question-tokens", "40", "--steps", "3", "--step-tokens",
                       "{dist: lognormal, mean: 50, sigma: 0.5, seed: 9}", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["generated_tokens"] == 3 * sum(lognormal(50, 0.5, 9, 8))
    assert data["workload"]["step_tokens"] == {"dist": "lognormal", "mean": 50.0, "sigma": 0.5, "seed": 9}


@pytest.mark.parametrize("value, message", [
    ("{dist: gauss, mean: 5}", "--step-tokens: dist: must be one of lognormal, empirical"),
    ("{dist: lognormal, mean: 50, sigma: -1}", "--step-tokens: lognormal distribution: sigma:"),
    ("{dist: lognormal, mean: 0, sigma: 1}", "--step-tokens: lognormal distribution: mean:"),
    ("{dist: lognormal, sigma: 1}", "--step-tokens: lognormal distribution: mean: Field required"),
    ("{dist: lognormal, mean: 5, sigma: 1, extra: 2}", "lognormal distribution: extra: Extra inputs"),
    ("{dist: empirical, file: /no/such.csv}", "--step-tokens: empirical distribution: file: /no/such.csv: file not found"),
    ("lots", "--step-tokens: expected a whole number of tokens or a distribution mapping"),
    ("0", "--step-tokens: Input should be greater than 0"),
])
def test_cli_bad_distribution_exits_2(cli, value, message):
    rc, out, err = cli("workload", "explain", "--workload", "best-of-n", "--policy", POLICY, "--prm", PRM, "--n", "4",
                       "--question-tokens", "40", "--steps", "3", "--step-tokens", value)
    assert rc == 2 and out == "" and "Traceback" not in err
    assert message in err


@pytest.mark.parametrize("text, message", [
    ("count,length\n3,4\n", "the first line must be the header `length,count`"),
    ("length,count\n3\n", "line 2: expected 2 cells"),
    ("length,count\n0,4\n", "line 2: length must be a whole number >= 1"),
    ("length,count\n3,-1\n", "line 2: count must be a whole number >= 0"),
    ("length,count\n3,1\n3,2\n", "line 3: length 3 appears twice"),
    ("length,count\n3,0\n", "no counts"),
])
def test_bad_histogram_files_exit_2_through_a_workload_file(cli, tmp_path, text, message):
    hist = tmp_path / "h.csv"
    hist.write_text(text)
    spec = tmp_path / "w.yaml"
    spec.write_text(f"kind: generate\nmodel: gpt2-small\nprompt: 8\nbatch: 4\n"
                    f"generate: {{dist: empirical, file: {hist}}}\n")
    rc, out, err = cli("workload", "explain", "--workload", str(spec))
    assert rc == 2 and out == "" and "Traceback" not in err
    assert "generate" in err and str(hist) in err and message in err


def test_generative_scoring_with_a_distribution_is_refused(cli):
    rc, _, err = cli("workload", "explain", "--workload", "best-of-n", "--policy", POLICY, "--prm", POLICY, "--n", "4",
                     "--question-tokens", "40", "--steps", "3", "--scoring", "generative", "--step-tokens",
                     "{dist: lognormal, mean: 50, sigma: 0.5}")
    assert rc == 2 and "distribution with scoring generative is not modelled" in err


def test_fixed_only_counts_refuse_a_distribution(cli):
    rc, _, err = cli("workload", "explain", "--workload", "beam-search", "--policy", POLICY, "--prm", PRM,
                     "--beam-width", "2", "--expansions", "2", "--question-tokens", "40", "--steps", "3",
                     "--step-tokens", "{dist: lognormal, mean: 50, sigma: 0.5}")
    assert rc == 2 and "--step-tokens: Input should be a valid integer" in err


@settings(max_examples=30, deadline=None)
@given(ts=st.lists(st.integers(1, 30), min_size=1, max_size=10), q=st.integers(1, 50), s_=st.integers(1, 4),
       scoring=st.sampled_from(["single-pass", "per-step-prefix", "implicit"]), reuse=st.booleans())
def test_ragged_scoring_is_each_solution_scored_alone(ts, q, s_, scoring, reuse):
    """FLOPs, KV writes and tokens of the ragged PRM scoring equal those of each solution scored alone
    (`_prm_phases` with one solution of its own length), the reused question prefill counted once."""
    from pimsim.workloads.phases import _prm_phases, _prm_ragged

    if reuse and scoring == "per-step-prefix":
        reuse = False  # refused by the spec: re-reads every prefix
    ragged = totals(_prm_ragged(GPT2, ts, q, s_, scoring, None, "best-of-n", reuse=reuse))
    alone = [p for t in ts for p in _prm_phases(GPT2, 1, q, s_, t, scoring, None, "best-of-n", reuse=reuse)
             if not p.name.endswith("prefill.question")]
    question = [p for p in _prm_phases(GPT2, 1, q, s_, ts[0], scoring, None, "best-of-n", reuse=reuse)
                if p.name.endswith("prefill.question")]
    expect = totals(alone + question)
    for k in ("flops", "kv_write_bytes", "tokens"):
        assert ragged[k] == expect[k], k
