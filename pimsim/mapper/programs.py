"""AiM instruction programs for PIM vector-matrix products, in the public AiM trace grammar.

Programs are written for one representative channel (mask = channel 0): the layouts here give every
channel the same number of outputs (the last channels compute padding when N does not divide), so all
channels run identical programs and one channel's timing is the system's (DESIGN: "simulating one
channel when the mapping makes channels provably identical").

GEMV model (y = W x, N outputs x K inputs, on U = channels x units PIM units): unit u owns
P = ceil(N / U) outputs. The input is cut into tiles of at most one global buffer (G elements); per tile
the ASIC writes the tile into the GB (WR_GB), then each unit multiplies its outputs' tile segments
(MAC_ABK, `seg_cols` columns each) in groups of at most `group` outputs (its MAC result registers) and
the results are read (RD_MAC, 16 banks' results per read). Layout decides row switches:
- packed: the P segments of a tile lie back to back along the bank's DRAM rows (PIM-GPT: rows filled);
  a segment crossing a row end is issued as two MAC_ABKs (a row switch between them);
- unpacked: each output's tile segment starts a new DRAM row (CENT / naive).
`wr_bias` preloads each group's registers before its MACs (CENT's accumulation over tiles).
Attention loads several heads' inputs at once (`inputs_per_load` heads side by side in the GB, each output
reading its own head's segment): such a load writes every head's segment, inputs_per_load x seg_cols columns.
Multi-vector units (`vectors` > 1, a preset's `pim.vectors_per_pass`): each GB load writes every vector's
tile into its own slot, each MAC_ABK column read feeds one MAC per vector (same command, same timing), and
every output's result is read once per vector.
"""

from __future__ import annotations

from dataclasses import dataclass

CH0_MASK = "0x80000000"  # AiM masks: channel 0 is the most significant bit


@dataclass(frozen=True)
class GemvShape:
    """A vector-matrix product as the PIM units see it, per representative unit."""

    outputs_per_unit: int  # P
    tiles: tuple[int, ...]  # columns of each input tile's segment (per output)
    gb_loads_per_tile: int = 1  # GB loads per tile (inputs differ by output group, e.g. per head in score.V)
    vectors: int = 1  # input vectors served per pass (multi-vector units: one GB slot and results each)
    inputs_per_load: int = 1  # inputs side by side in one GB load, each a tile's segment wide (attention: the
    # heads sharing a load, each output reading its own head's segment): a load writes that many segments


@dataclass(frozen=True)
class Program:
    """A channel-0 AiM instruction program and what it moves over the link per channel."""

    lines: tuple[str, ...]
    gb_write_bytes: int  # bytes written into the global buffer (per channel)
    result_read_bytes: int  # bytes of MAC results read (per channel)
    mac_columns: int  # MAC_ABK column operations issued (per channel)
    last_row: int = 0  # highest DRAM row the program touches

    @property
    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def gemv_program(shape: GemvShape, *, columns_per_row: int, column_bytes: int, group: int, packed: bool,
                 wr_bias: bool, base_row: int = 0, row_limit: int | None = None, eoc: bool = True) -> Program:
    """Instructions for one GEMV on channel 0 (see module docstring for the layout model). Rows wrap
    to 0 past `row_limit` (only row hits at op boundaries depend on which rows a matrix uses)."""
    lines: list[str] = []
    p = shape.outputs_per_unit
    gb_bytes = result_bytes = macs = last_row = 0
    limit = row_limit or (1 << 62)
    row_cursor_cols = base_row * columns_per_row  # packed layout: running column offset in the bank
    next_free_row = base_row  # unpacked layout: next unused DRAM row
    for seg_cols in shape.tiles:
        for _ in range(shape.gb_loads_per_tile):
            for _ in range(shape.vectors):  # each vector's tile into its own buffer slot
                lines.append(f"AiM WR_GB {seg_cols * shape.inputs_per_load} 0 {CH0_MASK}")
                gb_bytes += seg_cols * shape.inputs_per_load * column_bytes
            for start in range(0, p, group):
                n = min(group, p - start)
                if wr_bias:
                    lines.extend([f"AiM WR_BIAS 0 {CH0_MASK}"] * (n * shape.vectors))
                for _ in range(n):
                    if packed:
                        left = seg_cols
                        while left:
                            row, col = divmod(row_cursor_cols, columns_per_row)
                            take = min(left, columns_per_row - col)
                            lines.append(f"AiM MAC_ABK {take} {CH0_MASK} {row % limit}")
                            last_row = max(last_row, row % limit)
                            row_cursor_cols += take
                            left -= take
                    else:
                        left = seg_cols
                        while left:
                            take = min(left, columns_per_row)
                            lines.append(f"AiM MAC_ABK {take} {CH0_MASK} {next_free_row % limit}")
                            last_row = max(last_row, next_free_row % limit)
                            next_free_row += 1
                            left -= take
                    macs += seg_cols
                lines.extend([f"AiM RD_MAC 0 {CH0_MASK}"] * (n * shape.vectors))
                result_bytes += n * shape.vectors * column_bytes
    if eoc:
        lines.append("AiM EOC")
    return Program(tuple(lines), gb_bytes, result_bytes, macs, last_row)


def kv_append_program(k_columns_one_bank: int, v_writes_all_banks: int, *, k_row: int, v_row: int) -> Program:
    """Writing one token's K and V into the reserved cache (per channel that owns them).

    K row-major: the new key's `k_columns_one_bank` columns go to one bank (WR_SBK each).
    V column-major: the token adds one element to each V output row; every bank owns some of them, so the
    ASIC issues `v_writes_all_banks` all-bank column writes (WR_ABK, one element per bank) [assumption: a
    per-bank masked write of one bf16 per bank, as AiM's all-bank write with per-bank data].
    """
    lines = [f"AiM WR_SBK 0 {CH0_MASK} 0 {k_row}"] * k_columns_one_bank
    lines += [f"AiM WR_ABK 0 {CH0_MASK} {v_row}"] * v_writes_all_banks
    lines.append("AiM EOC")
    return Program(tuple(lines), 0, 0, 0)
