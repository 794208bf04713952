"""Issue 14, item 1: capacity counts the KV cache resident at once (`resident_kv`), so best-of-64 with prefix
sharing fits where it really fits, and with `--no-prefix-sharing` every sample's copy of the question counts.

Expected bytes are hand counts from the models' published shapes (models.md) and the phase structure of
docs/workloads.md, written out here, not read back from pimsim:
- qwen2.5-math-1.5b-instruct: 1,543,714,304 parameters; skywork-prm-1.5b: 1,543,715,841; both 28 layers x
  2 KV heads x 128 dims: 2 x 28 x 2 x 128 x 2 B = 28,672 B of KV per token in bf16;
- gpt2-small: 124,439,808 parameters, 12 layers x 12 heads x 64 dims: 36,864 B of KV per token.
"""

from __future__ import annotations

import pytest

from pimsim.baselines import load_device, run_baseline
from pimsim.baselines.model import check_capacity, required_bytes
from pimsim.errors import CapacityError
from pimsim.models import load_model
from pimsim.workloads import expand, parse_workload

POLICY, PRM = "qwen2.5-math-1.5b-instruct", "skywork-prm-1.5b"
WEIGHTS = (1_543_714_304 + 1_543_715_841) * 2
KV_QWEN15 = 2 * 28 * 2 * 128 * 2
KV_GPT2 = 2 * 12 * 12 * 64 * 2
GPT2_WEIGHTS = 124_439_808 * 2

# best-of-64, a 3000-token question, 10 steps x 90 tokens, the PRM reusing the question's KV
Q, S, T, N = 3000, 10, 90, 64
FLAGS = ["--workload", "best-of-n", "--policy", POLICY, "--prm", PRM, "--n", str(N), "--question-tokens", str(Q),
         "--steps", str(S), "--step-tokens", str(T), "--prefix-reuse"]
# policy: the question once, then 64 samples decode S T - 1 = 899 steps each from it (end context Q + 899)
POLICY_SHARED = Q + N * (S * T - 1)  # 60,536 tokens
POLICY_OWN = N * (Q + S * T - 1)  # 249,536
# PRM (single-pass, reuse): the question once, then each solution's S (T + 1) = 910 tokens after it
PRM_SHARED = Q + N * S * (T + 1)  # 61,240
PRM_OWN = N * (Q + S * (T + 1))  # 250,240


def bon(sharing: bool = True):
    return expand(parse_workload({"kind": "best-of-n", "policy": POLICY, "prm": PRM, "n": N, "question_tokens": Q,
                                  "steps": S, "step_tokens": T, "prefix_reuse": True,
                                  "prefix_sharing": sharing}), resolve=load_model)


def test_baseline_required_bytes_are_the_resident_kv():
    t4 = load_device("t4")
    need = dict(required_bytes(bon(), t4))
    assert need[POLICY]["kv_cache_bytes"] == POLICY_SHARED * KV_QWEN15
    assert need[PRM]["kv_cache_bytes"] == PRM_SHARED * KV_QWEN15
    own = dict(required_bytes(bon(False), t4))
    assert own[POLICY]["kv_cache_bytes"] == POLICY_OWN * KV_QWEN15
    assert own[PRM]["kv_cache_bytes"] == PRM_OWN * KV_QWEN15
    # without sharing this is the old count, most sequences x longest context per copy
    for c in bon(False).resident_copies():
        assert own[c.label]["kv_cache_bytes"] == c.sequences * c.context * KV_QWEN15


def test_best_of_64_fits_a_t4_only_with_prefix_sharing(cli):
    """With sharing 6.17 GB of weights + 3.49 GB of KV = 9.67 GB < 16 GB; without, the 63 extra copies of
    the 3000-token question (twice: policy and PRM) make the KV 14.3 GB and the total 20.5 GB."""
    shared_total = WEIGHTS + (POLICY_SHARED + PRM_SHARED) * KV_QWEN15
    own_total = WEIGHTS + (POLICY_OWN + PRM_OWN) * KV_QWEN15
    assert shared_total == 9_666_421_762 and own_total == 20_504_437_762  # the hand count above, in full
    check_capacity(bon(), load_device("t4"))  # fits: no error
    rc, out, err = cli("baseline", "--device", "t4", *FLAGS, "--json")
    assert rc == 0, err
    rc, out, err = cli("baseline", "--device", "t4", *FLAGS, "--no-prefix-sharing")
    assert rc == 2 and out == "" and "Traceback" not in err
    assert "does not fit t4" in err and f"requires {own_total:,} bytes" in err
    assert f"{POLICY_OWN:,} resident tokens" in err and "prefix sharing off" in err
    assert "16,000,000,000 bytes" in err


