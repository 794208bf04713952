"""The tolerance file of `pimsim validate` (`tolerances.yaml` beside this module) and the error rules.

Every check family has one entry: its kind, what it is checked against (`source`), reference values kept
in the file (`value`), how the error is measured (`error`), the allowed error (`tolerance`) and the reason
for it. `error_of` and `within` are the only rules that turn a figure into a status.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pimsim.errors import ConfigError
from pimsim.util.config_io import read_yaml, validate

KINDS: tuple[str, ...] = ("measured", "closed-form", "consistency", "checker", "reference-comparison")
# kinds that say whether pimsim computes what it claims to (the rest compare with published figures)
MODEL_CORRECTNESS: tuple[str, ...] = ("measured", "closed-form", "consistency", "checker")

Kind = Literal["measured", "closed-form", "consistency", "checker", "reference-comparison"]
Bound = tuple[float | None, float | None]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tolerance(_Strict):
    """One check family's tolerance entry (field meanings: the header of tolerances.yaml)."""

    kind: Kind
    label: str = Field(min_length=1, max_length=80, description="short: what against what (summaries)")
    title: str = Field(min_length=1)
    source: str = Field(min_length=1)
    value: float | tuple[float | None, float | None] | None = None
    error: Literal["relative", "absolute"]
    tolerance: float | tuple[float | None, float | None]
    reason: str = Field(min_length=20, description="why this tolerance and not another")

    @model_validator(mode="after")
    def _check(self) -> "Tolerance":
        tol = self.tolerance
        if isinstance(tol, tuple):
            lo, hi = tol
            if lo is None and hi is None:
                raise ValueError("tolerance: give at least one bound ([low, null] or [null, high])")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"tolerance: low {lo} is above high {hi}")
            for v in tol:
                if v is not None and not math.isfinite(v):
                    raise ValueError(f"tolerance: bounds must be finite numbers or null, got {v}")
        elif not math.isfinite(tol) or tol < 0:
            raise ValueError(f"tolerance: a single number means [-x, x] and must be finite and >= 0, got {tol}")
        if isinstance(self.value, tuple):
            lo, hi = self.value
            if lo is None and hi is None:
                raise ValueError("value: a range needs at least one end")
            if lo is not None and hi is not None and lo > hi:
                raise ValueError(f"value: range low {lo} is above high {hi}")
        return self

    @property
    def bounds(self) -> Bound:
        """The allowed error as (low, high), None = unbounded."""
        if isinstance(self.tolerance, tuple):
            return self.tolerance
        return (-float(self.tolerance), float(self.tolerance))

    def reference_interval(self) -> Bound:
        """`value` as an interval: a number is a point, [low, high] a range or one-sided bound."""
        if self.value is None:
            raise ConfigError(f"tolerance entry {self.title!r} has no `value`")
        if isinstance(self.value, tuple):
            return self.value
        return (float(self.value), float(self.value))


class ToleranceFile(_Strict):
    version: Literal[1]
    checks: dict[str, Tolerance]


def default_path() -> Path:
    return Path(str(resources.files("pimsim.validate") / "tolerances.yaml"))


def extra_paths() -> list[Path]:
    """The shipped tolerance files beside tolerances.yaml: `tolerances.d/*.yaml`, one per group of families
    kept in its own module (`checks_*.py`), so that groups are added without editing one shared file."""
    folder = Path(str(resources.files("pimsim.validate") / "tolerances.d"))
    return sorted(folder.glob("*.yaml")) if folder.is_dir() else []


def _read(path: str | Path | None) -> tuple[str, dict[str, Tolerance]]:
    if path is not None:
        source = str(path)
        return source, dict(validate(ToleranceFile, read_yaml(source), source).checks)
    source = str(default_path())
    checks = dict(validate(ToleranceFile, read_yaml(source), source).checks)
    for extra in extra_paths():
        more = validate(ToleranceFile, read_yaml(str(extra)), str(extra)).checks
        clash = sorted(set(more) & set(checks))
        if clash:
            raise ConfigError(f"{extra}: checks: {', '.join(clash)} already have a tolerance entry elsewhere "
                              f"(each family has exactly one)")
        checks.update(more)
    return source, checks


def load_tolerances(path: str | Path | None = None, families: list[str] | None = None) -> dict[str, Tolerance]:
    """The tolerance entries of `path` (default: the shipped tolerances.yaml and tolerances.d/*.yaml). With
    `families`, every family must have an entry and every entry must name a family (ConfigError naming
    the file and entry otherwise)."""
    source, checks = _read(path)
    if families is not None:
        missing = [f for f in families if f not in checks]
        if missing:
            raise ConfigError(f"{source}: checks: no tolerance entry for {', '.join(missing)} (every check "
                              "family needs a tolerance and a reason)")
        unknown = [f for f in checks if f not in families]
        if unknown:
            raise ConfigError(f"{source}: checks: unknown check famil{'y' if len(unknown) == 1 else 'ies'} "
                              f"{', '.join(unknown)}; known: {', '.join(families)}")
        return {f: checks[f] for f in families}  # in the families' (the report's) order
    return checks


def error_of(value: float, reference: Bound, kind: str) -> float:
    """Error of `value` against the reference interval (a point when both ends are equal): 0 inside a
    range; otherwise from the nearest end, relative (value / end - 1) or absolute (value - end).
    NaN when the value is not finite."""
    if value is None or not math.isfinite(value):
        return math.nan
    lo, hi = reference
    if lo is not None and value < lo:
        end = lo
    elif hi is not None and value > hi:
        end = hi
    elif lo is not None and lo == hi:
        end = lo
    else:
        return 0.0
    if kind == "relative":
        if end == 0:
            return 0.0 if value == 0 else math.copysign(math.inf, value)
        return value / end - 1.0
    return value - end


def within(error: float, bounds: Bound) -> bool:
    """Whether `error` lies within the allowed bounds (float rounding of 1e-12 tolerated); NaN never does."""
    if error is None or math.isnan(error):
        return False
    lo, hi = bounds
    eps = 1e-12 * max(1.0, abs(error))
    return (lo is None or error >= lo - eps) and (hi is None or error <= hi + eps)
