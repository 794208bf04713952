"""GEMM tiles and waves (pimsim.baselines.gemm) and software stacks (pimsim.baselines.stacks) against hand counts."""

import numpy as np
import pytest

from pimsim.baselines import load_device, run_baseline
from pimsim.baselines.fit import fit_device, held_out, read_measurements
from pimsim.baselines.gemm import attention_scheduled_flops, gemm_scheduled_flops
from pimsim.baselines.kernels import kernel_table
from pimsim.baselines.stacks import STACKS, get_stack
from pimsim.errors import ConfigError
from pimsim.models import get_model
from pimsim.workloads import Phase, Workload

ONE_TILE = ((128, 128),)


def test_full_waves_of_full_tiles_cost_their_flops():
    # 132 SMs x one 128x128 tile each, K = 1024: exactly one full wave
    m, n, k = 128 * 12, 128 * 11, 1024
    assert gemm_scheduled_flops(m, k, n, 132, ONE_TILE, (1,)) == 2.0 * m * n * k


def test_partial_wave_costs_a_whole_wave():
    # 133 tiles on 132 SMs: two waves, 264 tile-slots for 133 tiles of work
    m, n, k = 128 * 7, 128 * 19, 512
    assert 7 * 19 == 133
    assert gemm_scheduled_flops(m, k, n, 132, ONE_TILE, (1,)) == 2 * 132 * 2.0 * 128 * 128 * k


def test_partial_tile_is_padded():
    # M = 100 rows in a 128-row tile: 1 x 1 tile on 1 SM
    assert gemm_scheduled_flops(100, 256, 128, 1, ONE_TILE, (1,)) == 2.0 * 128 * 128 * 256


def test_split_k_fills_idle_sms_and_best_option_wins():
    # 8 tiles on 32 SMs: without a split 1 wave of K = 4096 (32 slots for 8 tiles); split 4 -> 32 units of
    # K = 1024 in one wave, 4x less
    m, n, k = 256, 512, 4096
    no_split = gemm_scheduled_flops(m, k, n, 32, ONE_TILE, (1,))
    split = gemm_scheduled_flops(m, k, n, 32, ONE_TILE, (1, 2, 4))
    assert no_split == 32 * 2.0 * 128 * 128 * 4096
    assert split == 32 * 2.0 * 128 * 128 * 1024
    # a split needs K slices of >= 256: K = 512 cannot be split 4 ways
    assert gemm_scheduled_flops(m, 512, n, 32, ONE_TILE, (1, 4)) == 32 * 2.0 * 128 * 128 * 512


def test_attention_waves():
    flops = np.array([1e9])
    assert attention_scheduled_flops(flops, 132, 132)[0] == pytest.approx(1e9)
    assert attention_scheduled_flops(flops, 16, 132)[0] == pytest.approx(1e9 * 132 / 16)
    assert attention_scheduled_flops(flops, 133, 132)[0] == pytest.approx(1e9 * 264 / 133)


def test_tiling_slows_only_compute_bound_kernels():
    """A 512-token prefill on h100-sxm with and without gemm_tiling: every weight matmul's compute time is its
    scheduled FLOPs over the rate (hand-computed), and decode (memory-bound) is unchanged."""
    dev = load_device("h100-sxm")
    flat = dev.model_copy(update={"gemm_tiling": None})
    model = get_model("gpt2-xl")
    pre = Workload(spec=None, phases=(Phase("prefill", "policy", "prefill", model, 1, 512, 0, 1),), generated_tokens=1)
    dec = Workload(spec=None, phases=(Phase("decode", "policy", "decode", model, 1, 1, 512, 4),), generated_tokens=4)
    t_tiled, t_flat = run_baseline(pre, dev).latency_s, run_baseline(pre, flat).latency_s
    table = kernel_table(model, 512, 0, 1, 1, 2, None, True)
    t = dev.gemm_tiling
    extra = 0.0
    for name, (m, k, n) in table.shapes.weight:
        i = table.names.index(name)
        cnt = table.count[i]
        useful = table.flops0[i]
        sched = useful * gemm_scheduled_flops(m, k, n, t.sm_count, tuple(map(tuple, t.tiles)), tuple(t.split_k)) / (
            2.0 * m * k * n)
        t_mem = table.bytes0[i] / dev.bandwidth_bytes_per_s
        extra += cnt * (max(sched / dev.flops_per_s, t_mem) - max(useful / dev.flops_per_s, t_mem))
    i = table.names.index("attention")
    streams = table.streams[i]
    att = table.flops0[i] / dev.flops_per_s
    att_mem = table.bytes0[i] / min(dev.bandwidth_bytes_per_s, streams * dev.attention_stream_bandwidth_bytes_per_s)
    att_extra = table.count[i] * (max(att * np.ceil(streams / t.sm_count) * t.sm_count / streams, att_mem)
                                  - max(att, att_mem))
    assert t_tiled - t_flat == pytest.approx(extra + att_extra, rel=1e-6)
    assert t_tiled > t_flat
    assert run_baseline(dec, dev).latency_s == pytest.approx(run_baseline(dec, flat).latency_s, rel=1e-3)


