"""Fast mode's refresh model: what one refresh costs on an op stream, and the stall it adds in closed form.

Model (renewal argument): while PIM works, a refresh falls due every interval I (the command engine's:
tREFI for all-bank refresh; tREFI/banks for per-bank refresh, one REFpb to each bank in turn so every bank
is refreshed once per tREFI: JESD250 GDDR6, JESD209-5 LPDDR5). If one refresh costs c cycles of PIM time on
the op stream (tRFC, the precharge before it, re-opening rows after, and whatever the stream cannot overlap
with it), each interval holds I - c cycles of useful work, so busy time B stretches by B x c / (I - c).

c is measured with the command engine: a probe stream of the model's own PIM programs, joined as exact mode
joins them (inner EOCs become SYNCs), run with refresh on and off; c = extra cycles / refreshes issued.
The probe's commands and row hits/misses give what each refresh adds to those counters.

Streams: a token's layers and its head (LM or PRM head) are probed separately and weighted by their own
PIM time, because their cost per refresh differs (per-bank refresh on an all-bank PIM: c is within ~10 of
I's ~208 cycles, so a one-cycle difference in c moves the stall by ~10%; see docs/validation.md).
"""

from __future__ import annotations

from dataclasses import dataclass

from pimsim.dram import CommandEngine, Program


@dataclass(frozen=True)
class RefreshProbe:
    """What one refresh costs on one channel of an op stream: PIM cycles, and the change it makes to the
    DRAM command counts and row hits/misses (per refresh, one channel)."""

    cost_cycles: float
    commands: dict[str, float]
    row_hits: float
    row_misses: float

    @staticmethod
    def none() -> "RefreshProbe":
        return RefreshProbe(0.0, {}, 0.0, 0.0)


def probe_refresh(channel_dram, program: Program, settled_open_row: int, settled_mode: int,
                  without_refresh) -> RefreshProbe:
    """Run `program` on one channel with refresh on (from a just-refreshed settled state) and compare
    with `without_refresh`, the refresh-free engine result of the same program from the same state."""
    on = CommandEngine(channel_dram, refresh=True)
    with_ref = on.run(program, start_state=on.settled_state(settled_open_row, mode=settled_mode))
    on_counts = with_ref.channel_commands_by_name(0)
    off_counts = without_refresh.channel_commands_by_name(0)
    refreshes = sum(v for k, v in on_counts.items() if k.startswith("REF"))
    if not refreshes:
        return RefreshProbe.none()
    extra = {k: (on_counts.get(k, 0) - off_counts.get(k, 0)) / refreshes for k in set(on_counts) | set(off_counts)}
    return RefreshProbe(
        cost_cycles=(with_ref.cycles - without_refresh.cycles) / refreshes,
        # commands a refresh saves (a precharge it performs itself) are not subtracted: counts stay >= 0
        commands={k: v for k, v in extra.items() if v > 0},
        row_hits=(with_ref.row_hits - without_refresh.row_hits) / refreshes,
        row_misses=(with_ref.row_misses - without_refresh.row_misses) / refreshes,
    )


def stall_cycles(busy_cycles: float, probe: RefreshProbe, interval_cycles: int) -> float:
    """Refresh stall for `busy_cycles` of refresh-free PIM work: busy x c / (I - c)."""
    c = probe.cost_cycles
    if c <= 0.0 or busy_cycles <= 0.0:
        return 0.0
    return busy_cycles * c / (interval_cycles - c)
