"""Issue 14, item 3: streaming PRM scoring for best-of-N (the PRM scores each step as the policy emits it,
overlapping the policy's next step on another device) and early rejection (pruning).

Expected values: token totals are closed forms written from the definitions in
pimsim.workloads.phases.streaming_best_of_n / docs/workloads.md; the placement engine's overlap rule is
checked against hand-computed schedules (`overlapped_wall_s`) and, on a real system, against the phase
times of the same run composed by hand (a group's wall = max over devices of each device's sum).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import yaml

from pimsim.engine import simulate
from pimsim.engine.placement import overlapped_wall_s
from pimsim.models import load_model
from pimsim.workloads import COST_KEYS, Workload, expand, parse_workload, resident_kv

POLICY, PRM = "qwen2.5-math-1.5b-instruct", "skywork-prm-1.5b"


def wl(**data):
    return expand(parse_workload(data), resolve=load_model)


def role_totals(w, role):
    out = dict.fromkeys(COST_KEYS + ("tokens",), 0)
    for p in w.phases:
        if p.role == role:
            for k, v in p.totals().items():
                out[k] += v
    return out


BASE = dict(kind="best-of-n", policy=POLICY, prm=PRM, n=16, question_tokens=100, steps=5, step_tokens=30,
            prefix_reuse=True)


# ---- token accounting -------------------------------------------------------------------------------------

def test_streaming_phases_by_hand():
    q, s, t, n = 100, 5, 30, 16
    w = wl(**BASE, streaming=True)
    got = [(p.name, p.batch, p.new_tokens, p.past_context, p.steps, p.head_positions, p.overlap) for p in w.phases]
    want = [("policy.prefill", 1, q, 0, 1, None, ""),
            ("policy.decode.step1", n, 1, q, t - 1, None, "stream.1"),
            ("prm.prefill.question", 1, q, 0, 1, 0, "stream.1")]
    for k in range(1, s + 1):
        want.append((f"prm.score.step{k}", n, t + 1, q + (k - 1) * (t + 1), 1, 1, f"stream.{k + 1}"))
        if k < s:
            want.append((f"policy.decode.step{k + 1}", n, 1, q + k * t - 1, t, None, f"stream.{k + 1}"))
    assert got == want
    assert w.generated_tokens == n * s * t


@pytest.mark.parametrize("scoring, prm", [("single-pass", PRM), ("implicit", POLICY)])
@pytest.mark.parametrize("reuse", [True, False])
def test_streaming_without_pruning_does_the_same_work(scoring, prm, reuse):
    """The same tokens at the same positions: FLOPs (causal attention: position i attends to i + 1 keys
    however the prefill is chunked), KV writes and tokens equal the non-streaming best-of-N's. The policy's
    runs split one decode, so its weight and KV reads are equal too. The PRM's chunks re-read the cache:
    KV read = sum_k n (Q + k(T+1)) tokens' KV (single-pass, reuse) instead of n (Q + S(T+1))."""
    spec = {**BASE, "scoring": scoring, "prm": prm, "prefix_reuse": reuse}
    whole, stream = wl(**spec), wl(**spec, streaming=True)
    assert stream.generated_tokens == whole.generated_tokens
    for role in ("policy", "prm", "reference"):
        a, b = role_totals(whole, role), role_totals(stream, role)
        for k in ("flops", "kv_write_bytes", "tokens"):
            assert a[k] == b[k], (role, k)
    assert role_totals(whole, "policy") == role_totals(stream, "policy")
    if scoring == "single-pass" and reuse:
        kv = load_model(PRM).kv_bytes_per_token(2)
        q, s, t, n = 100, 5, 30, 16
        assert role_totals(stream, "prm")["kv_read_bytes"] == (q + sum(n * (q + k * (t + 1)) for k in range(1, 6))) * kv
        assert role_totals(whole, "prm")["kv_read_bytes"] == (q + n * (q + s * (t + 1))) * kv


