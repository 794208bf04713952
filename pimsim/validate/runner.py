"""Running a validation: select check families, run each (a crash becomes an `error` row), build the report."""

from __future__ import annotations

import fnmatch
import time
import traceback
from pathlib import Path
from typing import Callable, Iterable

from pimsim.errors import ConfigError
from pimsim.validate.checks import FAMILIES, Context
from pimsim.validate.references import locate
from pimsim.validate.report import ERROR, Check, Report
from pimsim.validate.tolerances import KINDS, Tolerance, default_path, load_tolerances


def _tokens(values: Iterable[str] | None) -> list[str]:
    out = []
    for v in values or ():
        out += [t.strip() for t in str(v).split(",") if t.strip()]
    return out


def select(tolerances: dict[str, Tolerance], only: Iterable[str] | None = None,
           skip: Iterable[str] | None = None) -> list[str]:
    """Families to run, in registry order. `only` / `skip` name kinds (measured, closed-form, consistency,
    checker, reference-comparison), family ids, a family prefix (`cent` = every `cent.*` family: a study's
    reproduction) or shell patterns of ids (`pimgpt.*`); comma-separated or repeated. A name that matches
    nothing is a ConfigError (exit 2)."""

    def matches(token: str, flag: str) -> set[str]:
        if token in KINDS:
            return {f for f in FAMILIES if tolerances[f].kind == token}
        hit = {f for f in FAMILIES if fnmatch.fnmatchcase(f, token) or f.startswith(token + ".")}
        if not hit:
            raise ConfigError(f"{flag} {token}: not a kind or check family; kinds: {', '.join(KINDS)}; "
                              f"families: {', '.join(FAMILIES)}")
        return hit

    chosen = set(FAMILIES)
    only_t, skip_t = _tokens(only), _tokens(skip)
    if only_t:
        chosen = set().union(*(matches(t, "--only") for t in only_t))
    for t in skip_t:
        chosen -= matches(t, "--skip")
    return [f for f in FAMILIES if f in chosen]


def run_validation(only: Iterable[str] | None = None, skip: Iterable[str] | None = None,
                   reference: str | Path | None = None, tolerances: str | Path | None = None,
                   progress: Callable[[str], None] | None = None) -> Report:
    """Run the selected check families and return the `Report` (see `pimsim validate --help`)."""
    start = time.perf_counter()
    tol_path = str(tolerances) if tolerances is not None else str(default_path())
    tol = load_tolerances(tolerances, families=list(FAMILIES))
    families = select(tol, only, skip)
    refs = locate(reference)
    if any(tol[f].kind == "measured" for f in families):
        refs.check()
    ctx = Context(tol, refs)
    checks: list[Check] = []
    for fam in families:
        if progress:
            progress(fam)
        try:
            checks += FAMILIES[fam](ctx)
        except Exception as exc:  # noqa: BLE001 - a crashing check is reported, never hidden
            t = tol[fam]
            where = traceback.extract_tb(exc.__traceback__)[-1]
            checks.append(Check(
                id=fam, family=fam, kind=t.kind, check=fam, title=t.title, label=t.label, reference=t.source[:60],
                pimsim="crashed",
                error=None, error_text="n/a", tolerance="-", status=ERROR, reason=t.reason, source=t.source,
                error_kind=t.error,
                message=f"{type(exc).__name__}: {exc} (at {Path(where.filename).name}:{where.lineno})",
            ))
    shown_tol = ("shipped pimsim/validate/tolerances.yaml and tolerances.d/" if tolerances is None else tol_path)
    report = Report(checks, refs.describe(), shown_tol,
                    selection={"only": _tokens(only), "skip": _tokens(skip), "families": families})
    report.elapsed_s = time.perf_counter() - start
    return report
