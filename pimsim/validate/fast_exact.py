"""The fast/exact matrix: fast mode (cached op timings + closed-form refresh stall) against exact mode
(every op's program through one continuous engine state, refresh issued where it falls) over every PIM
preset, every mapping in mappings/, an MHA and a GQA model, a decode and a PRM-scoring workload, all-bank
and per-bank refresh (issue 11). Used by `pimsim validate` (family system.fast_vs_exact_matrix, one row
per preset and refresh kind, the worst pair of the row) and by tests/test_refresh_modes.py (`cells`: the representative subset both run by default, and the
full matrix).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

PRESETS = ("pimgpt-gddr6", "aim-32ch", "hbm2-pim", "hbm3-pim", "lpddr5-pim")
MODELS = ("gpt2-small", "qwen2.5-math-1.5b-instruct")  # MHA (12/12 heads) and GQA (12 heads / 2 KV heads)
REFRESH = ("all_bank", "per_bank")
WORKLOADS = ("decode", "prm")


def workload(name: str):
    """Small workloads, so the exact side stays seconds: decode (prompt 8 + 8 generated) and PRM scoring
    (one solution, 8-token question, 2 steps of 4 tokens: scored in one pass with a head per step)."""
    from pimsim.workloads.spec import GenerateSpec, PrmScoreSpec

    if name == "decode":
        return GenerateSpec(prompt=8, generate=8)
    return PrmScoreSpec(solutions=1, question_tokens=8, steps=2, step_tokens=4)


def mappings() -> tuple[str, ...]:
    """Every mapping in mappings/ that runs on one PIM device (placements onto GPUs need a system) and has an
    exact mode: `op_programs: cent` (cent_paper) has none; its fast mode's counterpart is CENT's own
    whole-block trace (tests/test_cent_paper_mapping.py)."""
    from pimsim.mapper import load_mapping, mapping_names

    return tuple(n for n in mapping_names() if load_mapping(n).pim_only and load_mapping(n).op_programs != "cent")


@dataclass(frozen=True)
class Pair:
    preset: str
    mapping: str
    model: str
    refresh: str
    workload: str
    fast_latency_s: float
    exact_latency_s: float
    fast_energy_j: float
    exact_energy_j: float
    fast_row_hit_rate: float
    exact_row_hit_rate: float

    @property
    def latency_error(self) -> float:
        return self.fast_latency_s / self.exact_latency_s - 1

    @property
    def label(self) -> str:
        return f"{self.preset} {self.refresh} {self.mapping} {self.model} {self.workload}"


def hardware(preset: str, refresh: str):
    from pimsim.hardware import load_hardware

    return load_hardware({"base": preset, "name": f"{preset}-{refresh}", "dram": {"refresh": refresh}})


@functools.lru_cache(maxsize=None)
def run_pair(preset: str, mapping: str, model: str, refresh: str, workload_name: str) -> Pair:
    """Fast and exact mode on one cell of the matrix (kept for the process: the test suite and `pimsim
    validate` read the same cells, and a Pair is immutable; planted faults run in fresh processes)."""
    from pimsim.engine import simulate

    hw = hardware(preset, refresh)
    spec = workload(workload_name)
    fast = simulate(model, hw, mapping, spec)
    exact = simulate(model, hw, mapping, spec, exact=True)
    return Pair(preset, mapping, model, refresh, workload_name, fast.latency_s, exact.latency_s, fast.energy_j,
                exact.energy_j, fast.row_hit_rate, exact.row_hit_rate)


@functools.lru_cache(maxsize=None)
def runs(preset: str, refresh: str) -> bool:
    """Whether `preset` can run with `refresh` at all: hbm3-pim's per-bank refresh (nREFI / 64 banks = 79 tCK
    between REFpb, each keeping its all-bank ACT16 nRFCpb = 260 tCK away) is a ConfigError of the command
    engine, so the matrix has no such cells (issue 15)."""
    from pimsim.dram import CommandEngine
    from pimsim.errors import ConfigError

    try:
        CommandEngine(hardware(preset, refresh).dram, refresh=True)
    except ConfigError:
        return False
    return True


def cells(full: bool = True) -> list[tuple[str, str, str, str, str]]:
    """(preset, mapping, model, refresh, workload) of the matrix (presets with the refresh kinds they can
    run, `runs`): all of them with `full`, else the representative 80 that `pimsim validate` and CI run (every preset and refresh kind with every mapping on
    the MHA model's decode, plus the GQA model's decode and the MHA model's PRM scoring on pimgpt): the
    full matrix takes about 2.5 minutes on two cores (`pytest tests/test_refresh_modes.py --full-matrix`)."""
    every = [c for c in itertools.product(PRESETS, mappings(), MODELS, REFRESH, WORKLOADS) if runs(c[0], c[3])]
    if full:
        return every
    return [c for c in every if (c[2] == MODELS[0] and c[4] == "decode")
            or (c[1] == "pimgpt" and (c[2], c[4]) in ((MODELS[1], "decode"), (MODELS[0], "prm")))]
