"""Workload specifications: what a user asks to run, as validated data (YAML or CLI flags).

Kinds (flags of every command that takes a workload; YAML uses the same names with `kind:`):
- `generate`: one prompt of `prompt` tokens, then `generate` new tokens, `batch` sequences at once.
- `prm-score`: a process reward model scores `solutions` solutions of `steps` steps of `step_tokens`
  tokens after a `question_tokens` question, by one of four `scoring` methods (models.md, "How PRMs score").
- `best-of-n`: a policy samples `n` solutions, a PRM scores them.
- `beam-search`: `beam_width` beams, each expanded `expansions` ways per step for `steps` steps;
  the PRM scores every candidate step, with or without reusing the KV cache of the kept prefix.
- `mc-annotate`: Math-Shepherd's Monte Carlo step labels (models.md, "How PRMs are trained"): for a solution
  of `steps` steps of `step_tokens` after a `question_tokens` question, at each step boundary s = 1..S-1
  the policy prefills the prefix once and `rollouts` completions decode the remaining (S-s) x T tokens
  from it; generated tokens = rollouts x T x S(S-1)/2.
- `lookahead`: beam search whose candidates each roll out `lookahead` further steps before the PRM scores
  the rollout's end ("Scaling LLM test-time compute optimally", Snell et al. 2024, section 5).
- `dvts`: diverse verifier tree search: `n` / `beam_width` independent subtrees, each keeping its best node
  and expanding it `beam_width` ways per step (Beeching, Tunstall and Rush, "Scaling test-time compute
  with open models", Hugging Face 2024).
- `omega-annotate`: OmegaPRM's step labels (Luo et al. 2024): binary search for the first error of a
  solution with `rollouts` completions per probe, inside an MCTS tree that reuses its rollouts.
- `rl-rollout`: the rollout half of one PRIME / PURE reinforcement-learning step: `group` rollouts for each
  of `prompts` prompts, scored by the PRM (training FLOPs are out of scope).
Token accounting of every kind: pimsim.workloads.phases and pimsim.workloads.search; docs/workloads.md.

Token counts that accept a distribution (`TokenCount`: a whole number, or `{dist: lognormal, mean, sigma,
seed, max}` / `{dist: empirical, file, seed}`; LognormalLength, EmpiricalLength): generate's `generate`
(one draw per sequence), best-of-n's and rl-rollout's `step_tokens` (one per sample / rollout, for each of
its steps), mc-annotate's `step_tokens` (the annotated solution's, then one per rollout). Every other
count is a fixed whole number (docs/workloads.md, "Length distributions").
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import (BaseModel, ConfigDict, Field, PlainSerializer, PlainValidator, PositiveInt, TypeAdapter,
                      ValidationError, WithJsonSchema, model_validator)

from pimsim.errors import ConfigError
from pimsim.util.config_io import validate


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ------------------------------------------------------------------ token counts: fixed or a distribution

class LognormalLength(_Spec):
    """Lengths drawn from a lognormal distribution whose arithmetic mean is `mean` tokens and whose log has
    standard deviation `sigma` (so the log's mean is mu = ln(mean) - sigma^2 / 2), each rounded to the
    nearest whole token (numpy.rint: halves to even), at least 1 and at most `max` if given. Draws:
    `numpy.random.default_rng(seed).lognormal(mu, sigma, n)`, in the order the kind's docstring states, so
    one seed gives one workload."""

    dist: Literal["lognormal"]
    mean: float = Field(gt=0, le=1e7, description="arithmetic mean of the lengths, tokens")
    sigma: float = Field(ge=0, le=10, description="standard deviation of ln(length)")
    seed: int = Field(0, ge=0, description="numpy default_rng seed")
    max: PositiveInt | None = Field(None, description="lengths above this are cut to it (a max_new_tokens)")

    def sample(self, n: int) -> list[int]:
        import numpy as np

        mu = math.log(self.mean) - self.sigma ** 2 / 2
        x = np.rint(np.random.default_rng(self.seed).lognormal(mu, self.sigma, n))
        x = np.maximum(x, 1)
        if self.max is not None:
            x = np.minimum(x, self.max)
        return [int(v) for v in x]


@lru_cache(maxsize=32)
def read_histogram(path: str, mtime_ns: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(lengths, counts) of a histogram CSV with header `length,count`: lengths positive whole tokens, each
    once, counts whole numbers >= 0, not all 0. ValueError naming the file, line and field otherwise."""
    from pimsim.util.config_io import read_text

    try:
        text = read_text(path)
    except ConfigError as exc:
        raise ValueError(str(exc)) from None
    lines = [ln.strip() for ln in text.splitlines()]
    rows = [(i, ln) for i, ln in enumerate(lines, start=1) if ln and not ln.startswith("#")]
    if not rows or [c.strip() for c in rows[0][1].split(",")] != ["length", "count"]:
        raise ValueError(f"{path}: the first line must be the header `length,count`")
    lengths, counts = [], []
    for i, ln in rows[1:]:
        cells = [c.strip() for c in ln.split(",")]
        if len(cells) != 2:
            raise ValueError(f"{path}, line {i}: expected 2 cells (length,count), got {len(cells)}")
        for name, cell, low in (("length", cells[0], 1), ("count", cells[1], 0)):
            if not cell.isdigit() or int(cell) < low:
                raise ValueError(f"{path}, line {i}: {name} must be a whole number >= {low}, got {cell!r}")
        if int(cells[0]) in lengths:
            raise ValueError(f"{path}, line {i}: length {cells[0]} appears twice")
        lengths.append(int(cells[0]))
        counts.append(int(cells[1]))
    if not sum(counts):
        raise ValueError(f"{path}: no counts (every row is 0 or there are no rows)")
    return tuple(lengths), tuple(counts)


class EmpiricalLength(_Spec):
    """Lengths drawn from a histogram file (CSV `length,count`, path as given, relative to the working
    directory): `numpy.random.default_rng(seed).choice(lengths, n, p=counts / sum(counts))`."""

    dist: Literal["empirical"]
    file: str = Field(description="CSV histogram with header length,count")
    seed: int = Field(0, ge=0, description="numpy default_rng seed")

    @model_validator(mode="after")
    def _readable(self):
        self.histogram()
        return self

    def histogram(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        try:
            mtime = Path(self.file).stat().st_mtime_ns
        except OSError:
            raise ValueError(f"file: {self.file}: file not found") from None
        return read_histogram(self.file, mtime)

    def sample(self, n: int) -> list[int]:
        import numpy as np

        lengths, counts = self.histogram()
        p = np.asarray(counts, dtype=float) / sum(counts)
        return [int(v) for v in np.random.default_rng(self.seed).choice(np.asarray(lengths), size=n, p=p)]


LengthDist = Annotated[Union[LognormalLength, EmpiricalLength], Field(discriminator="dist")]
_dist_adapter = TypeAdapter(LengthDist)
DISTS = ("lognormal", "empirical")


def _token_count(value):
    """A token count: a whole number >= 1, or a distribution mapping (`dist: lognormal|empirical`)."""
    if isinstance(value, (LognormalLength, EmpiricalLength)):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, dict)):
        raise ValueError("expected a whole number of tokens or a distribution mapping ({dist: lognormal, mean: M, "
                         "sigma: S, seed: K} or {dist: empirical, file: PATH.csv})")
    if isinstance(value, int):
        if value < 1:
            raise ValueError("Input should be greater than 0 (a whole number of tokens)")
        return value
    if value.get("dist") not in DISTS:
        raise ValueError(f"dist: must be one of {', '.join(DISTS)}, got {value.get('dist')!r}")
    try:
        return _dist_adapter.validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = "".join(f"{x}: " for x in err["loc"][1:])
        msg = err["msg"].removeprefix("Value error, ")
        raise ValueError(f"{value['dist']} distribution: {where}{msg}") from None


