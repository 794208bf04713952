"""A baseline from the user's own measurements: per-phase latency and energy read from a CSV.

Columns `phase`, `latency_s`, `energy_j`; one row per phase of the workload, named as `expand`
names them (`prefill`, `decode`, `policy.prefill`, `prm.score`, `prm.score.step3`, ...). Every phase
must be given exactly once and no other; the `Result` then carries these figures unchanged.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from pimsim.baselines.model import workload_config, result_tokens
from pimsim.errors import ConfigError
from pimsim.util.config_io import read_text
from pimsim.result import PhaseResult, Result

COLUMNS = ("phase", "latency_s", "energy_j")


def read_phase_measurements(path: str | Path) -> dict[str, tuple[float, float]]:
    """phase name -> (latency_s, energy_j); errors name the file, line and column."""
    path = Path(path)
    text = read_text(path)
    reader = csv.DictReader(text.splitlines())
    header = [c.strip() for c in (reader.fieldnames or [])]
    for col in COLUMNS:
        if col not in header:
            raise ConfigError(f"{path}: missing column {col!r} (need {', '.join(COLUMNS)}; header: "
                              f"{', '.join(header) or 'none'})")
    out: dict[str, tuple[float, float]] = {}
    for i, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        name = row["phase"]
        if not name:
            raise ConfigError(f"{path} line {i}: column 'phase' is empty")
        if name in out:
            raise ConfigError(f"{path} line {i}: phase {name!r} given twice")
        values = []
        for col in ("latency_s", "energy_j"):
            text_value = row.get(col, "")
            try:
                v = float(text_value)
            except ValueError:
                raise ConfigError(f"{path} line {i}: column {col!r}: not a number (got {text_value!r})") from None
            if not math.isfinite(v) or v < 0:
                raise ConfigError(f"{path} line {i}: column {col!r}: must be finite and >= 0 (got {text_value!r})")
            values.append(v)
        out[name] = (values[0], values[1])
    if not out:
        raise ConfigError(f"{path}: no data rows")
    return out


def measured_baseline(workload, path: str | Path, machine: str | None = None) -> Result:
    """`Result` of `workload` from measured per-phase figures in `path` (module docstring)."""
    data = read_phase_measurements(path)
    names = [p.name for p in workload.phases]
    missing = [n for n in names if n not in data]
    if missing:
        raise ConfigError(f"{path}: no row for phase(s) {', '.join(missing)} (workload phases: {', '.join(names)})")
    extra = [n for n in data if n not in names]
    if extra:
        raise ConfigError(f"{path}: phase(s) {', '.join(extra)} are not in the workload (its phases: {', '.join(names)})")
    phases = tuple(PhaseResult.of(p, data[p.name][0], data[p.name][1],
                                  {"measured": data[p.name][0]}, {"measured": data[p.name][1]}) for p in workload.phases)
    latency = sum(p.latency_s for p in phases)
    energy = sum(p.energy_j for p in phases)
    return Result(
        machine=machine or f"measured:{Path(path).name}",
        latency_s=latency,
        energy_j=energy,
        tokens=result_tokens(workload),
        breakdown_s={"measured": latency},
        breakdown_j={"measured": energy},
        phases=phases,
        config={"baseline": {"measured": str(path)}, "workload": workload_config(workload),
                "models": sorted({p.model.name for p in workload.phases})},
    )