def test_pruning_token_accounting_closed_form():
    """After s_p = 2 of S = 5 steps, floor(0.25 x 16) = 4 samples stop: b = 12 go on.
    policy: Q + N (s_p T - 1) + b (S - s_p) T; PRM (single-pass, reuse): Q + (N s_p + b (S - s_p))(T + 1);
    generated: N s_p T + b (S - s_p) T."""
    q, s, t, n, sp, b = 100, 5, 30, 16, 2, 12
    w = wl(**BASE, streaming=True, prune_fraction=0.25, prune_after_steps=sp)
    assert w.generated_tokens == n * sp * t + b * (s - sp) * t
    assert role_totals(w, "policy")["tokens"] == q + n * (sp * t - 1) + b * (s - sp) * t
    assert role_totals(w, "prm")["tokens"] == q + (n * sp + b * (s - sp)) * (t + 1)
    batches = {p.name: p.batch for p in w.phases}
    assert [batches[f"policy.decode.step{k}"] for k in range(1, 6)] == [16, 16, 12, 12, 12]
    assert [batches[f"prm.score.step{k}"] for k in range(1, 6)] == [16, 16, 12, 12, 12]
    # the policy waits for step 2's scores: they get a tag of their own
    tags = {p.name: p.overlap for p in w.phases}
    assert tags["prm.score.step2"] == "stream.3.scores" and tags["policy.decode.step3"] == "stream.3"
    assert tags["prm.score.step1"] == tags["policy.decode.step2"] == "stream.2"


def test_pruned_samples_free_their_kv():
    """Resident KV is that of the largest step: before pruning, 16 samples; the last step's 12 hold less."""
    q, t, n = 100, 30, 16
    w = wl(**BASE, streaming=True, prune_fraction=0.25, prune_after_steps=2)
    kv = resident_kv(w)
    # policy: the question once + per sample its tokens; 16 at the end of step 2 (2T - 1 each) vs 12 at step 5
    assert kv[POLICY].tokens == max(q + n * (2 * t - 1), q + 12 * (5 * t - 1))
    assert kv[PRM].tokens == max(q + n * 2 * (t + 1), q + 12 * 5 * (t + 1))


@pytest.mark.parametrize("extra, message", [
    (dict(streaming=True, scoring="per-step-prefix", prefix_reuse=False), "streaming: scoring per-step-prefix"),
    (dict(prune_fraction=0.5, prune_after_steps=2), "applies only with streaming"),
    (dict(streaming=True, prune_fraction=0.5), "needs both prune_fraction"),
    (dict(streaming=True, prune_fraction=0.5, prune_after_steps=5), "must be fewer than the 5 steps"),
    (dict(streaming=True, prune_fraction=0.05, prune_after_steps=2), "prunes none"),
    (dict(streaming=True, prune_fraction=1.0, prune_after_steps=2), "prune_fraction"),
    (dict(streaming=True, step_tokens={"dist": "lognormal", "mean": 30, "sigma": 0.5}), "step_tokens must be a fixed"),
])
def test_bad_streaming_specs_are_refused(extra, message):
    from pimsim.errors import ConfigError

    with pytest.raises(ConfigError, match=message):
        wl(**{**BASE, **extra})


def test_cli_streaming_flags(cli):
    flags = ["workload", "explain", "--workload", "best-of-n", "--policy", POLICY, "--prm", PRM, "--n", "16",
             "--question-tokens", "100", "--steps", "5", "--step-tokens", "30", "--prefix-reuse"]
    rc, out, err = cli(*flags, "--streaming", "--prune-fraction", "0.25", "--prune-after-steps", "2", "--json")
    assert rc == 0, err
    data = json.loads(out)
    assert data["generated_tokens"] == 16 * 2 * 30 + 12 * 3 * 30
    assert {r["phase"]: r["overlap"] for r in data["phases"]}["prm.score.step1"] == "stream.2"
    rc, out, err = cli(*flags, "--prune-fraction", "0.25", "--prune-after-steps", "2")
    assert rc == 2 and "--prune-fraction: pruning needs each step's scores" in err and "Traceback" not in err


# ---- the placement engine's overlap groups -----------------------------------------------------------------

