"""Transformer architecture configs: `ModelConfig`, built from the zoo or a Hugging Face config.json.

A `ModelConfig` describes a decoder-only transformer exactly enough to count its parameters and the
shapes of every op of its forward pass (see `graph.py`). It holds no dtype: callers pass bytes per
element (2 for bf16) where they need bytes.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pimsim.errors import ConfigError
from pimsim.util.config_io import decode_text

_log = logging.getLogger("pimsim.models")

Family = Literal["gpt2", "gpt3", "qwen2", "llama", "mistral"]
HeadKind = Literal["lm", "prm_classifier", "value", "lm_restricted"]

# Bounds on the architecture, each far beyond any published decoder (largest today: ~128 layers, hidden
# 16-25K, 128 heads, FFN ~53K, vocab ~256K, context 10M), so they catch typos and keep parameter counts,
# op shapes and simulation loops finite. A 1e30-layer config would otherwise make `simulate` loop forever.
MAX_LAYERS = 1000
MAX_HIDDEN = 2**20
MAX_HEADS = 2**14
MAX_HEAD_DIM = 2**14
MAX_FFN = 2**22
MAX_VOCAB = 2**24
MAX_CONTEXT = 2**24
MAX_PARAMS = 10**14


def _count(upper: int, **kw: Any) -> Any:
    """A positive integer field at most `upper`."""
    return Field(gt=0, le=upper, **kw)


class ModelConfig(BaseModel):
    """One decoder-only transformer: pre-norm blocks of attention (MHA or GQA) and an MLP, plus a head.

    Heads: ``lm`` (vocab x hidden, shared with the embedding when tied), ``prm_classifier``
    (Qwen2.5-Math-PRM: Linear(d,d)+bias, ReLU, Linear(d,2)+bias, no LM head), ``value``
    (Skywork-o1-PRM: Linear(d,1)+bias, no LM head) and ``lm_restricted`` (an LM head that only keeps
    ``head_tokens`` vocabulary rows, e.g. the '+'/'-' logits of Math-Shepherd).
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    name: str = Field(min_length=1)
    family: Family
    layers: int = _count(MAX_LAYERS)
    hidden: int = _count(MAX_HIDDEN)
    heads: int = _count(MAX_HEADS)
    kv_heads: int = _count(MAX_HEADS)
    head_dim: int = _count(MAX_HEAD_DIM)
    ffn: int = _count(MAX_FFN)
    vocab: int = _count(MAX_VOCAB)
    max_context: int = _count(MAX_CONTEXT)
    norm: Literal["layernorm", "rmsnorm"]
    mlp: Literal["gelu", "silu_gated"]
    position: Literal["learned", "rotary"]
    tied_embeddings: bool
    qkv_bias: bool
    linear_bias: bool
    head: HeadKind
    head_tokens: int = _count(MAX_VOCAB, default=2)
    published_params: int | None = _count(MAX_PARAMS, default=None)
    source: str

    @model_validator(mode="after")
    def _check_shapes(self) -> ModelConfig:
        if self.heads % self.kv_heads != 0:
            raise ValueError(
                f"heads ({self.heads}) must be a multiple of kv_heads ({self.kv_heads}) for grouped-query attention"
            )
        if self.head == "lm_restricted" and self.head_tokens > self.vocab:
            raise ValueError(f"head_tokens ({self.head_tokens}) exceeds vocab ({self.vocab})")
        if self.rotary_dim % 2 != 0:
            raise ValueError(f"head_dim ({self.head_dim}) must be even for rotary positions")
        return self

    # ---- derived shapes -------------------------------------------------------------------------

    @property
    def rotary_dim(self) -> int:
        """Elements per head that rotary rotates (the whole head here; 0 for learned positions)."""
        return self.head_dim if self.position == "rotary" else 0

    @property
    def q_features(self) -> int:
        """Width of the query projection output: heads x head_dim."""
        return self.heads * self.head_dim

    @property
    def kv_features(self) -> int:
        """Width of each of the key and value projection outputs: kv_heads x head_dim."""
        return self.kv_heads * self.head_dim

    @property
    def qkv_features(self) -> int:
        """Fused QKV projection output width: (heads + 2 kv_heads) x head_dim."""
        return self.q_features + 2 * self.kv_features

    @property
    def norm_params(self) -> int:
        """Parameters of one norm over `hidden`: gain and bias for LayerNorm, gain only for RMSNorm."""
        return self.hidden * (2 if self.norm == "layernorm" else 1)

    @property
    def head_out_features(self) -> int:
        """Output width of the last head matmul (vocab, head_tokens, 2 or 1)."""
        return {"lm": self.vocab, "lm_restricted": self.head_tokens, "prm_classifier": 2, "value": 1}[self.head]

    # ---- parameter counts -----------------------------------------------------------------------

    @property
    def attention_params_per_layer(self) -> int:
        """QKV (with qkv_bias) and output projection (with linear_bias) parameters of one layer."""
        qkv = self.hidden * self.qkv_features + (self.qkv_features if self.qkv_bias else 0)
        out = self.q_features * self.hidden + (self.hidden if self.linear_bias else 0)
        return qkv + out

    @property
    def mlp_params_per_layer(self) -> int:
        """MLP parameters of one layer: fc1/fc2 (GELU) or gate/up/down (SiLU-gated), biases if linear_bias."""
        up_width = self.ffn if self.mlp == "gelu" else 2 * self.ffn
        bias = (up_width + self.hidden) if self.linear_bias else 0
        return self.hidden * up_width + self.ffn * self.hidden + bias

    @property
    def weight_params_per_layer(self) -> int:
        """All parameters of one transformer block: two norms, attention and MLP (identical for every layer)."""
        return 2 * self.norm_params + self.attention_params_per_layer + self.mlp_params_per_layer

    @property
    def embedding_params(self) -> int:
        """Token embedding (vocab x hidden) plus learned position embedding (max_context x hidden)."""
        positions = self.max_context * self.hidden if self.position == "learned" else 0
        return self.vocab * self.hidden + positions

    @property
    def head_params(self) -> int:
        """Parameters the head adds on top of the embedding (a tied LM head adds none).

        An untied ``lm_restricted`` head stores only its ``head_tokens`` rows: a simulator only has to
        place the rows it reads.
        """
        d = self.hidden
        if self.head == "lm":
            return 0 if self.tied_embeddings else self.vocab * d
        if self.head == "lm_restricted":
            return 0 if self.tied_embeddings else self.head_tokens * d
        if self.head == "prm_classifier":
            return (d * d + d) + (d * 2 + 2)
        return d + 1  # value head Linear(d, 1) with bias

    @property
    def non_embedding_params(self) -> int:
        """Parameters of the layers and the final norm (no embeddings, no head)."""
        return self.layers * self.weight_params_per_layer + self.norm_params

    @property
    def params(self) -> int:
        """Exact parameter count of the built architecture: embeddings, layers, final norm, head."""
        return self.embedding_params + self.non_embedding_params + self.head_params

    def weight_bytes(self, dtype_bytes: int = 2) -> int:
        """Bytes of all parameters at `dtype_bytes` per element."""
        return self.params * dtype_bytes

    def kv_bytes_per_token(self, dtype_bytes: int = 2) -> int:
        """KV-cache bytes one token adds over all layers: 2 (K, V) x layers x kv_heads x head_dim x bytes."""
        return 2 * self.layers * self.kv_features * dtype_bytes

    # ---- construction from Hugging Face configs -------------------------------------------------

    @classmethod
    def from_hf_config(
        cls,
        d: dict[str, Any],
        name: str | None = None,
        source: str = "Hugging Face config.json",
        *,
        head: HeadKind | None = None,
        published_params: int | None = None,
    ) -> ModelConfig:
        """Build from a Hugging Face config.json dict (model_type gpt2, gpt3, qwen2, llama or mistral).

        GPT-2 keys: n_layer, n_embd, n_head, n_inner (null -> 4 x n_embd), vocab_size, n_positions.
        ``model_type: "gpt3"`` is read like gpt2 (family gpt3, n_positions defaults to 2048).
        Qwen2/Llama/Mistral keys: num_hidden_layers, hidden_size, num_attention_heads,
        num_key_value_heads (default: num_attention_heads), head_dim (default hidden/heads),
        intermediate_size, vocab_size, max_position_embeddings, tie_word_embeddings (default false),
        attention_bias (Llama; Qwen2 always has q/k/v biases). The head is ``prm_classifier`` for
        ``Qwen2ForProcessRewardModel`` architectures, else ``lm``, unless `head` is given.
        Raises ConfigError naming the missing or invalid key.
        """
        where = f"model config ({source})"
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: expected a JSON object, got {type(d).__name__}")
        model_type = d.get("model_type")
        if model_type is None:
            raise ConfigError(f"{where}: missing required key 'model_type' (one of {', '.join(_HF_TYPES)})")
        if model_type not in _HF_TYPES:
            raise ConfigError(
                f"{where}: unknown model_type {model_type!r} (supported: {', '.join(_HF_TYPES)})"
            )

        def need(key: str) -> Any:
            if key not in d or d[key] is None:
                raise ConfigError(f"{where}: missing required key {key!r} for model_type {model_type!r}")
            return d[key]

        def flag(key: str, default: bool) -> bool:
            """A boolean key (absent or null: `default`); `"false"` or 0 is an error, not a truth value."""
            value = d.get(key)
            if value is None:
                return default
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: key {key!r} must be true or false (got {value!r})")
            return value

        _reject_moe(d, where)

        # our field -> the HF key it came from, so validation errors name the key the user wrote
        origin: dict[str, str] = {}
        fields: dict[str, Any] = {}

        def take(field: str, key: str, value: Any = _REQUIRED) -> None:
            origin[field] = key
            fields[field] = need(key) if value is _REQUIRED else value

        if model_type in ("gpt2", "gpt3"):
            take("layers", "n_layer")
            take("hidden", "n_embd")
            take("heads", "n_head")
            take("vocab", "vocab_size")
            if model_type == "gpt3":
                take("max_context", "n_positions", d.get("n_positions") or 2048)
            else:
                take("max_context", "n_positions")
            hidden, heads = fields["hidden"], fields["heads"]
            inner = d.get("n_inner")
            take("ffn", "n_inner", inner if inner is not None else _mul(4, hidden))
            head_dim = d.get("head_dim")
            if head_dim is None:
                head_dim = _whole_head_dim(hidden, heads, where, "n_embd", "n_head")
            take("head_dim", "head_dim", head_dim)
            fields.update(
                family=model_type,
                kv_heads=heads,
                norm="layernorm",
                mlp="gelu",
                position="learned",
                tied_embeddings=flag("tie_word_embeddings", True),
                qkv_bias=True,
                linear_bias=True,
            )
            origin["kv_heads"] = "n_head"
        else:
            take("layers", "num_hidden_layers")
            take("hidden", "hidden_size")
            take("heads", "num_attention_heads")
            take("ffn", "intermediate_size")
            take("vocab", "vocab_size")
            take("max_context", "max_position_embeddings")
            hidden, heads = fields["hidden"], fields["heads"]
            kv_heads = d.get("num_key_value_heads")
            take("kv_heads", "num_key_value_heads", kv_heads if kv_heads is not None else heads)
            head_dim = d.get("head_dim")
            if head_dim is None:
                head_dim = _whole_head_dim(hidden, heads, where, "hidden_size", "num_attention_heads")
            take("head_dim", "head_dim", head_dim)
            act = d.get("hidden_act", "silu")
            if act != "silu":
                raise ConfigError(f"{where}: key 'hidden_act' is {act!r}; only 'silu' (SiLU-gated MLP) is modelled")
            if model_type == "qwen2":
                qkv_bias, linear_bias = True, False
            else:
                attention_bias = flag("attention_bias", False)
                mlp_bias = flag("mlp_bias", False)
                if attention_bias != mlp_bias:
                    raise ConfigError(
                        f"{where}: keys 'attention_bias' ({attention_bias}) and 'mlp_bias' ({mlp_bias}) differ; "
                        "pimsim models one bias flag for the output projection and the MLP"
                    )
                qkv_bias = linear_bias = attention_bias
            fields.update(
                family=model_type,
                norm="rmsnorm",
                mlp="silu_gated",
                position="rotary",
                tied_embeddings=flag("tie_word_embeddings", False),
                qkv_bias=qkv_bias,
                linear_bias=linear_bias,
            )

        if head is None:
            archs = d.get("architectures") or []
            head = "prm_classifier" if "Qwen2ForProcessRewardModel" in archs else "lm"
        fields.update(
            name=name or d.get("_name_or_path") or str(model_type),
            head=head,
            published_params=published_params,
            source=source,
        )
        model = validated(fields, where, origin)
        ignored = _ignored_fields(d, model_type, flag("use_sliding_window", model_type != "qwen2"), model.max_context)
        if ignored:
            _warn_once(f"{where}: pimsim does not model, and ignores, " + "; ".join(ignored))
        return model


