"""Head chunks with the GPU's QKV and projections split among them (mapping head_pipeline_gpu, AttAcc's
--pipeopt): the layer schedule's closed forms in its limits, its bounds on random cases, and the system run
between the GPU's own time and the serial sum."""

import random

import pytest
import yaml

from pimsim.engine import simulate
from pimsim.engine.placement import head_chunk_layer_s
from pimsim.errors import ConfigError
from pimsim.mapper import load_mapping
from pimsim.workloads import GenerateSpec


def test_one_chunk_is_the_serial_chain():
    assert head_chunk_layer_s(1, 1.0, 2.0, 3.0, 4.0, 5.0) == 15.0


@pytest.mark.parametrize("chunks", [2, 8, 96])
def test_limits(chunks):
    c, eps = chunks, 1e-9
    # attention dominates: the first chunk's q/k/v and transfer, every attention, the last return and projection
    assert head_chunk_layer_s(c, eps, eps, 1.0, eps, eps) == pytest.approx(c * 1.0 + 4 * eps, abs=1e-6)
    # q/k/v generation dominates: all of it, then the last chunk's way through and its projection
    assert head_chunk_layer_s(c, 1.0, eps, eps, eps, eps) == pytest.approx(c * 1.0, abs=1e-6)
    # projection dominates: the first chunk's way to the GPU, then every projection
    assert head_chunk_layer_s(c, eps, eps, eps, eps, 1.0) == pytest.approx(c * 1.0, abs=1e-6)


def test_random_cases_lie_between_the_bounds():
    rng = random.Random(7)
    for _ in range(300):
        c = rng.randint(1, 64)
        q, to, a, back, p = (rng.uniform(0.0, 1.0) for _ in range(5))
        t = head_chunk_layer_s(c, q, to, a, back, p)
        serial = c * (q + to + a + back + p)
        lower = max(c * (q + p), c * a, c * to, c * back, q + to + a + back + p)
        assert lower - 1e-12 <= t <= serial + 1e-12


def _mapping(tmp_path, **edit):
    m = load_mapping("attacc_heads").model_dump(mode="json")
    m.update(name="hp", **edit)
    path = tmp_path / "hp.yaml"
    path.write_text(yaml.safe_dump(m))
    return str(path)


def test_system_run_between_gpu_time_and_the_serial_split(tmp_path):
    spec = GenerateSpec(prompt=64, generate=9, batch=8)
    over = simulate("gpt2-medium", "h100-aim", _mapping(tmp_path, head_pipeline_gpu=True), spec)
    links_only = simulate("gpt2-medium", "h100-aim", "attacc_heads", spec)
    dec = lambda r: [p for p in r.phases if p.kind == "decode"][0]  # noqa: E731
    o, l_ = dec(over), dec(links_only)
    assert o.latency_s <= l_.latency_s + 1e-15
    gpu = sum(v for k, v in o.breakdown_s.items() if k.startswith("gpu."))
    pim = sum(v for k, v in o.breakdown_s.items() if k.startswith("pim."))
    assert o.latency_s >= max(gpu, pim) - 1e-15
    assert o.energy_j == pytest.approx(l_.energy_j, rel=0.05)  # the same work, idle power over a shorter wall


def test_head_pipeline_gpu_needs_chunks(tmp_path):
    with pytest.raises(ConfigError, match="give head_pipeline 2 or more"):
        load_mapping(_mapping(tmp_path, head_pipeline=1, head_pipeline_gpu=True))
