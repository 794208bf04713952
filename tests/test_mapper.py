"""Mapper: every weight element mapped exactly once, MAC counts equal FLOPs/2, layouts as documented."""

from __future__ import annotations

from math import ceil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.errors import CapacityError, ConfigError, UnknownNameError
from pimsim.hardware import load_hardware, preset_names
from pimsim.mapper import Mapper, gemv_program, load_mapping, mapping_names
from pimsim.mapper.programs import GemvShape
from pimsim.models import OpKind, get_model

HW = {name: load_hardware(name) for name in preset_names()}
PIMGPT = load_mapping("pimgpt")
GPT2 = get_model("gpt2-small")


def mac_ops(lines):
    """(opsize, row) of every MAC_ABK line."""
    out = []
    for line in lines:
        toks = line.split()
        if toks[1] == "MAC_ABK":
            out.append((int(toks[2]), int(toks[4])))
    return out


def covered_elements(shape: GemvShape, lines, columns_per_row: int, packed: bool):
    """Replay a program's MAC_ABKs against the layout and return, per (output slot, tile), the columns
    they multiply: each weight column must appear exactly once."""
    macs = iter(mac_ops(lines))
    seen = {}
    cursor = 0
    for r, seg in enumerate(shape.tiles):
        for v in range(shape.outputs_per_unit):
            got = 0
            while got < seg:
                size, row = next(macs)
                if packed:
                    assert row == cursor // columns_per_row, "MAC on a row the layout does not hold"
                    assert size <= columns_per_row - cursor % columns_per_row, "MAC crosses a row end"
                    cursor += size
                got += size
            assert got == seg, f"output {v} tile {r}: {got} columns multiplied, segment has {seg}"
            seen[(v, r)] = seen.get((v, r), 0) + 1
    assert next(macs, None) is None, "MACs left over: some weight columns multiplied twice"
    return seen


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 20000), k=st.integers(1, 9000), preset=st.sampled_from(sorted(HW)),
       mapping=st.sampled_from(["pimgpt", "naive", "cent"]))
def test_every_weight_element_mapped_exactly_once(n, k, preset, mapping):
    hw, mp = HW[preset], load_mapping(mapping)
    m = Mapper(GPT2, hw, mp)
    prog = m.weight_program(n, k)
    units = hw.dram.channels * hw.dram.banks // hw.pim.banks_per_unit
    p = ceil(n / units)
    elems_per_col = hw.dram.column_bytes // hw.pim.dtype_bytes
    gb_cols = hw.pim.global_buffer_bytes // hw.dram.column_bytes
    cols = ceil(k / elems_per_col)
    tiles = (gb_cols,) * (cols // gb_cols) + ((cols % gb_cols,) if cols % gb_cols else ())
    shape = GemvShape(p, tiles)
    seen = covered_elements(shape, prog.lines, hw.dram.columns, mp.weights.pack_rows)
    assert set(seen) == {(v, r) for v in range(p) for r in range(len(tiles))}
    # capacity of the slots covers the matrix, with padding below one output per unit and one column
    assert p * units >= n > (p - 1) * units
    assert sum(tiles) * elems_per_col >= k > (sum(tiles) - 1) * elems_per_col
    # MACs issued (per unit) x units x lanes = padded matrix elements
    assert prog.mac_columns == p * sum(tiles)


@settings(max_examples=30, deadline=None)
@given(p_mult=st.integers(1, 8), cols=st.integers(1, 200))
def test_mac_count_equals_flops_over_two_without_padding(p_mult, cols):
    """N a multiple of the units and K of a column: MACs issued = the op's FLOPs / 2 exactly."""
    hw = HW["pimgpt-gddr6"]
    units = 128
    n, k = units * p_mult, 16 * cols
    prog = Mapper(GPT2, hw, PIMGPT).weight_program(n, k)
    macs = prog.mac_columns * units * 16  # per-unit column MACs x units x 16 lanes
    assert macs == n * k  # FLOPs/2 of y = W x


def test_model_macs_match_graph_for_pimgpt_models():
    """Over a whole token step, MACs issued for weights >= the graph's weight MACs, padding < 3%."""
    hw = HW["pimgpt-gddr6"]
    for name in ("gpt2-small", "gpt3-xl"):
        model = get_model(name)
        m = Mapper(model, hw, PIMGPT)
        step = m.map_token(10)
        issued = sum(op.program.mac_columns * 128 * 16 for op in step.ops()
                     if op.unit == "pim" and op.category == "pim_mac")
        graph_macs = sum(c.macs for c in m.graph.step(1, 9) if c.op.kind is OpKind.WEIGHT_MATMUL)
        assert graph_macs <= issued <= 1.03 * graph_macs


def test_cent_mapping_reproduces_the_cent_trace_generator():
    """aim_gddr6.md: 768x768 on 8 channels -> WR_GB 48, 6 x WR_BIAS, MAC_ABK rows 0..5, 6 x RD_MAC."""
    prog = Mapper(GPT2, HW["pimgpt-gddr6"], load_mapping("cent")).weight_program(768, 768)
    ops = [line.split()[1] for line in prog.lines]
    assert ops == ["WR_GB"] + ["WR_BIAS"] * 6 + ["MAC_ABK"] * 6 + ["RD_MAC"] * 6 + ["EOC"]
    assert mac_ops(prog.lines) == [(48, r) for r in range(6)]


def test_packed_layout_fills_rows_and_naive_does_not():
    hw = HW["pimgpt-gddr6"]
    packed = Mapper(GPT2, hw, PIMGPT).weight_program(3072, 768)
    naive = Mapper(GPT2, hw, load_mapping("naive")).weight_program(3072, 768)
    rows = lambda p: len({r for _, r in mac_ops(p.lines)})  # noqa: E731
    # 24 outputs x 48 columns = 1152 columns: 18 full rows packed; one row per output unpacked
    assert rows(packed) == 18
    assert rows(naive) == 24


def test_group_size_follows_result_registers():
    prog = gemv_program(GemvShape(70, (4,)), columns_per_row=64, column_bytes=32, group=32, packed=True,
                        wr_bias=False)
    ops = [line.split()[1] for line in prog.lines]
    # groups of 32, 32, 6: RD_MACs follow each group's MACs
    assert ops[1:33] == ["MAC_ABK"] * 32 and ops[33:65] == ["RD_MAC"] * 32
    assert ops.count("RD_MAC") == 70


def test_capacity_error_names_required_and_available_bytes():
    m = Mapper(get_model("qwen2.5-math-7b-instruct"), HW["pimgpt-gddr6"], PIMGPT)
    with pytest.raises(CapacityError, match=r"requires [\d,]+ bytes .* has 4,294,967,296 bytes"):
        m.check_capacity(1)
    Mapper(GPT2, HW["pimgpt-gddr6"], PIMGPT).check_capacity(1)  # fits


def test_mappings_load_and_bad_ones_are_rejected(tmp_path):
    assert {"pimgpt", "naive", "attn_asic", "cent"} <= set(mapping_names())
    with pytest.raises(UnknownNameError, match="known mappings"):
        load_mapping("nope")
    bad = tmp_path / "m.yaml"
    bad.write_text("name: x\nweights: {pack_rows: maybe}\nattention: {placement: pim}\n")
    with pytest.raises(ConfigError, match=r"m\.yaml: weights\.pack_rows"):
        load_mapping(bad)
