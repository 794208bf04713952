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
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter, model_validator

from pimsim.errors import ConfigError
from pimsim.util.config_io import validate


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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
    generate: PositiveInt = Field(description="new tokens per sequence")
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
    step_tokens: PositiveInt
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt | None = Field(None, description="generative scoring only (see PrmScoreSpec)")
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_reuse: bool = Field(False, description="the PRM prefills the question once and scores every "
                                                  "solution from its KV cache (else once per solution)")
    prefix_sharing: bool = _SHARING


class BeamSearchSpec(_Scored):
    kind: Literal["beam-search"] = "beam-search"
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


class McAnnotateSpec(_Spec):
    kind: Literal["mc-annotate"] = "mc-annotate"
    policy: str
    question_tokens: PositiveInt
    steps: int = Field(ge=2, le=10_000, description="solution steps (boundaries 1..steps-1 are labelled)")
    step_tokens: PositiveInt
    rollouts: PositiveInt = Field(description="completions decoded from each step boundary (Math-Shepherd: N)")
    prefix_sharing: bool = _SHARING


_POLICY = Field(None, description="zoo name of the policy; default the command's --model")
_PRM = Field(None, description="zoo name of the PRM; default the command's --model")


class LookaheadSpec(_Scored):
    """Beam search with k-step lookahead (Snell et al. 2024, section 5.2): each candidate rolls out up to
    `lookahead` further steps (greedy) and the PRM's score at the rollout's end scores it; the rollout
    tokens are then dropped. lookahead 0 is beam search."""

    kind: Literal["lookahead"] = "lookahead"
    policy: str | None = _POLICY
    prm: str | None = _PRM
    beam_width: PositiveInt
    expansions: PositiveInt
    steps: PositiveInt
    step_tokens: PositiveInt
    question_tokens: PositiveInt
    lookahead: int = Field(ge=0, le=10_000, description="steps rolled out past each candidate before scoring")
    prefix_reuse: bool = False
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt | None = Field(None, description="generative scoring only (see PrmScoreSpec)")
    critique_tokens: int | None = _CRITIQUE
    verify_chains: int | None = _CHAINS
    reference: str | None = _REFERENCE
    prefix_sharing: bool = _SHARING


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
    step_tokens: PositiveInt
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
