"""Tests of the model box: zoo parameter counts against published figures, exact GPT-2 counts, GQA
shapes, causal cost accounting (hypothesis), Hugging Face config parsing and error messages."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from pimsim.errors import ConfigError, UnknownNameError
from pimsim.models import (
    VECTOR_FLOPS_PER_ELEM,
    ModelConfig,
    ModelGraph,
    OpKind,
    get_model,
    load_model,
    published_tolerance,
    zoo_names,
)

EXPECTED_ZOO = [
    "gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl",
    "gpt3-small", "gpt3-medium", "gpt3-large", "gpt3-xl", "gpt3-175b",
    "qwen2.5-math-1.5b-instruct", "qwen2.5-math-7b-instruct", "qwen2.5-math-prm-7b", "qwen2.5-math-prm-72b",
    "skywork-prm-1.5b", "skywork-prm-7b", "math-shepherd-7b", "rlhflow-8b-prm",
    "thinkprm-1.5b", "thinkprm-14b", "llama-3.2-1b", "llama-3.2-3b", "eurus-prm-7b",
    "llama2-7b", "llama2-13b", "llama2-70b",  # CENT (peer_studies.md)
]


# ---- zoo -----------------------------------------------------------------------------------------


def test_zoo_has_every_reference_model():
    assert sorted(zoo_names()) == sorted(EXPECTED_ZOO)
    assert len(zoo_names()) == 25


@pytest.mark.parametrize("name", zoo_names())
def test_params_match_published(name):
    m = get_model(name)
    assert m.published_params is not None, f"{name} has no published_params"
    assert m.source
    rel = abs(m.params - m.published_params) / m.published_params
    assert rel <= published_tolerance(name), f"{name}: built {m.params:,} vs published {m.published_params:,}"


def test_only_rounded_paper_names_get_a_wider_tolerance():
    wide = {n for n in zoo_names() if published_tolerance(n) > 0.01}
    assert wide == {"gpt3-medium", "gpt3-xl", "gpt3-175b"}
    assert all(published_tolerance(n) <= 0.02 for n in wide)


@pytest.mark.parametrize("name", zoo_names())
def test_graph_stores_exactly_params(name):
    m = get_model(name)
    assert sum(op.weight_params for op in ModelGraph(m).ops()) == m.params


def test_gpt2_small_exact_hf_count():
    m = get_model("gpt2-small")
    wte, wpe = 50257 * 768, 1024 * 768
    layer = 2 * 2 * 768 + (768 * 2304 + 2304) + (768 * 768 + 768) + (768 * 3072 + 3072) + (3072 * 768 + 768)
    assert m.weight_params_per_layer == layer == 7_087_872
    assert m.params == wte + wpe + 12 * layer + 2 * 768 == 124_439_808


def test_exact_counts_of_rotary_models():
    assert get_model("qwen2.5-math-7b-instruct").params == 7_615_616_512
    assert get_model("math-shepherd-7b").params == 7_241_732_096
    assert get_model("llama-3.2-1b").params == 1_235_814_400
    prm = get_model("qwen2.5-math-prm-7b")
    base = get_model("qwen2.5-math-7b-instruct")
    head = (3584 * 3584 + 3584) + (3584 * 2 + 2)
    assert prm.params == base.params - 152064 * 3584 + head


def test_zoo_lookup_is_case_insensitive_and_alias_matches_base():
    assert get_model("GPT2-Small") is get_model("gpt2-small")
    eurus, base = get_model("eurus-prm-7b"), get_model("qwen2.5-math-7b-instruct")
    assert eurus.name == "eurus-prm-7b" and eurus.head == "lm"
    assert eurus.model_copy(update={"name": base.name, "source": base.source}) == base


def test_gpt3_xl_uses_16_heads_of_128():
    m = get_model("gpt3-xl")
    assert (m.heads, m.head_dim, m.max_context, m.vocab) == (16, 128, 2048, 50257)


def test_heads_of_prms():
    assert get_model("qwen2.5-math-prm-7b").head == "prm_classifier"
    assert get_model("skywork-prm-7b").head == "value"
    assert get_model("math-shepherd-7b").head == "lm"
    assert get_model("rlhflow-8b-prm").head == "lm"


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownNameError) as info:
        get_model("gpt5-huge")
    msg = str(info.value)
    assert "gpt5-huge" in msg and "gpt2-small" in msg and "llama-3.2-3b" in msg
    with pytest.raises(UnknownNameError):
        load_model("nope")


# ---- graph shapes --------------------------------------------------------------------------------


def test_gqa_shapes_qwen_7b():
    m = get_model("qwen2.5-math-7b-instruct")
    ops = {op.name: op for op in ModelGraph(m).layer_ops(3)}
    qkv = ops["qkv_proj"]
    assert qkv.kind is OpKind.WEIGHT_MATMUL and qkv.layer == 3
    assert (qkv.in_features, qkv.out_features, qkv.bias) == (3584, 3584 + 2 * 4 * 128, True)
    assert (ops["out_proj"].in_features, ops["out_proj"].bias) == (3584, False)
    assert ops["gate_up_proj"].out_features == 2 * 18944
    assert ops["down_proj"].in_features == 18944
    assert (ops["attn_score"].heads, ops["attn_score"].kv_heads, ops["attn_score"].head_dim) == (28, 4, 128)


def test_forward_order_gpt2_and_llama():
    gpt = ModelGraph(get_model("gpt2-small"))
    assert [o.name for o in gpt.pre_ops()] == ["embedding", "pos_embedding", "pos_add"]
    assert [o.name for o in gpt.layer_ops(0)] == [
        "norm1", "qkv_proj", "attn_score", "softmax", "attn_value", "out_proj", "residual1",
        "norm2", "fc1", "gelu", "fc2", "residual2",
    ]
    assert [o.name for o in gpt.post_ops()] == ["final_norm", "lm_head"]
    llama = ModelGraph(get_model("llama-3.2-1b"))
    assert [o.name for o in llama.pre_ops()] == ["embedding"]
    assert [o.name for o in llama.layer_ops(15)] == [
        "norm1", "qkv_proj", "rotary", "attn_score", "softmax", "attn_value", "out_proj", "residual1",
        "norm2", "gate_up_proj", "silu_mul", "down_proj", "residual2",
    ]
    assert len(llama.ops()) == 1 + 16 * 13 + 2
    with pytest.raises(IndexError):
        llama.layer_ops(16)
    assert [o.name for o in ModelGraph(get_model("qwen2.5-math-prm-7b")).post_ops()] == [
        "final_norm", "prm_fc1", "prm_relu", "prm_fc2",
    ]
    assert [o.name for o in ModelGraph(get_model("skywork-prm-1.5b")).post_ops()] == ["final_norm", "value_head"]


# ---- step costs ----------------------------------------------------------------------------------


def _by_name(costs, layer=0):
    return {c.op.name: c for c in costs if c.op.layer in (layer, None)}


def test_decode_step_exact_formulas_gpt2_small():
    m = get_model("gpt2-small")
    past, b = 100, 2
    costs = _by_name(ModelGraph(m).step(1, past, batch=2, dtype_bytes=2))
    qkv = costs["qkv_proj"]
    assert qkv.macs == b * 768 * 2304
    assert qkv.flops == 2 * b * 768 * 2304 + b * 2304
    assert qkv.weight_bytes == (768 * 2304 + 2304) * 2
    score = costs["attn_score"]
    assert score.flops == b * 2 * 12 * 64 * (past + 1)
    assert score.kv_read_bytes == b * 12 * 64 * (past + 1) * 2
    assert score.kv_write_bytes == b * 12 * 64 * 2
    assert costs["softmax"].flops == VECTOR_FLOPS_PER_ELEM["softmax"] * b * 12 * (past + 1)
    assert costs["embedding"].flops == 0 and costs["embedding"].weight_bytes == b * 768 * 2
    assert costs["lm_head"].weight_bytes == 50257 * 768 * 2  # tied: reads the embedding table
    assert costs["lm_head"].tokens == b


def test_decode_flops_are_twice_params_plus_attention():
    m = get_model("llama-3.2-3b")
    past = 500
    totals = ModelGraph(m).step_totals(1, past)
    matmul = 2 * (m.layers * (m.attention_params_per_layer + m.mlp_params_per_layer) + m.vocab * m.hidden)
    attention = m.layers * 2 * 2 * m.heads * m.head_dim * (past + 1)
    vector = totals["flops"] - matmul - attention
    assert 0 < vector < 0.001 * totals["flops"]
    assert totals["kv_read_bytes"] == m.kv_bytes_per_token() * (past + 1)
    assert totals["kv_write_bytes"] == m.kv_bytes_per_token()


def test_prefill_causal_attention_and_head_positions():
    m = get_model("qwen2.5-math-prm-7b")
    n, past = 7, 3
    graph = ModelGraph(m)
    costs = _by_name(graph.step(n, past, head_positions=4))
    keys = sum(past + i for i in range(1, n + 1))
    assert costs["attn_value"].flops == 2 * m.heads * m.head_dim * keys
    assert costs["attn_value"].kv_read_bytes == m.kv_heads * m.head_dim * (past + n) * 2
    assert costs["prm_fc1"].tokens == 4 and costs["prm_fc2"].macs == 4 * m.hidden * 2
    assert costs["norm1"].tokens == n
    none = _by_name(graph.step(n, past, head_positions=0))
    assert none["prm_fc1"].flops == 0 and none["prm_fc1"].weight_bytes == 0


def test_weights_are_shared_by_the_batch():
    graph = ModelGraph(get_model("llama-3.2-1b"))
    one, four = graph.step_totals(1, 64, batch=1), graph.step_totals(1, 64, batch=4)
    assert four["kv_read_bytes"] == 4 * one["kv_read_bytes"]
    # only the token-embedding rows (one per sequence) grow with the batch
    assert four["weight_bytes"] - one["weight_bytes"] == 3 * 2048 * 2


def test_lm_restricted_head_reads_only_its_rows():
    m = get_model("math-shepherd-7b").model_copy(update={"head": "lm_restricted", "head_tokens": 2})
    head = _by_name(ModelGraph(m).step(10, 0, head_positions=3))["lm_head"]
    assert (head.op.out_features, head.weight_bytes, head.flops) == (2, 2 * 4096 * 2, 2 * 3 * 4096 * 2)
    assert m.params == get_model("math-shepherd-7b").params - (32000 - 2) * 4096


def test_step_rejects_bad_arguments():
    graph = ModelGraph(get_model("gpt2-small"))
    with pytest.raises(ValueError, match="new_tokens"):
        graph.step(0, 10)
    with pytest.raises(ValueError, match="head_positions"):
        graph.step(4, 10, head_positions=5)
    with pytest.raises(ConfigError, match="max_context"):
        graph.step(30, 1000)
    graph.step(24, 1000)  # exactly 1024 positions is fine


CAUSAL_MODELS = ["gpt2-small", "qwen2.5-math-1.5b-instruct", "qwen2.5-math-prm-7b", "skywork-prm-1.5b"]


@settings(max_examples=40, deadline=None)
@given(
    name=st.sampled_from(CAUSAL_MODELS),
    n=st.integers(1, 40),
    past=st.integers(0, 300),
    batch=st.integers(1, 4),
)
def test_prefill_equals_sum_of_decode_steps(name, n, past, batch):
    """Causal accounting: one prefill of n tokens costs what n single-token steps cost, except the head
    (and its final norm), which generation runs once per step and a prefill once."""
    graph = ModelGraph(get_model(name))
    body = lambda costs: [c for c in costs if c.op.layer is not None]  # noqa: E731

    def sums(costs):
        out = {}
        for c in body(costs):
            key = c.op.kind
            out[key] = out.get(key, 0) + c.flops
            out["kv_write"] = out.get("kv_write", 0) + c.kv_write_bytes
        return out

    prefill_costs = graph.step(n, past, batch=batch)
    decode_costs = [graph.step(1, past + i, batch=batch) for i in range(n)]
    prefill = sums(prefill_costs)
    decode: dict = {}
    for costs in decode_costs:
        for key, value in sums(costs).items():
            decode[key] = decode.get(key, 0) + value
    assert prefill == decode
    # the KV cache is read once per step, so n decode steps read at least as much as one prefill
    kv_reads = lambda costs: sum(c.kv_read_bytes for c in costs)  # noqa: E731
    assert kv_reads(prefill_costs) <= sum(kv_reads(costs) for costs in decode_costs)
    # the head: once in the prefill (last position of each sequence), once per decode step
    assert prefill_costs[-1].op.name == decode_costs[0][-1].op.name
    assert prefill_costs[-1].flops == decode_costs[0][-1].flops > 0
    assert prefill_costs[-1].tokens == batch


# ---- configs: Hugging Face parsing, files, errors ------------------------------------------------

GPT2_HF = {
    "model_type": "gpt2", "n_layer": 12, "n_embd": 768, "n_head": 12, "n_inner": None,
    "vocab_size": 50257, "n_positions": 1024, "activation_function": "gelu_new",
}
LLAMA_HF = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 16, "hidden_size": 2048,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": True,
    "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
}
QWEN2_HF = {
    "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "num_hidden_layers": 28, "hidden_size": 3584,
    "num_attention_heads": 28, "num_key_value_heads": 4, "intermediate_size": 18944, "vocab_size": 152064,
    "max_position_embeddings": 4096, "tie_word_embeddings": False, "hidden_act": "silu",
}
MISTRAL_HF = {
    "model_type": "mistral", "num_hidden_layers": 32, "hidden_size": 4096, "num_attention_heads": 32,
    "num_key_value_heads": 8, "intermediate_size": 14336, "vocab_size": 32000,
    "max_position_embeddings": 32768, "tie_word_embeddings": False,
}

ARCH_FIELDS = ("family", "layers", "hidden", "heads", "kv_heads", "head_dim", "ffn", "vocab", "max_context",
               "norm", "mlp", "position", "tied_embeddings", "qkv_bias", "linear_bias", "head")


@pytest.mark.parametrize(
    "hf, zoo_name",
    [(GPT2_HF, "gpt2-small"), (LLAMA_HF, "llama-3.2-1b"), (QWEN2_HF, "qwen2.5-math-7b-instruct"),
     (MISTRAL_HF, "math-shepherd-7b")],
)
def test_from_hf_config_round_trip(hf, zoo_name):
    built, zoo = ModelConfig.from_hf_config(hf, name="x"), get_model(zoo_name)
    assert {f: getattr(built, f) for f in ARCH_FIELDS} == {f: getattr(zoo, f) for f in ARCH_FIELDS}
    assert built.params == zoo.params and built.name == "x"


def test_from_hf_config_gpt3_and_prm_head():
    gpt3 = {k: v for k, v in GPT2_HF.items() if k != "n_positions"} | {"model_type": "gpt3"}
    m = ModelConfig.from_hf_config(gpt3)
    assert (m.family, m.max_context, m.params) == ("gpt3", 2048, get_model("gpt3-small").params)
    prm = ModelConfig.from_hf_config(QWEN2_HF | {"architectures": ["Qwen2ForProcessRewardModel"]})
    assert prm.head == "prm_classifier" and prm.params == get_model("qwen2.5-math-prm-7b").params


def test_from_hf_config_errors_name_the_key():
    missing = {k: v for k, v in LLAMA_HF.items() if k != "intermediate_size"}
    with pytest.raises(ConfigError, match="intermediate_size"):
        ModelConfig.from_hf_config(missing)
    with pytest.raises(ConfigError, match="n_layer"):
        ModelConfig.from_hf_config({k: v for k, v in GPT2_HF.items() if k != "n_layer"})
    with pytest.raises(ConfigError, match="model_type.*'bert'"):
        ModelConfig.from_hf_config({**GPT2_HF, "model_type": "bert"})
    with pytest.raises(ConfigError, match="model_type"):
        ModelConfig.from_hf_config({k: v for k, v in GPT2_HF.items() if k != "model_type"})
    with pytest.raises(ConfigError, match="num_hidden_layers.*greater than 0"):
        ModelConfig.from_hf_config({**QWEN2_HF, "num_hidden_layers": -4})
    with pytest.raises(ConfigError, match="num_attention_heads"):
        ModelConfig.from_hf_config({**QWEN2_HF, "num_attention_heads": -28})
    with pytest.raises(ConfigError, match="kv_heads"):
        ModelConfig.from_hf_config({**QWEN2_HF, "num_key_value_heads": 3})
    with pytest.raises(ConfigError, match="hidden_act"):
        ModelConfig.from_hf_config({**MISTRAL_HF, "hidden_act": "gelu"})


def test_model_config_validation():
    base = get_model("llama-3.2-1b").model_dump()
    with pytest.raises(ValidationError, match=r"layers\n.*greater than 0"):
        ModelConfig(**{**base, "layers": 0})
    with pytest.raises(ValidationError, match=r"extra_field\n.*Extra inputs are not permitted"):
        ModelConfig(**{**base, "extra_field": 1})
    with pytest.raises(ValidationError, match="frozen"):
        get_model("llama-3.2-1b").layers = 3  # frozen


def test_load_model_from_files(tmp_path):
    model_dir = tmp_path / "Mistral-7B"
    model_dir.mkdir()
    path = model_dir / "config.json"
    path.write_text(json.dumps(MISTRAL_HF))
    m = load_model(None, path)
    assert m.name == "Mistral-7B" and m.params == get_model("math-shepherd-7b").params and str(path) in m.source
    assert load_model(str(path)).params == m.params
    assert load_model("my-name", path).name == "my-name"
    assert load_model("LLAMA-3.2-1B") is get_model("llama-3.2-1b")

    native = tmp_path / "native.json"
    native.write_text(get_model("gpt2-small").model_dump_json())
    assert load_model(None, native) == get_model("gpt2-small")


def test_load_model_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "model_type": "gpt2",\n  "n_layer": 12,,\n}\n')
    with pytest.raises(ConfigError, match=r"bad\.json.*line 3"):
        load_model(None, bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_model(None, tmp_path / "missing.json")
    native = tmp_path / "native.json"
    native.write_text(json.dumps({**get_model("gpt2-small").model_dump(), "layers": -1}))
    with pytest.raises(ConfigError, match=r"native\.json.*layers"):
        load_model(None, native)
    with pytest.raises(ConfigError):
        load_model(None)