def test_overlapped_wall_by_hand():
    a, b, c, ab, bl = (frozenset(x) for x in ({"A"}, {"B"}, {"C"}, {"A", "B"}, {"B", "L"}))
    entries = [("", a, 1.0),                                  # alone: 1
               ("g", a, 2.0), ("g", b, 3.0), ("g", a, 4.0),     # A: 2 + 4 = 6, B: 3 -> 6
               ("h", b, 1.0), ("h", bl, 2.0), ("h", c, 5.0),    # {B, L}: 1 + 2 = 3, C: 5 -> 5
               ("k", a, 1.0), ("k", b, 2.0), ("k", ab, 3.0),    # joined through {A, B}: 1 + 2 + 3 = 6
               ("", a, 0.5), ("", b, 0.25)]                     # untagged: each its own group
    assert overlapped_wall_s(entries) == 1 + 6 + 5 + 6 + 0.5 + 0.25
    assert overlapped_wall_s([("x", a, 1.0), ("y", b, 2.0)]) == 3.0  # different tags: one after another
    assert overlapped_wall_s([]) == 0.0


@pytest.fixture(scope="module")
def split_mapping(tmp_path_factory):
    """The policy on PIM, the PRM on the GPU of h100-aim (prefill-gpu's layout)."""
    path = tmp_path_factory.mktemp("m") / "policy-pim-prm-gpu.yaml"
    path.write_text(yaml.safe_dump({
        "name": "policy-pim-prm-gpu", "description": "policy on PIM, PRM on the GPU",
        "weights": {"pack_rows": True, "split_heads": False, "partial_sums": "asic"},
        "attention": {"placement": "pim", "k_layout": "row_major", "v_layout": "column_major",
                      "concat_heads": True, "reserve": "workload"},
        "placement": {"policy": "pim", "prm": "gpu"}}))
    from pimsim.mapper import load_mapping

    return load_mapping(str(path))


SMALL = dict(kind="best-of-n", policy="gpt2-small", prm="gpt2-medium", n=4, question_tokens=16, steps=3,
             step_tokens=8, prefix_reuse=True)


def test_streaming_on_two_devices_takes_the_max_per_step(split_mapping):
    stream = wl(**SMALL, streaming=True)
    r = simulate(None, "h100-aim", split_mapping, stream)
    serial_w = Workload(stream.spec, tuple(replace(p, overlap="") for p in stream.phases), stream.generated_tokens)
    serial = simulate(None, "h100-aim", split_mapping, serial_w)
    times = {p.name: p.latency_s for p in r.phases}
    assert times == {p.name: p.latency_s for p in serial.phases}  # overlap changes no phase's own time
    assert serial.latency_s == pytest.approx(sum(times.values()), rel=1e-12)
    by_tag: dict[str, list[str]] = {}
    for p in stream.phases:
        by_tag.setdefault(p.overlap or p.name, []).append(p.name)
    # each stream.k group: the policy's phases on pim, the PRM's on gpu, nothing moves between them
    want = 0.0
    for names in by_tag.values():
        pim = sum(times[n] for n in names if n.startswith("policy"))
        gpu = sum(times[n] for n in names if n.startswith("prm"))
        want += max(pim, gpu)
    assert r.latency_s == pytest.approx(want, rel=1e-12)
    assert r.counters["overlap_saved_s"] == pytest.approx(serial.latency_s - r.latency_s, rel=1e-9)
    assert r.latency_s < serial.latency_s
    # standby: each device idles for the rest of the (shorter) run
    assert r.breakdown_j["gpu.standby_while_idle"] < serial.breakdown_j["gpu.standby_while_idle"]


def test_streaming_on_one_device_is_the_serial_sum():
    stream = wl(**SMALL, streaming=True)
    r = simulate(None, "h100-aim", "gpu-only", stream)
    assert r.latency_s == pytest.approx(sum(p.latency_s for p in r.phases), rel=1e-12)
    assert r.counters["overlap_saved_s"] == pytest.approx(0.0, abs=1e-15)
