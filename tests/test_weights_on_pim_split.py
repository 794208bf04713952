"""The op-class split with the weights on PIM and attention on the GPU/NPU (mapping ianus_paper).

Independent expectations: the decode phase's time is the sum of its three parts computed apart: every token's
PIM ops without attention (walked op by op on the PIM simulator), the attention kernels of the baseline model
alone, and two link transfers per layer and step of the q/k/v and attention-output bytes."""

from __future__ import annotations

import pytest

from pimsim.engine import simulate
from pimsim.errors import ConfigError
from pimsim.workloads import GenerateSpec


def test_decode_is_pim_weights_plus_npu_attention_plus_the_transfers():
    res = simulate("gpt2-medium", "ianus", "ianus_paper", GenerateSpec(prompt=16, generate=9))
    dec = next(p for p in res.phases if p.kind == "decode")
    b = dec.breakdown_s
    pim = sum(v for k, v in b.items() if k.startswith("pim."))
    gpu_attention = b["gpu.attention"] + b.get("gpu.kv_append", 0.0)
    link = b["link.unified.qkv_and_outputs"]
    m_layers, heads, hd, steps = 24, 16, 64, 8
    per_transfer = (3 * heads * hd * 2) / 2.56e11 + (heads * hd * 2) / 2.56e11  # to the NPU and back, latency 0
    assert link == pytest.approx(per_transfer * m_layers * steps)
    assert b.get("pim.kv_write", 0.0) == 0.0 and gpu_attention > 0  # the KV cache and attention on the NPU only
    assert not any(k.startswith("gpu.") and k not in ("gpu.attention", "gpu.kv_append", "gpu.kernel_overhead")
                   for k, v in b.items() if v)  # nothing but attention on the NPU in decode
    assert dec.latency_s == pytest.approx(sum(b.values()), rel=1e-9)  # serial: the parts add up


def test_weights_on_a_pim_group_are_refused(tmp_path):
    system = tmp_path / "s.yaml"
    system.write_text("kind: system\nname: s\ndevices:\n  gpu: {device: ianus-npu}\n  pim:\n    pim: aim-32ch\n"
                      "    count: 2\n    parallel: tensor\n    interconnect: {bytes_per_s: 1.0e+10, latency_ns: 0, "
                      "pj_per_bit: 0}\nlinks:\n  l: {between: [gpu, pim], bytes_per_s: 1.0e+10, latency_ns: 0, "
                      "pj_per_bit: 0}\n")
    with pytest.raises(ConfigError, match="one single-vector PIM device"):
        simulate("gpt2-medium", str(system), "ianus_paper", GenerateSpec(prompt=16, generate=4))
