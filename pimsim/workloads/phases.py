"""Phases: a workload expanded into forward passes with exact token accounting.

A `Phase` is a run of `steps` identical-shape forward steps of one model: each of `batch` sequences
processes `new_tokens` tokens with `past_context` tokens already cached at the first step, and the
cache grows by `new_tokens` per step (a decode run has new_tokens=1; a prefill has steps=1). Costs
(FLOPs, weight bytes, KV-cache bytes read and written) come from `ModelGraph.step`. Every cost of a
step is affine in its past context (attention and KV terms grow linearly with context, the rest is
constant), so a run of steps is summed exactly in closed form; `Phase.totals` checks the affinity.

Token conventions (stated so results are checkable):
- generate: the prefill of P prompt tokens emits the first new token; G-1 decode steps follow, at
  contexts P .. P+G-2. Forward tokens per sequence: P + G - 1.
- PRM input: the question, then each step's tokens followed by one separator/tag token
  (models.md: Qwen2.5-Math-PRM separators, Skywork step tokens, Math-Shepherd tags).
- best-of-n: the shared question is prefilled once (batch 1); all N samples then decode.
- beam-search: every search step generates `step_tokens` for beam_width x expansions candidates; the PRM
  scores each candidate's new step, re-reading the whole prefix unless `prefix_reuse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator

from pimsim.errors import ConfigError
from pimsim.models import ModelConfig, ModelGraph, load_model
from pimsim.workloads.spec import (BeamSearchSpec, BestOfNSpec, GenerateSpec, McAnnotateSpec, PrmScoreSpec,
                                    check_scoring_head)

COST_KEYS = ("flops", "weight_bytes", "kv_read_bytes", "kv_write_bytes")


@lru_cache(maxsize=64)
def _graph(model: ModelConfig) -> ModelGraph:
    return ModelGraph(model)


@dataclass(frozen=True)
class Phase:
    """`steps` consecutive forward steps of `model` over `batch` sequences (see module docstring)."""

    name: str
    role: str  # policy | prm | verifier | reference
    kind: str  # prefill | decode
    model: ModelConfig
    batch: int
    new_tokens: int
    past_context: int
    steps: int = 1
    head_positions: int | None = None  # positions per sequence that run the head; None: the last one

    def __post_init__(self) -> None:
        for f in ("batch", "new_tokens", "steps"):
            if getattr(self, f) <= 0:
                raise ConfigError(f"phase {self.name}: {f} must be positive, got {getattr(self, f)}")
        if self.past_context < 0:
            raise ConfigError(f"phase {self.name}: past_context must be >= 0, got {self.past_context}")
        end = self.end_context
        if end > self.model.max_context:
            raise ConfigError(
                f"phase {self.name}: context reaches {end} tokens but {self.model.name} supports "
                f"at most {self.model.max_context}"
            )

    @property
    def weight_copy(self) -> str:
        """Which copy of `model`'s weights this phase runs on: "reference" for the implicit PRM's
        reference-model passes (models.md, "How PRMs score": 2 prefills, PRM and reference model, so two
        sets of weights are resident), "main" for every other role (policy, PRM and a generative verifier
        of the same model share one copy)."""
        return "reference" if self.role == "reference" else "main"

    @property
    def end_context(self) -> int:
        """Tokens in each sequence's cache after the last step."""
        return self.past_context + self.steps * self.new_tokens

    @property
    def tokens(self) -> int:
        """Tokens processed by forward passes (all sequences, all steps)."""
        return self.batch * self.steps * self.new_tokens

    def step_costs(self, step: int, dtype_bytes: int = 2):
        """Per-op costs (`OpCost` list) of step `step` (0-based) of this phase."""
        return _graph(self.model).step(
            self.new_tokens,
            self.past_context + step * self.new_tokens,
            batch=self.batch,
            dtype_bytes=dtype_bytes,
            head_positions=self.head_positions,
        )

    def _step_totals(self, step: int, dtype_bytes: int) -> dict[str, int]:
        out = dict.fromkeys(COST_KEYS, 0)
        for c in self.step_costs(step, dtype_bytes):
            for k in COST_KEYS:
                out[k] += getattr(c, k)
        return out

    def totals(self, dtype_bytes: int = 2) -> dict[str, int]:
        """Exact sums over all steps: FLOPs, weight bytes, KV bytes read/written, tokens."""
        first = self._step_totals(0, dtype_bytes)
        out = dict(first)
        if self.steps > 1:
            second = self._step_totals(1, dtype_bytes)
            last = self._step_totals(self.steps - 1, dtype_bytes)
            n = self.steps
            for k in COST_KEYS:
                slope = second[k] - first[k]
                if first[k] + (n - 1) * slope != last[k]:
                    raise AssertionError(f"{k} of {self.name} is not affine in context; closed form invalid")
                out[k] = n * first[k] + slope * n * (n - 1) // 2
        out["tokens"] = self.tokens
        return out


