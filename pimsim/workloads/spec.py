"""Workload specifications: what a user asks to run, as validated data (YAML or CLI flags).

Kinds (flags of every command that takes a workload; YAML uses the same names with `kind:`):
- `generate`: one prompt of `prompt` tokens, then `generate` new tokens, `batch` sequences at once.
- `prm-score`: a process reward model scores `solutions` solutions of `steps` steps of `step_tokens`
  tokens after a `question_tokens` question, by one of four `scoring` methods (models.md, "How PRMs score").
- `best-of-n`: a policy samples `n` solutions, a PRM scores them.
- `beam-search`: `beam_width` beams, each expanded `expansions` ways per step for `steps` steps;
  the PRM scores every candidate step, with or without reusing the KV cache of the kept prefix.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, TypeAdapter

from pimsim.util.config_io import validate


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Scoring = Literal["single-pass", "per-step-prefix", "implicit", "generative"]


class GenerateSpec(_Spec):
    kind: Literal["generate"] = "generate"
    model: str | None = Field(None, description="zoo name; else given by --model / --model-config")
    prompt: PositiveInt = Field(description="prompt tokens per sequence")
    generate: PositiveInt = Field(description="new tokens per sequence")
    batch: PositiveInt = 1


class PrmScoreSpec(_Spec):
    kind: Literal["prm-score"] = "prm-score"
    model: str | None = None
    solutions: PositiveInt
    question_tokens: PositiveInt
    steps: PositiveInt
    step_tokens: PositiveInt
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt = Field(
        1024, description="generative scoring: tokens of verification chain of thought per solution"
    )


class BestOfNSpec(_Spec):
    kind: Literal["best-of-n"] = "best-of-n"
    policy: str
    prm: str
    n: PositiveInt
    question_tokens: PositiveInt
    steps: PositiveInt
    step_tokens: PositiveInt
    scoring: Scoring = "single-pass"
    verify_tokens: PositiveInt = 1024


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


WorkloadSpec = Annotated[
    Union[GenerateSpec, PrmScoreSpec, BestOfNSpec, BeamSearchSpec], Field(discriminator="kind")
]
KINDS = ("generate", "prm-score", "best-of-n", "beam-search")


class _Wrapper(_Spec):
    workload: WorkloadSpec


def parse_workload(data: dict, source: str = "<workload>") -> GenerateSpec | PrmScoreSpec | BestOfNSpec | BeamSearchSpec:
    """Validate a workload mapping (YAML form); errors name `source` and the field path."""
    return validate(_Wrapper, {"workload": data}, source).workload


workload_adapter = TypeAdapter(WorkloadSpec)
