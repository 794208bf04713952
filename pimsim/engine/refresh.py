"""Fast mode's refresh model: what one refresh costs a program, and the stall it adds in closed form.

Model (renewal argument): while PIM works, a refresh falls due every interval I (the command engine's:
tREFI for all-bank refresh; tREFI/banks for per-bank refresh, one REFpb to each bank in turn so every bank
is refreshed once per tREFI: JESD250 GDDR6, JESD209-5 LPDDR5). If one refresh costs c cycles of PIM time
inside a program (tRFC, the precharge before it, re-opening rows after, whatever the program cannot
overlap with it), each interval holds I - c cycles of useful work, so the program's L refresh-free cycles
stretch by L x c / (I - c).

c is measured per program with the command engine: the program runs with refresh on, from the same entry
state as its refresh-free timing, with the first refresh falling due at `OFFSETS` evenly spread points of
its first min(L, I) cycles; c = extra cycles over all those runs / refreshes issued in them. Per program,
because c differs by several-fold between programs (per-bank refresh on an all-bank PIM: c is within
10-80 cycles of I's 208 depending on the program, so a stream-average c is off by tens of percent).
The same runs give what each refresh adds to the command counts and row hits/misses.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from pimsim.dram import CommandEngine, EngineState, Program

OFFSETS = 4  # refresh positions averaged per program
LONG_INTERVALS = 8  # a program this many refresh intervals long is probed in one run


@dataclass(frozen=True)
class RefreshProbe:
    """What one refresh costs a program on one channel: PIM cycles, and the change it makes to the DRAM
    command counts and row hits/misses (per refresh)."""

    cost_cycles: float
    commands: dict[str, float]
    row_hits: float
    row_misses: float

    @staticmethod
    def none() -> "RefreshProbe":
        return RefreshProbe(0.0, {}, 0.0, 0.0)


def probe_refresh(engine_on: CommandEngine, program: Program, start: EngineState, without) -> RefreshProbe:
    """Cost of one refresh in `program` run from `start` on `engine_on` (refresh on, one channel), against
    `without`, the refresh-free engine result of the same program from the same state."""
    interval = engine_on.refresh_interval_cycles
    span = max(1, min(without.cycles, interval))
    extra_cycles, refreshes = 0, 0
    commands: dict[str, int] = {}
    hits = misses = 0
    off_counts = without.channel_commands_by_name(0)
    # a stream many intervals long sees the refresh at every phase in one run: one run will do
    offsets = 1 if without.cycles >= LONG_INTERVALS * interval else OFFSETS
    for k in range(offsets):
        due = max(1, span * (2 * k + 1) // (2 * offsets))  # the first refresh falls due `due` cycles in
        res = engine_on.run(program, start_state=replace(start, cycles_since_refresh=(interval - due,)))
        on_counts = res.channel_commands_by_name(0)
        refreshes += sum(v for name, v in on_counts.items() if name.startswith("REF"))
        extra_cycles += res.cycles - without.cycles
        for name in set(on_counts) | set(off_counts):
            commands[name] = commands.get(name, 0) + on_counts.get(name, 0) - off_counts.get(name, 0)
        hits += res.row_hits - without.row_hits
        misses += res.row_misses - without.row_misses
    if not refreshes:
        return RefreshProbe.none()
    return RefreshProbe(
        cost_cycles=extra_cycles / refreshes,
        # commands a refresh saves (a precharge it performs itself) are not subtracted: counts stay >= 0
        commands={name: n / refreshes for name, n in commands.items() if n > 0},
        row_hits=hits / refreshes,
        row_misses=misses / refreshes,
    )


def stall_cycles(busy_cycles: float, probe: RefreshProbe, interval_cycles: int) -> float:
    """Refresh stall for `busy_cycles` of refresh-free PIM work: busy x c / (I - c)."""
    c = probe.cost_cycles
    if c <= 0.0 or busy_cycles <= 0.0:
        return 0.0
    return busy_cycles * c / (interval_cycles - c)
