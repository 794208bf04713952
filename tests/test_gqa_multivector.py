"""Multi-vector PIM units serving the query heads of a GQA group in one pass over their shared K and V
(`attention.kv_head_passes`; pimsim/mapper/mapper.py: attn_vectors, attn_heads, attn_passes). Hand counts
of the programs, the timing checker, fast against exact mode, capacity, MHA and the default unchanged."""

from __future__ import annotations

from math import ceil

import pytest

from pimsim.dram import CommandEngine, check_log, parse_trace
from pimsim.engine import simulate
from pimsim.hardware import load_hardware
from pimsim.mapper import Mapper, load_mapping
from pimsim.models import load_model
from pimsim.validate import fast_exact as fx
from pimsim.workloads.spec import GenerateSpec, PrmScoreSpec

MV4 = load_hardware("aim-32ch-mv4")  # 4 vectors per pass
AIM = load_hardware("aim-32ch")
QWEN = load_model("qwen2.5-math-1.5b-instruct")  # 12 query heads, 2 KV heads (groups of 6), head_dim 128


def _kv(name: str):
    """Mapping `name` with attention.kv_head_passes on."""
    m = load_mapping(name)
    return m.model_copy(update={"name": f"{name}-kvh", "attention": m.attention.model_copy(update={"kv_head_passes": True})})


def _count(text: str, instr: str) -> int:
    return sum(1 for line in text.splitlines() if line.split()[1:2] == [instr])


@pytest.mark.parametrize("context", [100, 1000, 3000])
def test_score_sweeps_each_kv_heads_keys_once_per_four_query_heads(context):
    """aim-32ch-mv4: 512 units, a 2 KB buffer of 1024 bf16 = 8 heads of 128 per load, 8 columns per head.
    By KV head: 2 heads laid out, 2 passes (6 query heads / 4 slots), 4 vectors -> per unit P = keys x 2
    outputs per load, 2 loads. Single-vector AiM: 12 heads, loads of 8 -> P = keys x 8, 2 loads."""
    keys = ceil(context / 512)
    mv = Mapper(QWEN, MV4, _kv("pimgpt")).score_program(context)
    one = Mapper(QWEN, AIM, load_mapping("pimgpt")).score_program(context)
    assert mv.mac_columns == keys * 2 * 8 * 2
    assert one.mac_columns == keys * 8 * 8 * 2
    assert _count(mv.text, "WR_GB") == 2 * 4 and _count(one.text, "WR_GB") == 2
    assert mv.result_read_bytes == 2 * keys * 2 * 4 * 32  # loads x P x vectors x 32-byte result column
    engine = CommandEngine(MV4.dram.model_copy(update={"channels": 1}), refresh=True)
    res = engine.run(parse_trace(mv.text, source="GQA 4-vector score"), log=True)
    assert check_log(res.log, engine.dram, refresh=True, end_cycle=res.cycles) == []


def test_value_by_kv_head_in_both_layouts():
    """score.V: `outputs` layout (no concat at 1000 positions: 1 head per load), 2 KV heads x 2 passes of
    4 score vectors = 4 loads of 128 outputs over 512 units; `channels`: 2 KV heads on 32 channels, 16
    channels per head, each channel 128 outputs over 16 units (P = 8), loads = 1 x 2 passes."""
    ctx = 1000
    out = Mapper(QWEN, MV4, _kv("pimgpt")).value_program(ctx)
    tiles = ceil(ctx / 16 / 64)  # 63 columns of 16 elements; 64 columns per buffer
    assert _count(out.text, "WR_GB") == tiles * 4 * 4
    assert out.mac_columns == ceil(128 / 512) * ceil(ctx / 16) * 4
    vs = Mapper(QWEN, MV4, _kv("pimgpt_vsplit"))
    assert vs.value_split() == (1, 16)
    ch = vs.value_program(ctx)
    assert ch.mac_columns == 8 * ceil(ceil(ctx / 16) / 16) * 2


