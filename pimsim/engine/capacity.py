"""PIM capacity: every weight copy a workload holds at once, with its KV cache, must fit the machine.

What is counted: one copy of the weights per model and `Phase.weight_copy` (`Workload.resident_copies`;
an implicit PRM's reference model is a second copy of the same weights), each with the KV cache its
mapper reserves:
- `attention.reserve: workload`: the KV the workload holds at once (`pimsim.workloads.residency.
  resident_kv`: with prefix sharing, a prefix shared by a group of sequences counted once per group, e.g.
  best-of-N's question once for all N samples; with `prefix_sharing: false` / `--no-prefix-sharing`
  every sequence's own copy), token-granular (a paged cache), at the mapper's bytes per token
  (`Mapper.kv_bytes_per_token`: V stored under every head it serves with `value_split: channels`);
- `attention.reserve: max_context` (PIM-GPT's published layout): a fixed region of the model's maximum
  context per sequence, for the most sequences any phase of the copy runs (`Mapper.required_bytes`); a
  fixed per-sequence region cannot hold a shared prefix once, so sharing saves nothing there.
All copies stay resident for the whole workload, so their sums must fit `Hardware.capacity_bytes`.
Activations live in the ASIC's SRAM, not in the PIM DRAM, so they are not counted.
"""

from __future__ import annotations

from typing import Callable

from pimsim.errors import CapacityError
from pimsim.hardware import Hardware
from pimsim.models import ModelConfig
from pimsim.workloads import Workload, resident_kv
from pimsim.workloads.residency import sharing_of

MapperOf = Callable[[ModelConfig], object]  # model -> its `Mapper` (SystemSimulator.mapper)


def reserved_kv(mapper, copy, resident_tokens: int) -> tuple[int, str]:
    """(KV-cache bytes `mapper` reserves for weight copy `copy`, what they hold in words) (module
    docstring): `resident_tokens` (the copy's `resident_kv` tokens) under `reserve: workload`, else
    sequences x the model's maximum context."""
    per_token = mapper.kv_bytes_per_token()
    if mapper.mapping.attention.reserve == "workload":
        return resident_tokens * per_token, f"{resident_tokens:,} resident tokens"
    ctx = mapper.reserved_context()
    return copy.sequences * ctx * per_token, f"{copy.sequences} sequence(s) x {ctx} tokens"


def pim_required_bytes(workload: Workload, mapper_of: MapperOf) -> list[tuple[str, dict[str, int]]]:
    """(label, {weights_bytes, kv_cache_bytes, total_bytes}) per resident weight copy of `workload`."""
    return [(label, need) for label, need, _ in _needs(workload, mapper_of)]


def _needs(workload: Workload, mapper_of: MapperOf) -> list[tuple[str, dict[str, int], str]]:
    kv_tokens = resident_kv(workload)  # the spec's prefix_sharing
    out = []
    for c in workload.resident_copies():
        mapper = mapper_of(c.model)
        weights = mapper.required_bytes(0)["weights_bytes"]
        kv, what = reserved_kv(mapper, c, kv_tokens[c.label].tokens)
        out.append((c.label, {"weights_bytes": weights, "kv_cache_bytes": kv, "total_bytes": weights + kv}, what))
    return out


def check_pim_capacity(workload: Workload, hw: Hardware, mapper_of: MapperOf) -> None:
    """CapacityError unless every resident weight copy of `workload` and its KV cache fit `hw` together.

    A copy too big on its own is reported alone (weights + KV cache and what the cache holds); otherwise the
    sum is reported copy by copy (weights + KV cache) against the preset's bytes."""
    need = _needs(workload, mapper_of)
    have = hw.capacity_bytes
    sharing = "on" if sharing_of(workload) else "off"
    for label, n, what in need:
        if n["total_bytes"] > have:
            raise CapacityError(
                f"{label} does not fit {hw.name}: requires {n['total_bytes']:,} bytes (weights "
                f"{n['weights_bytes']:,} + KV cache {n['kv_cache_bytes']:,} for {what}; prefix sharing {sharing}) "
                f"but the preset has {have:,} bytes ({hw.dram.channels} channels x {hw.dram.channel_bytes:,}); "
                "use a preset with more channels or fewer sequences")
    total = sum(n["total_bytes"] for _, n, _ in need)
    if total > have:
        parts = "; ".join(f"{label}: weights {n['weights_bytes']:,} + KV cache {n['kv_cache_bytes']:,}"
                          for label, n, _ in need)
        raise CapacityError(f"models of the workload do not fit {hw.name} together: require {total:,} bytes "
                            f"({parts}; prefix sharing {sharing}) but the preset has {hw.capacity_bytes:,} bytes; "
                            "use a preset with more channels or fewer sequences")
