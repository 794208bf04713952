"""`Result`: what every run returns (PIM simulation or baseline), and its JSON form.

A result is "same workload, one machine": end-to-end latency and energy, the tokens a user counts
(generated tokens; see `Workload.generated_tokens`), per-phase figures and breakdowns by category, and
the exact configuration it came from (hashable), so two results are comparable and reproducible.

Per-token latency is reported per phase role, never as one figure that mixes prefill and decode
(token conventions: `pimsim.workloads.phases`):

- the *generating role* is `policy` when the workload has policy phases (generate, best-of-n,
  beam-search), else `verifier` (generative PRM scoring), else none (PRM scoring without generation);
- `ttft_s` (time to first token): latency of the generating role's prefill phases, which emit its first
  token (generate: the prefill; best-of-n, beam-search: `policy.prefill`; generative scoring:
  `prm.verify.prefill`). Phases of other roles (PRM scoring between beam steps, a prefix prefill of
  the PRM) count in `latency_s` only. Without a generating role (scoring only) the scores are the
  first output: ttft_s = latency_s;
- `tpot_s` (time per output token): latency of the generating role's decode phases over its decode
  tokens per sequence (a step of a batch of B sequences emits one token of each, so B sequences
  decoding G-1 steps give tpot = decode time / (G-1)); None when it has no decode phase (scoring
  only, or generate with G = 1);
- `latency_s`: end to end, every phase; `e2e_latency_per_token_s` = latency_s / tokens (the old
  `latency_per_token_s`; for long prompts it is dominated by the prefill, so it is not a TPOT).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class PhaseResult:
    """Time and energy of one workload phase; `role`, `kind` and `batch` are the `Phase`'s (None if the
    builder did not give them: then ttft/tpot are unknown, reported as None)."""

    name: str
    latency_s: float
    energy_j: float
    tokens: int
    breakdown_s: dict[str, float] = field(default_factory=dict)
    breakdown_j: dict[str, float] = field(default_factory=dict)
    role: str | None = None  # policy | prm | verifier | reference
    kind: str | None = None  # prefill | decode
    batch: int = 1

    @classmethod
    def of(cls, phase: Any, latency_s: float, energy_j: float, breakdown_s: dict[str, float] | None = None,
           breakdown_j: dict[str, float] | None = None) -> "PhaseResult":
        """The result of `phase` (a `pimsim.workloads.Phase`), carrying its name, tokens, role, kind, batch."""
        return cls(phase.name, latency_s, energy_j, phase.tokens, dict(breakdown_s or {}), dict(breakdown_j or {}),
                   role=phase.role, kind=phase.kind, batch=phase.batch)

    @property
    def tokens_per_sequence(self) -> float:
        return self.tokens / self.batch


def generating_role(phases: tuple[PhaseResult, ...]) -> str | None:
    """`policy` if any phase is the policy's, else `verifier` if any, else None (module docstring)."""
    roles = {p.role for p in phases}
    return next((r for r in ("policy", "verifier") if r in roles), None)


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
    def e2e_latency_per_token_s(self) -> float:
        """End-to-end latency (every phase, prefill included) / `tokens`; not a time per output token."""
        return self.latency_s / self.tokens if self.tokens else float("nan")

    def _known_phases(self) -> bool:
        return bool(self.phases) and all(p.role is not None and p.kind is not None for p in self.phases)

    @property
    def ttft_s(self) -> float | None:
        """Time to first token: the generating role's prefill phases (module docstring); None if the
        phases do not say their role and kind."""
        if not self._known_phases():
            return None
        role = generating_role(self.phases)
        if role is None:
            return self.latency_s
        return sum(p.latency_s for p in self.phases if p.role == role and p.kind == "prefill")

    @property
    def tpot_s(self) -> float | None:
        """Time per output token: the generating role's decode time / its decode tokens per sequence;
        None without decode phases (module docstring)."""
        if not self._known_phases():
            return None
        role = generating_role(self.phases)
        decode = [p for p in self.phases if p.role == role and p.kind == "decode"]
        tokens = sum(p.tokens_per_sequence for p in decode)
        return sum(p.latency_s for p in decode) / tokens if tokens else None

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
        d["e2e_latency_per_token_s"] = self.e2e_latency_per_token_s if self.tokens else None
        d["ttft_s"] = self.ttft_s
        d["tpot_s"] = self.tpot_s
        d["energy_per_token_j"] = self.energy_per_token_j if self.tokens else None
        d["config_hash"] = self.config_hash
        return d


def config_hash(config: dict[str, Any]) -> str:
    """Stable SHA-256 (first 16 hex digits) of a JSON-serialisable configuration."""
    blob = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
