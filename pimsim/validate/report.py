"""The validation report: `Check` rows, the `Report`, and its text, JSON and markdown forms.

A check row is one reference beside pimsim's figure: (check, reference, pimsim, error, tolerance,
status), plus the numbers behind the text, the reason for the tolerance and, for checks over several
models, the per-model figures in `details`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pimsim.errors import ConfigError
from pimsim.validate.tolerances import KINDS, MODEL_CORRECTNESS

PASS, FAIL, ERROR = "pass", "fail", "error"
COLUMNS = ("check", "reference", "pimsim", "error", "tolerance", "status")


def _finite(v: Any) -> Any:
    """JSON-safe: non-finite floats become None (the report never prints NaN)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    return v


@dataclass
class Check:
    """One reference beside pimsim's figure."""

    id: str  # family, or family[item]
    family: str
    kind: str
    check: str  # short label (with the item)
    title: str  # the family's title (tolerances.yaml)
    label: str  # the family's short label (tolerances.yaml)
    reference: str  # display text
    pimsim: str
    error: float | None
    error_text: str
    tolerance: str
    status: str  # pass | fail | error
    reason: str
    source: str
    error_kind: str = "relative"
    reference_value: Any = None
    pimsim_value: Any = None
    details: list[dict[str, Any]] | None = None
    message: str | None = None  # what went wrong (status error, or a failure beyond the number)

    def to_dict(self) -> dict[str, Any]:
        d = {
            "id": self.id, "family": self.family, "kind": self.kind, "check": self.check, "title": self.title,
            "label": self.label,
            "reference": self.reference, "reference_value": self.reference_value,
            "pimsim": self.pimsim, "pimsim_value": self.pimsim_value,
            "error": self.error, "error_kind": self.error_kind, "error_text": self.error_text,
            "tolerance": self.tolerance, "status": self.status, "reason": self.reason, "source": self.source,
        }
        if self.details is not None:
            d["details"] = self.details
        if self.message:
            d["message"] = self.message
        return _finite(d)