def _dump_count(value):
    return value if isinstance(value, int) else value.model_dump(exclude_none=True)


# a token count that may be a distribution (which fields accept one: each kind's docstring)
TokenCount = Annotated[Union[int, LognormalLength, EmpiricalLength], PlainValidator(_token_count),
                       PlainSerializer(_dump_count),
                       WithJsonSchema({"anyOf": [{"type": "integer", "minimum": 1}, {"type": "object"}]})]


def draws(count, n: int) -> list[int]:
    """`n` lengths of a token count: a whole number n times, or n draws of its distribution."""
    return [count] * n if isinstance(count, int) else count.sample(n)


def is_fixed(count) -> bool:
    return isinstance(count, int)


Scoring = Literal["single-pass", "per-step-prefix", "implicit", "generative"]
SCORINGS: tuple[str, ...] = ("single-pass", "per-step-prefix", "implicit", "generative")
DEFAULT_VERIFY_TOKENS = 1024
# scoring -> PRM heads it can run on (models.md, "How PRMs score"): implicit reads the log-likelihood of
# the answer tokens and generative decodes a verification chain, so both need a full LM head; the
# single-pass and per-step readouts work on any head (classifier, value, restricted or full LM logits).
SCORING_HEADS: dict[str, tuple[str, ...]] = {
    "single-pass": ("lm", "lm_restricted", "prm_classifier", "value"),
    "per-step-prefix": ("lm", "lm_restricted", "prm_classifier", "value"),
    "implicit": ("lm",),
    "generative": ("lm",),
}


