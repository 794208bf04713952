"""`Result`: what every run returns (PIM simulation or baseline), and its JSON form.

A result is "same workload, one machine": end-to-end latency and energy, the tokens a user counts
(generated tokens; see `Workload.generated_tokens`), per-phase figures and breakdowns by category, and
the exact configuration it came from (hashable), so two results are comparable and reproducible.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PhaseResult:
    """Time and energy of one workload phase."""

    name: str
    latency_s: float
    energy_j: float
    tokens: int
    breakdown_s: dict[str, float] = field(default_factory=dict)
    breakdown_j: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    """One run on one machine. `tokens` is the count per-token figures divide by."""

    machine: str
    latency_s: float
    energy_j: float
    tokens: int
    breakdown_s: dict[str, float] = field(default_factory=dict)
    breakdown_j: dict[str, float] = field(default_factory=dict)
    phases: tuple[PhaseResult, ...] = ()
    commands: dict[str, int] = field(default_factory=dict)
    row_hit_rate: float | None = None
    counters: dict[str, float] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("latency_s", "energy_j"):
            v = getattr(self, name)
            if not math.isfinite(v) or v < 0:
                raise AssertionError(f"Result.{name} must be finite and >= 0, got {v}")

    @property
    def latency_per_token_s(self) -> float:
        return self.latency_s / self.tokens if self.tokens else float("nan")

    @property
    def energy_per_token_j(self) -> float:
        return self.energy_j / self.tokens if self.tokens else float("nan")

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict with the keys every command prints (`latency_s`, `energy_j`, ...)."""
        d = asdict(self)
        d["phases"] = [asdict(p) for p in self.phases]
        d["latency_per_token_s"] = self.latency_per_token_s if self.tokens else None
        d["energy_per_token_j"] = self.energy_per_token_j if self.tokens else None
        d["config_hash"] = self.config_hash
        return d


def config_hash(config: dict[str, Any]) -> str:
    """Stable SHA-256 (first 16 hex digits) of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
