"""Groups of identical PIM devices joined by a fabric (CXL as in CENT): a system entry with `count: N`,
`parallel:` and `interconnect:` (issue 12, "many devices"; CENT, peer_studies.md).

- tensor: every device holds 1/N of every weight matmul's outputs and of the attention heads' cache. The
  DRAM work is timed as one PIM device with N x the channels: the mapper already deals every GEMV's outputs
  and every head's K/V over all channels, so fast and exact mode, refresh and row state are those of the
  single-device engine. The vector ops run on one device's ASIC (the master). Per token, for every weight
  matmul the master broadcasts its input to the other devices (one multicast transfer of in_features x
  dtype bytes) and gathers their outputs (one transfer of N-1 slices of out_features / N, CENT's
  `cxl_latency.py` gather; `tensor_layer_and_head`); attention likewise broadcasts q, k and v (qkv_features) and gathers the
  attention outputs (q_features). Transfers add to the token's time (serial).
- pipeline: S stages, each one device, or with `tensor_group: G` G devices tensor-parallel as above (CENT's
  hybrid; their broadcasts and gathers add to the stage's time), S = N / G. Stage i holds a contiguous run
  of layers (the first L mod S stages one more), the embedding on the first stage and the final norm and
  head on the last. A token crosses S-1 stage boundaries (one hidden vector each); in decode its sampled
  id (4 bytes) returns to the first stage. What is in flight overlaps across stages: the B sequences of a decode step, the B x T tokens of a
  prompt (entering token by token, the batch's sequences interleaved). With t_k(s) the stage times of a token of step s:
    step period  P_s = max(B x max_k sum_tokens t_k(s), F_s + x_id)   (closed loop: the bottleneck stage,
                   or one sequence's cycle: the marked-graph cycle time, exact in steady state)
    F_s          = one sequence's T tokens of step s as a flow shop (stages one at a time, x_h between)
    phase        = sum of P_s over all steps but the last + the last step's B x T tokens as a flow shop
  The flow shops are computed exactly (`flow_completions`). tests/test_pim_groups.py holds the whole
  against `schedule.pipelined_makespan` (simpy): exact for prefill and for decode at constant stage times,
  and within 0.4% where stage times grow 1% a step (real decode contexts grow far less per step).
  Exact mode (`--exact`) is not modelled for pipeline groups: each stage's time comes from fast mode.
- Energy: the N devices' DRAM commands, background and ASIC work as one PIM system with N x the channels
  (`energy.system_energy_j`), plus N-1 further ASICs' static power over the phase, plus the fabric's wire
  bytes x 8 x pj_per_bit.
- Capacity (`stage_bytes`): tensor, the group's N x capacity; pipeline, each device the weights of its
  layers and of the embedding or head it holds, plus its layers' share of the KV cache.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pimsim.engine.energy import system_energy_j
from pimsim.engine.tally import Tally, clean
from pimsim.errors import ConfigError
from pimsim.hardware.system import Fabric
from pimsim.models.graph import ModelGraph, OpKind

TOKEN_ID_BYTES = 4  # a sampled token id returning to the first stage (int32)


@dataclass(frozen=True)
class GroupPart:
    """A phase on a group: the ops' tally, wall seconds, and the fabric's seconds, wire bytes and joules."""

    tally: Tally
    wall_s: float
    fabric_s: float
    fabric_bytes: float
    fabric_j: float


def split_layers(layers: int, devices: int) -> list[int]:
    """Layers per pipeline stage: contiguous runs, the first `layers mod devices` stages one longer."""
    if devices > layers:
        raise ConfigError(f"a pipeline of {devices} devices needs at least {devices} layers; the model has {layers}")
    q, r = divmod(layers, devices)
    return [q + 1] * r + [q] * (devices - r)


def gather_s(fabric: Fabric, slice_bytes: float, parts: int) -> tuple[float, float]:
    """(seconds, wire bytes) of gathering `parts` slices of `slice_bytes` in one transfer (each slice in
    whole flits, as CENT's cxl_latency.py counts them)."""
    wire = parts * fabric.wire_bytes(slice_bytes)
    return wire / fabric.bytes_per_s + fabric.latency_ns * 1e-9, wire


def _matmul_transfer(model, op, devices: int, dtype_bytes: int, fabric: Fabric) -> tuple[float, float]:
    """(seconds, wire bytes) of one op's broadcast and gather on a tensor-parallel group (module docstring)."""
    if op.kind is OpKind.WEIGHT_MATMUL:
        inputs, outputs = op.in_features, op.out_features
    elif op.kind is OpKind.ATTN_SCORE:
        inputs, outputs = model.qkv_features, model.q_features  # q, k, v out; attention outputs back
    else:
        return 0.0, 0.0
    b_bytes = inputs * dtype_bytes
    g_s, g_wire = gather_s(fabric, outputs * dtype_bytes / devices, devices - 1)
    return fabric.transfer_s(b_bytes) + g_s, fabric.wire_bytes(b_bytes) + g_wire


def tensor_layer_and_head(model, devices: int, dtype_bytes: int, fabric: Fabric
                          ) -> tuple[tuple[float, float], tuple[float, float]]:
    """((seconds, wire bytes) of one layer's broadcasts and gathers, the same of the head's) on a
    tensor-parallel group of `devices` (module docstring); zero for one device."""
    if devices == 1:
        return (0.0, 0.0), (0.0, 0.0)
    graph = ModelGraph(model)

    def total(ops):
        parts = [_matmul_transfer(model, op, devices, dtype_bytes, fabric) for op in ops]
        return sum(p[0] for p in parts), sum(p[1] for p in parts)

    return total(graph.layer_ops(0)), total(graph.post_ops())


def _whole(pre: Tally, layers: list[Tally], post: Tally) -> Tally:
    """One token's tally from its parts, summed as `SystemSimulator._token_walk` sums it (a run of the
    same layer tally added once with its count), so the token is not walked a second time."""
    whole = Tally()
    whole.add(pre)
    i = 0
    while i < len(layers):
        j = i
        while j < len(layers) and layers[j] is layers[i]:
            j += 1
        whole.add(layers[i], j - i)
        i = j
    whole.add(post)
    return whole


def _tokens(ph):
    """(step, token index, context, head) of one sequence's tokens, in order."""
    hp = 1 if ph.head_positions is None else ph.head_positions
    for s in range(ph.steps):
        for i in range(ph.new_tokens):
            yield s, i, ph.past_context + s * ph.new_tokens + i + 1, i >= ph.new_tokens - hp


def flow_completions(runs: list[tuple[list[float], int]], x_s: float, previous: np.ndarray | None = None
                     ) -> np.ndarray:
    """Stage completion times of the last item of a permutation flow shop (items in order, each stage one
    at a time, `x_s` between stages), exact: `runs` are (stage seconds, m identical items) in order.
    For a run, C_m[k] = max_{i<=k} (C_prev[i] + sum_{l=i..k} t_l + (m-1) max_{l=i..k} t_l + (k-i) x),
    the longest path through the grid of (item, stage) completions."""
    n = len(runs[0][0])
    c = np.zeros(n) if previous is None else np.asarray(previous, dtype=float)
    for times, m in runs:
        t = np.asarray(times, dtype=float)
        out = np.empty(n)
        for k in range(n):
            seg = t[:k + 1]
            sums = np.cumsum(seg[::-1])[::-1]  # sum_{l=i..k} t_l for every i
            maxes = np.maximum.accumulate(seg[::-1])[::-1]  # max_{l=i..k} t_l
            out[k] = np.max(c[:k + 1] + sums + (m - 1) * maxes + (k - np.arange(k + 1)) * x_s)
        c = out
    return c


def pipeline_wall_s(steps: list[list[list[float]]], batch: int, x_hidden_s: float, x_id_s: float) -> float:
    """The pipeline schedule (module docstring). `steps[s][j][k]`: seconds of token j of step s (one
    sequence's) on stage k; every sequence of the batch has the same tokens. Each step but the last takes
    its closed-loop period max(batch x bottleneck load, one sequence's flow + x_id); the last step is the
    exact flow shop of its batch x tokens (`flow_completions`)."""
    wall = 0.0
    n = len(steps[0][0])
    for tokens in steps[:-1]:
        load = max(sum(t[k] for t in tokens) for k in range(n))
        one = flow_completions([(t, 1) for t in tokens], x_hidden_s)[-1]
        wall += max(batch * load, one + x_id_s)
    return wall + flow_completions([(t, batch) for t in steps[-1]], x_hidden_s)[-1]


class PimGroup:
    """`count` identical PIM devices of `hw`, tensor- or pipeline-parallel over `fabric` (module docstring)."""

    def __init__(self, hw, hw_all, mapping, count: int, parallel: str, fabric: Fabric, exact: bool,
                 tensor_group: int = 1, hw_stage=None):
        """`hw`: one device; `hw_all`: the same preset with every device's channels (count x); pipeline
        groups with `tensor_group` T > 1: `hw_stage` has T devices' channels (a stage, tensor-parallel)."""
        from pimsim.engine.system import SystemSimulator

        if parallel == "pipeline" and exact:
            raise ConfigError("exact mode (--exact) is not modelled for pipeline-parallel PIM groups: their "
                              "stage times come from fast mode; use a tensor-parallel group or fast mode")
        if parallel == "pipeline" and hw.pim.vectors_per_pass > 1:
            raise ConfigError(f"{hw.name}: multi-vector PIM units in a pipeline-parallel group are not modelled")
        self.device_hw, self.hw, self.count, self.parallel, self.fabric = hw, hw_all, count, parallel, fabric
        self.tensor_group = tensor_group if parallel == "pipeline" else count
        self.stages = count // tensor_group if parallel == "pipeline" else 1
        stage_hw = hw_stage if tensor_group > 1 else hw
        self.sim = SystemSimulator(hw_all if parallel == "tensor" else stage_hw, mapping, exact=exact)

    def standby_w(self) -> float:
        e = self.hw.energy
        return self.hw.dram.channels * e.background_w_per_channel + self.count * e.asic_static_w

    def phase(self, ph) -> GroupPart:
        if self.parallel == "tensor":
            tally, wall = self.sim.phase(ph)
            dtype = self.hw.pim.dtype_bytes
            heads = sum(head for *_, head in _tokens(ph))
            plain = ph.steps * ph.new_tokens - heads
            (ls, lw), (hs, hw) = tensor_layer_and_head(ph.model, self.count, dtype, self.fabric)
            tokens = heads + plain
            sec = ph.batch * (tokens * ls * ph.model.layers + heads * hs)
            wire = ph.batch * (tokens * lw * ph.model.layers + heads * hw)
            wall += sec  # serial: the transfers add to the tokens' time  # serial: the transfers add to the tokens' time
        else:
            tally, wall, sec, wire = self._pipeline(ph)
        return GroupPart(tally, wall, sec, wire, wire * 8 * self.fabric.pj_per_bit * 1e-12)

    def energy_j(self, part: GroupPart) -> dict[str, float]:
        e = system_energy_j(self.hw, part.tally, part.wall_s)
        e["asic_static_other_devices"] = (self.count - 1) * self.hw.energy.asic_static_w * part.wall_s
        e["interconnect"] = part.fabric_j
        return clean(e)

    def _pipeline(self, ph) -> tuple[Tally, float, float, float]:
        """Stages of `tensor_group` devices each: a stage's layers cost their tallies plus, where T > 1,
        each layer's (and the head's) tensor-parallel broadcasts and gathers within the stage."""
        bounds = split_layers(ph.model.layers, self.stages)
        dtype = self.device_hw.pim.dtype_bytes
        (tp_layer_s, tp_layer_w), (tp_head_s, tp_head_w) = tensor_layer_and_head(
            ph.model, self.tensor_group, dtype, self.fabric)
        tp_s = tp_w = 0.0
        hidden_b = ph.model.hidden * dtype
        x_h = self.fabric.transfer_s(hidden_b)
        returns = ph.kind == "decode" and self.stages > 1  # the sampled id back to the first stage
        x_id = self.fabric.transfer_s(TOKEN_ID_BYTES) if returns else 0.0
        tally = Tally()
        steps: list[list[list[float]]] = [[] for _ in range(ph.steps)]
        for s, _, ctx, head in _tokens(ph):
            pre, layers, post = self.sim.token_layers(ph.model, ctx, head)
            stage, start = [], 0
            for k, n in enumerate(bounds):
                t = sum(x.total_s for x in layers[start:start + n]) + n * tp_layer_s
                last = post.total_s + (tp_head_s if head else 0.0)
                stage.append(t + (pre.total_s if k == 0 else 0.0) + (last if k == len(bounds) - 1 else 0.0))
                start += n
            tp_s += ph.batch * (ph.model.layers * tp_layer_s + (tp_head_s if head else 0.0))
            tp_w += ph.batch * (ph.model.layers * tp_layer_w + (tp_head_w if head else 0.0))
            steps[s].append(stage)
            tally.add(_whole(pre, layers, post), ph.batch)
        wall = pipeline_wall_s(steps, ph.batch, x_h, x_id)
        hops = self.stages - 1
        tokens = ph.batch * ph.steps * ph.new_tokens
        wire = hops * self.fabric.wire_bytes(hidden_b) * tokens + tp_w + \
            (self.fabric.wire_bytes(TOKEN_ID_BYTES) * ph.batch * ph.steps if returns else 0.0)
        sec = hops * x_h * tokens + x_id * ph.batch * ph.steps + tp_s  # fabric busy time
        return tally, wall, sec, wire

    def stage_bytes(self, model, copy, resident_tokens: int) -> int:
        """Pipeline groups: bytes the fullest device holds, the weights of its layers and of the embedding
        or head it holds plus its layers' share of the KV cache (module docstring): of weight copy `copy`
        (a `ResidentCopy`), the KV its mapping reserves (`engine.capacity.reserved_kv`: `resident_tokens`,
        the copy's resident KV with the spec's prefix sharing, or sequences x the maximum context)."""
        from pimsim.engine.capacity import reserved_kv

        mapper = self.sim.mapper(model)
        dtype = self.device_hw.pim.dtype_bytes
        kv_all = reserved_kv(mapper, copy, resident_tokens)[0]
        most = split_layers(model.layers, self.stages)[0]
        ends = max(model.embedding_params, model.head_params + model.norm_params +
                   (model.vocab * model.hidden if model.tied_embeddings and model.head == "lm" else 0))
        stage = (most * model.weight_params_per_layer + ends) * dtype + math.ceil(kv_all * most / model.layers)
        return math.ceil(stage / self.tensor_group)  # a stage's T devices hold 1/T of it each