def test_baseline_fit_limit_is_the_resident_count():
    need = WEIGHTS + (POLICY_SHARED + PRM_SHARED) * KV_QWEN15
    t4 = load_device("t4")
    check_capacity(bon(), t4.model_copy(update={"memory_bytes": need}))
    with pytest.raises(CapacityError, match=f"requires {need:,} bytes"):
        check_capacity(bon(), t4.model_copy(update={"memory_bytes": need - 1}))


# ---- PIM: one gpt2-small copy serving as policy and PRM (their caches held together) ---------------------

def gpt2_bon(sharing: bool = True):
    return expand(parse_workload({"kind": "best-of-n", "policy": "gpt2-small", "prm": "gpt2-small", "n": 64,
                                  "question_tokens": 900, "steps": 4, "step_tokens": 20, "prefix_reuse": True,
                                  "prefix_sharing": sharing}), resolve=load_model)


# policy: 900 + 64 x 79 decoded; PRM: 900 + 64 x 4 x 21 scored; one copy holds both roles at once
GPT2_SHARED = (900 + 64 * 79) + (900 + 64 * 84)  # 12,232 tokens
GPT2_OWN = 64 * (900 + 79) + 64 * (900 + 84)  # 125,632


def _sim(mapping: str):
    from pimsim.engine.system import SystemSimulator
    from pimsim.hardware import load_hardware
    from pimsim.mapper import load_mapping

    return SystemSimulator(load_hardware("pimgpt-gddr6"), load_mapping(mapping))


def test_pim_reserve_workload_counts_the_resident_kv():
    from pimsim.engine.capacity import pim_required_bytes

    sim = _sim("pimgpt_kv_fit")
    ((label, need),) = pim_required_bytes(gpt2_bon(), sim.mapper)
    assert label == "gpt2-small" and need["kv_cache_bytes"] == GPT2_SHARED * KV_GPT2
    assert need["weights_bytes"] == GPT2_WEIGHTS
    sim.check_capacity(gpt2_bon())  # 0.70 GB of 4.29 GB: fits
    with pytest.raises(CapacityError, match=r"gpt2-small does not fit pimgpt-gddr6") as exc:
        sim.check_capacity(gpt2_bon(False))  # 0.25 GB + 125,632 x 36,864 B = 4.88 GB > 4.29 GB
    assert f"{GPT2_WEIGHTS + GPT2_OWN * KV_GPT2:,} bytes" in str(exc.value)
    assert f"{GPT2_OWN:,} resident tokens" in str(exc.value)


def test_pim_reserve_max_context_keeps_fixed_regions():
    """PIM-GPT's layout reserves the model's 1024-token limit per sequence: 64 x 1024 tokens either way."""
    from pimsim.engine.capacity import pim_required_bytes

    sim = _sim("pimgpt")
    for sharing in (True, False):
        ((_, need),) = pim_required_bytes(gpt2_bon(sharing), sim.mapper)
        assert need["kv_cache_bytes"] == 64 * 1024 * KV_GPT2


def test_cli_simulate_without_sharing_does_not_fit(cli):
    rc, out, err = cli("simulate", "--hardware", "pimgpt-gddr6", "--mapping", "pimgpt_kv_fit", "--workload",
                       "best-of-n", "--policy", "gpt2-small", "--prm", "gpt2-small", "--n", "64",
                       "--question-tokens", "900", "--steps", "4", "--step-tokens", "20", "--prefix-reuse",
                       "--no-prefix-sharing")
    assert rc == 2 and out == "" and "Traceback" not in err
    assert "gpt2-small does not fit pimgpt-gddr6" in err and "prefix sharing off" in err


def test_placement_counts_resident_kv_per_device(tmp_path):
    """A system whose only device is a T4-sized GPU: the placement capacity check counts the same resident
    KV as the baseline (every phase there)."""
    from pimsim.engine.placement import _check_capacity

    class Dev:
        kind, hw, sim, count, group = "device", None, None, 1, None

        def __init__(self, mem):
            self.preset = load_device("t4").model_copy(update={"memory_bytes": mem})

    need = WEIGHTS + (POLICY_SHARED + PRM_SHARED) * KV_QWEN15
    w = bon()
    placed = ["gpu"] * len(w.phases)
    _check_capacity(w, placed, {"gpu": Dev(need)}, "sys.yaml")
    with pytest.raises(CapacityError, match=f"does not fit device gpu .*requires {need:,} bytes"):
        _check_capacity(w, placed, {"gpu": Dev(need - 1)}, "sys.yaml")