@dataclass
class Report:
    checks: list[Check]
    references: dict[str, dict[str, str]]
    tolerances: str
    selection: dict[str, list[str]] = field(default_factory=dict)
    elapsed_s: float | None = None  # shown in text output only (JSON stays deterministic)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if c.status != PASS]

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self) -> dict[str, Any]:
        by_kind: dict[str, dict[str, int]] = {}
        for c in self.checks:
            k = by_kind.setdefault(c.kind, {PASS: 0, FAIL: 0, ERROR: 0})
            k[c.status] += 1
        count = {s: sum(1 for c in self.checks if c.status == s) for s in (PASS, FAIL, ERROR)}
        mc = [c for c in self.checks if c.kind in MODEL_CORRECTNESS]
        rc = [c for c in self.checks if c.kind not in MODEL_CORRECTNESS]
        return {
            "checks": len(self.checks), **count,
            "by_kind": {k: by_kind[k] for k in KINDS if k in by_kind},
            "model_correctness": {"checks": len(mc), "failed": sum(1 for c in mc if c.status != PASS)},
            "reference_comparison": {"checks": len(rc), "failed": sum(1 for c in rc if c.status != PASS)},
            "failed_ids": [c.id for c in self.failed],
            "exit_code": self.exit_code,
        }

    def to_dict(self) -> dict[str, Any]:
        from pimsim import __version__

        return {"pimsim_version": __version__, "references": self.references, "tolerances": self.tolerances,
                "selection": self.selection, "checks": [c.to_dict() for c in self.checks],
                "summary": self.summary()}

    # ------------------------------------------------------------------ text
    def text(self) -> str:
        out = []
        for kind in KINDS:
            rows = [c for c in self.checks if c.kind == kind]
            if not rows:
                continue
            out.append(f"== {kind} ({_kind_blurb(kind)})")
            out.append(_table([(_label(c), c.reference, c.pimsim,
                                c.error_text, c.tolerance, c.status.upper()) for c in rows]))
            for c in rows:
                if c.message:
                    out.append(f"   {c.id}: {c.message}")
            out.append("")
        s = self.summary()
        out.append(self._summary_line(s))
        out.append(self._references_line())
        if self.failed:
            out.append("failed: " + ", ".join(s["failed_ids"]))
        if self.elapsed_s is not None:
            out.append(f"ran in {self.elapsed_s:.1f} s")
        return "\n".join(out)

    def _summary_line(self, s: dict[str, Any]) -> str:
        errors = f", {s['error']} error" if s["error"] else ""
        parts = [f"{s['checks']} checks: {s['pass']} pass, {s['fail']} fail{errors}"]
        mc, rc = s["model_correctness"], s["reference_comparison"]
        if mc["checks"]:
            parts.append(f"model correctness {mc['checks'] - mc['failed']}/{mc['checks']} pass")
        if rc["checks"]:
            parts.append(f"reference comparison {rc['checks'] - rc['failed']}/{rc['checks']} pass")
        return "; ".join(parts) + f" (exit {s['exit_code']})"

    def _references_line(self) -> str:
        items = [f"{name}: {_origin(info)}" for name, info in self.references.items()]
        return "references: " + "; ".join(items)

    # ------------------------------------------------------------------ markdown
    def markdown(self, style: str = "full") -> str:
        if style == "summary":
            return self._markdown_summary()
        if style != "full":
            raise ConfigError(f"markdown style {style!r}: use full or summary")
        s = self.summary()
        lines = [f"Summary: {self._summary_line(s)}.", "", f"References: {self._references_line()[12:]}.", ""]
        for kind in KINDS:
            rows = [c for c in self.checks if c.kind == kind]
            if not rows:
                continue
            blurb = _kind_blurb(kind)
            lines += [f"### {kind}", "", blurb[:1].upper() + blurb[1:] + ".", "",
                      "| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
            for c in rows:
                cells = [_label(c), c.reference, c.pimsim, c.error_text, c.tolerance,
                         "pass" if c.status == PASS else f"**{c.status.upper()}**"]
                lines.append("| " + " | ".join(_md(x) for x in cells) + " |")
            lines.append("")
        detailed = [c for c in self.checks if c.details]
        if detailed:
            lines += ["### Per-model figures of the checks over several models", ""]
            for c in detailed:
                lines += [f"`{c.id}` ({c.check}):", "", "| item | pimsim | error | status |", "|---|---|---|---|"]
                for d in c.details:
                    extra = f" (needs x{d['factor_needed']:.3g})" if d.get("factor_needed") else ""
                    lines.append(f"| {_md(d['item'])} | {_md(d['pimsim'])} | {_md(d['error_text'])}{extra} | "
                                 f"{d['status']} |")
                lines.append("")
        reasons = {}
        for c in self.checks:
            reasons.setdefault(c.family, c)
        lines += ["### Tolerances and their reasons", "", "| check family | against | tolerance | reason |",
                  "|---|---|---|---|"]
        for fam, c in reasons.items():
            lines.append(f"| `{fam}` | {_md(c.source)} | {_md(c.tolerance)} | {_md(c.reason)} |")
        lines.append("")
        return "\n".join(lines)

    def _markdown_summary(self) -> str:
        """One row per check family: what against what, the worst error, the tolerance, pass/fail count."""
        lines = ["| check | kind | pimsim (worst) | error | tolerance | status |", "|---|---|---|---|---|---|"]
        fams: dict[str, list[Check]] = {}
        for c in self.checks:
            fams.setdefault(c.family, []).append(c)
        for fam, rows in fams.items():
            worst = max(rows, key=lambda c: (c.status != PASS, abs(c.error) if c.error is not None and
                                             math.isfinite(c.error) else math.inf))
            bad = sum(1 for c in rows if c.status != PASS)
            status = f"{len(rows) - bad}/{len(rows)} pass" if len(rows) > 1 else rows[0].status
            if bad:
                status = f"**{status}**"
            err = worst.error_text
            if len(rows) > 1 and "[" in worst.id and worst.error:
                err += f" ({worst.id[worst.id.index('[') + 1:-1]})"
            lines.append(f"| {_md(rows[0].label or rows[0].title)} | {rows[0].kind} | {_md(worst.pimsim)} | "
                         f"{_md(err)} | "
                         f"{_md(worst.tolerance)} | {status} |")
        s = self.summary()
        lines += ["", f"{self._summary_line(s)}."]
        return "\n".join(lines)


_BLURBS = {
    "measured": "against measured hardware and the public AiM simulator's cycle counts",
    "closed-form": "against closed forms of the DRAM timing and physical floors",
    "consistency": "fast shortcuts against their exact counterparts",
    "checker": "the independent timing checker over command logs of real token steps",
    "reference-comparison": "beside the PIM-GPT paper's published figures (unstated setup on the paper's side)",
}


def _kind_blurb(kind: str) -> str:
    return _BLURBS.get(kind, kind)


def _label(c: Check) -> str:
    return c.check


def _origin(info: dict[str, str]) -> str:
    origin = info["origin"]
    if origin == "shared":
        return "../shared/reference"
    if origin == "package":
        p = Path(info["path"])
        parts = p.parts
        if "pimsim" in parts:
            return "package copy " + "/".join(parts[len(parts) - 1 - parts[::-1].index("pimsim"):])
        return f"package copy {p}"
    return origin


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(rows: list[tuple]) -> str:
    widths = [max(len(h), *(len(str(r[i])) for r in rows)) for i, h in enumerate(COLUMNS)]
    widths[0] = min(widths[0], 64)
    lines = ["  ".join(h.ljust(w) for h, w in zip(COLUMNS, widths)), "  ".join("-" * w for w in widths)]
    for r in rows:
        cells = [str(v) for v in r]
        if len(cells[0]) > widths[0]:
            cells[0] = cells[0][: widths[0] - 3] + "..."
        lines.append("  ".join(v.ljust(w) for v, w in zip(cells, widths)).rstrip())
    return "\n".join(lines)


# ---------------------------------------------------------------------- documents with generated blocks

BEGIN = re.compile(r"<!-- BEGIN pimsim validate --markdown(?:=| )(full|summary) -->")
END = "<!-- END pimsim validate -->"


def write_doc(path: str | Path, report: Report, command: str = "pimsim validate --write-doc") -> int:
    """Replace every generated block of `path` (between `<!-- BEGIN pimsim validate --markdown=STYLE -->`
    and `<!-- END pimsim validate -->`) with the report in that style. Returns the blocks written."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--write-doc {path}: cannot read ({exc.strerror or exc})") from None
    out, pos, blocks = [], 0, 0
    while True:
        m = BEGIN.search(text, pos)
        if not m:
            break
        end = text.find(END, m.end())
        if end < 0:
            line = text.count("\n", 0, m.start()) + 1
            raise ConfigError(f"--write-doc {path}: line {line}: block opened by {m.group(0)} has no {END}")
        body = (f"\n<!-- generated by `{command}`; do not edit by hand -->\n\n"
                f"{report.markdown(m.group(1))}\n")
        out.append(text[pos:m.end()] + body)
        pos = end
        blocks += 1
    if not blocks:
        raise ConfigError(f"--write-doc {path}: no generated block; add the lines "
                          f"`<!-- BEGIN pimsim validate --markdown=full -->` (or =summary) and `{END}`")
    out.append(text[pos:])
    path.write_text("".join(out), encoding="utf-8")
    return blocks
