"""`pimsim simulate`: a workload on a PIM system (hardware + mapping), printed or as JSON."""

from __future__ import annotations

from pimsim.cli.common import add_model_args, add_workload_args, models_from_args, workload_from_args
from pimsim.cli.output import format_table, print_json
from pimsim.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser("simulate", help="simulate a workload on a PIM system",
                       description="Simulate a workload on PIM: end-to-end latency, per-token figures, energy, "
                                   "a time/energy breakdown, DRAM command counts and the row-hit rate.")
    p.add_argument("--hardware", default="pimgpt-gddr6", metavar="PRESET|FILE.yaml")
    p.add_argument("--mapping", default="pimgpt", metavar="NAME|FILE.yaml")
    add_model_args(p)
    add_workload_args(p)
    p.add_argument("--exact", action="store_true",
                   help="run every op through one continuous engine state with refresh (slower)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--trace", metavar="OUT.json", help="write a Chrome/Perfetto trace of the timeline")
    p.set_defaults(func=_simulate)


def _simulate(args) -> int:
    from pimsim.engine.system import op_timeline, simulate, write_chrome_trace
    from pimsim.workloads import expand

    spec = workload_from_args(args)
    models = models_from_args(args)
    if spec.kind in ("best-of-n", "beam-search"):
        if models:
            raise ConfigError(f"--model/--model-config are not flags of --workload {spec.kind}; it takes --policy and --prm")
        model = None
    else:
        if len(models) != 1:
            raise ConfigError(f"--workload {spec.kind} needs one model: --model NAME or --model-config FILE")
        model = models[0]
    result = simulate(model, args.hardware, args.mapping, spec, exact=args.exact)
    if args.trace:
        timelines = {}
        for ph in expand(spec, model).phases:
            first_ctx = ph.past_context + 1
            timelines[ph.name] = op_timeline(args.hardware, args.mapping, ph.model, first_ctx,
                                             head=ph.new_tokens == 1)
        write_chrome_trace(result, args.trace, timelines)
    if args.json:
        out = result.to_dict()
        out.pop("config")
        print_json(out)
        return 0
    per = result.latency_per_token_s
    print(f"machine            {result.machine}")
    print(f"latency            {result.latency_s * 1e3:.4g} ms for {result.tokens} tokens "
          f"({per * 1e6:.4g} us/token)" if result.tokens else f"latency            {result.latency_s * 1e3:.4g} ms")
    print(f"energy             {result.energy_j:.4g} J" + (f" ({result.energy_per_token_j * 1e3:.4g} mJ/token)"
                                                           if result.tokens else ""))
    if result.row_hit_rate is not None:
        print(f"row-hit rate       {result.row_hit_rate:.4f}")
    print(f"bank utilisation   {result.counters.get('bank_utilisation', 0.0):.4f}  (MAC column slots used)")
    print(f"non-VMM share      {result.counters.get('non_vmm_share', 0.0):.4f}")
    print()
    rows = [(k, v * 1e3, v / result.latency_s) for k, v in result.breakdown_s.items()]
    print(format_table(["time", "ms", "share"], rows))
    print()
    print(format_table(["energy", "J", "share"], [(k, v, v / result.energy_j) for k, v in result.breakdown_j.items()]))
    print()
    print(format_table(["phase", "ms", "J", "tokens"], [(p.name, p.latency_s * 1e3, p.energy_j, p.tokens)
                                                         for p in result.phases]))
    print()
    print(format_table(["command", "count"], sorted(result.commands.items())))
    if args.trace:
        print(f"\nwrote {args.trace}")
    return 0