_HF_TYPES = ("gpt2", "gpt3", "qwen2", "llama", "mistral")
_REQUIRED = object()

# Keys by which Hugging Face configs give a mixture-of-experts layer count (Mixtral, Qwen2-MoE, DeepSeek, DBRX).
_MOE_KEYS = ("num_local_experts", "num_experts", "n_routed_experts", "moe_num_experts")
# RoPE scaling types of transformers' ROPE_INIT_FUNCTIONS (plus older names): they change the rotation
# angles only, not any op's shape or byte count, so pimsim's costs hold for them unchanged.
_ROPE_TYPES = ("default", "linear", "dynamic", "yarn", "longrope", "llama3", "su", "mrope")
_warned: set[str] = set()


def _reject_moe(d: dict[str, Any], where: str) -> None:
    """A config with more than one expert per MLP is rejected: run as dense it would read a fraction of
    the weights a MoE model stores and the wrong MLP per token, a silently wrong number."""
    for key in _MOE_KEYS:
        experts = d.get(key)
        if isinstance(experts, int) and not isinstance(experts, bool) and experts > 1:
            raise ConfigError(
                f"{where}: key {key!r} is {experts}: a mixture-of-experts model (each token routed to the top "
                f"{d.get('num_experts_per_tok', 'k')} of {experts} experts); MoE is not modelled by pimsim, which "
                "would otherwise run it as a dense model with one MLP per layer"
            )


