"""Software stacks: which kernels a framework launches for a model's ops (a registry, `STACKS`).

The same model runs as different kernels under different software: a serving stack fuses RMSNorm and
SiLU x up into one kernel each, reads grouped-query K/V once per KV head and appends K/V to its cache,
while a plain PyTorch harness may run RMSNorm as eight elementwise ops in fp32, SiLU and the product as
two, and copy K/V to every query head (`repeat_interleave`) before attention. A measurement is only
comparable with the kernels that produced it, so each measured row names its stack (the `stack` column of
a measurement CSV, `pimsim.baselines.fit`) and a preset's predictions use its `software_stack`.

A stack rewrites the kernel list of `pimsim.baselines.kernels` (module docstring there) per op:
- `kv_append`: K and V are copied into the cache by two kernels per layer (False: nothing is cached);
- `rotary`: the rotary-embedding kernel runs (False: the harness has none);
- `rms_norm_kernels` / `rms_norm_bytes_per_element`: an RMSNorm over T x d elements as that many
  kernels moving that many bytes per element (None: the graph's fused bytes, read + write at dtype);
- `gated_activation_kernels` / `gated_activation_bytes_per_element`: SiLU(gate) x up over T x ffn
  elements likewise;
- `gqa_expand`: grouped-query K and V are copied to every query head before attention (two copy kernels per
  layer, each reading the T x kv_heads x head_dim rows and writing T x heads x head_dim), and attention
  reads the expanded copies;
- `attention_output_copy`: the attention output is transposed to (T, d) by a copy kernel (read + write);
- `final_norm`: the norm before the head runs (False: the harness applies the head to the last block's output).
"""

from __future__ import annotations

from dataclasses import dataclass

from pimsim.errors import ConfigError


@dataclass(frozen=True)
class SoftwareStack:
    name: str
    description: str
    source: str
    kv_append: bool = True
    rotary: bool = True
    rms_norm_kernels: int = 1
    rms_norm_bytes_per_element: float | None = None
    gated_activation_kernels: int = 1
    gated_activation_bytes_per_element: float | None = None
    gqa_expand: bool = False
    attention_output_copy: bool = False
    final_norm: bool = True


# Unfused RMSNorm of the measuring tool (`x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + eps)
# .to(x.dtype) * w`, ../shared/tools/measure_gpu_baseline.py Decoder.norm) at 2-byte x: x.float() reads 2
# and writes 4 bytes per element, pow(2) reads and writes 4, mean reads 4, x * r reads and writes 2, * w
# reads and writes 2: 26 bytes per element in 8 kernels (the + eps, rsqrt and .to act on one value per row).
_UNFUSED_RMS_BYTES = 2 + 4 + 4 + 4 + 4 + 2 + 2 + 2 + 2
# F.silu(gate) reads 2 (a strided view of gate_up) and writes 2; the product reads 2 + 2 and writes 2.
_SPLIT_SILU_BYTES = 2 + 2 + 2 + 2 + 2

STACKS: dict[str, SoftwareStack] = {s.name: s for s in (
    SoftwareStack(
        name="serving",
        description="a serving stack's kernels: fused RMSNorm / LayerNorm, one SiLU x up kernel, rotary as one "
                    "kernel, grouped-query K/V read once per KV head by fused attention, K/V appended to the "
                    "cache by two kernels per layer",
        source="the kernels of tools/measure_gpu_large.py FusedDecoder (F.rms_norm, grouped attention) and of "
               "../shared/tools/measure_gpu_baseline.py's gpt-style decoder, which the decode rows measured"),
    SoftwareStack(
        name="torch-prefill-harness",
        description="tools/measure_gpu_prefill.py: no KV cache written, no rotary, RMSNorm as 8 fp32 "
                    "elementwise kernels, SiLU and the product as 2, grouped-query K/V repeated to every query "
                    "head before scaled_dot_product_attention, the attention output transposed by a copy",
        source="tools/measure_gpu_prefill.py prefill() and ../shared/tools/measure_gpu_baseline.py Decoder.norm",
        kv_append=False, rotary=False, rms_norm_kernels=8, rms_norm_bytes_per_element=_UNFUSED_RMS_BYTES,
        gated_activation_kernels=2, gated_activation_bytes_per_element=_SPLIT_SILU_BYTES, gqa_expand=True,
        attention_output_copy=True, final_norm=False),
)}


def get_stack(name: str | SoftwareStack) -> SoftwareStack:
    """The stack of that name (ConfigError naming the known stacks otherwise)."""
    if isinstance(name, SoftwareStack):
        return name
    try:
        return STACKS[name]
    except (KeyError, TypeError):
        raise ConfigError(f"unknown software stack {name!r}; known: {', '.join(STACKS)}") from None
