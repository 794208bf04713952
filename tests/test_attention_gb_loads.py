"""The global-buffer traffic of the attention programs: every query head's q (q.K^T) and every head's score
vector (score.V) reach the buffer once per token, whatever the heads per load (score.V: a last load with fewer
heads is written, and multiplied, as a full one: the programs time one representative load).

Independent expectation: the bytes the ASIC must send are the inputs themselves (heads x head_dim for q, heads
x the context padded to whole columns for the scores). A load shared by several heads writes each head's
segment; counting one segment per load (the defect this guards against) under-states the WR_GB traffic by the
heads per load (8x for 64-dim heads in a 2 KB buffer).
"""

from __future__ import annotations

from math import ceil

import pytest

from pimsim.hardware import load_hardware
from pimsim.mapper.mapper import Mapper
from pimsim.mapper.schema import load_mapping
from pimsim.models import get_model

CASES = [("gpt2-small", "pimgpt-gddr6", "pimgpt"), ("gpt2-small", "aim-32ch", "cent"),
         ("llama2-7b", "aim-32ch", "cent"), ("gpt3-xl", "pimgpt-gddr6", "naive")]


@pytest.mark.parametrize("model,hardware,mapping", CASES)
@pytest.mark.parametrize("context", [1, 100, 128, 1000])
def test_score_program_writes_every_heads_query_once(model, hardware, mapping, context):
    m, hw = get_model(model), load_hardware(hardware)
    prog = Mapper(m, hw, load_mapping(mapping)).score_program(context)
    dtype = hw.pim.dtype_bytes
    seg_bytes = ceil(m.head_dim * dtype / hw.dram.column_bytes) * hw.dram.column_bytes
    assert prog.gb_write_bytes == m.heads * seg_bytes
    wr_gb_cols = sum(int(line.split()[2]) for line in prog.lines if line.startswith("AiM WR_GB"))
    assert wr_gb_cols * hw.dram.column_bytes == prog.gb_write_bytes


@pytest.mark.parametrize("model,hardware,mapping", CASES)
@pytest.mark.parametrize("context", [1, 100, 128, 1000])
def test_value_program_writes_every_heads_scores_once(model, hardware, mapping, context):
    m, hw = get_model(model), load_hardware(hardware)
    prog = Mapper(m, hw, load_mapping(mapping)).value_program(context)
    padded_cols = ceil(context * hw.pim.dtype_bytes / hw.dram.column_bytes)
    gb_cols = hw.pim.global_buffer_bytes // hw.dram.column_bytes
    if padded_cols > gb_cols or not load_mapping(mapping).attention.concat_heads:  # one head per load
        expected_cols = m.heads * padded_cols
    else:  # as many heads' padded score vectors as fit; every load is timed as a full one (as its MACs are)
        per_load = min(gb_cols // padded_cols, m.heads)
        expected_cols = ceil(m.heads / per_load) * per_load * padded_cols
    assert prog.gb_write_bytes == expected_cols * hw.dram.column_bytes >= m.heads * padded_cols * hw.dram.column_bytes
