"""ModelGraph: the ops of one decoder-only transformer forward step, with shapes and exact costs.

The op lists below read like the forward pass they describe (pre-norm blocks as in GPT-2 and Llama):

    x = embedding(tokens) [+ pos_embedding(positions)]
    for each layer:
        h = norm1(x); q, k, v = qkv_proj(h); [rotary(q, k)]
        s = attn_score(q, K); p = softmax(s); a = attn_value(p, V)
        x = residual1(x, out_proj(a))
        h = norm2(x); h = fc2(gelu(fc1(h)))  or  down_proj(silu_mul(gate_up_proj(h)))
        x = residual2(x, h)
    y = head(final_norm(x))   at the head positions only

Cost conventions (`ModelGraph.step`): a multiply-add is 2 FLOPs and 1 MAC; a bias adds 1 FLOP per
output element; weights are read once per step and shared by the batch; attention is causal (the i-th
of n new tokens attends to past_context + i keys); the KV cache including the new tokens is read once
per step per sequence. Vector ops count the FLOPs per element given in `VECTOR_FLOPS_PER_ELEM`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum

from pimsim.errors import ConfigError
from pimsim.models.config import ModelConfig


class OpKind(Enum):
    """What an op computes, which decides how it is costed and mapped."""

    WEIGHT_MATMUL = "weight_matmul"  # activations x stored weight matrix (projections, MLP, heads)
    ATTN_SCORE = "attn_score"  # q . K^T against the KV cache
    ATTN_VALUE = "attn_value"  # softmax(scores) . V against the KV cache
    SOFTMAX = "softmax"
    NORM = "norm"  # LayerNorm or RMSNorm
    ACTIVATION = "activation"  # GELU, SiLU x up, ReLU
    RESIDUAL = "residual"
    ROTARY = "rotary"
    EMBEDDING = "embedding"  # row gather from a table
    ELEMENTWISE = "elementwise"  # other per-element ops (learned-position add)


# FLOPs per element of the vector ops (elements = tokens x width, softmax: attended scores):
#   layernorm 8: mean (1 add), variance (sub, square, add = 3), normalise (sub, mul by rsqrt = 2), gain and bias (2)
#   rmsnorm 4: square and add (2), mul by rsqrt (1), gain (1)
#   softmax 5: running max (1), subtract (1), exp (1), sum (1), divide (1); the 1/sqrt(head_dim) scale is
#       folded into the query projection weights and not counted
#   gelu 8: tanh approximation 0.5 x (1 + tanh(0.7979 (x + 0.044715 x^3))), tanh counted as 1
#   silu_mul 5: sigmoid (exp, add, divide = 3), times x (1), times the up projection (1); per output element
#   relu 1, residual add 1, position add 1
#   rotary 3: x cos + rotate_half(x) sin (2 mul, 1 add) per element of q and k; cos/sin tables not counted
VECTOR_FLOPS_PER_ELEM: dict[str, int] = {
    "layernorm": 8,
    "rmsnorm": 4,
    "softmax": 5,
    "gelu": 8,
    "silu_mul": 5,
    "relu": 1,
    "residual": 1,
    "pos_add": 1,
    "rotary": 3,
}


@dataclass(frozen=True)
class Op:
    """One op of the forward pass and its shape (fields that do not apply to its kind are 0).

    WEIGHT_MATMUL: `in_features`, `out_features`, `bias`. ATTN_SCORE/ATTN_VALUE/SOFTMAX/ROTARY:
    `heads`, `kv_heads`, `head_dim`. Vector ops (NORM, ACTIVATION, RESIDUAL, ELEMENTWISE, ROTARY,
    EMBEDDING): `width`, elements per token (softmax: none, its rows grow with the context).
    `weight_params` is what the op stores (0 for a tied LM head, which reuses the embedding);
    `flops_per_elem` is the vector-op FLOP count of `VECTOR_FLOPS_PER_ELEM`.
    """

    name: str
    kind: OpKind
    layer: int | None
    in_features: int = 0
    out_features: int = 0
    bias: bool = False
    heads: int = 0
    kv_heads: int = 0
    head_dim: int = 0
    width: int = 0
    weight_params: int = 0
    flops_per_elem: int = 0

    @property
    def matmul_weight_elems(self) -> int:
        """Weight matrix plus bias elements a WEIGHT_MATMUL reads (also when tied); 0 for other kinds."""
        if self.kind is not OpKind.WEIGHT_MATMUL:
            return 0
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class OpCost:
    """Cost of one op in one forward step (all sequences of the batch together).

    `tokens`: token rows the op processes (batch x new_tokens, or batch x head positions for the
    final norm and the head). `flops`: multiply+add = 2. `weight_bytes`: weights read, once per step.
    `kv_read_bytes`/`kv_write_bytes`: KV-cache traffic. `act_bytes`: input plus output activations.
    """

    op: Op
    tokens: int
    flops: int
    macs: int
    weight_bytes: int
    kv_read_bytes: int
    kv_write_bytes: int
    act_bytes: int


class ModelGraph:
    """The forward pass of a `ModelConfig` as ops with shapes (`ops`) and per-step costs (`step`)."""

    def __init__(self, config: ModelConfig):
        self.config = config
        self._pre = tuple(self._build_pre())
        self._layer = tuple(self._build_layer(0))
        # every block has the same ops; only `layer` differs
        self._layers = tuple(tuple(replace(op, layer=i) for op in self._layer) if i else self._layer
                             for i in range(config.layers))
        self._post = tuple(self._build_post())

    # ---- the forward pass -----------------------------------------------------------------------

    def _norm(self, name: str, layer: int | None) -> Op:
        c = self.config
        return Op(name, OpKind.NORM, layer, width=c.hidden, weight_params=c.norm_params,
                  flops_per_elem=VECTOR_FLOPS_PER_ELEM[c.norm])

    def _linear(self, name: str, layer: int | None, in_features: int, out_features: int, bias: bool,
                stored: bool = True) -> Op:
        params = in_features * out_features + (out_features if bias else 0)
        return Op(name, OpKind.WEIGHT_MATMUL, layer, in_features=in_features, out_features=out_features,
                  bias=bias, weight_params=params if stored else 0)

    def _build_pre(self) -> list[Op]:
        c = self.config
        ops = [Op("embedding", OpKind.EMBEDDING, None, width=c.hidden, weight_params=c.vocab * c.hidden)]
        if c.position == "learned":
            ops.append(Op("pos_embedding", OpKind.EMBEDDING, None, width=c.hidden,
                          weight_params=c.max_context * c.hidden))
            ops.append(Op("pos_add", OpKind.ELEMENTWISE, None, width=c.hidden,
                          flops_per_elem=VECTOR_FLOPS_PER_ELEM["pos_add"]))
        return ops

    def _build_layer(self, layer: int) -> list[Op]:
        c = self.config
        attn = dict(heads=c.heads, kv_heads=c.kv_heads, head_dim=c.head_dim)
        ops = [
            self._norm("norm1", layer),
            self._linear("qkv_proj", layer, c.hidden, c.qkv_features, c.qkv_bias),
        ]
        if c.position == "rotary":
            ops.append(Op("rotary", OpKind.ROTARY, layer, width=(c.heads + c.kv_heads) * c.head_dim,
                          flops_per_elem=VECTOR_FLOPS_PER_ELEM["rotary"], **attn))
        ops += [
            Op("attn_score", OpKind.ATTN_SCORE, layer, **attn),
            Op("softmax", OpKind.SOFTMAX, layer, flops_per_elem=VECTOR_FLOPS_PER_ELEM["softmax"], **attn),
            Op("attn_value", OpKind.ATTN_VALUE, layer, **attn),
            self._linear("out_proj", layer, c.q_features, c.hidden, c.linear_bias),
            Op("residual1", OpKind.RESIDUAL, layer, width=c.hidden, flops_per_elem=VECTOR_FLOPS_PER_ELEM["residual"]),
            self._norm("norm2", layer),
        ]
        if c.mlp == "gelu":
            ops += [
                self._linear("fc1", layer, c.hidden, c.ffn, c.linear_bias),
                Op("gelu", OpKind.ACTIVATION, layer, width=c.ffn, flops_per_elem=VECTOR_FLOPS_PER_ELEM["gelu"]),
                self._linear("fc2", layer, c.ffn, c.hidden, c.linear_bias),
            ]
        else:
            ops += [
                self._linear("gate_up_proj", layer, c.hidden, 2 * c.ffn, c.linear_bias),
                Op("silu_mul", OpKind.ACTIVATION, layer, width=c.ffn, flops_per_elem=VECTOR_FLOPS_PER_ELEM["silu_mul"]),
                self._linear("down_proj", layer, c.ffn, c.hidden, c.linear_bias),
            ]
        ops.append(Op("residual2", OpKind.RESIDUAL, layer, width=c.hidden,
                      flops_per_elem=VECTOR_FLOPS_PER_ELEM["residual"]))
        return ops

    def _build_post(self) -> list[Op]:
        c = self.config
        ops = [self._norm("final_norm", None)]
        if c.head in ("lm", "lm_restricted"):
            ops.append(self._linear("lm_head", None, c.hidden, c.head_out_features, False,
                                    stored=not c.tied_embeddings))
        elif c.head == "prm_classifier":
            ops += [
                self._linear("prm_fc1", None, c.hidden, c.hidden, True),
                Op("prm_relu", OpKind.ACTIVATION, None, width=c.hidden, flops_per_elem=VECTOR_FLOPS_PER_ELEM["relu"]),
                self._linear("prm_fc2", None, c.hidden, 2, True),
            ]
        else:
            ops.append(self._linear("value_head", None, c.hidden, 1, True))
        return ops

    def pre_ops(self) -> list[Op]:
        """Ops before the first layer: token embedding (and learned positions with their add)."""
        return list(self._pre)

    def layer_ops(self, layer: int) -> list[Op]:
        """Ops of transformer block `layer` (0-based), in forward order."""
        if not 0 <= layer < self.config.layers:
            raise IndexError(f"layer {layer} out of range for {self.config.name} ({self.config.layers} layers)")
        return list(self._layers[layer])

    def post_ops(self) -> list[Op]:
        """Ops after the last layer: final norm and the head."""
        return list(self._post)

    def ops(self) -> list[Op]:
        """All ops of one forward pass, in order."""
        out = self.pre_ops()
        for layer in range(self.config.layers):
            out += self.layer_ops(layer)
        return out + self.post_ops()

    # ---- costs of one step ----------------------------------------------------------------------

    def step(
        self,
        new_tokens: int,
        past_context: int,
        batch: int = 1,
        dtype_bytes: int = 2,
        head_positions: int | None = None,
    ) -> list[OpCost]:
        """Costs of one forward step: each of `batch` sequences processes `new_tokens` tokens on top of
        `past_context` cached ones. The head runs on `head_positions` positions per sequence (default 1,
        the last one, as in generation; 0 skips it, e.g. for a non-final prefill chunk).
        """
        c = self.config
        for arg, value, low in (("new_tokens", new_tokens, 1), ("past_context", past_context, 0),
                                ("batch", batch, 1), ("dtype_bytes", dtype_bytes, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"ModelGraph.step: {arg} must be an integer >= {low}, got {value!r}")
        heads_per_seq = 1 if head_positions is None else head_positions
        if not isinstance(heads_per_seq, int) or not 0 <= heads_per_seq <= new_tokens:
            raise ValueError(
                f"ModelGraph.step: head_positions must be in 0..new_tokens ({new_tokens}), got {head_positions!r}"
            )
        context = past_context + new_tokens
        if c.position == "learned" and context > c.max_context:
            raise ConfigError(
                f"model {c.name}: context of {context} tokens (past_context {past_context} + new_tokens "
                f"{new_tokens}) exceeds its {c.max_context} learned positions (max_context)"
            )

        shape = _StepShape(
            tokens=batch * new_tokens,
            head_tokens=batch * heads_per_seq,
            # keys attended by all new tokens of all sequences: sum_{i=1..n} (past + i), times batch
            attended=batch * (new_tokens * past_context + new_tokens * (new_tokens + 1) // 2),
            new_tokens=new_tokens,
            context=context,
            batch=batch,
            dtype_bytes=dtype_bytes,
        )
        costs = [self._cost(op, shape, shape.tokens) for op in self._pre]
        layer_costs = [self._cost(op, shape, shape.tokens) for op in self._layer]
        costs += layer_costs
        for layer_ops in self._layers[1:]:
            for op, cost in zip(layer_ops, layer_costs):
                costs.append(OpCost(op, cost.tokens, cost.flops, cost.macs, cost.weight_bytes,
                                    cost.kv_read_bytes, cost.kv_write_bytes, cost.act_bytes))
        costs += [self._cost(op, shape, shape.head_tokens) for op in self._post]
        return costs

    def step_totals(
        self,
        new_tokens: int,
        past_context: int,
        batch: int = 1,
        dtype_bytes: int = 2,
        head_positions: int | None = None,
    ) -> dict[str, int]:
        """Sums over `step(...)`: flops, macs, weight_bytes, kv_read_bytes, kv_write_bytes, act_bytes."""
        keys = ("flops", "macs", "weight_bytes", "kv_read_bytes", "kv_write_bytes", "act_bytes")
        totals = dict.fromkeys(keys, 0)
        for cost in self.step(new_tokens, past_context, batch, dtype_bytes, head_positions):
            for key in keys:
                totals[key] += getattr(cost, key)
        return totals

    def _cost(self, op: Op, s: _StepShape, rows: int) -> OpCost:
        """Cost of `op` over `rows` token rows (batch x new_tokens, or the head rows for post ops)."""
        b = s.dtype_bytes
        kind = op.kind
        flops = macs = weight = kv_read = kv_write = act = 0
        if kind is OpKind.WEIGHT_MATMUL:
            macs = rows * op.in_features * op.out_features
            flops = 2 * macs + (rows * op.out_features if op.bias else 0)
            weight = op.matmul_weight_elems * b if rows else 0
            act = rows * (op.in_features + op.out_features) * b
        elif kind is OpKind.EMBEDDING:
            # gathered rows: one token row per token; position rows are shared by the batch
            gathered = rows if op.name == "embedding" else s.new_tokens
            weight = gathered * op.width * b
            act = rows * op.width * b
        elif kind in (OpKind.ATTN_SCORE, OpKind.ATTN_VALUE):
            # K (score) or V (value): read the cache including this step's tokens, append the new ones
            kv_features = op.kv_heads * op.head_dim
            macs = op.heads * op.head_dim * s.attended
            flops = 2 * macs
            kv_read = s.batch * kv_features * s.context * b
            kv_write = s.batch * kv_features * s.new_tokens * b
            act = (rows * op.heads * op.head_dim + op.heads * s.attended) * b
        elif kind is OpKind.SOFTMAX:
            elems = op.heads * s.attended
            flops = op.flops_per_elem * elems
            act = 2 * elems * b
        else:  # NORM, ACTIVATION, RESIDUAL, ROTARY, ELEMENTWISE: per-token vectors of `width`
            elems = rows * op.width
            flops = op.flops_per_elem * elems
            inputs = 2 if kind in (OpKind.RESIDUAL, OpKind.ELEMENTWISE) or op.name == "silu_mul" else 1
            act = (inputs + 1) * elems * b
            if kind is OpKind.NORM and rows:
                weight = op.weight_params * b
        return OpCost(op, rows, flops, macs, weight, kv_read, kv_write, act)


@dataclass(frozen=True)
class _StepShape:
    tokens: int
    head_tokens: int
    attended: int
    new_tokens: int
    context: int
    batch: int
    dtype_bytes: int
