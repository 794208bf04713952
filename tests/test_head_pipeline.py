"""AttAcc's head-level pipelining on an op-class split (mapping `head_pipeline`, engine/placement.py):
per layer the heads go to PIM in C chunks whose transfers overlap the other chunks' PIM attention."""

from __future__ import annotations

import pytest

from pimsim.engine import simulate
from pimsim.errors import ConfigError
from pimsim.mapper import load_mapping
from pimsim.models import load_model
from pimsim.workloads.spec import GenerateSpec

BW, LAT = 63.0e9, 1e-6  # h100-aim.yaml's PCIe link


def _mapping(**changes):
    return load_mapping("attacc").model_copy(update={"name": "attacc-test", **changes})


def _decode(result):
    return next(p for p in result.phases if p.kind == "decode")


def test_one_chunk_is_the_serial_split():
    spec = GenerateSpec(prompt=64, generate=3, batch=4)
    a = simulate("gpt2-medium", "h100-aim", "attacc", spec)
    b = simulate("gpt2-medium", "h100-aim", _mapping(head_pipeline=1), spec)
    assert a.latency_s == b.latency_s and a.breakdown_s == b.breakdown_s


@pytest.mark.parametrize("chunks", [2, 4, 16])
def test_head_chunks_follow_the_three_stage_flow_shop(chunks):
    """One decode step: per layer, the GPU's kernels g, then C identical chunks over (to PIM, PIM, back):
    x_in + p + x_out + (C - 1) max(x_in, p, x_out), with x = bytes / C / bandwidth + latency and p the
    layer's PIM attention / C; g and p read from the serial run's breakdown, the bytes from the model."""
    model = load_model("gpt2-medium")  # 16 heads, MHA
    batch = 4
    spec = GenerateSpec(prompt=64, generate=2, batch=batch)
    serial = _decode(simulate(model, "h100-aim", "attacc", spec))
    piped = _decode(simulate(model, "h100-aim", _mapping(head_pipeline=chunks), spec))
    gpu = sum(v for k, v in serial.breakdown_s.items() if k.startswith("gpu."))
    pim = sum(v for k, v in serial.breakdown_s.items() if k.startswith("pim."))
    handoff = serial.breakdown_s.get("link.pcie.kv_handoff", 0.0)
    layers, heads, hd = model.layers, model.heads, model.head_dim
    to_pim = batch * (heads + 2 * model.kv_heads) * hd * 2
    back = batch * heads * hd * 2
    x_in, x_out = to_pim / chunks / BW + LAT, back / chunks / BW + LAT
    p = pim / layers / chunks
    per_layer = gpu / layers + x_in + p + x_out + (chunks - 1) * max(x_in, p, x_out)
    assert piped.latency_s - handoff == pytest.approx(layers * per_layer, rel=1e-9)
    assert piped.breakdown_s["link.pcie.qkv_and_outputs"] == pytest.approx(layers * chunks * (x_in + x_out), rel=1e-9)


def test_chunks_are_capped_at_the_heads():
    spec = GenerateSpec(prompt=16, generate=2)
    many = simulate("gpt2-small", "h100-aim", _mapping(head_pipeline=4096), spec)
    twelve = simulate("gpt2-small", "h100-aim", _mapping(head_pipeline=12), spec)  # gpt2-small: 12 heads
    assert many.latency_s == twelve.latency_s


def test_head_pipelining_with_sub_batch_interleaving_is_refused():
    with pytest.raises(ConfigError, match="head_pipeline with overlap: pipelined"):
        simulate("gpt2-small", "h100-aim", _mapping(head_pipeline=4, overlap="pipelined"),
                 GenerateSpec(prompt=16, generate=2, batch=2))


@pytest.mark.parametrize("field, value", [("head_pipeline", 0), ("head_pipeline", "many")])
def test_a_bad_head_pipeline_exits_2_naming_it(tmp_path, cli, field, value):
    import yaml
    data = load_mapping("attacc").model_dump(mode="json")
    data.update(name="bad", **{field: value})
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", "h100-aim", "--mapping", path,
                     "--workload", "generate", "--prompt", "8", "--generate", "2")
    assert rc == 2 and field in err and "Traceback" not in err


def test_a_mistyped_kv_head_passes_exits_2(tmp_path, cli):
    import yaml
    data = load_mapping("pimgpt").model_dump(mode="json")
    data["attention"]["kv_head_passes"] = "yes please"
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", "aim-32ch-mv4", "--mapping", path,
                     "--workload", "generate", "--prompt", "8", "--generate", "2")
    assert rc == 2 and "kv_head_passes" in err
