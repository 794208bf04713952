"""KV cache resident at once, per weight copy, with or without prefix sharing (issue 14).

Model: a phase holds, at its end (its largest context), for each sequence its whole context; with prefix
sharing the leading tokens `Phase.shared_kv` names are held once per group of sequences instead of once
per sequence (the question of best-of-N once for all N samples; a kept beam's prefix once for its
expansions; vLLM-style prefix caching and copy-on-write forks at token granularity, no block rounding).
KV tokens of a phase = sum over levels of groups x tokens + batch x (end context - shared tokens);
without sharing, batch x end context. A weight copy (`Workload.resident_copies`) holds, for each role
that runs on it (policy, prm, verifier, reference), the largest of that role's phases' KV (one role's
phases run one after another and a later phase's context contains what an earlier one kept), and the
roles' caches at once (a search keeps the policy's beams while the PRM scores them; one model serving as
policy and PRM holds both): the sum over roles. Phases of one `Phase.kv_group` (one batch of sequences of
different lengths, run as a phase per length) are held together: their tokens add, a question all of
them share (a leading level of one group) counted once. Copies are resident together: a machine holds their sum.
"""

from __future__ import annotations

from dataclasses import dataclass

from pimsim.workloads.phases import Phase, Workload


def phase_kv_tokens(phase: Phase, prefix_sharing: bool = True) -> int:
    """KV-cache tokens `phase` holds at its end (module docstring). Levels wider than the phase's batch
    (a phase split across devices by batch) count as one group per sequence."""
    total = phase.batch * phase.end_context
    if not prefix_sharing:
        return total
    for groups, tokens in phase.shared_kv:
        total -= (phase.batch - min(groups, phase.batch)) * tokens
    return total


@dataclass(frozen=True)
class ResidentKV:
    """KV cache one weight copy holds at once: `tokens` (over all sequences and roles), `bytes`, and per
    role the phase that holds the most (`phases`, role -> phase name)."""

    label: str  # ResidentCopy.label
    tokens: int
    bytes: int
    phases: dict[str, str]


def sharing_of(workload: Workload, prefix_sharing: bool | None = None) -> bool:
    """`prefix_sharing`, or None: the spec's `prefix_sharing` (True where the spec has none)."""
    return getattr(workload.spec, "prefix_sharing", True) if prefix_sharing is None else prefix_sharing


def _units(phases) -> list[tuple[Phase, ...]]:
    """Phases held at once: each alone, or every phase of one `Phase.kv_group` (the parts of one batch of
    sequences of different lengths) together, in order of first appearance."""
    out: dict[object, list[Phase]] = {}
    for i, ph in enumerate(phases):
        out.setdefault(ph.kv_group or i, []).append(ph)
    return [tuple(v) for v in out.values()]


def unit_kv_tokens(unit: tuple[Phase, ...], prefix_sharing: bool = True) -> int:
    """KV tokens of phases held at once: the sum of `phase_kv_tokens`, less, with sharing, the repeats of the
    prefix all parts hold once (`Phase.kv_group_prefix`: best-of-N's question, counted once for the whole
    ragged batch, not once per length)."""
    total = sum(phase_kv_tokens(ph, prefix_sharing) for ph in unit)
    if prefix_sharing and len(unit) > 1:
        total -= (len(unit) - 1) * min(ph.kv_group_prefix for ph in unit)
    return total


def largest_per_role(phases, prefix_sharing: bool = True) -> dict[str, tuple[Phase, ...]]:
    """Per role, the phases of `phases` (one weight copy's) held at once that hold the most KV tokens (the
    first of equals; `_units`). Their KV tokens summed over the roles are what the copy holds at once
    (module docstring)."""
    largest: dict[str, tuple[Phase, ...]] = {}
    for unit in _units(phases):
        role = unit[0].role
        prev = largest.get(role)
        if prev is None or unit_kv_tokens(unit, prefix_sharing) > unit_kv_tokens(prev, prefix_sharing):
            largest[role] = unit
    return largest


def copy_phases(workload: Workload, copy) -> list[Phase]:
    """The phases of `workload` that run on weight copy `copy` (a `ResidentCopy`)."""
    return [ph for ph in workload.phases if (ph.model, ph.weight_copy) == (copy.model, copy.copy)]


def resident_kv(workload: Workload, dtype_bytes: int = 2, prefix_sharing: bool | None = None) -> dict[str, ResidentKV]:
    """`ResidentKV` per resident weight copy of `workload`, keyed by `ResidentCopy.label` (the labels of
    `Workload.resident_copies`, in its order). `prefix_sharing` None: the spec's `prefix_sharing` (True
    where the spec has none). Capacity checks (PIM, baselines, placement) count these tokens."""
    prefix_sharing = sharing_of(workload, prefix_sharing)
    out: dict[str, ResidentKV] = {}
    for copy in workload.resident_copies():
        largest = largest_per_role(copy_phases(workload, copy), prefix_sharing)
        tokens = sum(unit_kv_tokens(unit, prefix_sharing) for unit in largest.values())
        out[copy.label] = ResidentKV(copy.label, tokens, tokens * copy.model.kv_bytes_per_token(dtype_bytes),
                                     {role: unit[0].kv_group or unit[0].name for role, unit in largest.items()})
    return out
