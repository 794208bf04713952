"""Check families of the GPU and NPU models (issue 16); tolerances in tolerances.d/gpu.yaml.

- npu.array_cycles: the NPU's systolic-array cycles of small GEMMs against hand counts.
- npu.ianus.gpt2-xl: the ianus-npu preset's GPT-2 XL decode beside IANUS's published NPU-only figure.
- baseline.h200.framework.latency: framework mode (host-bound eager dispatch) against the eager records it
  was fitted on.
- pimgpt.speedup.t4-framework, pimgpt.energy_efficiency.t4-framework: the PIM-GPT comparison against a
  framework-bound T4, the row beside `pimgpt.*.t4-graph` (the calibrated CUDA-graph baseline).
- baseline.power_cap: the board power cap's identity (capped power = tdp_w) through run_baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from pimsim.validate.checks import CYC, MS, Context, Fmt, _ratio_family
from pimsim.validate.report import Check

WATT = Fmt("W")
REL_X = Fmt("x")
DATA = Path(__file__).resolve().parent.parent / "baselines" / "data"


def npu_array_cycles(ctx: Context) -> list[Check]:
    from pimsim.baselines import load_device
    from pimsim.baselines.npu import gemm_cycles

    cfg = load_device("neupims-npu").npu
    one = cfg.model_copy(update={"systolic_arrays": 1})
    cases = [  # (label, config, m, k, n, hand count)
        ("128x128x128 on one array", one, 128, 128, 128, 2 * 128 + 128 + 128 - 2),
        ("GEMV 1x128 @ 128x128 on one array", one, 1, 128, 128, 2 * 128 + 128 + 1 - 2),
        ("(128x100) @ (100x200) on one array: 2 tiles", one, 128, 100, 200, 2 * (2 * 128 + 128 + 128 - 2)),
        ("1024^3 on 8 arrays: 64 tiles, 8 waves", cfg, 1024, 1024, 1024, 8 * (2 * 128 + 128 + 1024 - 2)),
    ]
    return [ctx.check("npu.array_cycles", label, float(gemm_cycles(m, k, n, c)), (float(ref),) * 2, CYC, item=label)
            for label, c, m, k, n, ref in cases]


def npu_ianus(ctx: Context) -> list[Check]:
    from pimsim.baselines import run_baseline
    from pimsim.models import get_model
    from pimsim.workloads import GenerateSpec, expand

    fam = "npu.ianus.gpt2-xl"
    r = run_baseline(expand(GenerateSpec(prompt=64, generate=256), get_model("gpt2-xl")), "ianus-npu")
    return [ctx.check(fam, "ianus-npu GPT-2 XL (64, 256) latency per generated token", r.e2e_latency_per_token_s,
                      ctx.value(fam), MS)]


def framework_records(ctx: Context) -> list[Check]:
    from pimsim.baselines import run_baseline
    from pimsim.baselines.fit import FRAMEWORK_FIT_FILE, read_host_records
    from pimsim.workloads import Phase, Workload

    out = []
    for rec in read_host_records(DATA / FRAMEWORK_FIT_FILE):
        ph = Phase("prefill", "policy", "prefill", rec.model, 1, rec.prompt, 0, 1)
        r = run_baseline(Workload(spec=None, phases=(ph,), generated_tokens=1), "h200-sxm", "framework")
        label = f"{rec.model.name} eager forward {rec.prompt} tokens"
        out.append(ctx.check("baseline.h200.framework.latency", f"H200 framework mode {label}", r.latency_s,
                             (rec.measured_s,) * 2, MS, item=label))
    return out


def power_cap(ctx: Context) -> list[Check]:
    from pimsim.baselines import load_device, run_baseline
    from pimsim.models import get_model
    from pimsim.workloads import Phase, Workload

    fam = "baseline.power_cap"
    t4 = load_device("t4")
    hot = t4.model_copy(update={"name": "t4-hot", "power": t4.power.model_copy(
        update={"energy_per_flop_j": 2 * t4.power.energy_per_flop_j})})
    ph = Phase("prefill", "policy", "prefill", get_model("gpt2-medium"), 1, 512, 0, 1)
    r = run_baseline(Workload(spec=None, phases=(ph,), generated_tokens=1), hot, "graph")
    watts = r.energy_j / r.latency_s
    stretched = r.breakdown_s.get("power_cap", 0.0)
    return [ctx.check(fam, "mean power of a capped gpt2-medium 512-token prefill (t4, 2x energy/FLOP)", watts,
                      (hot.power.tdp_w,) * 2, WATT, pimsim_text=f"{watts:.6g} W ({stretched * 1e3:.3g} ms added)",
                      reference_text=f"{hot.power.tdp_w:g} W", fail=stretched <= 0,
                      message=None if stretched > 0 else "the cap did not bind: the check needs a capped step")]


def gemm_shape(ctx: Context) -> list[Check]:
    """Shape efficiency (useful / scheduled FLOPs) of weight matmuls on h200-sxm's tiling, against closed
    forms written from the tile-and-wave rule (pimsim.baselines.gemm), not from its code."""
    from pimsim.baselines import load_device
    from pimsim.baselines.gemm import gemm_scheduled_flops

    fam = "baseline.gemm_shape"
    g = load_device("h200-sxm").gemm_tiling
    tiles, splits, sms = tuple(tuple(t) for t in g.tiles), tuple(g.split_k), g.sm_count
    big = tiles[0]  # 128 x 256
    # (label, M, K, N, expected efficiency, how): worked out by hand from the rule, menu option by option
    cases = [
        (f"{sms} full {big[0]}x{big[1]} tiles, one wave", big[0], 4096, big[1] * sms, 1.0,
         "one unit per SM, no padding"),
        # 64x64 tiles with split-K 8 keep the most SMs busy: 2 x 532 tiles x 8 slices = 8512 units in
        # ceil(8512 / 132) = 65 waves of 132 (8580 slots); 128x256 alone needs 2 waves for 133 units (0.504),
        # 64x64 without a split 9 waves for 1064 (0.896), split 4 33 waves for 4256 (0.977)
        (f"one tile more than the SMs: M {big[0]} x N {big[1]} x {sms + 1}, K 4096", big[0], 4096,
         big[1] * (sms + 1), 8512 / 8580, "64x64, split-K 8: 8512 units in 65 waves of 132"),
        # K 256 allows no split; the smallest tile wastes least: 64x64 gives 2 x 4 = 8 units in one wave,
        # which busies all 132 SMs for one 64x64x256 unit each: 2*100*256*256 / (132 * 2*64*64*256)
        ("M 100 x N 256 (a padded tile), K 256", 100, 256, 256, 100 * 256 / (132 * 64 * 64),
         "64x64, no split: 8 units, one wave"),
    ]
    assert sms == 132 and (64, 64) in tiles and 8 in splits  # the hand derivations assume h200-sxm's menu
    out = []
    for label, m, k, n, expect, how in cases:
        got = 2.0 * m * k * n / gemm_scheduled_flops(m, k, n, sms, tiles, splits)
        out.append(ctx.check(fam, label, got, (expect, expect), REL_X, item=label,
                             pimsim_text=f"{got:.6g}", reference_text=f"{expect:.6g} ({how})"))
    return out


def batched_prefill(ctx: Context) -> list[Check]:
    """A prefill of N sequences x T tokens against a one-sequence prefill of N x T tokens on h200-sxm: the
    weight matmuls are the same GEMMs (M = N x T rows, the weights read once; the head on N rows in both), so
    their time is equal; the
    causal attention work is N x T(T+1)/2 against NT(NT+1)/2 score rows, a ratio (T + 1) / (NT + 1)."""
    from pimsim.baselines import load_device
    from pimsim.baselines.kernels import kernel_table
    from pimsim.baselines.model import evaluate
    from pimsim.models import get_model

    fam = "baseline.batched_prefill"
    dev = load_device("h200-sxm")
    o = dev.kernel_overhead_s["graph"]
    out = []
    for model, n, t in (("qwen2.5-math-1.5b-instruct", 8, 512), ("qwen2.5-math-7b-instruct", 64, 512)):
        mc = get_model(model)
        batched = kernel_table(mc, t, 0, n, 1, 2, 1, True)
        one = kernel_table(mc, n * t, 0, 1, 1, 2, n, True)  # the head on n positions: n rows, as the batch's
        tb, to = evaluate(batched, 1, dev, o), evaluate(one, 1, dev, o)
        label = f"{model} {n} x {t}: weight matmul time vs one {n * t}-token prefill"
        out.append(ctx.check(fam, label, tb.breakdown_s["weight_matmul"], (to.breakdown_s["weight_matmul"],) * 2,
                             REL_X, item=f"{model} matmuls"))
        fb = sum(f * c for f, c, cat in zip(batched.at(1)[0][:, 0], batched.count, batched.categories) if cat == "attention")
        fo = sum(f * c for f, c, cat in zip(one.at(1)[0][:, 0], one.count, one.categories) if cat == "attention")
        ratio = (t + 1) / (n * t + 1)
        out.append(ctx.check(fam, f"{model} {n} x {t}: attention FLOPs over one {n * t}-token prefill's", fb / fo,
                             (ratio, ratio), REL_X, item=f"{model} attention",
                             pimsim_text=f"{fb / fo:.6g}", reference_text=f"(T+1)/(NT+1) = {ratio:.6g}"))
    return out


FAMILIES: dict[str, Callable[[Context], list[Check]]] = {
    "baseline.gemm_shape": gemm_shape,
    "baseline.batched_prefill": batched_prefill,
    "npu.array_cycles": npu_array_cycles,
    "npu.ianus.gpt2-xl": npu_ianus,
    "baseline.h200.framework.latency": framework_records,
    "baseline.power_cap": power_cap,
    "pimgpt.speedup.t4-framework": _ratio_family(
        "pimgpt.speedup.t4-framework", "speedup vs T4, framework-bound baseline (eager, host dispatch), 8 models",
        "t4", "framework", "speedup"),
    "pimgpt.energy_efficiency.t4-framework": _ratio_family(
        "pimgpt.energy_efficiency.t4-framework",
        "energy efficiency vs T4, framework-bound baseline (eager, host dispatch), 8 models", "t4", "framework",
        "energy"),
}
