"""GPU model fidelity (issue 16): the board power cap against its closed form, and framework mode (host-bound
eager dispatch) against its fit set and closed form."""

from __future__ import annotations

from pathlib import Path

import pytest

from pimsim.baselines import load_device, run_baseline
from pimsim.baselines.device import HostBound
from pimsim.baselines.fit import (FRAMEWORK_FIT_FILE, FRAMEWORK_FIT_PROMPTS, fit_host_dispatch, read_host_records)
from pimsim.errors import ConfigError
from pimsim.models import get_model
from pimsim.workloads import GenerateSpec, Phase, Workload, expand

DATA = Path(__file__).resolve().parent.parent / "pimsim" / "baselines" / "data"


def _one(model: str, batch: int, new_tokens: int, past: int = 0, steps: int = 1) -> Workload:
    kind = "prefill" if new_tokens > 1 else "decode"
    ph = Phase(kind, "policy", kind, get_model(model), batch, new_tokens, past, steps)
    return Workload(spec=None, phases=(ph,), generated_tokens=batch * steps)


def _hot_t4(factor: float = 2.0, cap: bool = True):
    t4 = load_device("t4")
    return t4.model_copy(update={"name": "t4-hot", "power": t4.power.model_copy(
        update={"energy_per_flop_j": factor * t4.power.energy_per_flop_j, "cap_at_tdp": cap})})


# ------------------------------------------------------------------------------------------ power cap

def test_capped_step_takes_dynamic_energy_over_the_headroom():
    """Closed form: uncapped time t0, dynamic energy E = e_byte x bytes + e_flop x FLOPs; if
    idle + active + E / t0 > tdp the step takes E / (tdp - idle - active) and draws exactly tdp."""
    wl = _one("gpt2-medium", 1, 512)
    hot, free = _hot_t4(2.0, cap=True), _hot_t4(2.0, cap=False)
    capped, uncapped = run_baseline(wl, hot, "graph"), run_baseline(wl, free, "graph")
    p = hot.power
    assert capped.counters["flops"] == uncapped.counters["flops"]
    dyn = p.energy_per_byte_j * uncapped.counters["bytes"] + p.energy_per_flop_j * uncapped.counters["flops"]
    assert p.idle_w + p.active_w + dyn / uncapped.latency_s > p.tdp_w  # the case needs a binding cap
    assert capped.latency_s == pytest.approx(dyn / (p.tdp_w - p.idle_w - p.active_w), rel=1e-12)
    assert capped.energy_j == pytest.approx(p.tdp_w * capped.latency_s, rel=1e-12)
    assert capped.breakdown_s["power_cap"] == pytest.approx(capped.latency_s - uncapped.latency_s, rel=1e-9)
    # uncapped: the same work, the same dynamic energy, over a shorter time at more than tdp
    assert uncapped.energy_j / uncapped.latency_s > p.tdp_w


def test_cap_does_not_touch_steps_below_the_limit():
    wl = _one("gpt2-medium", 1, 1, 128, steps=8)  # batch-1 decode: memory-bound, far below 70 W
    t4 = load_device("t4")
    off = t4.model_copy(update={"power": t4.power.model_copy(update={"cap_at_tdp": False})})
    a, b = run_baseline(wl, t4, "graph"), run_baseline(wl, off, "graph")
    assert a.latency_s == b.latency_s and a.energy_j == b.energy_j
    assert "power_cap" not in a.breakdown_s


def test_cap_is_per_step():
    # a phase of steps of different power: each step is capped on its own, so the phase's total is the sum of
    # the per-step closed forms, not the closed form of the phase's mean
    from pimsim.baselines.kernels import kernel_table
    from pimsim.baselines.model import evaluate

    hot = _hot_t4(3.0)
    p = hot.power
    m = get_model("gpt2-medium")
    table = kernel_table(m, 256, 0, 1, 3, 2, None, True)  # 3 prefill chunks of 256 tokens
    free = _hot_t4(3.0, cap=False)
    t_free = evaluate(table, 3, free, 3.625e-6).step_time_s
    capped = evaluate(table, 3, hot, 3.625e-6).step_time_s
    flops, moved = table.at(3)
    dyn = p.energy_per_byte_j * (moved * table.count[:, None]).sum(0) + p.energy_per_flop_j * (flops * table.count[:, None]).sum(0)
    expect = [max(t, e / (p.tdp_w - p.idle_w - p.active_w)) for t, e in zip(t_free, dyn)]
    assert list(capped) == pytest.approx(expect, rel=1e-12)


def test_fitted_presets_keep_the_cap_off_and_the_rest_on():
    # h100/h200 flops_per_s are fitted on prefills at the 700 W limit: the limit is inside the fitted rate
    assert not load_device("h100-sxm").power.cap_at_tdp and not load_device("h200-sxm").power.cap_at_tdp
    for name in ("t4", "a100-80gb", "xeon-gold-6154", "server-16vcpu", "neupims-npu", "ianus-npu"):
        assert load_device(name).power.cap_at_tdp, name


# ------------------------------------------------------------------------------------------ framework mode

