"""score.V laid out by channel (`attention.value_split: channels`) against hand-counted MACs, capacity and
the timing checker; the PIM-GPT layout (`outputs`) for contrast."""

from math import ceil

import pytest

from pimsim.dram import CommandEngine, check_log, parse_trace
from pimsim.hardware import load_hardware
from pimsim.mapper import Mapper, load_mapping
from pimsim.models import load_model

AIM64 = load_hardware("aim-32ch", overrides={"dram": {"channels": 64}})


def test_channel_split_mac_columns_by_hand():
    """gpt3-xl (16 heads of 128) at 1540 keys on 64 channels x 16 banks, 16 bf16 per column:
    by channel, 4 channels per head, each a 385-key slice (25 columns) for the head's 128 outputs over 16
    banks (8 each): 8 x 25 = 200 column MACs per bank. By outputs, one head's 128 outputs over all 1024
    units (1 each, mostly padding) for each of the 16 heads' score loads of 97 columns: 16 x 97 = 1552."""
    m = load_model("gpt3-xl")
    split = Mapper(m, AIM64, load_mapping("pimgpt_vsplit")).value_program(1540)
    spread = Mapper(m, AIM64, load_mapping("pimgpt")).value_program(1540)
    assert split.mac_columns == 8 * ceil(ceil(1540 / 4) / 16) == 200
    assert spread.mac_columns == 16 * ceil(1540 / 16) == 1552


def test_channel_split_needs_fewer_cycles_and_obeys_every_timing_rule():
    m = load_model("gpt3-xl")
    engine = CommandEngine(AIM64.dram.model_copy(update={"channels": 1}), refresh=True)
    cycles = {}
    for name in ("pimgpt_vsplit", "pimgpt"):
        prog = Mapper(m, AIM64, load_mapping(name)).value_program(1540)
        res = engine.run(parse_trace(prog.text, source=name), log=True)
        assert check_log(res.log, engine.dram, refresh=True, end_cycle=res.cycles) == []
        cycles[name] = res.cycles
    assert cycles["pimgpt_vsplit"] < cycles["pimgpt"] / 4


@pytest.mark.parametrize("model, copies", [("gpt3-xl", 1), ("qwen2.5-math-7b-instruct", 7)])
def test_channel_split_stores_v_under_every_query_head(model, copies):
    """KV bytes per token: K once per KV head, V once per query head it serves (GQA: heads / kv_heads)."""
    m = load_model(model)
    per_kv = m.layers * m.kv_heads * m.head_dim * 2  # one of K or V, bf16, every layer
    split = Mapper(m, AIM64, load_mapping("pimgpt_vsplit"))
    assert split.kv_bytes_per_token() == per_kv + copies * per_kv
    assert Mapper(m, AIM64, load_mapping("pimgpt")).kv_bytes_per_token() == 2 * per_kv
    assert split.required_bytes(4, 1000)["kv_cache_bytes"] == 4 * 1000 * (1 + copies) * per_kv
