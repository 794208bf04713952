"""What ops add up to: time by category, the inputs of the energy model, and counters."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field


@dataclass
class Tally:
    """Accumulated time (s) by category, energy inputs and counters of some ops."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    commands: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    asic_flops: float = 0.0
    asic_sram_bytes: float = 0.0
    link_bytes: float = 0.0
    row_hits: float = 0.0
    row_misses: float = 0.0
    pim_busy_s: float = 0.0
    weight_pim_s: float = 0.0
    attention_pim_s: float = 0.0

    _SCALARS = ("asic_flops", "asic_sram_bytes", "link_bytes", "row_hits", "row_misses", "pim_busy_s",
                "weight_pim_s", "attention_pim_s")

    def add(self, other: "Tally", times: float = 1.0) -> None:
        for k, v in other.seconds.items():
            self.seconds[k] += v * times
        for k, v in other.commands.items():
            self.commands[k] += v * times
        for name in self._SCALARS:
            setattr(self, name, getattr(self, name) + getattr(other, name) * times)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


def clean(d: dict[str, float]) -> dict[str, float]:
    """Non-zero entries as plain floats, sorted by key (the form results carry)."""
    return {k: float(v) for k, v in sorted(d.items()) if v}