@dataclass(frozen=True)
class ResidentCopy:
    """One copy of a model's weights resident for the whole workload, and the KV cache it needs: for the
    most sequences (`sequences`) and the longest context (`context`) any of its phases holds."""

    model: ModelConfig
    copy: str  # Phase.weight_copy: "main" or "reference"
    sequences: int
    context: int

    @property
    def label(self) -> str:
        return self.model.name if self.copy == "main" else f"{self.model.name} ({self.copy} copy)"


@dataclass(frozen=True)
class Workload:
    """A workload spec expanded into phases, in execution order."""

    spec: object
    phases: tuple[Phase, ...]
    generated_tokens: int  # new tokens a user would count (policy outputs; verifier CoT for generative)
    problems: int = 1
    notes: tuple[str, ...] = field(default=())

    def __iter__(self) -> Iterator[Phase]:
        return iter(self.phases)

    @property
    def result_tokens(self) -> int:
        """Tokens per-token figures divide by (every machine the same): the generated tokens; for pure
        PRM scoring (none generated) the scored solution tokens, solutions x steps x step_tokens
        (question and separator tokens excluded); failing both, the forward tokens of all phases."""
        if self.generated_tokens:
            return int(self.generated_tokens)
        spec = self.spec
        sols = getattr(spec, "solutions", None) or getattr(spec, "n", None)
        if sols and getattr(spec, "steps", None) and getattr(spec, "step_tokens", None):
            return int(sols * spec.steps * spec.step_tokens)
        return int(sum(p.tokens for p in self.phases))

    def resident_copies(self) -> tuple[ResidentCopy, ...]:
        """Every distinct weight copy the workload holds at once (one per model and `Phase.weight_copy`,
        in order of first use), each with the KV cache of its largest phase. Capacity checks on every
        machine (PIM and baselines) count these, so an implicit PRM's reference model is not missed."""
        seen: dict[tuple[ModelConfig, str], ResidentCopy] = {}
        for ph in self.phases:
            key = (ph.model, ph.weight_copy)
            prev = seen.get(key)
            seqs = max(ph.batch, prev.sequences if prev else 0)
            ctx = max(ph.end_context, prev.context if prev else 0)
            seen[key] = ResidentCopy(ph.model, ph.weight_copy, seqs, ctx)
        return tuple(seen.values())

    def totals(self, dtype_bytes: int = 2) -> dict[str, int]:
        out = dict.fromkeys(COST_KEYS + ("tokens",), 0)
        for p in self.phases:
            for k, v in p.totals(dtype_bytes).items():
                out[k] += v
        return out


Resolver = Callable[[str], ModelConfig]


def _prm_phases(model: ModelConfig, solutions: int, q: int, steps: int, t: int, scoring: str,
                verify_tokens: int | None, kind: str, prefix: str = "prm") -> list[Phase]:
    """PRM scoring of `solutions` solutions (models.md, "How PRMs score") in a `kind` workload."""
    check_scoring_head(scoring, model, kind)
    length = q + steps * (t + 1)
    if scoring == "single-pass":
        return [Phase(f"{prefix}.score", "prm", "prefill", model, solutions, length, 0, head_positions=steps)]
    if scoring == "per-step-prefix":
        return [
            Phase(f"{prefix}.score.step{s}", "prm", "prefill", model, solutions, q + s * (t + 1), 0, head_positions=1)
            for s in range(1, steps + 1)
        ]
    if scoring == "implicit":
        answer = steps * t
        plain = q + answer
        return [
            Phase(f"{prefix}.score", "prm", "prefill", model, solutions, plain, 0, head_positions=answer),
            Phase(f"{prefix}.reference", "reference", "prefill", model, solutions, plain, 0, head_positions=answer),
        ]
    if scoring == "generative":
        plain = q + steps * t
        phases = [Phase(f"{prefix}.verify.prefill", "verifier", "prefill", model, solutions, plain, 0)]
        if verify_tokens > 1:
            phases.append(Phase(f"{prefix}.verify.decode", "verifier", "decode", model, solutions, 1, plain,
                                steps=verify_tokens - 1))
        return phases
    raise ConfigError(f"unknown scoring {scoring!r}")


