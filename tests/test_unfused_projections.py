"""`weights.fused_projections: false` (CENT's trace generator): q, k and v as three GEMVs and SwiGLU's gate and
up as two, each with its own input loads and rows. Independent expectation: the programs of those GEMVs built
one by one (`Mapper.weight_program`), whose MACs add up to the fused matrix's columns."""

from __future__ import annotations

import pytest

from pimsim.hardware import load_hardware
from pimsim.mapper.mapper import Mapper
from pimsim.mapper.schema import load_mapping
from pimsim.models import get_model

HW = load_hardware("aim-32ch")


def _no_rows(program) -> list[str]:
    """A program's instructions without the DRAM row each MAC names (each matrix has its own rows)."""
    return [" ".join(line.split()[:4]) for line in program.lines]


def _unfused(name: str):
    base = load_mapping(name)
    return base.model_copy(update={"weights": base.weights.model_copy(update={"fused_projections": False})})


@pytest.mark.parametrize("model", ["llama2-7b", "llama2-70b", "gpt2-small"])
def test_projections_split_into_their_own_gemvs(model):
    m = get_model(model)
    mapper = Mapper(m, HW, _unfused("cent"))
    ops = {op.name: [] for op in mapper.map_token(16).layer}
    for op in mapper.map_token(16).layer:
        ops[op.name].append(op)
    qkv = [o for o in ops["qkv_proj"] if o.unit == "pim"]
    ref = Mapper(m, HW, load_mapping("cent"))
    expected = [(m.q_features, m.hidden), (m.kv_features, m.hidden), (m.kv_features, m.hidden)]
    assert [o.program.mac_columns for o in qkv] == [ref.weight_program(n, k).mac_columns for n, k in expected]
    if m.mlp == "silu_gated":
        gate_up = [o for o in ops["gate_up_proj"] if o.unit == "pim"]
        one = ref.weight_program(m.ffn, m.hidden)
        assert [_no_rows(o.program) for o in gate_up] == [_no_rows(one)] * 2  # same program, own rows
        assert sum(o.program.mac_columns for o in gate_up) >= ref.weight_program(2 * m.ffn, m.hidden).mac_columns
    else:
        assert all(len([o for o in ops[n] if o.unit == "pim"]) == 1 for n in ("fc1", "fc2"))


def test_fused_is_the_default_and_one_gemv():
    m = get_model("llama2-7b")
    layer = Mapper(m, HW, load_mapping("cent")).map_token(16).layer
    assert load_mapping("cent").weights.fused_projections
    assert len([o for o in layer if o.name == "qkv_proj" and o.unit == "pim"]) == 1