def test_harness_stack_kernels_by_hand():
    """torch-prefill-harness on a GQA SwiGLU RMSNorm model: no KV append or rotary, 8-kernel RMSNorm at 26 B per
    element, 2-kernel SiLU x up at 10 B per element, K/V expanded to every query head, an output copy."""
    m = get_model("qwen2.5-math-7b-instruct")
    T = 512
    serving = kernel_table(m, T, 0, 1, 1, 2, None, True)
    harness = kernel_table(m, T, 0, 1, 1, 2, None, True, "torch-prefill-harness")
    layer = lambda t, names: {n: (t.bytes0[t.names.index(n)], t.count[t.names.index(n)]) for n in names}
    assert "kv_append_k" in serving.names and "kv_append_k" not in harness.names
    assert "rotary" in serving.names and "rotary" not in harness.names
    assert "final_norm" in serving.names and "final_norm" not in harness.names
    norms = [n for n in harness.names if n.split(".")[0] == "norm1"]
    assert len(norms) == 8
    gamma = m.hidden * 2
    assert sum(harness.bytes0[harness.names.index(n)] for n in norms) == pytest.approx(26 * T * m.hidden + gamma)
    acts = [n for n in harness.names if n.split(".")[0] == "silu_mul"]
    assert len(acts) == 2
    assert sum(harness.bytes0[harness.names.index(n)] for n in acts) == pytest.approx(10 * T * m.ffn)
    kv = T * m.kv_heads * m.head_dim * 2
    full = T * m.heads * m.head_dim * 2
    got = layer(harness, ["gqa_expand_k", "gqa_expand_v", "attention_output_copy"])
    assert got["gqa_expand_k"][0] == kv + full and got["gqa_expand_v"][0] == kv + full
    assert got["attention_output_copy"][0] == 2 * T * m.hidden * 2
    # attention reads the expanded K and V (heads instead of kv_heads)
    a_s, a_h = serving.names.index("attention"), harness.names.index("attention")
    assert harness.bytes0[a_h] - serving.bytes0[a_s] == pytest.approx(2 * (full - kv))
    # per layer: 8 + qkv + 2 expand + attention + copy + out + residual + 8 + gate_up + 2 + down + residual = 28
    assert harness.kernels_per_step == 28 * m.layers + 2  # + embedding + lm_head
    # an MHA LayerNorm GELU model keeps its norms and activation as they are
    g = get_model("gpt2-medium")
    gs, gh = kernel_table(g, T, 0, 1, 1, 2, None, True), kernel_table(g, T, 0, 1, 1, 2, None, True, "torch-prefill-harness")
    assert gh.kernels_per_step == gs.kernels_per_step - 2 * g.layers + g.layers - 1  # -kv appends +copy -final norm


def test_stacks_registry_and_bad_names(tmp_path):
    assert set(STACKS) >= {"serving", "torch-prefill-harness"}
    with pytest.raises(ConfigError, match="unknown software stack 'nope'; known: serving"):
        get_stack("nope")
    with pytest.raises(ConfigError, match="software_stack: unknown 'nope'"):
        load_device({**load_device("h100-sxm").model_dump(), "software_stack": "nope"})
    csv = tmp_path / "m.csv"
    csv.write_text("model,context,new_tokens,decode_ms_per_token,stack\ngpt2-xl,0,128,3.0,vllm-nope\n")
    with pytest.raises(ConfigError, match=r"m.csv line 2: column 'stack': unknown software stack 'vllm-nope'"):
        read_measurements(csv, 2)
    with pytest.raises(ConfigError, match="gemm_tiling: applies to kind gpu only"):
        d = load_device("xeon-gold-6154").model_dump()
        d["gemm_tiling"] = {"sm_count": 4, "tiles": [[64, 64]], "source": "x"}
        load_device(d)


def test_hold_out_rows_are_not_fitted(tmp_path):
    """A held-out row does not move the fit: fitting with it held out equals fitting without the row."""
    from pathlib import Path

    data = Path(__file__).resolve().parent.parent / "pimsim" / "baselines" / "data"
    ms = (read_measurements(data / "h100_gpt_decode_measured.csv", 2)
          + read_measurements(data / "h100_gpt_prefill_measured.csv", 2))
    entries = ("qwen2.5-math-7b-instruct:prefill",)
    held = fit_device(ms, "h100-sxm", "graph", hold_out=entries)
    without = fit_device([m for m in ms if not held_out(m, entries)], "h100-sxm", "graph")
    assert held.preset.flops_per_s == without.preset.flops_per_s
    assert held.preset.fit["held_out"]["rows"] == 4
    assert len(held.rows) == len(ms)
    with pytest.raises(ConfigError, match="match no row"):
        fit_device(ms, "h100-sxm", "graph", hold_out=("gpt2-small:prefill",))
