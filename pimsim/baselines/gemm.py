"""GPU GEMM efficiency by shape: output tiles in waves over the streaming multiprocessors (SMs).

A GEMM (M x K) @ (K x N) on a GPU of S SMs is cut into output tiles of tm x tn (and, with split-K, each
tile's K into s slices); the tiles x s work units run in waves of S, one unit per SM, and every wave takes
as long as a full unit: 2 tm tn (K / s) FLOPs at flops_per_s / S. The kernel's compute time is that of
the best (tile, split) of the preset's menu, the library's choice idealised (cuBLAS/CUTLASS pick from such
a menu by heuristics; LLMCompass and GenZ search it likewise):

    t = min over (tm, tn, s) of ceil(ceil(M/tm) ceil(N/tn) s / S) x 2 tm tn ceil(K/s) / (flops_per_s / S)

so partial tiles (M or N not a multiple of the tile) and partial waves (fewer units than SMs in the last
wave) cost compute time, and `flops_per_s` is the rate of full waves of full tiles. The split-K
reduction is not timed [simplification: its partial sums are M x N x s elements, small beside K >= 256 x s
slices]. Fused attention (FlashAttention) is one work unit per (sequence, head, query block of 128): its
units run in waves of S likewise, each the mean unit's FLOPs (causal blocks differ in length; the mean
is the simplification). Other kernels (norms, activations) keep FLOPs / flops_per_s.

Because every option's time scales with 1 / flops_per_s, the choice does not depend on the rate: the
model is a per-kernel "scheduled FLOPs" count (`scheduled_flops`) timed at flops_per_s, which keeps the
fit of `flops_per_s` (`pimsim.baselines.fit`) linear.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from pimsim.baselines.kernels import KernelTable


@lru_cache(maxsize=4096)  # evaluate() asks for the same shapes at every call of a sweep
def gemm_scheduled_flops(m: int, k: int, n: int, sm_count: int, tiles: tuple[tuple[int, int], ...],
                         split_k: tuple[int, ...]) -> float:
    """FLOPs the SMs are busy for (full waves of full tiles) for the best (tile, split) of the menu."""
    if m <= 0 or k <= 0 or n <= 0:
        return 0.0
    best = None
    for tm, tn in tiles:
        units = -(-m // tm) * -(-n // tn)
        for s in split_k:
            if s > 1 and k < 256 * s:
                continue  # a split needs K slices of at least 256
            waves = -(-(units * s) // sm_count)
            work = waves * sm_count * 2.0 * tm * tn * -(-k // s)
            best = work if best is None else min(best, work)
    return float(best)


def attention_scheduled_flops(flops: np.ndarray, streams: float, sm_count: int) -> np.ndarray:
    """FLOPs of fused attention with `streams` work units in waves of `sm_count` (module docstring)."""
    if streams <= 0:
        return flops
    waves = np.ceil(streams / sm_count)
    return flops * (waves * sm_count / streams)


def scheduled_flops(table: KernelTable, flops: np.ndarray, tiling) -> np.ndarray:
    """Per-launch FLOPs as the SMs schedule them, (kernels, steps) like `flops`: weight matmuls by their
    shapes' tiles and waves, fused attention by its work units' waves, the rest as they are. `tiling` is a
    preset's `GemmTiling` (sm_count, tiles, split_k); tables without shapes stay as they are."""
    shapes = table.shapes
    if tiling is None or shapes is None:
        return flops
    out = flops.copy()
    tiles = tuple(tuple(t) for t in tiling.tiles)
    splits = tuple(tiling.split_k)
    for i, name in enumerate(table.names):
        shape = shapes.weight_shape(name)
        if shape is not None:
            m, k, n = shape
            useful = 2.0 * m * k * n
            if useful > 0:
                out[i] = flops[i] * (gemm_scheduled_flops(m, k, n, tiling.sm_count, tiles, splits) / useful)
        elif table.categories[i] == "attention" and table.streams[i] > 0:
            out[i] = attention_scheduled_flops(flops[i], float(table.streams[i]), tiling.sm_count)
    return out
