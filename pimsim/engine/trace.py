"""Trace output: one token's op-by-op timeline and a Chrome/Perfetto trace of a `Result`."""

from __future__ import annotations

import json
from pathlib import Path

from pimsim.hardware import Hardware, load_hardware
from pimsim.mapper import Mapping, load_mapping
from pimsim.models import ModelConfig
from pimsim.result import Result


def op_timeline(hw: Hardware | str, mapping: Mapping | str, model: ModelConfig | str, context: int,
                head: bool = True) -> list[tuple[str, str, float]]:
    """(op name, unit, seconds) of one token at `context`, in order (fast-mode timings, refresh stall included)."""
    from pimsim.engine.system import SystemSimulator
    from pimsim.models import load_model

    hw = hw if isinstance(hw, Hardware) else load_hardware(hw)
    mp = mapping if isinstance(mapping, Mapping) else load_mapping(mapping)
    mc = load_model(model) if isinstance(model, str) else model
    sim = SystemSimulator(hw, mp)
    out = []
    entry = None
    for op in sim.mapper(mc).map_token(context, head=head).ops():
        unit, sec, _, entry = sim.op_cost(op, entry)
        out.append((op.name, unit, sec))
    return out


def write_chrome_trace(result: Result, path: str | Path, timelines: dict[str, list] | None = None) -> None:
    """A Chrome/Perfetto trace (JSON): the phases on one lane, their time by category, and for each phase
    in `timelines` the op-by-op timeline of its first token on a lane per unit (pim, asic, link)."""
    events = []
    t0 = 0.0
    for ph in result.phases:
        events.append({"name": ph.name, "ph": "X", "ts": t0 * 1e6, "dur": ph.latency_s * 1e6, "pid": 1,
                       "tid": "phases", "args": {"energy_j": ph.energy_j, "tokens": ph.tokens}})
        cursor = t0
        for cat, sec in ph.breakdown_s.items():
            events.append({"name": cat, "ph": "X", "ts": cursor * 1e6, "dur": sec * 1e6, "pid": 1,
                           "tid": "time by category", "args": {"phase": ph.name}})
            cursor += sec
        cursor = t0
        for name, unit, sec in (timelines or {}).get(ph.name, []):
            events.append({"name": name, "ph": "X", "ts": cursor * 1e6, "dur": sec * 1e6, "pid": 2,
                           "tid": unit, "args": {"phase": ph.name, "first token": True}})
            cursor += sec
        t0 += ph.latency_s
    Path(path).write_text(json.dumps({"traceEvents": events, "displayTimeUnit": "ns"}))
