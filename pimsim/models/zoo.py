"""Built-in model zoo: the 8 GPT models of the PIM-GPT evaluation and the policy / process-reward models.

Architectures follow ../shared/reference/models.md (each model's own config.json or paper). Every entry
carries `published_params` (model card or paper) so tests can check that the architecture we build has
the size its authors report. Where the published figure is a rounded name, or counts weights that
inference never reads, the comment at the entry says what we chose and why.

Readouts: Math-Shepherd and RLHFlow PRMs read '+'/'-' out of the full LM-head logits, so their head is
``lm``; projecting onto only those rows is a workload choice, made by a copy of the config with
``head="lm_restricted"`` (``head_tokens=2``).
"""

from __future__ import annotations

from pimsim.errors import UnknownNameError
from pimsim.models.config import ModelConfig

_GPT2_VOCAB = 50257
_GPT3_PAPER = "Brown et al. 2020, Language Models are Few-Shot Learners, Table 2.1 (GPT-2 architecture, context 2048)"


def _gpt(name: str, family: str, layers: int, hidden: int, heads: int, context: int, published: int, source: str) -> ModelConfig:
    """A GPT-2-style model: pre-LayerNorm, GELU MLP of width 4d, learned positions, tied embeddings, biases."""
    return ModelConfig(
        name=name,
        family=family,
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=heads,
        head_dim=hidden // heads,
        ffn=4 * hidden,
        vocab=_GPT2_VOCAB,
        max_context=context,
        norm="layernorm",
        mlp="gelu",
        position="learned",
        tied_embeddings=True,
        qkv_bias=True,
        linear_bias=True,
        head="lm",
        published_params=published,
        source=source,
    )


def _rotary(
    name: str,
    family: str,
    layers: int,
    hidden: int,
    heads: int,
    kv_heads: int,
    head_dim: int,
    ffn: int,
    vocab: int,
    context: int,
    tied: bool,
    head: str,
    published: int,
    source: str,
) -> ModelConfig:
    """A Llama-style model: pre-RMSNorm, SiLU-gated MLP, rotary positions, GQA; Qwen2 adds q/k/v biases."""
    return ModelConfig(
        name=name,
        family=family,
        layers=layers,
        hidden=hidden,
        heads=heads,
        kv_heads=kv_heads,
        head_dim=head_dim,
        ffn=ffn,
        vocab=vocab,
        max_context=context,
        norm="rmsnorm",
        mlp="silu_gated",
        position="rotary",
        tied_embeddings=tied,
        qkv_bias=family == "qwen2",
        linear_bias=False,
        head=head,
        published_params=published,
        source=source,
    )


def _qwen_1_5b(name: str, tied: bool, head: str, context: int, published: int, source: str) -> ModelConfig:
    return _rotary(name, "qwen2", 28, 1536, 12, 2, 128, 8960, 151936, context, tied, head, published, source)


def _qwen_7b(name: str, head: str, published: int, source: str) -> ModelConfig:
    return _rotary(name, "qwen2", 28, 3584, 28, 4, 128, 18944, 152064, 4096, False, head, published, source)


def _llama_8b_class(name: str, family: str, vocab: int, context: int, published: int, source: str) -> ModelConfig:
    """Mistral-7B-v0.1 and Llama-3.1-8B share L=32, d=4096, 32/8 heads of 128, FFN 14336."""
    return _rotary(name, family, 32, 4096, 32, 8, 128, 14336, vocab, context, False, "lm", published, source)


