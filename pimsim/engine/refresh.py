"""Fast mode's refresh model: what one refresh costs a program, and the stall it adds in closed form.

Model (renewal argument): while PIM works, a refresh falls due every interval I (the command engine's:
tREFI for all-bank refresh; tREFI/banks for per-bank refresh, one REFpb to each bank in turn so every bank
is refreshed once per tREFI: JESD250 GDDR6, JESD209-5 LPDDR5). If one refresh costs c cycles of PIM time
inside a program (tRFC, the precharge before it, re-opening rows after, whatever the program cannot
overlap with it), each interval holds I - c cycles of useful work, so the program's L refresh-free cycles
stretch by L x c / (I - c).

c is measured with the command engine on the stream an op runs in: each layer's PIM programs back to
back at the token's context, from the state the op before left (`PimTimer.stream_refresh_probe`); a lone
program (pre, post) on its own (`PimTimer.refresh_probe`). The stream runs with refresh on, from the same
entry state as its refresh-free timing, with the first refresh falling due at `OFFSETS` evenly spread
points of its first min(L, I) cycles (one point once the stream is `LONG_INTERVALS` intervals long); c =
extra cycles over those runs / refreshes issued. A layer stream is probed as a marginal cost, the stream
repeated twice minus once, so that what its ends cost (the reopen a refresh at the end leaves to the next
layer) cancels; where the stall is ill-conditioned (I - c under a quarter of I: per-bank refresh) the shorter
run holds at least two layers (`pim_timing.ILL_CONDITIONED`). Why so local: c differs several-fold between programs and contexts, and per-bank refresh
on an all-bank PIM puts c within 10-80 cycles of I's 208-243, where a stream-average c is off by tens of
percent and a one-layer probe by 4% (hbm3-pim; docs/validation.md, "Fast/exact matrix").
The same runs give what each refresh adds to the command counts and row hits/misses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pimsim.dram import CommandEngine, EngineState, Program
from pimsim.dram.accounting import refresh_commands

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


@dataclass
class _Totals:
    """Sums over the probe runs of one program: extra cycles, refreshes, extra commands, hits, misses."""

    extra_cycles: int = 0
    refreshes: int = 0
    commands: dict[str, int] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0

    def minus(self, other: "_Totals") -> "_Totals":
        names = set(self.commands) | set(other.commands)
        return _Totals(self.extra_cycles - other.extra_cycles, self.refreshes - other.refreshes,
                       {n: self.commands.get(n, 0) - other.commands.get(n, 0) for n in names},
                       self.hits - other.hits, self.misses - other.misses)

    def probe(self) -> RefreshProbe:
        if self.refreshes <= 0:
            return RefreshProbe.none()
        n = self.refreshes
        return RefreshProbe(
            cost_cycles=self.extra_cycles / n,
            # commands a refresh saves (a precharge it performs itself) are not subtracted: counts stay >= 0
            commands={name: v / n for name, v in self.commands.items() if v > 0},
            row_hits=self.hits / n, row_misses=self.misses / n)


def _totals(engine_on: CommandEngine, program: Program, start: EngineState, without, offsets: int) -> _Totals:
    interval = engine_on.refresh_interval_cycles
    span = max(1, min(without.cycles, interval))
    out = _Totals()
    refresh = refresh_commands(engine_on.dram.standard)   # role: refresh in the standard's table
    off_counts = without.channel_commands_by_name(0)
    for k in range(offsets):
        due = max(1, span * (2 * k + 1) // (2 * offsets))  # the first refresh falls due `due` cycles in
        res = engine_on.run(program, start_state=replace(start, cycles_since_refresh=(interval - due,)))
        on_counts = res.channel_commands_by_name(0)
        out.refreshes += sum(v for name, v in on_counts.items() if name in refresh)
        out.extra_cycles += res.cycles - without.cycles
        for name in set(on_counts) | set(off_counts):
            out.commands[name] = out.commands.get(name, 0) + on_counts.get(name, 0) - off_counts.get(name, 0)
        out.hits += res.row_hits - without.row_hits
        out.misses += res.row_misses - without.row_misses
    return out


def _offsets(without, interval: int) -> int:
    # a stream many intervals long sees the refresh at every phase in one run: one run will do
    return 1 if without.cycles >= LONG_INTERVALS * interval else OFFSETS


def probe_refresh(engine_on: CommandEngine, program: Program, start: EngineState, without) -> RefreshProbe:
    """Cost of one refresh in `program` run from `start` on `engine_on` (refresh on, one channel), against
    `without`, the refresh-free engine result of the same program from the same state."""
    return _totals(engine_on, program, start, without, _offsets(without, engine_on.refresh_interval_cycles)).probe()


def probe_refresh_marginal(engine_on: CommandEngine, once: Program, twice: Program, start: EngineState,
                           without_once, without_twice) -> RefreshProbe:
    """Cost of one refresh in a stream that repeats: `twice` (the stream two times) minus `once`, so what
    the stream's ends cost (the first refresh after a just-refreshed start, the reopen a refresh at the end
    leaves to the next stream) cancels and the cost of a refresh inside a long run remains."""
    offsets = _offsets(without_once, engine_on.refresh_interval_cycles)
    one = _totals(engine_on, once, start, without_once, offsets)
    two = _totals(engine_on, twice, start, without_twice, offsets)
    marginal = two.minus(one)
    return marginal.probe() if marginal.refreshes > 0 else one.probe()


def stall_cycles(busy_cycles: float, probe: RefreshProbe, interval_cycles: int) -> float:
    """Refresh stall for `busy_cycles` of refresh-free PIM work: busy x c / (I - c)."""
    c = probe.cost_cycles
    if c <= 0.0 or busy_cycles <= 0.0:
        return 0.0
    return busy_cycles * c / (interval_cycles - c)