def expand(spec, model: ModelConfig | None = None, resolve: Resolver = lambda n: load_model(n)) -> Workload:
    """Expand a validated spec into phases. `model` serves kinds with one model (generate, prm-score)."""

    def one_model() -> ModelConfig:
        if model is not None:
            return model
        if getattr(spec, "model", None):
            return resolve(spec.model)
        raise ConfigError(f"workload {spec.kind}: no model given (use --model NAME or --model-config FILE)")

    if isinstance(spec, GenerateSpec):
        m = one_model()
        phases = [Phase("prefill", "policy", "prefill", m, spec.batch, spec.prompt, 0)]
        if spec.generate > 1:
            phases.append(Phase("decode", "policy", "decode", m, spec.batch, 1, spec.prompt, steps=spec.generate - 1))
        return Workload(spec, tuple(phases), generated_tokens=spec.batch * spec.generate)

    if isinstance(spec, PrmScoreSpec):
        m = one_model()
        phases = _prm_phases(m, spec.solutions, spec.question_tokens, spec.steps, spec.step_tokens,
                             spec.scoring, spec.verify_tokens, spec.kind)
        gen = spec.solutions * spec.verify_tokens if spec.scoring == "generative" else 0
        return Workload(spec, tuple(phases), generated_tokens=gen)

    if isinstance(spec, BestOfNSpec):
        policy, prm = resolve(spec.policy), resolve(spec.prm)
        answer = spec.steps * spec.step_tokens
        phases = [Phase("policy.prefill", "policy", "prefill", policy, 1, spec.question_tokens, 0)]
        if answer > 1:
            phases.append(Phase("policy.decode", "policy", "decode", policy, spec.n, 1, spec.question_tokens,
                                steps=answer - 1))
        phases += _prm_phases(prm, spec.n, spec.question_tokens, spec.steps, spec.step_tokens, spec.scoring,
                              spec.verify_tokens, spec.kind)
        return Workload(spec, tuple(phases), generated_tokens=spec.n * answer)

    if isinstance(spec, BeamSearchSpec):
        policy, prm = resolve(spec.policy), resolve(spec.prm)
        q, t, cand = spec.question_tokens, spec.step_tokens, spec.beam_width * spec.expansions
        phases = [Phase("policy.prefill", "policy", "prefill", policy, 1, q, 0)]
        if spec.prefix_reuse:
            phases.append(Phase("prm.prefill.question", "prm", "prefill", prm, 1, q, 0, head_positions=0))
        for s in range(1, spec.steps + 1):
            phases.append(Phase(f"policy.decode.step{s}", "policy", "decode", policy, cand, 1, q + (s - 1) * t,
                                steps=t))
            if spec.prefix_reuse:
                phases.append(Phase(f"prm.score.step{s}", "prm", "prefill", prm, cand, t + 1,
                                    q + (s - 1) * (t + 1), head_positions=1))
            else:
                phases.append(Phase(f"prm.score.step{s}", "prm", "prefill", prm, cand, q + s * (t + 1), 0,
                                    head_positions=s))
        return Workload(spec, tuple(phases), generated_tokens=cand * spec.steps * t)

    if isinstance(spec, McAnnotateSpec):
        # Math-Shepherd: per boundary s the prefix (question + s steps) is prefilled once, its last position's
        # logits give every rollout's first token (as generate's prefill does), and the rollouts share the
        # prefix's KV while each decodes its remaining (S - s) x T - 1 tokens
        policy = resolve(spec.policy)
        q, t, big_s, k = spec.question_tokens, spec.step_tokens, spec.steps, spec.rollouts
        phases = []
        for s in range(1, big_s):
            prefix, rest = q + s * t, (big_s - s) * t
            phases.append(Phase(f"policy.prefill.boundary{s}", "policy", "prefill", policy, 1, prefix, 0))
            if rest > 1:
                phases.append(Phase(f"policy.rollout.boundary{s}", "policy", "decode", policy, k, 1, prefix,
                                    steps=rest - 1))
        return Workload(spec, tuple(phases), generated_tokens=k * t * big_s * (big_s - 1) // 2)

    raise ConfigError(f"unknown workload spec {type(spec).__name__}")