_MODELS: tuple[ModelConfig, ...] = (
    # ---- GPT-2 (Radford et al. 2019); counts as Hugging Face reports them (wte, wpe 1024 x d, tied head)
    _gpt("gpt2-small", "gpt2", 12, 768, 12, 1024, 124_439_808, "openai-community/gpt2 config.json"),
    _gpt("gpt2-medium", "gpt2", 24, 1024, 16, 1024, 355_000_000, "openai-community/gpt2-medium config.json"),
    _gpt("gpt2-large", "gpt2", 36, 1280, 20, 1024, 774_000_000, "openai-community/gpt2-large config.json"),
    _gpt("gpt2-xl", "gpt2", 48, 1600, 25, 1024, 1_558_000_000, "openai-community/gpt2-xl config.json"),
    # ---- GPT-3 (paper Table 2.1 sizes are model names, rounded: see PUBLISHED_TOLERANCE)
    _gpt("gpt3-small", "gpt3", 12, 768, 12, 2048, 125_000_000, _GPT3_PAPER),
    # built: 355,871,744; the paper names it "350M" (1.7 % below the count of the layers it lists)
    _gpt("gpt3-medium", "gpt3", 24, 1024, 16, 2048, 350_000_000, _GPT3_PAPER),
    _gpt("gpt3-large", "gpt3", 24, 1536, 16, 2048, 760_000_000, _GPT3_PAPER),
    # the paper prints 24 heads x 128, but 24 x 128 != 2048; implementations use 16 x 128.
    # built: 1,315,723,264; the paper's "1.3B" is rounded to two digits (1.2 % low)
    _gpt("gpt3-xl", "gpt3", 24, 2048, 16, 2048, 1_300_000_000, _GPT3_PAPER),
    # GPT-3 175B (Table 2.1: 96 layers, d 12288, 96 heads of 128), the model of AttAcc's evaluation (its
    # src/config.py GPT-175B: [96, 12288, 96, 128, ff x4]); built: 174,604,259,328, "175B" is rounded (0.2 % low)
    _gpt("gpt3-175b", "gpt3", 96, 12288, 96, 2048, 175_000_000_000, _GPT3_PAPER),
    # ---- Qwen2.5-Math policies (Yang et al. 2024, Qwen2.5-Math technical report)
    _qwen_1_5b("qwen2.5-math-1.5b-instruct", True, "lm", 4096, 1_540_000_000, "Qwen/Qwen2.5-Math-1.5B-Instruct config.json; card: 1.54B"),
    _qwen_7b("qwen2.5-math-7b-instruct", "lm", 7_620_000_000, "Qwen/Qwen2.5-Math-7B-Instruct config.json; card: 7.62B"),
    # ---- Qwen2.5-Math-PRM (Zhang et al. 2025, The Lessons of Developing PRMs): classifier head, no LM head
    # card: 7.07B; built: 7,083,474,946 (7.62B base - 545M LM head + 12.9M classifier)
    _qwen_7b("qwen2.5-math-prm-7b", "prm_classifier", 7_070_000_000, "Qwen/Qwen2.5-Math-PRM-7B config.json and model card"),
    # 72B: we found no clear published count for the model without an LM head. The base Qwen2.5-72B card
    # says 72.7B including its untied 1.25B LM head; 72.7B - 1.25B + 0.07B (classifier) = 71.5B, which we
    # use. Built: 71,527,628,802. This figure is derived from the base card, not printed by Qwen.
    _rotary(
        "qwen2.5-math-prm-72b", "qwen2", 80, 8192, 64, 8, 128, 29568, 152064, 4096, False, "prm_classifier",
        71_500_000_000, "Qwen/Qwen2.5-Math-PRM-72B model card; architecture of Qwen/Qwen2.5-Math-RM-72B config.json",
    ),
    # ---- Skywork-o1-Open-PRM (Skywork o1 Open team 2024): value head Linear(d,1)+bias on the last hidden state.
    # 1.5B: tied embeddings, so dropping the LM head removes nothing; card 1.54B.
    _qwen_1_5b("skywork-prm-1.5b", True, "value", 4096, 1_540_000_000, "Skywork/Skywork-o1-Open-PRM-Qwen-2.5-1.5B config.json"),
    # 7B: the checkpoint still ships the base model's untied lm_head (545M), which scoring never reads
    # (vLLM's Qwen2ForPrmModel skips lm_head.*). We build and publish the model without it:
    # 7.62B (Qwen2.5-Math-7B-Instruct card) - 0.545B = 7.07B.
    _qwen_7b("skywork-prm-7b", "value", 7_070_000_000, "Skywork/Skywork-o1-Open-PRM-Qwen-2.5-7B; base Qwen2.5-Math-7B-Instruct config.json"),
    # ---- LM-head readout PRMs
    _llama_8b_class(
        "math-shepherd-7b", "mistral", 32000, 32768, 7_240_000_000,
        "peiyi9979/math-shepherd-mistral-7b-prm (Wang et al. 2024); mistralai/Mistral-7B-v0.1 config.json, card 7.24B",
    ),
    _llama_8b_class(
        "rlhflow-8b-prm", "llama", 128256, 131072, 8_030_000_000,
        "RLHFlow/Llama3.1-8B-PRM-Deepseek-Data; meta-llama/Llama-3.1-8B config.json, card 8.03B",
    ),
    # ---- ThinkPRM generative verifiers (Khalifa et al. 2025) on R1-Distill-Qwen bases (untied heads)
    _qwen_1_5b(
        "thinkprm-1.5b", False, "lm", 131072, 1_780_000_000,
        "launch/ThinkPRM-1.5B; deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B config.json, card 1.78B",
    ),
    _rotary(
        "thinkprm-14b", "qwen2", 48, 5120, 40, 8, 128, 13824, 152064, 131072, False, "lm", 14_800_000_000,
        "launch/ThinkPRM-14B; deepseek-ai/DeepSeek-R1-Distill-Qwen-14B config.json, card 14.8B",
    ),
    # ---- small Llama policies (Meta 2024), tied embeddings
    _rotary(
        "llama-3.2-1b", "llama", 16, 2048, 32, 8, 64, 8192, 128256, 131072, True, "lm", 1_240_000_000,
        "meta-llama/Llama-3.2-1B config.json, card 1.24B",
    ),
    _rotary(
        "llama-3.2-3b", "llama", 28, 3072, 24, 8, 128, 8192, 128256, 131072, True, "lm", 3_210_000_000,
        "meta-llama/Llama-3.2-3B config.json, card 3.21B",
    ),
    # ---- CENT's models (peer_studies.md, CENT: Llama2-7B/13B/70B on 8/20/32 devices), untied heads
    _rotary(
        "llama2-7b", "llama", 32, 4096, 32, 32, 128, 11008, 32000, 4096, False, "lm", 6_738_415_616,
        "meta-llama/Llama-2-7b-hf config.json; 6,738,415,616 parameters (its safetensors index)",
    ),
    _rotary(
        "llama2-13b", "llama", 40, 5120, 40, 40, 128, 13824, 32000, 4096, False, "lm", 13_015_864_320,
        "meta-llama/Llama-2-13b-hf config.json; 13,015,864,320 parameters (its safetensors index)",
    ),
    _rotary(
        "llama2-70b", "llama", 80, 8192, 64, 8, 128, 28672, 32000, 4096, False, "lm", 68_976_648_192,
        "meta-llama/Llama-2-70b-hf config.json; 68,976,648,192 parameters (its safetensors index)",
    ),
)

