"""PIM capacity: every weight copy a workload holds at once, with its KV cache, must fit the machine.

What is counted (`Workload.resident_copies`): one copy of the weights per model and `Phase.weight_copy`
(an implicit PRM's reference model is a second copy of the same weights), each with the KV cache its
mapper reserves (`Mapper.required_bytes`) for the most sequences and the longest context its phases
reach. All copies stay resident for the whole workload, so their sums must fit `Hardware.capacity_bytes`.
Activations live in the ASIC's SRAM, not in the PIM DRAM, so they are not counted.
"""

from __future__ import annotations

from typing import Callable

from pimsim.errors import CapacityError
from pimsim.hardware import Hardware
from pimsim.models import ModelConfig
from pimsim.workloads import Workload


MapperOf = Callable[[ModelConfig], object]  # model -> its `Mapper` (SystemSimulator.mapper)


def pim_required_bytes(workload: Workload, mapper_of: MapperOf) -> list[tuple[str, dict[str, int]]]:
    """(label, {weights_bytes, kv_cache_bytes, total_bytes}) per resident weight copy of `workload`."""
    return [(c.label, mapper_of(c.model).required_bytes(c.sequences, c.context))
            for c in workload.resident_copies()]


def check_pim_capacity(workload: Workload, hw: Hardware, mapper_of: MapperOf) -> None:
    """CapacityError unless every resident weight copy of `workload` and its KV cache fit `hw` together.

    A copy too big on its own gets its mapper's message (sequences x reserved tokens); otherwise the sum
    is reported copy by copy (weights + KV cache) against the preset's bytes."""
    copies = workload.resident_copies()
    for c in copies:
        mapper_of(c.model).check_capacity(c.sequences, c.context)
    need = pim_required_bytes(workload, mapper_of)
    total = sum(n["total_bytes"] for _, n in need)
    if total > hw.capacity_bytes:
        parts = "; ".join(f"{label}: weights {n['weights_bytes']:,} + KV cache {n['kv_cache_bytes']:,}"
                          for label, n in need)
        raise CapacityError(f"models of the workload do not fit {hw.name} together: require {total:,} bytes "
                            f"({parts}) but the preset has {hw.capacity_bytes:,} bytes; use a preset with more "
                            "channels or fewer sequences")
