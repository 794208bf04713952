"""NPU unit: weight-stationary systolic arrays, vector cores, on-chip SRAM and a memory, per kernel.

A kernel takes max(compute time, memory time) plus the preset's per-kernel overhead, as on a GPU
(`pimsim.baselines.model`); what differs is the compute time, which follows the GEMM's shape:

- GEMM (M x K) @ (K x N) on A arrays of R x C MACs (weight-stationary): the K x N weights are cut into
  ceil(K/R) x ceil(N/C) tiles; the tiles of all the kernel's independent GEMMs go to the arrays in waves
  of A; in a wave each array loads its tile (R cycles), streams the M input rows through it (M cycles)
  and drains the skew (R + C - 2 cycles): 2R + C + M - 2 cycles per wave, SCALE-Sim's closed form of one
  weight-stationary fold (Samajdar et al., ISPASS 2020). Partial tiles cost a whole tile (wasted MACs),
  a wave with fewer than A tiles leaves arrays idle, and small M pays the fill and drain: utilisation =
  useful MACs / (A R C cycles).
- Weight matmuls: M = token rows (batch x new tokens, or the head rows), K x N the weights; the bias add
  runs in the arrays' accumulators (not timed).
- Fused attention per step: per sequence and KV head one q.K^T GEMM (M, head_dim, context) and one p.V
  GEMM (M, context, head_dim), with K and V stationary and the group's query heads streamed (grouped
  query heads read each K/V tile once); M = (heads / kv_heads) x attended keys / context, the mean
  number of query rows that attend each key (new_tokens in a decode step of one token per group head;
  (n + 1) / 2 per head for an n-token causal prefill: masked key tiles are not streamed). Softmax FLOPs
  run on the vector cores, after the arrays.
- Vector kernels (norms, activations, residuals, rotary): FLOPs / (vector cores x width x clock).
- Memory time: the kernel's bytes (weights, KV cache, activations) / `bandwidth_bytes_per_s`. A weight
  matmul's input activations are read once when they fit `sram_bytes`; otherwise each wave reads again
  the K-slice its tiles need: waves x M x min(R, K) bytes-per-element instead of M x K.
Energy is the `PowerModel`'s, on the bytes (re-reads included) and FLOPs.
"""

from __future__ import annotations

import numpy as np

from pimsim.baselines.device import DevicePreset, NpuConfig
from pimsim.baselines.kernels import CATEGORIES, KernelTable
from pimsim.errors import ConfigError


def gemm_cycles(m, k, n, cfg: NpuConfig, gemms=1) -> np.ndarray:
    """Cycles of `gemms` independent (m x k) @ (k x n) products sharing the arrays (module docstring).
    Arguments broadcast (numpy); m = 0 costs nothing."""
    m, k, n, gemms = (np.asarray(x, dtype=np.float64) for x in (m, k, n, gemms))
    R, C, A = cfg.array_rows, cfg.array_cols, cfg.systolic_arrays
    tiles = gemms * np.ceil(k / R) * np.ceil(n / C)
    waves = np.ceil(tiles / A)
    return np.where(m > 0, waves * (2 * R + C + m - 2), 0.0)


def utilisation(m, k, n, cfg: NpuConfig, gemms=1) -> np.ndarray:
    """Useful MACs / (arrays x R x C x cycles) of `gemm_cycles`."""
    cycles = gemm_cycles(m, k, n, cfg, gemms)
    macs = np.asarray(gemms, dtype=np.float64) * m * k * n
    return np.divide(macs, cfg.systolic_arrays * cfg.array_rows * cfg.array_cols * cycles,
                     out=np.zeros_like(cycles), where=cycles > 0)


def input_bytes(m, k, n, cfg: NpuConfig, dtype_bytes: int) -> float:
    """Input-activation bytes a weight matmul reads from memory (module docstring: once if they fit SRAM)."""
    once = m * k * dtype_bytes
    if once <= cfg.sram_bytes:
        return float(once)
    waves = np.ceil(np.ceil(k / cfg.array_rows) * np.ceil(n / cfg.array_cols) / cfg.systolic_arrays)
    return float(max(once, waves * m * min(cfg.array_rows, k) * dtype_bytes))


def attention_rows(shapes, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """(streamed query rows M per K/V group, context) of the fused attention GEMMs at each step."""
    heads, kv_heads, _ = shapes.attention
    n = shapes.new_tokens
    past = shapes.past_context + n * np.arange(steps, dtype=np.float64)
    context = past + n
    attended = n * past + n * (n + 1) / 2  # keys attended by one sequence's new tokens (per head)
    return (heads // kv_heads) * attended / context, context


def kernel_times(table: KernelTable, steps: int, device: DevicePreset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(compute seconds, memory seconds, bytes moved) per launch of every kernel at every step, shape
    (kernels, steps)."""
    cfg = device.npu
    shapes = table.shapes
    if shapes is None:
        raise ConfigError(f"device {device.name} (NPU) times GEMMs by their shapes, but this kernel table carries "
                          "none (a table built without `shapes=`; pass the full table's `shapes` along)")
    b = device.dtype_bytes
    flops, moved = table.at(steps)
    moved = moved.copy()
    t_cmp = np.zeros_like(flops)
    for i, (name, cat) in enumerate(zip(table.names, table.categories)):
        if cat == "weight_matmul":
            m, k, n = shapes.weight_shape(name)
            t_cmp[i] = gemm_cycles(m, k, n, cfg) / cfg.clock_hz
            moved[i] += input_bytes(m, k, n, cfg, b) - m * k * b
        elif name == "attention":
            heads, kv_heads, head_dim = shapes.attention
            rows, context = attention_rows(shapes, steps)
            groups = shapes.batch * kv_heads
            cycles = gemm_cycles(rows, head_dim, context, cfg, groups) + gemm_cycles(rows, context, head_dim, cfg,
                                                                                     groups)
            array_flops = 4.0 * groups * rows * head_dim * context  # score and value MACs x 2
            t_cmp[i] = cycles / cfg.clock_hz + np.maximum(flops[i] - array_flops, 0.0) / cfg.vector_flops_per_s
        elif cat == "attention":
            raise ConfigError(f"device {device.name} (NPU): unfused attention kernels are not modelled; "
                              "set fused_attention: true")
        else:
            t_cmp[i] = flops[i] / cfg.vector_flops_per_s
    return t_cmp, moved / device.bandwidth_bytes_per_s, moved


def breakdown_of(table: KernelTable, t: np.ndarray) -> dict[str, float]:
    out = dict.fromkeys(CATEGORIES, 0.0)
    for cat, value in zip(table.categories, t.sum(axis=1)):
        out[cat] += float(value)
    return out
