"""CENT-layout GEMV traces (shared/reference/aim_gddr6.md, last section: the CENT paper's trace generator,
`reuse-GB` order, reuse 32).

W is M x K (y = W.x), bf16; a row holds `row_elems` (1024) elements; T = banks x C banks. Bank b owns
outputs [b.P, (b+1).P) with P = ceil(M/T); output v's K weights take R = ceil(K/row_elems) consecutive
rows (slice r of output v at row v.R + r, the same row index in every bank). For each slice r: WR_GB of
opsize 64 (ceil(rest/16) on the last slice), then the P outputs in groups of at most `reuse`: n WR_BIAS,
n MAC_ABK (each on a new row), n RD_MAC. The mask covers the channels needed, ceil(ceil(M/P)/banks),
times the whole copies that fit in C. Ends with EOC.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import ceil

from pimsim.dram.program import Instr, Program


@dataclass(frozen=True)
class GemvPlan:
    M: int
    K: int
    channels: int
    per_bank: int          # P
    rows_per_vec: int      # R
    ch_needed: int
    ch_masked: int
    last_opsize: int
    full_opsize: int

    def opsize(self, r: int) -> int:
        return self.last_opsize if r == self.rows_per_vec - 1 else self.full_opsize


def plan(M: int, K: int, channels: int, *, banks: int = 16, row_elems: int = 1024, lanes: int = 16) -> GemvPlan:
    if M < 1 or K < 1 or channels < 1:
        raise ValueError("M, K and channels must be >= 1")
    total = banks * channels
    P = ceil(M / total)
    R = ceil(K / row_elems)
    used = ceil(M / P)
    need = ceil(used / banks)
    masked = need * (channels // need)
    rest = K - (R - 1) * row_elems
    return GemvPlan(M, K, channels, P, R, need, masked, ceil(rest / lanes), row_elems // lanes)


def gemv_program(M: int, K: int, channels: int, *, reuse: int = 32, banks: int = 16,
                 row_elems: int = 1024) -> Program:
    """The CENT GEMV instruction stream for y[M] = W[M x K] x[K] on `channels` channels."""
    p = plan(M, K, channels, banks=banks, row_elems=row_elems)
    chans = tuple(range(p.ch_masked))
    out: list[Instr] = []
    for r in range(p.rows_per_vec):
        op = p.opsize(r)
        out.append(Instr("WR_GB", op, chans))
        for g0 in range(0, p.per_bank, reuse):
            group = range(g0, min(p.per_bank, g0 + reuse))
            out += [Instr("WR_BIAS", 1, chans) for _ in group]
            out += [Instr("MAC_ABK", op, chans, row=v * p.rows_per_vec + r) for v in group]
            out += [Instr("RD_MAC", 1, chans) for _ in group]
    out.append(Instr("EOC"))
    return Program.from_instrs(out, source=f"<gemv {M}x{K} ch{channels}>")


def gemv_trace(M: int, K: int, channels: int, *, reuse: int = 32) -> str:
    """The same program as trace text, with a header comment naming the plan."""
    p = plan(M, K, channels)
    prog = gemv_program(M, K, channels, reuse=reuse)
    head = [f"GEMV y[{M}] = W[{M} x {K}] x[{K}], bf16, reuse-GB, reuse={reuse}, channels={channels}",
            f"plan: M={M} K={K} num_channels={channels} per_bank={p.per_bank} ch_needed={p.ch_needed} "
            f"ch_masked={p.ch_masked} rows_per_vec={p.rows_per_vec} last_opsize={p.last_opsize}"]
    return prog.to_trace(head)