def test_v_is_stored_once_per_kv_head_with_multi_vector_units():
    vs = Mapper(QWEN, MV4, _kv("pimgpt_vsplit"))
    assert vs.kv_bytes_per_token() == QWEN.kv_bytes_per_token(2)
    single = Mapper(QWEN, AIM, load_mapping("pimgpt_vsplit"))
    assert single.kv_bytes_per_token() == QWEN.kv_bytes_per_token(2) // 2 * (1 + 6)  # V under every q head


def test_mha_attention_is_unchanged_by_multi_vector_units():
    m = load_model("gpt2-small")
    for ctx in (64, 700):
        a = Mapper(m, MV4, _kv("pimgpt")).score_program(ctx)
        b = Mapper(m, AIM, load_mapping("pimgpt")).score_program(ctx)
        assert a.lines == b.lines


def test_off_by_default():
    for name in ("pimgpt", "pimgpt_vsplit"):
        a = Mapper(QWEN, MV4, load_mapping(name))
        b = Mapper(QWEN, AIM, load_mapping(name))
        assert a.score_program(900).lines == b.score_program(900).lines
        assert a.value_program(900).lines == b.value_program(900).lines


def test_the_trade_off_fewer_macs_more_result_reads():
    """pimgpt (value over all units): attention gets cheaper at every context. pimgpt_vsplit: the 2 KV heads
    now fill 16 channels each, so every channel reads 8 vectors' results: dearer at 512 tokens, cheaper at
    4000 (engine cycles of one channel, refresh off)."""
    from pimsim.engine.pim_timing import PimTimer
    timer = PimTimer(MV4, refresh=False)
    cyc = lambda mp, ctx: timer.time(mp.value_program(ctx)).cycles + timer.time(mp.score_program(ctx)).cycles  # noqa: E731
    for ctx in (512, 4000):
        assert cyc(Mapper(QWEN, MV4, _kv("pimgpt")), ctx) < cyc(Mapper(QWEN, MV4, load_mapping("pimgpt")), ctx)
    kv, per_q = Mapper(QWEN, MV4, _kv("pimgpt_vsplit")), Mapper(QWEN, MV4, load_mapping("pimgpt_vsplit"))
    assert cyc(kv, 512) > cyc(per_q, 512) and cyc(kv, 4000) < cyc(per_q, 4000)


def test_batch_one_weights_are_unchanged():
    spec = GenerateSpec(prompt=64, generate=5)
    kv = simulate(QWEN, MV4, _kv("pimgpt"), spec)
    per_q = simulate(QWEN, MV4, "pimgpt", spec)
    assert kv.counters["weight_pim_s"] == pytest.approx(per_q.counters["weight_pim_s"], rel=1e-9)
    assert kv.counters["attention_pim_s"] < per_q.counters["attention_pim_s"]


@pytest.mark.parametrize("mapping", fx.mappings())
@pytest.mark.parametrize("spec", [GenerateSpec(prompt=8, generate=5), GenerateSpec(prompt=8, generate=5, batch=6),
                                  PrmScoreSpec(solutions=1, question_tokens=8, steps=2, step_tokens=4)],
                         ids=["decode", "decode-batch6", "prm"])
def test_fast_and_exact_agree_for_gqa_multi_vector_attention(mapping, spec):
    """Within system.fast_vs_exact's bound, as every other fast/exact pair (tests/test_refresh_modes.py)."""
    fast = simulate(QWEN, MV4, _kv(mapping), spec)
    exact = simulate(QWEN, MV4, _kv(mapping), spec, exact=True)
    assert -0.033 <= fast.latency_s / exact.latency_s - 1 <= 0.034
    assert fast.energy_j == pytest.approx(exact.energy_j, rel=0.034)
    extra = "MAC16.extra_vectors"
    assert fast.commands.get(extra, 0) == pytest.approx(exact.commands.get(extra, 0), rel=1e-9)