def check_scoring_head(scoring: str, model, kind: str = "prm-score") -> None:
    """ConfigError unless `model`'s head can be read by `scoring` (SCORING_HEADS). Checked where the spec
    meets its models (`expand`), so CLI flags, workload files and experiment files all get it."""
    if model.head not in SCORING_HEADS[scoring]:
        allowed = [s for s in SCORINGS if model.head in SCORING_HEADS[s]]
        prm = "model" if kind == "prm-score" else "prm"
        raise ConfigError(
            f"workload {kind}: scoring (--scoring) {scoring} needs a PRM with a full LM head (head "
            f"{', '.join(SCORING_HEADS[scoring])}), but {prm} {model.name} has a {model.head} head; scorings "
            f"allowed for {model.name}: {', '.join(allowed)}")


# fields that belong to one scoring only (with another they would be silently ignored), and their flags
_SCORING_ONLY = {"verify_tokens": ("generative", "--verify-tokens"),
                 "critique_tokens": ("generative", "--critique-tokens"),
                 "verify_chains": ("generative", "--verify-chains"),
                 "reference": ("implicit", "--reference")}
# generative scoring's defaults: a 1024-token verification chain, no critique prompt, one chain per solution
_GENERATIVE_DEFAULTS = {"verify_tokens": DEFAULT_VERIFY_TOKENS, "critique_tokens": 0, "verify_chains": 1}


class _Scored(_Spec):
    """Rules shared by specs with a `scoring`: `verify_tokens`, `critique_tokens` and `verify_chains` are
    parameters of generative scoring only (ThinkPRM: a critique prompt, then `verify_chains` parallel
    verification chains of `verify_tokens` tokens per solution), `reference` of implicit scoring only (the
    reference model of the log-likelihood ratio); with any other scoring they would be silently ignored.
    Unset, the generative ones take _GENERATIVE_DEFAULTS under generative scoring and stay None otherwise."""

    @model_validator(mode="before")
    @classmethod
    def _default_generative(cls, data):
        if isinstance(data, dict) and data.get("scoring") == "generative":
            data = {**data, **{k: v for k, v in _GENERATIVE_DEFAULTS.items()
                               if k in cls.model_fields and data.get(k) is None}}
        return data

    @model_validator(mode="after")
    def _scoring_only_fields(self):
        for name, (scoring, flag) in _SCORING_ONLY.items():
            if name in type(self).model_fields and getattr(self, name) is not None and self.scoring != scoring:
                raise ValueError(f"{name}: applies only to scoring {scoring}, but scoring is {self.scoring}; "
                                 f"drop {name} ({flag}) or use scoring {scoring}")
        if getattr(self, "prefix_reuse", False) and self.scoring == "per-step-prefix":
            raise ValueError("prefix_reuse: scoring per-step-prefix re-reads every step prefix from scratch "
                             "(models.md, RLHFlow reference code), so it cannot reuse a cached prefix; drop "
                             "prefix_reuse (--prefix-reuse) or use scoring single-pass")
        return self


_CRITIQUE = Field(None, ge=0, description="generative scoring only: prompt tokens of the critique instruction "
                                          "before the question (default 0)")
_CHAINS = Field(None, ge=1, le=4096, description="generative scoring only: parallel verification chains per "
                                                 "solution (ThinkPRM; default 1)")
_REFERENCE = Field(None, description="implicit scoring only: the reference model of the log-likelihood ratio "
                                     "(zoo name; default the PRM's own config)")
_SHARING = Field(True, description="sequences that share a prefix hold its KV cache once (resident bytes); "
                                   "false: every sequence holds its own copy")


class GenerateSpec(_Spec):
    kind: Literal["generate"] = "generate"
    model: str | None = Field(None, description="zoo name; else given by --model / --model-config")
    prompt: PositiveInt = Field(description="prompt tokens per sequence")
    generate: TokenCount = Field(description="new tokens per sequence; a distribution: one draw per sequence")
    batch: PositiveInt = 1


