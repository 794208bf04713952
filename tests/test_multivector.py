"""Multi-vector PIM units (`pim.vectors_per_pass`, preset aim-32ch-mv4; issue 12): a weight GEMV serves k
sequences per pass. Held against hand counts of its program, the timing checker, exact mode, and the
single-vector machine."""

import pytest

from pimsim.dram import CommandEngine, check_log, parse_trace
from pimsim.engine import simulate
from pimsim.hardware import load_hardware
from pimsim.mapper import Mapper, load_mapping
from pimsim.models import load_model
from pimsim.validate import fast_exact as fx
from pimsim.workloads.spec import GenerateSpec

MV4 = load_hardware("aim-32ch-mv4")
AIM = load_hardware("aim-32ch")


def _count(text: str, instr: str) -> int:
    return sum(1 for line in text.splitlines() if line.split()[1:2] == [instr])


def test_a_four_vector_gemv_reads_each_column_once_and_moves_four_vectors():
    """Same MAC_ABK stream (one column read feeds 4 MACs), 4 global-buffer writes per load and 4 result
    reads per output group: counted from the program text of both machines."""
    m = load_model("gpt2-medium")
    one = Mapper(m, AIM, load_mapping("pimgpt")).weight_program(4096, 1024)
    four = Mapper(m, MV4, load_mapping("pimgpt")).weight_program(4096, 1024, vectors=4)
    assert _count(four.text, "MAC_ABK") == _count(one.text, "MAC_ABK")
    assert _count(four.text, "WR_GB") == 4 * _count(one.text, "WR_GB")
    assert _count(four.text, "RD_MAC") == 4 * _count(one.text, "RD_MAC")
    engine = CommandEngine(MV4.dram.model_copy(update={"channels": 1}), refresh=True)
    res = engine.run(parse_trace(four.text, source="4-vector GEMV"), log=True)
    assert check_log(res.log, engine.dram, refresh=True, end_cycle=res.cycles) == []


def test_cost_per_sequence_falls_with_batch_and_batch_1_is_the_single_vector_machine():
    spec = lambda b: GenerateSpec(prompt=16, generate=9, batch=b)  # noqa: E731
    per_token = {b: simulate("gpt2-small", MV4, "pimgpt", spec(b)).tpot_s / b for b in (1, 2, 4, 8)}
    assert per_token[1] == simulate("gpt2-small", AIM, "pimgpt", spec(1)).tpot_s
    assert per_token[1] > per_token[2] > per_token[4]
    assert per_token[8] == pytest.approx(per_token[4], rel=1e-9)  # full passes of 4 cost the same per token
    single = simulate("gpt2-small", AIM, "pimgpt", spec(8)).tpot_s / 8
    assert single == pytest.approx(per_token[1], rel=1e-9)  # AiM: batch B costs B passes


@pytest.mark.parametrize("mapping", fx.mappings())
@pytest.mark.parametrize("batch", [4, 6])  # 6: a full pass of 4 and a partial pass of 2
def test_fast_and_exact_agree_for_multi_vector_units(mapping, batch):
    """Within system.fast_vs_exact's bound, as every other fast/exact pair (tests/test_refresh_modes.py)."""
    spec = GenerateSpec(prompt=8, generate=5, batch=batch)
    fast = simulate("gpt2-small", MV4, mapping, spec)
    exact = simulate("gpt2-small", MV4, mapping, spec, exact=True)
    assert -0.033 <= fast.latency_s / exact.latency_s - 1 <= 0.034
    assert fast.energy_j == pytest.approx(exact.energy_j, rel=0.034)
    assert fast.commands["MAC16.extra_vectors"] == exact.commands["MAC16.extra_vectors"] > 0
