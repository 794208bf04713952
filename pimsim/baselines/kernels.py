"""The kernels a GPU/CPU framework launches for one forward step, grouped from `ModelGraph` op costs.

A real PyTorch decoder launches one kernel per op of `ModelGraph` (norms, the QKV / output / MLP
projections, activations, residual adds, embedding gathers, the LM or PRM head), plus two KV-cache
append kernels per layer (K and V copied into the static cache), and, with a fused attention kernel
(`scaled_dot_product_attention`, FlashAttention style), one kernel for q.K^T, softmax and p.V whose
score matrix never leaves the chip. Without fusion the three attention ops are separate kernels and
the scores go through memory (`ModelGraph` act_bytes).

Bytes per kernel are what it moves to or from device memory: weights, KV cache, activations.
Every cost is affine in the step index of a phase (only the context grows), so a phase is described
by per-kernel values at step 0 and their slope per step; `KernelTable.at(steps)` evaluates all steps
at once with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from pimsim.baselines.stacks import get_stack
from pimsim.models import ModelConfig, ModelGraph, OpKind

# FlashAttention tiles queries in blocks of 128 rows; one thread block works on one (sequence, head,
# query block), so a decode step has batch x heads independent streams (Dao, FlashAttention-2, 2023).
ATTENTION_QUERY_BLOCK = 128

# breakdown categories of `breakdown_s`
CATEGORIES = ("weight_matmul", "attention", "kv_append", "vector", "embedding", "kernel_overhead")

_CATEGORY = {
    OpKind.WEIGHT_MATMUL: "weight_matmul",
    OpKind.ATTN_SCORE: "attention",
    OpKind.ATTN_VALUE: "attention",
    OpKind.SOFTMAX: "attention",
    OpKind.NORM: "vector",
    OpKind.ACTIVATION: "vector",
    OpKind.RESIDUAL: "vector",
    OpKind.ROTARY: "vector",
    OpKind.ELEMENTWISE: "vector",
    OpKind.EMBEDDING: "embedding",
}


@dataclass(frozen=True)
class GemmShapes:
    """The matrix shapes behind a table's kernels, for models that time a GEMM by its shape (the NPU's
    systolic arrays, `pimsim.baselines.npu`). Keyed by kernel name, so a table cut down to some of its
    kernels can carry the whole record.

    `weight`: kernel name -> (M, K, N) of a weight matmul, M the token rows (batch x new tokens, or the
    head rows), K x N the weight matrix. `attention`: (heads, kv_heads, head_dim) of the fused attention
    kernel, whose shapes follow each step's context (`batch`, `new_tokens`, `past_context` of step 0).
    """

    batch: int
    new_tokens: int
    past_context: int
    weight: tuple[tuple[str, tuple[int, int, int]], ...]
    attention: tuple[int, int, int] | None

    def weight_shape(self, name: str) -> tuple[int, int, int] | None:
        return dict(self.weight).get(name)


@dataclass(frozen=True)
class KernelTable:
    """Per-kernel costs of the steps of one phase: value at step 0 plus slope per step.

    `count`: launches of the kernel per step (layers x per-layer launches). `flops`/`bytes` are per
    launch. `streams`: independent (sequence, head, query-block) streams of an attention kernel, 0 for
    kernels that spread over the whole device.
    """

    names: tuple[str, ...]
    categories: tuple[str, ...]
    count: np.ndarray
    flops0: np.ndarray
    flops_slope: np.ndarray
    bytes0: np.ndarray
    bytes_slope: np.ndarray
    streams: np.ndarray
    shapes: GemmShapes | None = None  # GEMM shapes (NPU timing); None where a caller built the table by hand

    @property
    def kernels_per_step(self) -> int:
        return int(self.count.sum())

    def at(self, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """(flops, bytes) per launch as arrays of shape (kernels, steps)."""
        i = np.arange(steps, dtype=np.float64)
        flops = self.flops0[:, None] + self.flops_slope[:, None] * i[None, :]
        moved = self.bytes0[:, None] + self.bytes_slope[:, None] * i[None, :]
        return flops, moved


def _kernels_of_step(model: ModelConfig, new_tokens: int, past_context: int, batch: int, dtype_bytes: int,
                     head_positions: int | None, fused_attention: bool, stack: str = "serving"
                     ) -> list[tuple[str, str, int, float, float, float]]:
    """(name, category, count, flops, bytes, streams) for every kernel of one step, as `stack` launches them
    (`pimsim.baselines.stacks`)."""
    sw = get_stack(stack)
    costs = _graph(model).step(new_tokens, past_context, batch, dtype_bytes, head_positions)
    layers = model.layers
    out: list[tuple[str, str, int, float, float, float]] = []
    attn: dict[str, object] = {}
    for c in costs:
        op = c.op
        if op.layer is not None and op.layer != 0:
            continue  # every block is identical to block 0; counted `layers` times below
        count = layers if op.layer == 0 else 1
        if op.kind in (OpKind.ATTN_SCORE, OpKind.ATTN_VALUE, OpKind.SOFTMAX):
            attn[op.kind.value] = c
            expand = sw.gqa_expand and 0 < op.kv_heads != op.heads
            # K/V read per query head when the stack expands grouped-query K/V before attention
            kv_read = c.kv_read_bytes * (op.heads // op.kv_heads if expand else 1)
            if op.kind is OpKind.ATTN_SCORE or op.kind is OpKind.ATTN_VALUE:
                which = "k" if op.kind is OpKind.ATTN_SCORE else "v"
                if sw.kv_append:  # the new K (score) or V (value) rows are copied into the cache by their own kernel
                    out.append((f"kv_append_{which}", "kv_append", count, 0.0, 2.0 * c.kv_write_bytes, 0.0))
                if expand:  # repeat_interleave: read the KV heads' rows, write them once per query head
                    out.append((f"gqa_expand_{which}", "attention", count, 0.0, float(c.kv_read_bytes + kv_read), 0.0))
            if not fused_attention:
                out.append((op.name, "attention", count, float(c.flops), float(kv_read + c.act_bytes), 0.0))
            elif op.kind is OpKind.ATTN_VALUE:
                score, soft, value = attn["attn_score"], attn["softmax"], c
                qo_bytes = 2 * c.tokens * op.heads * op.head_dim * dtype_bytes  # q in, attention output out
                streams = batch * op.heads * -(-new_tokens // ATTENTION_QUERY_BLOCK)
                score_read = score.kv_read_bytes * (op.heads // op.kv_heads if expand else 1)
                out.append(("attention", "attention", count, float(score.flops + soft.flops + value.flops),
                            float(score_read + kv_read + qo_bytes), float(streams)))
            if op.kind is OpKind.ATTN_VALUE and sw.attention_output_copy:  # transpose to (tokens, d): read + write
                out.append(("attention_output_copy", "vector", count, 0.0,
                            2.0 * c.tokens * op.heads * op.head_dim * dtype_bytes, 0.0))
            continue
        if (op.kind is OpKind.ROTARY and not sw.rotary) or (op.kind is OpKind.NORM and op.layer is None
                                                              and not sw.final_norm):
            continue
        rows_of = {OpKind.NORM: (model.norm == "rmsnorm", sw.rms_norm_kernels, sw.rms_norm_bytes_per_element,
                                 model.hidden),
                   OpKind.ACTIVATION: (model.mlp == "silu_gated", sw.gated_activation_kernels,
                                       sw.gated_activation_bytes_per_element, model.ffn)}.get(op.kind)
        if rows_of is not None and rows_of[0] and (rows_of[1] > 1 or rows_of[2] is not None):
            applies, kernels, per_element, width = rows_of
            moved = float(c.weight_bytes + per_element * c.tokens * width) if per_element is not None else float(
                c.weight_bytes + c.act_bytes)
            # the stack's kernels for this op: the first carries the FLOPs, all share its bytes
            for j in range(kernels):
                out.append((op.name if j == 0 else f"{op.name}.{j}", _CATEGORY[op.kind], count,
                            float(c.flops) if j == 0 else 0.0, moved / kernels, 0.0))
            continue
        moved = c.weight_bytes + c.kv_read_bytes + c.kv_write_bytes + c.act_bytes
        out.append((op.name, _CATEGORY[op.kind], count, float(c.flops), float(moved), 0.0))
    return out


@lru_cache(maxsize=4096)
def kernel_table(model: ModelConfig, new_tokens: int, past_context: int, batch: int, steps: int,
                 dtype_bytes: int, head_positions: int | None, fused_attention: bool,
                 stack: str = "serving") -> KernelTable:
    """Kernels of `steps` forward steps (cache growing by `new_tokens` each), as a `KernelTable`, as the
    software `stack` launches them (`pimsim.baselines.stacks`)."""
    first = _kernels_of_step(model, new_tokens, past_context, batch, dtype_bytes, head_positions, fused_attention,
                             stack)
    if steps > 1:
        second = _kernels_of_step(model, new_tokens, past_context + new_tokens, batch, dtype_bytes,
                                  head_positions, fused_attention, stack)
    else:
        second = first
    names = tuple(k[0] for k in first)
    if tuple(k[0] for k in second) != names:
        raise AssertionError("kernel list changed between steps of one phase")
    f0 = np.array([k[3] for k in first])
    b0 = np.array([k[4] for k in first])
    table = KernelTable(
        names=names,
        categories=tuple(k[1] for k in first),
        count=np.array([k[2] for k in first], dtype=np.float64),
        flops0=f0,
        flops_slope=np.array([k[3] for k in second]) - f0,
        bytes0=b0,
        bytes_slope=np.array([k[4] for k in second]) - b0,
        streams=np.array([k[5] for k in first]),
        shapes=_shapes(model, new_tokens, past_context, batch, dtype_bytes, head_positions),
    )
    if steps > 2:  # costs must be affine in the context for the step arrays to be exact
        last = _kernels_of_step(model, new_tokens, past_context + (steps - 1) * new_tokens, batch, dtype_bytes,
                                head_positions, fused_attention, stack)
        flops, moved = table.at(steps)
        if not (np.array_equal(flops[:, -1], [k[3] for k in last]) and np.array_equal(moved[:, -1], [k[4] for k in last])):
            raise AssertionError("kernel costs are not affine in context; step arrays invalid")
    return table


def _shapes(model: ModelConfig, new_tokens: int, past_context: int, batch: int, dtype_bytes: int,
            head_positions: int | None) -> GemmShapes:
    """`GemmShapes` of one step: each weight matmul's (token rows, in_features, out_features)."""
    weight = []
    attention = None
    for c in _graph(model).step(new_tokens, past_context, batch, dtype_bytes, head_positions):
        op = c.op
        if op.layer is not None and op.layer != 0:
            continue
        if op.kind is OpKind.WEIGHT_MATMUL:
            weight.append((op.name, (c.tokens, op.in_features, op.out_features)))
        elif op.kind is OpKind.ATTN_SCORE:
            attention = (op.heads, op.kv_heads, op.head_dim)
    return GemmShapes(batch, new_tokens, past_context, tuple(weight), attention)


@lru_cache(maxsize=64)
def _graph(model: ModelConfig) -> ModelGraph:
    return ModelGraph(model)