class PrmScoreSpec(_Scored):
    kind: Literal["prm-score"] = "prm-score"
    model: str | None = None
    solutions: PositiveInt
    question_tokens: PositiveInt
    steps: PositiveInt
    step_tokens: PositiveInt
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt | None = Field(
        None, description=f"generative scoring only: tokens of verification chain of thought per solution "
                          f"(default {DEFAULT_VERIFY_TOKENS})"
    )
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_sharing: bool = _SHARING


class BestOfNSpec(_Scored):
    kind: Literal["best-of-n"] = "best-of-n"
    policy: str
    prm: str
    n: PositiveInt
    question_tokens: PositiveInt
    steps: PositiveInt
    step_tokens: TokenCount = Field(description="tokens per step; a distribution: one draw per sample, used for each of its steps")
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt | None = Field(None, description="generative scoring only (see PrmScoreSpec)")
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_reuse: bool = Field(False, description="the PRM prefills the question once and scores every "
                                                  "solution from its KV cache (else once per solution)")
    prefix_sharing: bool = _SHARING
    streaming: bool = Field(False, description="the PRM scores each step as the policy emits it, from each "
                                               "solution's cached prefix, overlapping the policy's next step "
                                               "on another device (phases.streaming_best_of_n)")
    prune_fraction: float | None = Field(None, gt=0, lt=1, description="streaming: after prune_after_steps "
                                         "steps the lowest-scoring fraction of samples stops (floor(f n) samples)")
    prune_after_steps: PositiveInt | None = Field(None, description="streaming: steps scored before pruning")

    @model_validator(mode="after")
    def _streaming_rules(self):
        if not self.streaming:
            for name, flag in (("prune_fraction", "--prune-fraction"), ("prune_after_steps", "--prune-after-steps")):
                if getattr(self, name) is not None:
                    raise ValueError(f"{name}: pruning needs each step's scores, so it applies only with streaming "
                                     f"(--streaming); drop {flag} or add --streaming")
            return self
        if self.scoring not in ("single-pass", "implicit"):
            raise ValueError(f"streaming: scoring {self.scoring} cannot score a step as it is emitted ("
                             + ("it re-reads every step prefix from scratch" if self.scoring == "per-step-prefix"
                                else "a generative verifier reads the whole solution") + "); use scoring "
                             "single-pass or implicit, or drop streaming (--streaming)")
        if not isinstance(self.step_tokens, int):
            raise ValueError("streaming: step_tokens must be a fixed number with streaming (samples stepping "
                             "different lengths would score at different contexts in one batch)")
        if (self.prune_fraction is None) != (self.prune_after_steps is None):
            raise ValueError("prune_fraction: pruning needs both prune_fraction (--prune-fraction) and "
                             "prune_after_steps (--prune-after-steps)")
        if self.prune_after_steps is not None:
            if self.prune_after_steps >= self.steps:
                raise ValueError(f"prune_after_steps: {self.prune_after_steps} must be fewer than the "
                                 f"{self.steps} steps (pruning after the last step stops nothing)")
            if math.floor(self.prune_fraction * self.n) < 1:
                raise ValueError(f"prune_fraction: {self.prune_fraction} of n {self.n} samples prunes none "
                                 f"(floor(f n) = 0); use a larger fraction or more samples")
        return self


class _BeamFields(_Scored):
    """The fields of a beam search (and of lookahead, which adds its rollouts); not a workload kind."""

    kind: str
    policy: str
    prm: str
    beam_width: PositiveInt
    expansions: PositiveInt
    steps: PositiveInt
    step_tokens: PositiveInt
    question_tokens: PositiveInt
    prefix_reuse: bool = False
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt | None = Field(None, description="generative scoring only (see PrmScoreSpec)")
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_sharing: bool = _SHARING


class BeamSearchSpec(_BeamFields):
    kind: Literal["beam-search"] = "beam-search"


class McAnnotateSpec(_Spec):
    kind: Literal["mc-annotate"] = "mc-annotate"
    policy: str
    question_tokens: PositiveInt
    steps: int = Field(ge=2, le=10_000, description="solution steps (boundaries 1..steps-1 are labelled)")
    step_tokens: TokenCount = Field(description="tokens per step; a distribution: one draw for the annotated "
                                                "solution, then one per rollout (see McAnnotateSpec)")
    rollouts: PositiveInt = Field(description="completions decoded from each step boundary (Math-Shepherd: N)")
    prefix_sharing: bool = _SHARING


_POLICY = Field(None, description="zoo name of the policy; default the command's --model")
_PRM = Field(None, description="zoo name of the PRM; default the command's --model")


