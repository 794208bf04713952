"""Check families of the DRAM standards restated from Ramulator 2.1 (issue 15); tolerances in tolerances.d/dram.yaml.

One family per standard, `dram.<standard>` (ddr4, gddr6, hbm3, lpddr5), each with two rows:

- scenarios: the hand-checked probe scenarios of pimsim/dram/scenarios.py (a setup of commands, then the
  earliest legal cycle of one more; each with the Ramulator 2.1 rule it restates, and each confirmed on
  Ramulator 2.1's tests/device_timings harness), replayed on pimsim's Device;
- sequences: the random state-legal command sequences recorded from Ramulator 2.1 itself
  (data/dram_ramulator21_sequences.yaml): every issued command must be legal in pimsim at Ramulator's cycle,
  every probe must get Ramulator's earliest cycle, and the independent checker (pimsim.dram.check_log)
  must find the issued log legal by timing. Its row-state findings are shown, not failed: the family
  checks timing, and Ramulator's harness issues commands without pimsim's row-state discipline (the
  LPDDR5 2-rank sequence issues ACT2 twice to one bank, which the checker reports).

The figure is the count of agreeing probes; the reference is the number of probes (exact, tolerance 0).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

from pimsim.validate.checks import COUNT, Context
from pimsim.validate.report import Check

SEQUENCES = Path(__file__).resolve().parent / "data" / "dram_ramulator21_sequences.yaml"
STANDARDS = ("ddr4", "gddr6", "hbm3", "lpddr5")


@lru_cache(maxsize=1)
def recorded_sequences() -> dict:
    """The recorded Ramulator 2.1 sequences (source, bank convention, sequences with events)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with SEQUENCES.open(encoding="utf-8") as f:
        return yaml.load(f, Loader=loader)


def sequence_dram(seq: dict):
    """The DramConfig a recorded sequence ran on (the table's preset with the sequence's organisation)."""
    from pimsim.hardware.schema import DramConfig
    from pimsim.hardware.standards import standard_dram

    dram = standard_dram(seq["standard"], seq["preset"])
    return DramConfig(**{**dram.model_dump(), **seq["org"]}) if seq["org"] else dram


def replay_sequence(seq: dict) -> tuple[int, int, list[str], list]:
    """Replay one recorded sequence on pimsim's Device: (events agreeing, events, first disagreements,
    checker violations of the issued log). An issue pimsim refuses ends the replay (the rest count as
    disagreeing: their state would differ from Ramulator's)."""
    from pimsim.dram import Device, check_log

    dram = sequence_dram(seq)
    dev = Device(dram)
    events = seq["events"]
    agree, bad = 0, []
    for i, (kind, cmd, bank, *rest) in enumerate(events):
        if kind == "issue":
            if not dev.can_issue(cmd, rest[0], bank=bank):
                bad.append(f"event {i}: {cmd} bank {bank} refused at Ramulator's cycle {rest[0]} "
                           f"(pimsim earliest {dev.earliest(cmd, bank=bank)}); replay stopped")
                break
            dev.issue(cmd, rest[0], bank=bank)
            agree += 1
        else:
            start, expected = rest
            got = max(start, dev.earliest(cmd, bank=bank))
            if got == expected:
                agree += 1
            else:
                bad.append(f"event {i}: probe {cmd} bank {bank} from {start}: pimsim {got}, Ramulator {expected}")
    violations = check_log(dev.log(), dram, refresh=False)
    return agree, len(events), bad, violations


def _label(seq: dict) -> str:
    ranks = (seq["org"] or {}).get("ranks")
    return f"{seq['preset']}" + (f" {ranks} ranks" if ranks else "") + f" seed {seq['seed']}"


def _family(standard: str) -> Callable[[Context], list[Check]]:
    fam = f"dram.{standard}"

    def family(ctx: Context) -> list[Check]:
        from pimsim.dram.scenarios import SCENARIOS, earliest

        out = []
        scen = [s for s in SCENARIOS if s.standard == standard]
        bad = [f"{s.id}: pimsim {got}, Ramulator {s.earliest} ({s.why}; {s.src})"
               for s in scen for got in (earliest(s),) if got != s.earliest]
        n = len(scen)
        out.append(ctx.check(fam, f"{standard} hand-checked probe scenarios (Ramulator 2.1 rules)", float(n - len(bad)),
                             (float(n),) * 2, COUNT, item="scenarios", pimsim_text=f"{n - len(bad)} of {n} agree",
                             reference_text=f"{n} scenarios", message="; ".join(bad) or None, fail=n == 0))
        for seq in recorded_sequences()["sequences"]:
            if seq["standard"] != standard:
                continue
            agree, total, wrong, violations = replay_sequence(seq)
            label = _label(seq)
            timing = [v for v in violations if v.rule != "row state"]
            msg = wrong[:3] + [f"checker (timing): {v}" for v in timing[:3]] + [
                f"checker (row state, not failed: outside the timing claim): {v}"
                for v in violations if v.rule == "row state"][:3]
            out.append(ctx.check(fam, f"{standard} recorded Ramulator 2.1 sequence {label} (issues + probes)",
                                 float(agree), (float(total),) * 2, COUNT, item=label,
                                 pimsim_text=f"{agree} of {total} agree", reference_text=f"{total} events",
                                 message="; ".join(msg) or None, fail=bool(timing)))
        return out

    return family


FAMILIES: dict[str, Callable[[Context], list[Check]]] = {f"dram.{s}": _family(s) for s in STANDARDS}
