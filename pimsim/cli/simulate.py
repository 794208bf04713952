"""`pimsim simulate`: a workload on a PIM system (hardware + mapping), printed or as JSON."""

from __future__ import annotations

from pimsim.cli.common import add_model_args, add_workload_args, models_from_args, workload_from_args
from pimsim.cli.output import check_output_file, format_table, print_json
from pimsim.errors import ConfigError
from pimsim.result import generating_role


LARGE_TRACE_EVENTS = 1_000_000  # ~100 MB of JSON: past it, suggest --trace-tokens (docs/experiments.md, Traces)


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a workload on a PIM system",
                       description="Simulate a workload on PIM: end-to-end latency, time to first token "
                                   "(prefill) and per output token (decode), energy, a time/energy "
                                   "breakdown, DRAM command counts and the row-hit rate.")
    p.add_argument("--hardware", default="pimgpt-gddr6", metavar="PRESET|FILE.yaml")
    p.add_argument("--mapping", default="pimgpt", metavar="NAME|FILE.yaml")
    add_model_args(p)
    add_workload_args(p)
    p.add_argument("--exact", nargs="?", const="lanes", default=False, choices=("lanes", "every-channel"),
                   help="run every op through one continuous engine state with refresh (slower); lanes (the "
                        "default): one channel stands for those that run the same ops; every-channel: every "
                        "channel in the engine, command for command the device's replay (at most 64 "
                        "channels; slower still)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--trace", metavar="OUT.json",
                   help="write a Chrome/Perfetto trace (JSON) of the whole run, op by op, every token")
    p.add_argument("--trace-tokens", type=int, metavar="N",
                   help="with --trace: draw only N evenly spaced token positions per phase op by op, at their "
                        "true times (for very long runs; stated in the file's otherData)")
    p.set_defaults(func=_simulate)


def _simulate(args) -> int:
    from pimsim.engine.system import simulate
    from pimsim.engine.trace import write_chrome_trace
    from pimsim.workloads import expand

    if args.trace_tokens is not None and not args.trace:
        raise ConfigError("--trace-tokens samples the trace: give --trace OUT.json with it")
    if args.trace_tokens is not None and args.trace_tokens < 1:
        raise ConfigError(f"--trace-tokens must be a positive number of token positions per phase, "
                          f"got {args.trace_tokens}")
    if args.trace:
        check_output_file(args.trace, "--trace")
    spec = workload_from_args(args)
    models = models_from_args(args)
    from pimsim.workloads import MODEL_DEFAULT_KINDS

    if spec.kind in ("best-of-n", "beam-search", "mc-annotate"):
        if models:
            takes = "--policy" if spec.kind == "mc-annotate" else "--policy and --prm"
            raise ConfigError(f"--model/--model-config are not flags of --workload {spec.kind}; it takes {takes}")
        model = None
    elif spec.kind in MODEL_DEFAULT_KINDS:  # --model stands in for any of its model flags not given
        if len(models) > 1:
            raise ConfigError(f"--workload {spec.kind} takes at most one --model/--model-config")
        model = models[0] if models else None
    else:
        if len(models) != 1:
            raise ConfigError(f"--workload {spec.kind} needs one model: --model NAME or --model-config FILE")
        model = models[0]
    result = simulate(model, args.hardware, args.mapping, spec, exact=args.exact)
    trace_info = None
    if args.trace:
        trace_info = write_chrome_trace(result, args.trace, expand(spec, model), args.hardware, args.mapping,
                                        tokens_per_phase=args.trace_tokens, exact=args.exact)
    if args.json:
        out = result.to_dict()
        out.pop("config")
        print_json(out)
        return 0
    print(f"machine            {result.machine}")
    for line in latency_lines(result, expand(spec, model).generated_tokens > 0):
        print(line)
    print(f"energy             {result.energy_j:.4g} J" + (f" ({result.energy_per_token_j * 1e3:.4g} mJ/token)"
                                                           if result.tokens else ""))
    if result.row_hit_rate is not None:
        print(f"row-hit rate       {result.row_hit_rate:.4f}")
    if "bank_utilisation" in result.counters:  # one PIM system (a system of devices reports busy time)
        print(f"bank utilisation   {result.counters['bank_utilisation']:.4f}  (MAC column slots used)")
        print(f"non-VMM share      {result.counters['non_vmm_share']:.4f}")
    for key in sorted(k for k in result.counters if k.startswith(("busy_s.", "link_s.", "link_bytes."))):
        value = result.counters[key]
        shown = f"{value * 1e3:.4g} ms" if key.startswith(("busy_s.", "link_s.")) else f"{value:,.0f} bytes"
        print(f"{key:<18} {shown}")
    print()
    rows = [(k, v * 1e3, v / result.latency_s) for k, v in result.breakdown_s.items()]
    print(format_table(["time", "ms", "share"], rows))
    print()
    print(format_table(["energy", "J", "share"], [(k, v, v / result.energy_j) for k, v in result.breakdown_j.items()]))
    print()
    print(format_table(["phase", "ms", "J", "tokens"], [(p.name, p.latency_s * 1e3, p.energy_j, p.tokens)
                                                         for p in result.phases]))
    if result.commands:
        print()
        print(format_table(["command", "count"], sorted(result.commands.items())))
    if trace_info:
        print(f"\nwrote {args.trace}: {trace_info['events']:,} events; {trace_info['sampling']}")
        if trace_info["events"] > LARGE_TRACE_EVENTS and args.trace_tokens is None:
            print(f"note: over {LARGE_TRACE_EVENTS:,} events (~100 MB), which Perfetto's UI imports slowly; "
                  "--trace-tokens 64 draws 64 token positions per phase at their true times")
    return 0


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.4g} ms"


def latency_lines(result, generated: bool) -> list[str]:
    """End-to-end latency, TTFT and TPOT as text lines (definitions: `pimsim.result`). `generated`: the
    result's `tokens` are generated tokens (else scored tokens of PRM scoring)."""
    what = "generated" if generated else "scored"
    lines = [f"latency            {_ms(result.latency_s)} end to end"
             + (f" for {result.tokens:,} {what} tokens" if result.tokens else "")]
    ttft, tpot, role = result.ttft_s, result.tpot_s, generating_role(result.phases)
    if ttft is not None:
        lines.append(f"  time to first    {_ms(ttft)}" + (f" ({role} prefill)" if role else
                                                          " (scoring only: the whole run)"))
    if tpot is not None:
        lines.append(f"  time per output  {tpot * 1e6:.4g} us/token ({role} decode, per sequence)")
    elif ttft is not None:
        lines.append("  time per output  none (no decode step)")
    if result.tokens:
        lines.append(f"  e2e / tokens     {result.e2e_latency_per_token_s * 1e6:.4g} us/token "
                     f"(end-to-end latency over {result.tokens:,} {what} tokens; prefill included)")
    return lines