# EurusPRM (Cui et al. 2025, implicit PRM): a fine-tuned Qwen2.5-Math-7B-Instruct read out through its
# LM log-likelihoods (scoring also needs a reference-model prefill, which the workload adds).
_ALIASES: dict[str, tuple[str, str]] = {
    "eurus-prm-7b": ("qwen2.5-math-7b-instruct", "PRIME-RL/EurusPRM-Stage2; architecture of Qwen2.5-Math-7B-Instruct"),
}

_ZOO: dict[str, ModelConfig] = {m.name: m for m in _MODELS}
for _alias, (_target, _source) in _ALIASES.items():
    _ZOO[_alias] = _ZOO[_target].model_copy(update={"name": _alias, "source": _source})

# Relative tolerance of `params` against `published_params`: 1 % unless the published figure is a
# rounded model name. GPT-3's "350M" and "1.3B" are such names (see the entries above).
DEFAULT_PUBLISHED_TOLERANCE = 0.01
PUBLISHED_TOLERANCE: dict[str, float] = {"gpt3-medium": 0.02, "gpt3-xl": 0.02, "gpt3-175b": 0.02}


def zoo_names() -> list[str]:
    """Names of all built-in models (lower case), in zoo order."""
    return list(_ZOO)


def get_model(name: str) -> ModelConfig:
    """The built-in model `name` (case-insensitive); UnknownNameError lists the known names."""
    key = name.strip().lower()
    try:
        return _ZOO[key]
    except KeyError:
        raise UnknownNameError(f"unknown model {name!r}; known models: {', '.join(_ZOO)}") from None


def published_tolerance(name: str) -> float:
    """Relative tolerance between the built and the published parameter count of a zoo model."""
    return PUBLISHED_TOLERANCE.get(get_model(name).name, DEFAULT_PUBLISHED_TOLERANCE)
