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


class _Scored(_Spec):
    """Rule shared by specs with a `scoring`: `verify_tokens` is a parameter of generative scoring only
    (its verification chain of thought); with any other scoring it would be silently ignored. Unset, it
    is DEFAULT_VERIFY_TOKENS for generative scoring and None otherwise."""

    @model_validator(mode="before")
    @classmethod
    def _default_verify_tokens(cls, data):
        if isinstance(data, dict) and data.get("scoring") == "generative" and data.get("verify_tokens") is None:
            data = {**data, "verify_tokens": DEFAULT_VERIFY_TOKENS}
        return data

    @model_validator(mode="after")
    def _verify_tokens_only_generative(self):
        if self.verify_tokens is not None and self.scoring != "generative":
            raise ValueError(f"verify_tokens: applies only to scoring generative, but scoring is {self.scoring}; "
                             "drop verify_tokens (--verify-tokens) or use scoring generative")
        return self


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


class BeamSearchSpec(_Spec):
    kind: Literal["beam-search"] = "beam-search"
    policy: str
    prm: str
    beam_width: PositiveInt
    expansions: PositiveInt
    steps: PositiveInt
    step_tokens: PositiveInt
    question_tokens: PositiveInt
    prefix_reuse: bool = False


class McAnnotateSpec(_Spec):
    kind: Literal["mc-annotate"] = "mc-annotate"
    policy: str
    question_tokens: PositiveInt
    steps: int = Field(ge=2, le=10_000, description="solution steps (boundaries 1..steps-1 are labelled)")
    step_tokens: PositiveInt
    rollouts: PositiveInt = Field(description="completions decoded from each step boundary (Math-Shepherd: N)")


WorkloadSpec = Annotated[
    Union[GenerateSpec, PrmScoreSpec, BestOfNSpec, BeamSearchSpec, McAnnotateSpec], Field(discriminator="kind")
]
KINDS = ("generate", "prm-score", "best-of-n", "beam-search", "mc-annotate")


class _Wrapper(_Spec):
    workload: WorkloadSpec


def parse_workload(data: dict, source: str = "<workload>") -> WorkloadSpec:
    """Validate a workload mapping (YAML form); errors name `source` and the field path."""
    return validate(_Wrapper, {"workload": data}, source).workload


workload_adapter = TypeAdapter(WorkloadSpec)
