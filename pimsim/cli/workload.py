"""`pimsim workload explain`: per-phase FLOPs, weight bytes, KV bytes and arithmetic intensity, and the KV
cache each weight copy holds at once (`resident_bytes`, pimsim.workloads.residency)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pimsim.cli.common import add_model_args, add_workload_args, models_from_args, workload_from_args
from pimsim.cli.output import format_table, print_json
from pimsim.errors import ConfigError
from pimsim.workloads import MODEL_DEFAULT_KINDS, expand, resident_kv


def add_parser(sub) -> None:
    p = sub.add_parser("workload", help="workload accounting")
    psub = p.add_subparsers(dest="workload_command", metavar="ACTION", required=True)
    ex = psub.add_parser("explain", help="per-phase FLOPs, bytes and arithmetic intensity")
    add_model_args(ex, multiple=True)
    add_workload_args(ex)
    ex.add_argument("--dtype-bytes", type=int, default=2, choices=[1, 2, 4], help="bytes per weight/KV element")
    ex.add_argument("--json", action="store_true")
    ex.add_argument("--csv", metavar="PATH", help="also write the table as CSV")
    ex.set_defaults(func=_explain)


def explain_rows(workload, dtype_bytes: int = 2) -> list[dict]:
    """One row per phase; arithmetic intensity = FLOPs / (weight + KV bytes moved)."""
    rows = []
    for ph in workload.phases:
        t = ph.totals(dtype_bytes)
        moved = t["weight_bytes"] + t["kv_read_bytes"] + t["kv_write_bytes"]
        rows.append({
            "phase": ph.name, "role": ph.role, "kind": ph.kind, "model": ph.model.name, "batch": ph.batch,
            "new_tokens": ph.new_tokens, "steps": ph.steps, "context_start": ph.past_context,
            "context_end": ph.end_context, "tokens": t["tokens"], "flops": t["flops"],
            "weight_bytes": t["weight_bytes"], "kv_read_bytes": t["kv_read_bytes"],
            "kv_write_bytes": t["kv_write_bytes"], "flops_per_byte": t["flops"] / moved if moved else 0.0,
            "overlap": ph.overlap, "kv_group": ph.kv_group,
        })
    return rows


def _explain(args) -> int:
    spec = workload_from_args(args)
    takes_model = spec.kind in ("generate", "prm-score") + MODEL_DEFAULT_KINDS
    if not takes_model and (args.model or args.model_config):
        raise ConfigError(f"--model/--model-config are not flags of --workload {spec.kind}; it takes --policy and --prm")
    models = models_from_args(args) if takes_model else []
    workloads = [expand(spec, m) for m in models] if models else [expand(spec)]
    rows = [r for w in workloads for r in explain_rows(w, args.dtype_bytes)]
    resident = {label: r for w in workloads for label, r in resident_kv(w, args.dtype_bytes).items()}
    if args.csv:
        Path(args.csv).parent.mkdir(parents=True, exist_ok=True)
        pd.DataFrame(rows).to_csv(args.csv, index=False)
    if args.json:
        totals = {"generated_tokens": sum(w.generated_tokens for w in workloads),
                  "result_tokens": sum(w.result_tokens for w in workloads),
                  "prefix_sharing": getattr(spec, "prefix_sharing", True),
                  "resident_bytes": {label: r.bytes for label, r in resident.items()},
                  "resident_kv_tokens": {label: r.tokens for label, r in resident.items()}}
        print_json({"workload": spec.model_dump(), "phases": rows, **totals})
        return 0
    table = [(r["model"], r["phase"], r["batch"], f"{r['context_start']}-{r['context_end']}", r["steps"],
              r["tokens"], r["flops"] / 1e9, r["weight_bytes"] / 1e6, r["kv_read_bytes"] / 1e6,
              r["kv_write_bytes"] / 1e6, r["flops_per_byte"]) for r in rows]
    print(format_table(["model", "phase", "batch", "context", "steps", "tokens", "GFLOP", "weight_MB",
                        "kv_read_MB", "kv_write_MB", "FLOP/B"], table))
    sharing = "on" if getattr(spec, "prefix_sharing", True) else "off (--no-prefix-sharing)"
    print(f"\nKV cache resident at once (prefix sharing {sharing}; pimsim.workloads.residency):")
    print(format_table(["model", "kv_tokens", "kv_MB", "largest at (per role)"],
                       [(label, r.tokens, r.bytes / 1e6, ", ".join(r.phases.values()))
                        for label, r in resident.items()]))
    if args.csv:
        print(f"\nwrote {args.csv}")
    return 0