class LookaheadSpec(_BeamFields):
    """Beam search with k-step lookahead (Snell et al. 2024, section 5.2): each candidate rolls out up to
    `lookahead` further steps (greedy) and the PRM's score at the rollout's end scores it; the rollout
    tokens are then dropped. lookahead 0 is beam search."""

    kind: Literal["lookahead"] = "lookahead"
    policy: str | None = _POLICY
    prm: str | None = _PRM
    lookahead: int = Field(ge=0, le=10_000, description="steps rolled out past each candidate before scoring")


class DvtsSpec(_Scored):
    """Diverse verifier tree search (Hugging Face 2024): `n` // `beam_width` independent subtrees; each keeps
    its best-scored node and expands it `beam_width` ways per step, so n candidates are scored per step."""

    kind: Literal["dvts"] = "dvts"
    policy: str | None = _POLICY
    prm: str | None = _PRM
    n: PositiveInt = Field(description="candidates per step over all subtrees (the generation budget N)")
    beam_width: PositiveInt = Field(description="expansions per subtree and step (M); n / M subtrees")
    steps: PositiveInt
    step_tokens: PositiveInt
    question_tokens: PositiveInt
    prefix_reuse: bool = False
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt | None = Field(None, description="generative scoring only (see PrmScoreSpec)")
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_sharing: bool = _SHARING

    @model_validator(mode="after")
    def _whole_subtrees(self):
        if self.n % self.beam_width:
            raise ValueError(f"n: {self.n} candidates do not split into subtrees of beam_width {self.beam_width} "
                             f"(n must be a multiple of beam_width)")
        return self


class OmegaAnnotateSpec(_Spec):
    """OmegaPRM step labels (Luo et al. 2024): see pimsim.workloads.search.omega_annotate for the model."""

    kind: Literal["omega-annotate"] = "omega-annotate"
    policy: str | None = _POLICY
    question_tokens: PositiveInt
    steps: int = Field(ge=2, le=10_000, description="steps of each solution searched")
    step_tokens: PositiveInt
    rollouts: PositiveInt = Field(description="completions per probe (and from the question)")
    searches: PositiveInt = Field(1, description="binary searches per question, each on one of the question's "
                                                 "rollouts (at most rollouts)")
    first_error: PositiveInt | None = Field(None, description="step holding each searched solution's first "
                                                              "error (default steps: the most probes)")
    prefix_sharing: bool = _SHARING

    @model_validator(mode="after")
    def _in_range(self):
        if self.first_error is not None and self.first_error > self.steps:
            raise ValueError(f"first_error: step {self.first_error} is past the solution's {self.steps} steps")
        if self.searches > self.rollouts:
            raise ValueError(f"searches: {self.searches} searches need as many wrong rollouts from the question, "
                             f"but there are only rollouts {self.rollouts}")
        return self


class RlRolloutSpec(_Scored):
    """The rollout half of one PRIME / PURE RL step: see pimsim.workloads.search.rl_rollout."""

    kind: Literal["rl-rollout"] = "rl-rollout"
    policy: str | None = _POLICY
    prm: str | None = _PRM
    prompts: PositiveInt = Field(description="prompts in the RL batch")
    group: PositiveInt = Field(description="rollouts sampled per prompt (G)")
    question_tokens: PositiveInt
    steps: PositiveInt
    step_tokens: TokenCount = Field(description="tokens per step; a distribution: one draw per rollout, used for each of its steps")
    scoring: Scoring = "implicit"
    verify_tokens: PositiveInt | None = Field(None, description="generative scoring only (see PrmScoreSpec)")
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_reuse: bool = Field(False, description="the PRM prefills each prompt once for its group")
    prefix_sharing: bool = _SHARING


WorkloadSpec = Annotated[
    Union[GenerateSpec, PrmScoreSpec, BestOfNSpec, BeamSearchSpec, McAnnotateSpec, LookaheadSpec, DvtsSpec,
          OmegaAnnotateSpec, RlRolloutSpec], Field(discriminator="kind")
]
KINDS = ("generate", "prm-score", "best-of-n", "beam-search", "mc-annotate", "lookahead", "dvts",
         "omega-annotate", "rl-rollout")
# kinds whose model fields (policy, prm) default to the command's --model when not given
MODEL_DEFAULT_KINDS = ("lookahead", "dvts", "omega-annotate", "rl-rollout")


class _Wrapper(_Spec):
    workload: WorkloadSpec


def parse_workload(data: dict, source: str = "<workload>") -> WorkloadSpec:
    """Validate a workload mapping (YAML form); errors name `source` and the field path."""
    return validate(_Wrapper, {"workload": data}, source).workload


workload_adapter = TypeAdapter(WorkloadSpec)