def test_host_dispatch_fit_is_the_closed_form_over_the_named_records():
    recs = read_host_records(DATA / FRAMEWORK_FIT_FILE)
    assert FRAMEWORK_FIT_PROMPTS == (128, 512)
    assert sorted((r.model.name, r.prompt) for r in recs) == sorted(
        (m, p) for m in ("gpt3-xl", "gpt2-xl", "gpt2-medium") for p in (128, 512))
    # the measured times, read by hand from h200_gpu_regimes_raw.jsonl (prefill_ms)
    measured = {("gpt3-xl", 128): 7.812896269430036, ("gpt3-xl", 512): 7.508940614634176,
                ("gpt2-xl", 128): 16.529798822916646, ("gpt2-xl", 512): 15.742990360824708,
                ("gpt2-medium", 128): 8.117819521276596, ("gpt2-medium", 512): 8.016587647058778}
    # pimsim's kernel list: 12 per GPT-2 block, plus embedding, position add, final norm and LM head
    kernels = {"gpt3-xl": 12 * 24 + 5, "gpt2-xl": 12 * 48 + 5, "gpt2-medium": 12 * 24 + 5}
    for r in recs:
        assert r.kernels == kernels[r.model.name]
        assert r.measured_s == pytest.approx(measured[(r.model.name, r.prompt)] * 1e-3)
    ratios = [kernels[m] / (t * 1e-3) for (m, _), t in measured.items()]
    h = sum(ratios) / sum(x * x for x in ratios)
    assert fit_host_dispatch(recs) == pytest.approx(h, rel=5e-4)  # 4 significant digits
    assert load_device("h200-sxm").kernel_overhead_s["framework"] == fit_host_dispatch(recs)


def test_framework_step_is_the_slower_of_device_and_host():
    h200 = load_device("h200-sxm")
    mode, over = h200.overhead_s("framework")
    assert mode == "framework" and isinstance(over, HostBound)
    assert float(over) == h200.kernel_overhead_s["graph"] and over.host_s_per_kernel == 2.709e-05
    # host-bound: a 128-token gpt3-xl forward is 293 kernels x 27.09 us
    r = run_baseline(_one("gpt3-xl", 1, 128), h200, "framework")
    assert r.latency_s == pytest.approx(293 * 2.709e-05, rel=1e-12)
    graph = run_baseline(_one("gpt3-xl", 1, 128), h200, "graph")
    assert r.breakdown_s["host_dispatch_wait"] == pytest.approx(r.latency_s - graph.latency_s, rel=1e-9)
    # device-bound: a batch-64 prefill of 512 tokens takes its graph time (the host keeps ahead)
    big = _one("gpt3-xl", 64, 512)
    assert run_baseline(big, h200, "framework").latency_s == run_baseline(big, h200, "graph").latency_s


def test_framework_mode_is_refused_where_it_does_not_apply():
    with pytest.raises(ConfigError, match="mode 'framework' not available"):
        run_baseline(_one("gpt2-small", 1, 1, 10), "xeon-gold-6154", "framework")
    data = load_device("server-16vcpu").model_dump(mode="json")
    data["kernel_overhead_s"]["framework"] = 2e-5
    with pytest.raises(ConfigError, match="a CPU's eager overhead is already its host time"):
        load_device(data)
    gpu = load_device("t4").model_dump(mode="json")
    gpu["default_mode"] = "framework"
    with pytest.raises(ConfigError, match="not a default"):
        load_device(gpu)


def test_host_record_errors_name_the_file_and_line(tmp_path):
    bad = tmp_path / "raw.jsonl"
    bad.write_text('{"kind": "gpu-prefill-eager", "model": "gpt2-small", "batch": 1, "prompt": 128}\n')
    with pytest.raises(ConfigError, match=r"raw.jsonl line 1: record gpu-prefill-eager needs"):
        read_host_records(bad)
    bad.write_text("not json\n")
    with pytest.raises(ConfigError, match="line 1: not a JSON record"):
        read_host_records(bad)
    bad.write_text('{"kind": "other"}\n')
    with pytest.raises(ConfigError, match="no gpu-prefill-eager records"):
        read_host_records(bad)


def test_pimgpt_t4_framework_baseline_is_slower_than_graph_for_small_models():
    # gpt2-small decode on a T4: host dispatch 149 x 27.09 us = 4.04 ms a token > the device's graph step
    wl = expand(GenerateSpec(prompt=64, generate=8), get_model("gpt2-small"))
    fw, gr = run_baseline(wl, "t4", "framework"), run_baseline(wl, "t4", "graph")
    decode = next(p for p in fw.phases if p.kind == "decode")
    assert decode.latency_s / decode.tokens == pytest.approx(149 * 27.09e-6, rel=1e-12)
    assert fw.latency_s > gr.latency_s


def test_baseline_fit_refuses_framework_mode():
    from pimsim.baselines import fit_device, read_measurements

    rows = read_measurements(DATA / "h200_gpt_decode_measured.csv", 2)
    with pytest.raises(ConfigError, match="framework mode is not fitted by `baseline fit`"):
        fit_device(rows, "h200-sxm", "framework")
