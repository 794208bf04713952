"""The kernel floor (`kernel_floor_s`, pimsim.baselines.model): t = max(compute, memory, floor) + overhead per
kernel, against closed forms, and the fit's scan recovering a planted floor."""

from pathlib import Path

import pytest

from pimsim.baselines import fit_device, load_device, read_measurements
from pimsim.baselines.fit import FLOOR_GRID_S
from pimsim.baselines.kernels import kernel_table
from pimsim.baselines.model import evaluate, kernel_bandwidth
from pimsim.baselines.gemm import scheduled_flops
from pimsim.baselines import run_baseline
from pimsim.models import get_model
from pimsim.workloads import Phase, Workload


def _table(model="gpt2-small", tokens=1, context=128):
    return kernel_table(get_model(model), tokens, context, 1, 1, 2, None, True)


@pytest.mark.parametrize("floor", [0.0, 0.8e-6, 3e-6])
@pytest.mark.parametrize("tokens,context", [(1, 128), (1, 900), (128, 0), (512, 0)])
def test_step_time_is_the_sum_of_floored_rooflines_plus_overheads(floor, tokens, context):
    """Hand sum over the kernel list: count x max(bytes / bw, scheduled FLOPs / rate, floor), plus one overhead
    per launch (power cap off on these presets)."""
    dev = load_device("h200-sxm").model_copy(update={"kernel_floor_s": floor})
    table = _table("gpt2-xl", tokens, context)
    flops, moved = table.at(1)
    t_mem = moved[:, 0] / kernel_bandwidth(table, dev)
    t_cmp = scheduled_flops(table, flops, dev.gemm_tiling)[:, 0] / dev.flops_per_s
    expect = sum(int(n) * max(a, b, floor) for n, a, b in zip(table.count, t_mem, t_cmp))
    expect += table.kernels_per_step * dev.kernel_overhead_s["graph"]
    got = evaluate(table, 1, dev, dev.kernel_overhead_s["graph"]).step_time_s[0]
    assert got == pytest.approx(expect, rel=1e-12)


def test_a_floor_above_every_kernel_makes_the_step_a_count_of_launches():
    dev = load_device("h100-sxm").model_copy(update={"kernel_floor_s": 5e-4})
    table = _table()
    o = dev.kernel_overhead_s["graph"]
    assert evaluate(table, 1, dev, o).step_time_s[0] == pytest.approx(table.kernels_per_step * (5e-4 + o), rel=1e-12)


def test_a_floor_below_every_kernel_changes_nothing():
    dev = load_device("h100-sxm")
    table = _table("gpt2-xl", 1, 512)
    o = dev.kernel_overhead_s["graph"]
    base = evaluate(table, 1, dev.model_copy(update={"kernel_floor_s": 0.0}), o).step_time_s[0]
    assert evaluate(table, 1, dev.model_copy(update={"kernel_floor_s": 1e-12}), o).step_time_s[0] == base


def test_fit_floor_recovers_a_planted_floor(tmp_path):
    """Rows made by a preset with a known floor, overhead and bandwidths (decode at two contexts, prefills of
    128-2048 tokens) are fitted back to it from a start with no floor."""
    truth = load_device("h100-sxm").model_copy(update={
        "kernel_floor_s": 1.5e-6, "bandwidth_bytes_per_s": 2.2e12, "attention_stream_bandwidth_bytes_per_s": 8.0e10,
        "kernel_overhead_s": {"graph": 2.0e-6, "eager": 10.0e-6}, "flops_per_s": 6.0e14})
    assert 1.5e-6 in FLOOR_GRID_S
    lines = ["model,context,new_tokens,decode_ms_per_token"]
    for model in ("gpt2-small", "gpt2-medium", "gpt2-xl", "gpt3-xl"):
        for ctx, new in ((100, 1), (900, 1), (0, 128), (0, 512), (0, 1024)):
            ph = Phase("p", "policy", "prefill" if new > 1 else "decode", get_model(model), 1, new, ctx, 1)
            t = run_baseline(Workload(spec=None, phases=(ph,), generated_tokens=1), truth).latency_s
            lines.append(f"{model},{ctx},{new},{t * 1e3!r}")
    path = tmp_path / "synthetic.csv"
    path.write_text("\n".join(lines) + "\n")
    start = load_device("h100-sxm").model_copy(update={"kernel_floor_s": 0.0})
    res = fit_device(read_measurements(path, 2), start, fit_floor=True)
    p = res.preset
    assert p.kernel_floor_s == pytest.approx(1.5e-6, rel=1e-9)
    assert p.kernel_overhead_s["graph"] == pytest.approx(2.0e-6, rel=2e-3)
    assert p.bandwidth_bytes_per_s == pytest.approx(2.2e12, rel=2e-3)
    assert "kernel_floor_s" in p.fit["fitted"] and "kernel_floor_s" in p.notes
    assert max(abs(r["latency_error"]) for r in res.rows) < 2e-3
    # without the scan the floor is kept from the start preset
    assert fit_device(read_measurements(path, 2), start).preset.kernel_floor_s == 0.0


@pytest.mark.parametrize("value,says", [(-1e-6, "greater than or equal to 0"), (2e-3, "less than 0.001"),
                                        ("fast", "valid number")])
def test_a_bad_kernel_floor_in_a_preset_file_is_one_clear_error(cli, tmp_path, value, says):
    import yaml

    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "pimsim/baselines/presets/h200-sxm.yaml").read_text())
    data.update(name="bad-floor", kernel_floor_s=value)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = cli("baseline", "--device", path, "--model", "gpt2-small", "--workload", "generate",
                       "--prompt", "8", "--generate", "2")
    assert rc == 2 and "kernel_floor_s" in err and says in err and "Traceback" not in err