def _ignored_fields(d: dict[str, Any], model_type: str, sliding_on: bool, context: int) -> list[str]:
    """One phrase per config key that would change the cost of the model but that pimsim ignores.

    `sliding_window` counts when it is switched on (Qwen2: `use_sliding_window`, off by default in
    transformers; Mistral: on whenever set) and shorter than the context: it would cap the KV read
    at that many tokens, while pimsim reads the whole context."""
    out = []
    window = d.get("sliding_window")
    if window is not None and sliding_on and not (isinstance(window, int) and window >= context):
        out.append(f"'sliding_window' ({window!r}: sliding-window attention would cap the KV read at that many "
                   "tokens; pimsim attends to the whole context, an upper bound on the attention cost)")
    rope = d.get("rope_scaling")
    if rope is not None:
        kind = rope.get("rope_type", rope.get("type")) if isinstance(rope, dict) else None
        if kind not in _ROPE_TYPES:
            out.append(f"'rope_scaling' ({rope!r}: not a mapping with a known type, one of {', '.join(_ROPE_TYPES)})")
    if d.get("num_experts_per_tok") is not None:
        out.append(f"'num_experts_per_tok' ({d['num_experts_per_tok']!r}: no experts are configured)")
    if d.get("quantization_config") is not None:
        out.append("'quantization_config' (weights are sized at the hardware's dtype, not the quantized one)")
    return out


