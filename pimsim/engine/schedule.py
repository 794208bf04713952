"""Schedules of a token's ops over the units (pim_gpt_paper.md, "Simulator"; DESIGN.md).

- serial (as published): an op completes before the next starts, so a token's time is the sum of its ops;
- pipelined: each unit (one PIM, one ASIC, one link) is a simpy resource of capacity 1 serving requests
  first come, first served; sequences decoded together run their chains concurrently, each holding a unit
  for a run of consecutive ops on it. Its makespan lies between the busiest unit's total and the serial
  sum (tests/test_pipelined_bounds.py, with the two-stage flow-shop closed form).
A chain is a list of (unit, seconds) runs, consecutive ops on one unit merged.
"""

from __future__ import annotations

import simpy

Chain = list[tuple[str, float]]


def append_run(chain: Chain, unit: str, seconds: float) -> None:
    """Add an op of `seconds` on `unit` to `chain`, merging it into the last run if on the same unit."""
    if chain and chain[-1][0] == unit:
        chain[-1] = (unit, chain[-1][1] + seconds)
    else:
        chain.append((unit, seconds))


def pipelined_makespan(chains: list[Chain]) -> float:
    """Seconds until every chain has run, the chains concurrent on one resource per unit kind."""
    env = simpy.Environment()
    units = {u: simpy.Resource(env, capacity=1) for u in {u for chain in chains for u, _ in chain}}

    def run(chain: Chain):
        for unit, seconds in chain:
            with units[unit].request() as req:
                yield req
                yield env.timeout(seconds)

    for chain in chains:
        env.process(run(chain))
    env.run()
    return env.now
