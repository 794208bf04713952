"""Workloads box: specs (YAML / CLI flags) expanded into `Phase`s with exact token accounting."""

from pimsim.workloads.phases import COST_KEYS, Phase, Workload, expand
from pimsim.workloads.spec import (
    KINDS,
    BeamSearchSpec,
    BestOfNSpec,
    GenerateSpec,
    PrmScoreSpec,
    parse_workload,
)

__all__ = [
    "COST_KEYS",
    "KINDS",
    "BeamSearchSpec",
    "BestOfNSpec",
    "GenerateSpec",
    "Phase",
    "PrmScoreSpec",
    "Workload",
    "expand",
    "parse_workload",
]
