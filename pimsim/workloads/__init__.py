"""Workloads box: specs (YAML / CLI flags) expanded into `Phase`s with exact token accounting."""

from pimsim.workloads.phases import COST_KEYS, Phase, Workload, expand
from pimsim.workloads.residency import ResidentKV, phase_kv_tokens, resident_kv
from pimsim.workloads.spec import (
    KINDS,
    MODEL_DEFAULT_KINDS,
    BeamSearchSpec,
    BestOfNSpec,
    DvtsSpec,
    GenerateSpec,
    LookaheadSpec,
    McAnnotateSpec,
    OmegaAnnotateSpec,
    PrmScoreSpec,
    RlRolloutSpec,
    parse_workload,
)

__all__ = [
    "COST_KEYS",
    "KINDS",
    "MODEL_DEFAULT_KINDS",
    "BeamSearchSpec",
    "BestOfNSpec",
    "DvtsSpec",
    "GenerateSpec",
    "LookaheadSpec",
    "McAnnotateSpec",
    "OmegaAnnotateSpec",
    "Phase",
    "PrmScoreSpec",
    "ResidentKV",
    "RlRolloutSpec",
    "Workload",
    "expand",
    "parse_workload",
    "phase_kv_tokens",
    "resident_kv",
]
