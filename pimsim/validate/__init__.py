"""Validation box: every reference beside pimsim's figure, the error, and the tolerance with its reason.

    from pimsim.validate import run_validation
    report = run_validation(skip=["reference-comparison"])   # -> Report
    report.exit_code, report.summary(), report.to_dict(), report.text(), report.markdown("full")

Check families (`checks.FAMILIES`) and their tolerances (`tolerances.yaml`, one entry per family with the
reason for it) are listed in docs/validation.md; `pimsim validate` is the CLI. Kinds: measured,
closed-form, consistency, checker (model correctness) and reference-comparison (the PIM-GPT paper's
published figures, whose setup the paper does not fully state).
"""

from pimsim.validate.checks import FAMILIES
from pimsim.validate.report import Check, Report, write_doc
from pimsim.validate.runner import run_validation, select
from pimsim.validate.tolerances import KINDS, MODEL_CORRECTNESS, load_tolerances

__all__ = ["FAMILIES", "KINDS", "MODEL_CORRECTNESS", "Check", "Report", "load_tolerances", "run_validation",
           "select", "write_doc"]