def _warn_once(message: str) -> None:
    """Log `message` as one warning (stderr when no logging is configured), once per process."""
    if message not in _warned:
        _warned.add(message)
        _log.warning("pimsim: warning: %s", message)


def _mul(a: int, b: Any) -> Any:
    return a * b if isinstance(b, int) and not isinstance(b, bool) else b


def _whole_head_dim(hidden: Any, heads: Any, where: str, hidden_key: str, heads_key: str) -> Any:
    """hidden / heads; ConfigError when it is not whole. Invalid sizes give a placeholder (1) and are
    reported by validation under their own key."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in (hidden, heads)):
        return 1
    if hidden % heads:
        raise ConfigError(
            f"{where}: key {hidden_key!r} ({hidden}) is not a multiple of {heads_key!r} ({heads}); give 'head_dim'"
        )
    return hidden // heads


def validated(fields: dict[str, Any], where: str, origin: dict[str, str] | None = None) -> ModelConfig:
    """`ModelConfig(**fields)`, with pydantic errors turned into one ConfigError naming each field."""
    origin = origin or {}
    try:
        return ModelConfig(**fields)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]) or "(config)"
            key = origin.get(loc)
            label = f"key {key!r} ({loc})" if key and key != loc else f"field {loc!r}"
            value = f" (got {err['input']!r})" if "input" in err and not isinstance(err["input"], dict) else ""
            problems.append(f"{label}: {err['msg']}{value}")
        raise ConfigError(f"{where}: " + "; ".join(problems)) from None


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict; a key given twice raises (json.loads would keep the last silently)."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


def _name_from_path(path: Path) -> str:
    """'models/Qwen2.5-Math-7B/config.json' -> 'Qwen2.5-Math-7B'; 'my-model.json' -> 'my-model'."""
    if path.stem.lower() == "config" and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem


def load_model(name_or_none: str | None, config_path: str | Path | None = None) -> ModelConfig:
    """A zoo model by name (case-insensitive), or the model of a config.json file.

    The file may be a Hugging Face config.json (it has ``model_type``) or a pimsim model file with the
    `ModelConfig` fields. When both a name and a path are given, the name becomes the model's name.
    A name that ends in ``.json`` is read as a path.
    """
    if config_path is None and name_or_none is not None and str(name_or_none).lower().endswith(".json"):
        config_path, name_or_none = name_or_none, None
    if config_path is None:
        if name_or_none is None:
            raise ConfigError("model: give a zoo model name or a config.json path")
        from pimsim.models.zoo import get_model

        return get_model(name_or_none)

    path = Path(config_path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"model config {path}: cannot read file ({exc.strerror or exc})") from None
    text = decode_text(raw, f"model config {path}")
    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as exc:
        raise ConfigError(f"model config {path}: duplicate key {exc.args[0]!r}; JSON keeps only the last, so give "
                          "each key once") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"model config {path}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"model config {path}: expected a JSON object, got {type(data).__name__}")
    if "model_type" in data:
        return ModelConfig.from_hf_config(data, name=name_or_none or _name_from_path(path), source=str(path))
    if name_or_none is not None:
        data = {**data, "name": name_or_none}
    data.setdefault("source", str(path))
    return validated(data, f"model config {path}")
