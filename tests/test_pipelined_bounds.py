"""The pipelined schedule has no exact mode (exact mode runs the published serial schedule); instead its
makespan is held to bounds that hold for any schedule of the same work on one PIM, one ASIC and one link
resource (issue 11), and to the closed form of a two-stage flow shop.
"""

import pytest

from pimsim.engine import simulate
from pimsim.engine.schedule import pipelined_makespan
from pimsim.hardware import load_hardware
from pimsim.mapper import load_mapping
from pimsim.workloads.spec import GenerateSpec, PrmScoreSpec

HW = load_hardware("pimgpt-gddr6")
SERIAL = load_mapping("pimgpt")
PIPELINED = SERIAL.model_copy(update={"overlap": "pipelined", "name": "pimgpt-pipelined"})


@pytest.mark.parametrize("batch, p, q", [(1, 3.0, 5.0), (2, 3.0, 5.0), (7, 3.0, 5.0), (7, 5.0, 3.0), (4, 2.0, 2.0)])
def test_two_stage_flow_shop_makespan(batch, p, q):
    """B identical jobs, each PIM p then ASIC q, FIFO on each resource: the first job takes p + q and the
    bottleneck stage admits one more job every max(p, q): makespan = p + q + (B - 1) max(p, q)."""
    makespan = pipelined_makespan([[("pim", p), ("asic", q)]] * batch)
    assert makespan == pytest.approx(p + q + (batch - 1) * max(p, q))


@pytest.mark.parametrize("spec", [GenerateSpec(prompt=8, generate=8, batch=4),
                                  PrmScoreSpec(solutions=4, question_tokens=8, steps=2, step_tokens=4)],
                         ids=["decode-batch-4", "prm-4-solutions"])
def test_pipelined_latency_lies_between_the_busiest_unit_and_the_serial_sum(spec):
    """Any schedule of the same ops on one PIM, one ASIC and one link resource takes at least the busiest
    resource's total time and at most the serial sum of everything (nothing overlaps)."""
    serial = simulate("gpt2-small", HW, SERIAL, spec)
    piped = simulate("gpt2-small", HW, PIPELINED, spec)
    b = serial.breakdown_s
    asic, link = b.get("asic", 0.0), b.get("link", 0.0)
    pim = serial.latency_s - asic - link
    assert max(pim, asic, link) <= piped.latency_s * (1 + 1e-9)
    assert piped.latency_s <= serial.latency_s * (1 + 1e-9)
    # work is conserved: the same ops, energy apart from background power over the shorter time
    assert piped.commands == serial.commands
    if spec.kind == "generate":  # sequences decoded together do overlap
        assert piped.latency_s < serial.latency_s
