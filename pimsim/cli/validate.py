"""`pimsim validate`: every reference beside pimsim's figure, the error and the tolerance (docs/validation.md).

Exit codes: 0 when every selected check is within its tolerance, 1 when any is not (or crashed), 2 on bad
input (unknown kind or family, malformed tolerance file, missing reference folder or doc markers).
"""

from __future__ import annotations

import sys

from pimsim.cli.output import print_json


def add_parser(sub) -> None:
    from pimsim.validate.tolerances import KINDS

    p = sub.add_parser(
        "validate", help="check pimsim against every reference (measurements, closed forms, published figures)",
        description="Run pimsim's validation: each reference beside pimsim's figure, the error and its tolerance "
                    "(tolerances and their reasons: pimsim/validate/tolerances.yaml). Exit 0 when all selected "
                    "checks pass, 1 when any fails, 2 on bad input.")
    p.add_argument("--json", action="store_true", help="print the report as JSON (checks + summary)")
    p.add_argument("--markdown", nargs="?", const="full", choices=("full", "summary"),
                   help="print the report as markdown (full: every check; summary: one row per family)")
    p.add_argument("--write-doc", action="append", metavar="FILE.md",
                   help="regenerate the report blocks of FILE.md (between `<!-- BEGIN pimsim validate "
                        "--markdown=full|summary -->` and `<!-- END pimsim validate -->`); repeatable")
    p.add_argument("--only", action="append", metavar="KIND|FAMILY",
                   help=f"run only these kinds ({', '.join(KINDS)}), check families or id patterns "
                        "(`pimgpt.*`); comma-separated or repeated")
    p.add_argument("--skip", action="append", metavar="KIND|FAMILY", help="skip these (same names as --only)")
    p.add_argument("--reference", metavar="DIR",
                   help="reference folder (default: ../shared/reference beside the repository, else the copies "
                        "shipped in the package)")
    p.add_argument("--tolerances", metavar="FILE.yaml", help="a tolerance file instead of the shipped one")
    p.add_argument("--list", action="store_true", help="list the check families and their tolerances; run nothing")
    p.add_argument("--quiet", action="store_true", help="no progress on stderr")
    p.set_defaults(func=_validate)


def _validate(args) -> int:
    from pimsim.errors import ConfigError
    from pimsim.validate import FAMILIES, load_tolerances, run_validation, select, write_doc

    if sum(bool(x) for x in (args.json, args.markdown, args.list)) > 1:
        raise ConfigError("--json, --markdown and --list are exclusive: choose one output")
    if args.list:
        tol = load_tolerances(args.tolerances, families=list(FAMILIES))
        for fam in select(tol, args.only, args.skip):
            t = tol[fam]
            print(f"{fam}  [{t.kind}]  error {t.error}, tolerance {t.tolerance}\n    {t.title}\n"
                  f"    against: {t.source}\n    reason: {t.reason}\n")
        return 0
    progress = None
    if not args.quiet and not args.json and not args.markdown and sys.stderr.isatty():
        def progress(family: str) -> None:
            print(f"  checking {family} ...", file=sys.stderr, flush=True)
    report = run_validation(args.only, args.skip, args.reference, args.tolerances, progress=progress)
    for path in args.write_doc or ():
        n = write_doc(path, report)
        if not args.json and not args.markdown:
            print(f"wrote {n} report block{'s' if n != 1 else ''} into {path}")
    if args.json:
        print_json(report.to_dict())
    elif args.markdown:
        print(report.markdown(args.markdown))
    else:
        print(report.text())
    return report.exit_code
