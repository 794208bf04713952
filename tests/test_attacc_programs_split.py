"""AttAcc's own attention program in an op-class split (`op_programs: attacc`, mapping attacc_paper_programs).

Independent expectations: the program's replay on the hbm3-pim preset by the command engine directly (one
channel, AttAcc's heads per stack = the group's sequences' heads over its 16-channel stacks), layer by layer,
and the refusals of settings AttAcc's program does not cover."""

from __future__ import annotations

from math import ceil

import pytest

from pimsim.dram import parse_trace
from pimsim.dram.engine import CommandEngine
from pimsim.engine.system import SystemSimulator
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware
from pimsim.mapper.attacc_programs import attacc_attention_program
from pimsim.mapper.schema import load_mapping
from pimsim.models import get_model

HBM = load_hardware("hbm3-pim", overrides={"dram": {"channels": 80}})  # one AttAcc device: 5 stacks of 16


@pytest.mark.parametrize("sequences, context", [(1, 300), (8, 2049), (3, 1024)])
def test_layer_attention_is_attaccs_program_for_the_groups_heads_plus_the_appends(sequences, context):
    m = get_model("gpt3-175b")
    sim = SystemSimulator(HBM, load_mapping("attacc_paper_programs"))
    tally = sim.attacc_layer_attention(m, context, sequences)
    heads = ceil(sequences * m.heads / 5)
    prog = attacc_attention_program(context, heads, m.head_dim, 16, max_context=max(4096, context))
    one = load_hardware("hbm3-pim").dram.model_copy(update={"channels": 1})
    replay = CommandEngine(one, refresh=False).run(parse_trace(prog.text))
    appends = sim._walk(sim.mapper(m).kv_append_ops(), None)[0]
    attention_s = tally.total_s - sequences * appends.total_s
    tck = HBM.dram.tck_ns * 1e-9
    assert attention_s >= replay.cycles * tck
    # fast mode adds the refresh stall in closed form; the program run back to back with refresh on, long
    # enough to hold many refreshes, takes the same per run within the fast/exact matrix's bound (3.4%,
    # tests/test_refresh_modes.py)
    reps = max(2, -(-20 * one.timing["nREFI"] // replay.cycles))
    body = prog.text.replace("AiM EOC\n", "AiM SYNC\n")
    on = CommandEngine(one, refresh=True)
    start = on.settled_state(open_row=one.rows - 1, mode=sim.timer.start_mode)
    long = on.run(parse_trace(body * reps + "AiM EOC\n"), start_state=start)
    assert attention_s == pytest.approx(long.cycles / reps * tck, rel=0.034)
    assert tally.commands["MAC16"] == replay.commands["MAC16"] * HBM.dram.channels + \
        sequences * appends.commands.get("MAC16", 0)


def test_attaccs_program_is_refused_on_a_whole_pim_phase_and_for_grouped_query_models():
    from pimsim.workloads import Phase

    sim = SystemSimulator(HBM, load_mapping("attacc_paper_programs"))
    m = get_model("gpt3-175b")
    with pytest.raises(ConfigError, match="phases split by op class"):
        sim.phase(Phase("decode", "policy", "decode", m, 1, 1, 100, 1))
    with pytest.raises(ConfigError, match="multi-head attention"):
        sim.attacc_layer_attention(get_model("llama2-70b"), 100, 1)
    with pytest.raises(ConfigError, match="hbm3-pim"):
        SystemSimulator(load_hardware("aim-32ch"), load_mapping("attacc_paper_programs")).attacc_layer_attention(
            m, 100, 1)
