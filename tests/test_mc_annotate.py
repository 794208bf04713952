"""mc-annotate (Math-Shepherd's Monte Carlo step labels; issue 14): token accounting against the closed form,
invariance of totals, and end to end on PIM and a GPU."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.baselines.model import run_baseline
from pimsim.engine import simulate
from pimsim.errors import ConfigError
from pimsim.models import load_model
from pimsim.workloads import expand
from pimsim.workloads.spec import McAnnotateSpec, parse_workload

POLICY = "qwen2.5-math-1.5b-instruct"


@settings(max_examples=40, deadline=None)
@given(q=st.integers(1, 300), steps=st.integers(2, 12), t=st.integers(1, 80), k=st.integers(1, 32))
def test_generated_tokens_and_forward_tokens_closed_form(q, steps, t, k):
    """Generated = K x T x S(S-1)/2. Forward tokens: each boundary's prefix once (Q + sT) plus every
    rollout's (S-s)T - 1 decode steps (its first token comes from the prefix's prefill)."""
    wl = expand(McAnnotateSpec(policy=POLICY, question_tokens=q, steps=steps, step_tokens=t, rollouts=k),
                resolve=lambda n: load_model(n))
    assert wl.generated_tokens == k * t * steps * (steps - 1) // 2
    prefill = sum(q + s * t for s in range(1, steps))
    decode = sum(k * ((steps - s) * t - 1) for s in range(1, steps))
    assert sum(ph.tokens for ph in wl.phases) == prefill + decode
    assert max(ph.end_context for ph in wl.phases) == q + steps * t - 1  # the last rollout token is not fed back


def test_cli_explain_reports_generated_tokens(run_cli):
    rc, out, err = run_cli("workload", "explain", "--workload", "mc-annotate", "--policy", POLICY,
                           "--question-tokens", "64", "--steps", "4", "--step-tokens", "32", "--rollouts", "8",
                           "--json")
    assert rc == 0, err
    assert json.loads(out)["generated_tokens"] == 8 * 32 * 4 * 3 // 2


def test_runs_on_pim_and_on_a_gpu_and_rejects_one_step():
    spec = McAnnotateSpec(policy=POLICY, question_tokens=32, steps=3, step_tokens=8, rollouts=4)
    pim = simulate(None, "aim-32ch", "pimgpt_kv_fit", spec)
    gpu = run_baseline(expand(spec), "h100-sxm", "graph")
    assert pim.tokens == gpu.tokens == 4 * 8 * 3
    assert [p.name for p in pim.phases] == [p.name for p in gpu.phases]
    with pytest.raises(ConfigError, match="steps"):
        parse_workload({"kind": "mc-annotate", "policy": POLICY, "question_tokens": 8, "steps": 1,
                        "step_tokens": 4, "rollouts": 2})
