"""Tensor-parallel GPUs (`pimsim baseline --num-devices N`; issue 12, many devices), held against the
one-device run and closed forms of the ring all-reduce, capacity and energy."""

import pytest

from pimsim.baselines.device import load_device
from pimsim.baselines.model import run_baseline
from pimsim.errors import CapacityError, ConfigError
from pimsim.models import load_model
from pimsim.workloads import expand
from pimsim.workloads.spec import GenerateSpec

# the flat roofline: tensor-parallel shards are timed at the flat rate (pimsim.baselines.gemm), so the 1-device
# run they are compared with must be too; and no kernel floor (a kernel at its floor does not get faster when
# split: the floor's own closed forms are tests/test_kernel_floor.py)
H100 = load_device("h100-sxm").model_copy(update={"gemm_tiling": None, "kernel_floor_s": 0.0})
NVLINK_BYTES_PER_S, HOP_S, PJ_PER_BIT = 450e9, 2e-6, 1.3  # h100-sxm.yaml interconnect, as its source cites


def _run(model: str, n: int, spec=GenerateSpec(prompt=128, generate=9, batch=8)):
    return run_baseline(expand(spec, load_model(model)), H100, "graph", n)


@pytest.mark.parametrize("n", [2, 4, 8])
def test_sharded_kernels_split_n_ways_and_the_rest_stays_whole(n):
    one, tp = _run("qwen2.5-math-7b-instruct", 1), _run("qwen2.5-math-7b-instruct", n)
    for cat in ("weight_matmul", "kv_append"):  # roofline max(F/r, B/b) with F and B both / n
        assert tp.breakdown_s[cat] == pytest.approx(one.breakdown_s[cat] / n, rel=1e-9)
    for cat in ("vector", "embedding", "kernel_overhead"):
        assert tp.breakdown_s[cat] == pytest.approx(one.breakdown_s[cat], rel=1e-12)


def test_allreduce_time_and_energy_closed_form():
    n, m = 4, load_model("qwen2.5-math-7b-instruct")
    spec = GenerateSpec(prompt=128, generate=9, batch=8)
    tp = _run("qwen2.5-math-7b-instruct", n, spec)
    steps_tokens = [(1, 8 * 128), (8, 8)]  # prefill: one step of 8 x 128 tokens; decode: 8 steps of 8 tokens
    expected_s = expected_bits = 0.0
    for steps, tokens in steps_tokens:
        nbytes = tokens * m.hidden * 2
        ring_s = 2 * (n - 1) / n * nbytes / NVLINK_BYTES_PER_S + 2 * (n - 1) * HOP_S
        expected_s += steps * 2 * m.layers * ring_s
        expected_bits += steps * 2 * m.layers * 2 * (n - 1) * nbytes * 8
    assert tp.breakdown_s["allreduce"] == pytest.approx(expected_s, rel=1e-12)
    assert tp.breakdown_j["interconnect"] == pytest.approx(expected_bits * PJ_PER_BIT * 1e-12, rel=1e-12)
    assert tp.machine == "h100-sxm x4"


def test_one_device_is_unchanged_and_n_devices_draw_n_idle_powers():
    one = _run("gpt2-xl", 1)
    assert one.to_dict() == run_baseline(expand(GenerateSpec(prompt=128, generate=9, batch=8),
                                                load_model("gpt2-xl")), H100, "graph").to_dict()
    tp = _run("gpt2-xl", 2)
    assert tp.breakdown_j["idle"] == pytest.approx(2 * H100.power.idle_w * tp.latency_s, rel=1e-12)


def test_capacity_per_device_is_a_share_of_weights_and_kv():
    spec = GenerateSpec(prompt=256, generate=9, batch=4)
    with pytest.raises(CapacityError, match="does not fit h100-sxm"):
        _run("qwen2.5-math-prm-72b", 1, spec)           # 143 GB of weights on one 80 GB GPU
    _run("qwen2.5-math-prm-72b", 2, spec)               # 71.5 GB each
    with pytest.raises(CapacityError, match=r"does not fit 2 x h100-sxm: each device holds"):
        _run("qwen2.5-math-prm-72b", 2, GenerateSpec(prompt=4000, generate=9, batch=64))


def test_bad_device_counts_and_devices_without_interconnect_exit_2(cli):
    with pytest.raises(ConfigError, match="no interconnect"):
        run_baseline(expand(GenerateSpec(prompt=8, generate=2), load_model("gpt2-small")), "t4", None, 2)
    rc, _, err = cli("baseline", "--device", "h100-sxm", "--num-devices", "0", "--model", "gpt2-small",
                     "--workload", "generate", "--prompt", "8", "--generate", "2")
    assert rc == 2 and "num_devices must be a whole number from 1 to 1024" in err


def test_a_system_device_with_count_is_the_tensor_parallel_baseline(tmp_path):
    """`count: 2` on a system's GPU entry: gpu-only equals `run_baseline(..., num_devices=2)`; the 72B model
    that does not fit one H100 runs."""
    import yaml

    from pimsim.engine import simulate

    system = {"kind": "system", "name": "2xh100-aim",
              "devices": {"gpu": {"device": "h100-sxm", "count": 2}, "pim": {"pim": "aim-32ch"}},
              "links": {"pcie": {"between": ["gpu", "pim"], "bytes_per_s": 6.3e10, "latency_ns": 1000,
                                 "pj_per_bit": 4.4}}}
    path = tmp_path / "2xh100.yaml"
    path.write_text(yaml.safe_dump(system))
    spec = GenerateSpec(prompt=256, generate=9, batch=4)
    sys_result = simulate("qwen2.5-math-prm-72b", str(path), "gpu-only", spec)
    alone = run_baseline(expand(spec, load_model("qwen2.5-math-prm-72b")), "h100-sxm", "graph", 2)  # as shipped
    assert sys_result.latency_s == alone.latency_s
    assert sys_result.breakdown_j["gpu.interconnect"] == pytest.approx(alone.breakdown_j["interconnect"])
    system["devices"]["pim"]["count"] = 2
    path.write_text(yaml.safe_dump(system))
    with pytest.raises(ConfigError, match="count: 2 PIM devices need parallel:"):  # engine/pim_group.py
        simulate("gpt2-small", str(path), "gpu-only", GenerateSpec(prompt=8, generate=2))
