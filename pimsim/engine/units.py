"""Execution units: each answers one question, "what does this mapped op cost here": seconds, a `Tally`
(time by category, energy inputs, counters) and the state it leaves for the next op (DESIGN.md, "Systems
of several kinds of unit"). A new kind is one class registered with `register_unit(kind)`; the kind is the
`unit` a mapped op names.

- `pim`: the command engine (`pim_timing.PimTimer`), the op's program timed from the rows the previous PIM
  op left; in fast mode plus its refresh stall in closed form (`refresh`), in exact mode none (the
  continuous engine state issues the refreshes, `SystemSimulator._phase_exact`).
- `asic`: the vector ASIC's pipelines (`asic.asic_seconds`).
- `link`: the ASIC-PIM bus, bytes over all channels' pins plus a fixed latency per transfer.
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Protocol

from pimsim.dram.accounting import refresh_commands
from pimsim.engine.asic import asic_seconds
from pimsim.engine.pim_timing import Entry, PimTimer
from pimsim.engine.refresh import RefreshProbe, stall_cycles
from pimsim.engine.tally import Tally
from pimsim.errors import ConfigError
from pimsim.hardware import Hardware


# vector-MACs beyond the first of multi-vector units: counted beside the DRAM commands for their energy
EXTRA_VECTOR_MACS = "MAC16.extra_vectors"


class OpCost(NamedTuple):
    """What one op costs on its unit, and the PIM state it leaves (non-PIM units pass theirs on)."""

    unit: str
    seconds: float
    tally: Tally
    exit: Entry | None


class Unit(Protocol):
    kind: str

    def cost(self, op, entry: Entry | None, refresh: RefreshProbe | None) -> OpCost:
        """`op` found in `entry` (the rows and mode the PIM op before it left); `refresh`: the cost of one
        refresh in the stream the op runs in (None: the op's own program alone)."""


UNIT_KINDS: dict[str, Callable[..., Unit]] = {}


def register_unit(kind: str):
    """Class decorator: make `kind` a unit a mapped op may name."""
    def add(cls):
        cls.kind = kind
        UNIT_KINDS[kind] = cls
        return cls
    return add


def build_units(hw: Hardware, timer: PimTimer, exact: bool) -> dict[str, Unit]:
    """One unit of every registered kind for `hw`."""
    return {kind: cls(hw, timer, exact) for kind, cls in UNIT_KINDS.items()}


@register_unit("pim")
class PimUnit:
    """PIM channels running the op's program (timed on channel 0; counts scale to the channels it uses)."""

    def __init__(self, hw: Hardware, timer: PimTimer, exact: bool):
        self.hw, self.timer, self.exact = hw, timer, exact
        self.tck_s = hw.dram.tck_ns * 1e-9

    def cost(self, op, entry: Entry | None, refresh: RefreshProbe | None) -> OpCost:
        t = Tally()
        timing = self.timer.time(op.program, entry)
        sec = timing.cycles * self.tck_s
        if op.category == "kv_write":
            refresh_cyc = timing.category_cycles.get("refresh", 0)
            t.seconds["kv_write"] += (timing.cycles - refresh_cyc) * self.tck_s
            t.seconds["refresh"] += refresh_cyc * self.tck_s
        else:
            for cat, cyc in timing.category_cycles.items():
                t.seconds[cat] += cyc * self.tck_s
            if op.category == "attention":
                t.attention_pim_s += sec
            else:
                t.weight_pim_s += sec
        self.add_counts(t, timing, op.channels_active or self.hw.dram.channels)
        if op.vectors > 1:  # each column read also fed the other vectors' MACs (energy, not a DRAM command)
            t.commands[EXTRA_VECTOR_MACS] += timing.commands.get("MAC16", 0) * (op.vectors - 1) * \
                (op.channels_active or self.hw.dram.channels)
        if not self.exact:
            sec += self._add_refresh_stall(t, op, refresh or self.timer.refresh_probe(op.program, entry),
                                           timing.cycles)
        t.pim_busy_s += sec
        return OpCost("pim", sec, t, timing.exit)

    def add_counts(self, t: Tally, timing, channels: int, times: int = 1, lane: bool = False) -> None:
        """Add the DRAM commands and row hits/misses of `timing` (one channel's) run on `channels` channels,
        `times` times; refreshes (role: refresh in the standard's table) are counted on every channel, whatever
        the op uses, unless `lane` (exact mode: `timing` is a whole run of those channels, refreshes included)."""
        nch, refresh = self.hw.dram.channels, refresh_commands(self.hw.dram.standard)
        for k, v in timing.commands.items():
            t.commands[k] += v * times * (nch if k in refresh and not lane else channels)
        t.row_hits += timing.row_hits * channels * times
        t.row_misses += timing.row_misses * channels * times

    def _add_refresh_stall(self, t: Tally, op, probe: RefreshProbe, busy_cycles: int) -> float:
        """Fast mode: add to `t` the refresh stall of `op` (busy x c / (I - c), c the cost of one refresh
        in the stream it runs in: `pimsim.engine.refresh`), the commands and row hits/misses its refreshes
        bring (every channel refreshes, whatever the op uses); returns the stall in seconds."""
        interval = self.timer.refresh_interval_cycles
        if probe.cost_cycles >= interval:
            raise ConfigError(f"{self.hw.name}: one refresh costs {probe.cost_cycles:.0f} cycles of PIM time in "
                              f"{op.name} but one falls due every {interval} cycles: the PIM units would never run")
        stall = stall_cycles(busy_cycles, probe, interval)
        if not stall:
            return 0.0
        refreshes = stall / probe.cost_cycles  # = (busy + stall) / interval
        nch = self.hw.dram.channels
        for k, v in probe.commands.items():
            t.commands[k] += v * refreshes * nch
        t.row_hits += probe.row_hits * refreshes * nch
        t.row_misses += probe.row_misses * refreshes * nch
        stall_s = stall * self.tck_s
        t.seconds["refresh"] += stall_s
        return stall_s


@register_unit("pim_device")
class PimDeviceUnit(PimUnit):
    """Whole-device programs whose channels run different instructions (CENT's vector ops, whose operands the
    host moves through a few channels burst by burst: pimsim/mapper/cent_programs.py). The program's lines
    name one device's channels (asic.device_channels, else dram.channels) and are timed on an engine of that
    many channels from a settled device, so the host's one-line-per-tick decode over the channels is timed as
    it runs; its DRAM commands count as the program issues them, times `device_copies`. The entry (one
    channel's rows) passes through unchanged: the next channel-0 op does not see the rows this op left, which
    CENT's whole-block replay shows within 0.3-2.9% (tests/test_cent_programs.py: ops alone vs chained).
    Refresh (fast mode): the stall in closed form from one refresh's cost in this program, as PimUnit, with
    every channel of the system refreshing. Exact mode is not modelled (SystemSimulator refuses it)."""

    def __init__(self, hw: Hardware, timer: PimTimer, exact: bool):
        super().__init__(hw, timer, exact)
        self.channels = hw.asic.device_channels or hw.dram.channels
        self._device_timer: PimTimer | None = None

    @property
    def device_timer(self) -> PimTimer:
        """One device's channels (built on first use: only CENT's programs need it)."""
        if self._device_timer is None:
            self._device_timer = PimTimer(self.hw, channels=self.channels)
        return self._device_timer

    def cost(self, op, entry: Entry | None, refresh: RefreshProbe | None) -> OpCost:
        t = Tally()
        timing = self.device_timer.time(op.program, None)
        sec = timing.cycles * self.tck_s
        if op.category == "kv_write":
            t.seconds["kv_write"] += sec
        else:
            for cat, cyc in timing.category_cycles.items():
                t.seconds[cat] += cyc * self.tck_s
        if op.category == "attention":
            t.attention_pim_s += sec
        elif op.category == "pim_mac":
            t.weight_pim_s += sec
        for k, v in timing.commands.items():
            t.commands[k] += v * op.device_copies
        t.row_hits += timing.row_hits * op.device_copies
        t.row_misses += timing.row_misses * op.device_copies
        probe = self.device_timer.refresh_probe(op.program, None)
        sec += self._add_refresh_stall(t, op, probe, timing.cycles)
        t.pim_busy_s += sec
        return OpCost("pim", sec, t, entry)


@register_unit("asic")
class AsicUnit:
    """The vector ASIC: `asic_flops` through the function units the op names."""

    def __init__(self, hw: Hardware, timer: PimTimer, exact: bool):
        self.hw = hw

    def cost(self, op, entry: Entry | None, refresh: RefreshProbe | None) -> OpCost:
        t = Tally()
        sec = asic_seconds(op, self.hw)
        t.seconds["asic"] += sec
        t.asic_flops += op.asic_flops
        t.asic_sram_bytes += op.asic_sram_bytes
        return OpCost("asic", sec, t, entry)


@register_unit("link")
class LinkUnit:
    """The ASIC-PIM bus: `bytes_per_cycle` per channel per tCK over every channel, plus `latency_ns`."""

    def __init__(self, hw: Hardware, timer: PimTimer, exact: bool):
        self.hw = hw
        self.bytes_per_s = hw.dram.channels * hw.link.bytes_per_cycle / (hw.dram.tck_ns * 1e-9)

    def cost(self, op, entry: Entry | None, refresh: RefreshProbe | None) -> OpCost:
        t = Tally()
        sec = op.link_bytes / self.bytes_per_s + self.hw.link.latency_ns * 1e-9
        t.seconds["link"] += sec
        t.link_bytes += op.link_bytes
        return OpCost("link", sec, t, entry)
