"""NPU unit (issue 16, item 5): systolic-array cycles, SRAM re-reads and per-kernel times against hand counts,
the presets' cited figures, bad presets, and the NPU as a `device:` of a system file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pimsim.baselines import load_device, run_baseline
from pimsim.baselines.kernels import kernel_table
from pimsim.baselines.model import evaluate
from pimsim.baselines.npu import gemm_cycles, input_bytes, kernel_times, utilisation
from pimsim.errors import ConfigError
from pimsim.models import get_model
from pimsim.models.graph import VECTOR_FLOPS_PER_ELEM
from pimsim.workloads import GenerateSpec, Phase, Workload, expand

NEUPIMS = load_device("neupims-npu")
CFG = NEUPIMS.npu
ONE = CFG.model_copy(update={"systolic_arrays": 1})


def test_presets_carry_the_cited_configurations():
    # NeuPIMs: 8 arrays of 128 x 128 at 1 GHz, 8 vector cores of 128 lanes (peer_studies.md)
    assert (CFG.systolic_arrays, CFG.array_rows, CFG.array_cols, CFG.clock_hz) == (8, 128, 128, 1e9)
    assert (CFG.vector_cores, CFG.vector_width) == (8, 128)
    assert NEUPIMS.peak_flops_per_s == 2 * 8 * 128 * 128 * 1e9
    assert NEUPIMS.peak_bandwidth_bytes_per_s == 32 * 128 / 8 * 2e9  # 32 channels x 128 bit x 2 Gb/s
    # IANUS: 184 TFLOPS at 700 MHz over 4 cores; 8 GB GDDR6, 256 GB/s
    ianus = load_device("ianus-npu")
    assert ianus.peak_flops_per_s == pytest.approx(184e12, rel=0.005)
    assert ianus.npu.clock_hz == 0.7e9
    assert (ianus.memory_bytes, ianus.peak_bandwidth_bytes_per_s) == (8e9, 256e9)


def test_one_tile_on_one_array():
    # weight-stationary fold: load R, stream M, drain R + C - 2 -> 2R + C + M - 2
    assert gemm_cycles(128, 128, 128, ONE) == 2 * 128 + 128 + 128 - 2 == 510
    assert utilisation(128, 128, 128, ONE) == pytest.approx(128 ** 3 / (128 * 128 * 510))


def test_gemv_pays_the_whole_fill_and_drain():
    assert gemm_cycles(1, 128, 128, ONE) == 383
    assert utilisation(1, 128, 128, ONE) == pytest.approx(1 / 383)


def test_a_shape_that_wastes_part_of_the_array():
    # (128 x 100) @ (100 x 200): K = 100 uses 100 of 128 rows; N = 200 needs 2 column tiles (72 columns idle)
    assert gemm_cycles(128, 100, 200, ONE) == 2 * 510
    assert utilisation(128, 100, 200, ONE) == pytest.approx(128 * 100 * 200 / (128 * 128 * 1020))
    # on 8 arrays both tiles run in one wave: half the cycles, but 6 arrays idle
    assert gemm_cycles(128, 100, 200, CFG) == 510
    assert utilisation(128, 100, 200, CFG) == pytest.approx(128 * 100 * 200 / (8 * 128 * 128 * 510))


def test_waves_over_the_arrays():
    # 1024^3: 8 x 8 = 64 tiles over 8 arrays = 8 waves of 2R + C + M - 2
    assert gemm_cycles(1024, 1024, 1024, CFG) == 8 * (256 + 128 + 1024 - 2) == 11248
    # 9 tiles need 2 waves on 8 arrays
    assert gemm_cycles(16, 384, 384, CFG) == 2 * (256 + 128 + 16 - 2)
    # independent GEMMs share the arrays: 25 one-tile GEMMs = 4 waves
    assert gemm_cycles(1, 64, 128, CFG, gemms=25) == 4 * 383
    assert gemm_cycles(0, 128, 128, CFG) == 0


def test_sram_holds_small_inputs_and_large_ones_are_reread_per_wave():
    assert CFG.sram_bytes == 1 << 20
    assert input_bytes(4, 1024, 4096, CFG, 2) == 4 * 1024 * 2  # fits: read once
    # 4096 x 1024 x 2 B = 8 MiB > 1 MiB: 8 x 32 tiles / 8 arrays = 32 waves, each reading M x 128 elements
    assert input_bytes(4096, 1024, 4096, CFG, 2) == 32 * 4096 * 128 * 2


def test_decode_kernels_by_hand():
    """gpt2-xl, batch 1, one decode step at 511 cached tokens on neupims-npu."""
    m = get_model("gpt2-xl")
    table = kernel_table(m, 1, 511, 1, 1, 2, None, True)
    t_cmp, t_mem, moved = kernel_times(table, 1, NEUPIMS)
    i = table.names.index("qkv_proj")
    # 1600 x 4800: 13 x 38 = 494 tiles, 62 waves of 2 x 128 + 128 + 1 - 2 = 383 cycles at 1 GHz
    assert t_cmp[i, 0] == pytest.approx(62 * 383 / 1e9)
    weights_and_act = (1600 * 4800 + 4800) * 2 + (1600 + 4800) * 2
    assert moved[i, 0] == weights_and_act
    assert t_mem[i, 0] == pytest.approx(weights_and_act / 8.704e11)
    assert t_cmp[i, 0] > t_mem[i, 0]  # weight loading, not bandwidth, bounds an NPU's batch-1 GEMV
    # attention: 25 heads of 64, context 512: q.K^T (1, 64, 512) and p.V (1, 512, 64) per head: 4 tiles each,
    # 100 tiles = 13 waves of 383 cycles per GEMM; softmax on 8 x 128 lanes
    a = table.names.index("attention")
    softmax = VECTOR_FLOPS_PER_ELEM["softmax"] * 25 * 512
    assert t_cmp[a, 0] == pytest.approx(2 * 13 * 383 / 1e9 + softmax / (8 * 128 * 1e9))
    n = table.names.index("norm1")
    assert t_cmp[n, 0] == pytest.approx(VECTOR_FLOPS_PER_ELEM["layernorm"] * 1600 / (8 * 128 * 1e9))
    # the step: every kernel's max(compute, memory) x launches, no overhead (0 s per kernel)
    cost = evaluate(table, 1, NEUPIMS, 0.0)
    expect = sum(max(c, mm) * k for c, mm, k in zip(t_cmp[:, 0], t_mem[:, 0], table.count))
    assert cost.step_time_s[0] == pytest.approx(expect)


def test_causal_prefill_streams_the_mean_query_rows_per_key():
    # 128-token prefill from empty: each key is attended by (128 + 1) / 2 queries on average; one tile per
    # head for both GEMMs (64 x 128), 25 heads over 8 arrays = 4 waves of 2R + C + 64.5 - 2
    m = get_model("gpt2-xl")
    table = kernel_table(m, 128, 0, 1, 1, 2, None, True)
    t_cmp, _, _ = kernel_times(table, 1, NEUPIMS)
    a = table.names.index("attention")
    softmax = VECTOR_FLOPS_PER_ELEM["softmax"] * 25 * (128 * 129 // 2)
    assert t_cmp[a, 0] == pytest.approx(2 * 4 * (256 + 128 + 64.5 - 2) / 1e9 + softmax / (8 * 128 * 1e9))


def test_grouped_query_heads_share_the_stationary_kv_tiles():
    # qwen2.5-math-7b-instruct: 28 query heads on 4 KV heads of 128: a decode step streams 7 rows per KV head
    m = get_model("qwen2.5-math-7b-instruct")
    assert (m.heads, m.kv_heads, m.head_dim) == (28, 4, 128)
    table = kernel_table(m, 1, 1023, 2, 1, 2, None, True)
    t_cmp, _, _ = kernel_times(table, 1, NEUPIMS)
    a = table.names.index("attention")
    # per (sequence, KV head): q.K^T (7, 128, 1024) 8 tiles, p.V (7, 1024, 128) 8 tiles; 2 x 4 groups -> 64 tiles,
    # 8 waves of 2R + C + 7 - 2 each GEMM
    softmax = VECTOR_FLOPS_PER_ELEM["softmax"] * 2 * 28 * 1024
    assert t_cmp[a, 0] == pytest.approx(2 * 8 * (256 + 128 + 7 - 2) / 1e9 + softmax / (8 * 128 * 1e9))


def test_run_baseline_on_an_npu_and_steps_follow_the_context():
    m = get_model("gpt2-medium")
    wl = expand(GenerateSpec(prompt=64, generate=16), m)
    r = run_baseline(wl, "neupims-npu")
    assert r.machine == "neupims-npu" and r.latency_s > 0 and r.energy_j > 0
    # idle and active power 0: energy is exactly the per-byte and per-FLOP terms
    p = NEUPIMS.power
    assert r.energy_j == pytest.approx(p.energy_per_byte_j * r.counters["bytes"] + p.energy_per_flop_j * r.counters["flops"])
    # per-step arrays equal single-step evaluations at each context
    table = kernel_table(m, 1, 64, 1, 15, 2, None, True)
    steps = evaluate(table, 15, NEUPIMS, 0.0).step_time_s
    for s in (0, 7, 14):
        one = evaluate(kernel_table(m, 1, 64 + s, 1, 1, 2, None, True), 1, NEUPIMS, 0.0).step_time_s[0]
        assert steps[s] == pytest.approx(one, rel=1e-12)


def _preset(**change):
    data = NEUPIMS.model_dump(mode="json")
    data.update(change)
    return data


@pytest.mark.parametrize("change, message", [
    ({"npu": None}, "kind npu needs an npu: block"),
    ({"kind": "gpu"}, "npu: applies to kind npu only"),
    ({"peak_flops_per_s": 3e14, "flops_per_s": 3e14}, "must be the arrays' peak"),
    ({"attention_stream_bandwidth_bytes_per_s": 1e11}, "an NPU's attention runs on its arrays"),
    ({"interconnect": {"name": "x", "bytes_per_s": 1e11, "hop_latency_s": 1e-6, "pj_per_bit": 1, "source": "s"}},
     "tensor parallelism over NPUs is not modelled"),
])
def test_bad_npu_presets_name_the_problem(change, message):
    with pytest.raises(ConfigError, match=message):
        load_device(_preset(**change))


def test_npu_block_fields_are_validated():
    bad = _preset(npu={**NEUPIMS.npu.model_dump(), "array_rows": 0})
    with pytest.raises(ConfigError, match="array_rows"):
        load_device(bad)


def test_a_table_without_shapes_is_refused_on_an_npu():
    from dataclasses import replace

    table = replace(kernel_table(get_model("gpt2-small"), 1, 10, 1, 1, 2, None, True), shapes=None)
    with pytest.raises(ConfigError, match="carries none"):
        evaluate(table, 1, NEUPIMS, 0.0)


def test_cli_runs_an_npu_preset(capsys):
    from pimsim.cli.main import main

    rc = main(["baseline", "--device", "neupims-npu", "--model", "gpt2-small", "--workload", "generate",
               "--prompt", "16", "--generate", "4"])
    assert rc == 0
    assert "neupims-npu" in capsys.readouterr().out


def test_an_npu_is_a_device_of_a_system_file(tmp_path):
    from pimsim.engine import simulate

    path = tmp_path / "npu-aim.yaml"
    path.write_text(
        "kind: system\nname: npu-aim\ndescription: NeuPIMs NPU beside AiM\n"
        "devices:\n  gpu: {device: neupims-npu}\n  pim: {pim: aim-32ch}\n"
        "links:\n  bus:\n    between: [gpu, pim]\n    bytes_per_s: 6.3e10\n    latency_ns: 1000\n"
        "    pj_per_bit: 4.4\n    source: test link\n")
    spec = GenerateSpec(prompt=32, generate=8)
    system = simulate("gpt2-small", str(path), "gpu-only", spec)
    alone = run_baseline(expand(spec, get_model("gpt2-small")), "neupims-npu")
    assert math.isclose(system.latency_s, alone.latency_s, rel_tol=1e-12)
    from pimsim.hardware import load_hardware

    # the system adds the idle AiM device's standby power over the run (engine.placement's energy rule)
    aim = load_hardware("aim-32ch")
    standby_w = aim.dram.channels * aim.energy.background_w_per_channel + aim.energy.asic_static_w
    assert math.isclose(system.energy_j, alone.energy_j + standby_w * alone.latency_s, rel_tol=1e-9)
