"""Check families of the speed shortcuts (issue 17); tolerances in tolerances.d/speed.yaml.

- system.exact_reuse: exact mode with the command engine's result store (a repeated program from the same
  start state returns the stored result) against exact mode without it: every figure identical.
- system.exact_lanes: exact mode's lanes (one channel stands for those that run the same ops) against
  every channel in the engine (`--exact every-channel`, the device's replay command for command).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from pimsim.validate.checks import Context, Fmt
from pimsim.validate.report import Check

REL = Fmt("x")


@contextmanager
def _no_reuse():
    from pimsim.dram.engine import CommandEngine

    keep = CommandEngine.MEMO_ENTRIES
    CommandEngine.MEMO_ENTRIES = 0
    try:
        yield
    finally:
        CommandEngine.MEMO_ENTRIES = keep


def _figures(res) -> dict[str, float]:
    out = {"latency_s": res.latency_s, "energy_j": res.energy_j, "row_hit_rate": res.row_hit_rate or 0.0}
    out.update({f"commands.{k}": float(v) for k, v in res.commands.items()})
    return out


def _largest_difference(got: dict[str, float], ref: dict[str, float]) -> tuple[float, str]:
    """(largest relative difference over the figures of either, the figure's name); (0, "-") if none."""
    return max(((abs(got.get(k, 0.0) - ref.get(k, 0.0)) / max(abs(ref.get(k, 0.0)), 1e-300), k)
                for k in sorted(set(got) | set(ref))), default=(0.0, "-"))


def exact_reuse(ctx: Context) -> list[Check]:
    from pimsim.engine import simulate
    from pimsim.hardware import load_hardware
    from pimsim.workloads import BestOfNSpec, GenerateSpec

    fam, out = "system.exact_reuse", []
    cases = [
        ("gpt2-small prompt 8 + 24, pimgpt-gddr6", ("gpt2-small", "pimgpt-gddr6", "pimgpt", GenerateSpec(prompt=8, generate=24))),
        ("gpt2-small + gpt2-medium best-of-2, 2 channels", (None, load_hardware("aim-32ch", overrides={"dram": {"channels": 2}}),
                                                          "pimgpt_kv_fit", BestOfNSpec(policy="gpt2-small", prm="gpt2-medium", n=2,
                                                                                       question_tokens=16, steps=2, step_tokens=8))),
    ]
    for label, args in cases:
        stored = _figures(simulate(*args, exact=True))
        with _no_reuse():
            plain = _figures(simulate(*args, exact=True))
        keys = set(stored) | set(plain)
        worst, _ = _largest_difference(stored, plain)
        # relative error of the figures themselves: the reference is the run without reuse (error 0 = identical)
        out.append(ctx.check(fam, label, 1.0 + worst, (1.0, 1.0), REL, item=label,
                             pimsim_text=f"{len(keys)} figures, largest difference {worst:.3g}",
                             reference_text="identical figures without reuse"))
    return out


def exact_lanes(ctx: Context) -> list[Check]:
    from pimsim.engine import simulate
    from pimsim.hardware import load_hardware
    from pimsim.workloads import BestOfNSpec, GenerateSpec

    fam, out = "system.exact_lanes", []
    hw4 = load_hardware("aim-32ch", overrides={"dram": {"channels": 4}})
    cases = [
        ("gpt2-small prompt 8 + 24, aim-32ch on 4 channels, pimgpt", ("gpt2-small", hw4, "pimgpt", GenerateSpec(prompt=8, generate=24))),
        ("gpt2-small + gpt2-medium best-of-2, 4 channels, pimgpt_kv_fit", (None, hw4, "pimgpt_kv_fit", BestOfNSpec(
            policy="gpt2-small", prm="gpt2-medium", n=2, question_tokens=16, steps=2, step_tokens=8))),
    ]
    for label, args in cases:
        lanes = _figures(simulate(*args, exact=True))
        every = _figures(simulate(*args, exact="every-channel"))
        keys = set(lanes) | set(every)
        worst, where = _largest_difference(lanes, every)
        out.append(ctx.check(fam, label, 1.0 + worst, (1.0, 1.0), REL, item=label,
                             pimsim_text=f"{len(keys)} figures, largest difference {worst:.3g} ({where})",
                             reference_text="every channel in the engine"))
    return out


FAMILIES: dict[str, Callable[[Context], list[Check]]] = {"system.exact_reuse": exact_reuse,
                                                          "system.exact_lanes": exact_lanes}
