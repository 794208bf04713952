"""`pimsim baseline`: GPU/CPU baselines on the same workload flags as every other command.

    pimsim baseline --device h100-sxm --model gpt2-xl --workload generate --prompt 64 --generate 256 \
        [--mode graph|eager] [--json]
    pimsim baseline --measured PHASES.csv --model ... --workload ...     (your own per-phase figures)
    pimsim baseline fit MEASUREMENTS.csv [MORE.csv ...] --device NAME [--mode graph] [--hold-out MODEL,...] [--fit-floor]
        [--out PRESET.yaml] [--json]
    pimsim baseline devices

The bare form runs a baseline; `fit` and `devices` are optional sub-actions (argparse subcommands
that are not required, so the run flags sit on `baseline` itself).
"""

from __future__ import annotations

from pathlib import Path

from pimsim.baselines.device import MODES
from pimsim.cli.common import add_model_args, add_workload_args, models_from_args, workload_from_args
from pimsim.cli.output import format_table, print_json
from pimsim.errors import ConfigError


def add_parser(sub) -> None:
    p = sub.add_parser(
        "baseline", help="GPU/CPU baseline of a workload (or: baseline fit | baseline devices)",
        description="Time and energy of a workload on a GPU or CPU device preset (roofline per kernel + "
                    "per-kernel overhead), or from measured per-phase figures. Sub-actions: `fit` a preset "
                    "to measurements, list `devices`.")
    p.add_argument("--device", metavar="NAME|FILE.yaml", help="device preset (see `pimsim baseline devices`)")
    p.add_argument("--mode", choices=MODES, help="graph (whole step captured), eager (framework overhead "
                                                  "per kernel) or framework (host-bound eager dispatch: a step "
                                                  "takes at least kernels x host time); default: the device's")
    p.add_argument("--num-devices", type=int, default=1, metavar="N",
                   help="tensor-parallel devices (Megatron-style; the preset's interconnect joins them)")
    p.add_argument("--measured", metavar="PHASES.csv",
                   help="use measured per-phase figures (columns phase,latency_s,energy_j) instead of a device")
    p.add_argument("--json", action="store_true", help="print the Result as JSON")
    add_model_args(p)
    add_workload_args(p, required=False)
    p.set_defaults(func=_run)

    actions = p.add_subparsers(dest="baseline_action", metavar="{fit,devices}", required=False,
                               parser_class=type(p))
    fit = actions.add_parser("fit", help="fit a device preset to measured decode/prefill latencies (and energies)",
                             description="Fit bandwidth, attention stream bandwidth, per-kernel overhead and "
                                         "power terms of --device (with prefill rows also the sustained "
                                         "compute rate) to the rows of every MEASUREMENTS.csv together "
                                         "(see docs/baselines.md).")
    fit.add_argument("measurements", metavar="MEASUREMENTS.csv", nargs="+")
    fit.add_argument("--device", required=True, metavar="NAME|FILE.yaml", help="preset to start from")
    fit.add_argument("--mode", choices=MODES, help="mode the measurements were taken in (default: device's)")
    fit.add_argument("--out", metavar="PRESET.yaml", help="write the fitted preset here")
    fit.add_argument("--hold-out", metavar="MODEL[,MODEL]", default="",
                     help="rows compared but not fitted on: MODEL (all its rows), MODEL:prefill or MODEL:decode")
    fit.add_argument("--fit-floor", action="store_true",
                     help="fit kernel_floor_s too (the least time a kernel runs), by a scan of whole fits")
    fit.add_argument("--json", action="store_true")
    fit.set_defaults(func=_fit)
    dev = actions.add_parser("devices", help="list the device presets")
    dev.set_defaults(func=_devices)


def _run(args) -> int:
    from pimsim.baselines import measured_baseline, run_baseline
    from pimsim.workloads import expand

    if not args.workload:
        raise ConfigError("baseline: --workload is required (or use `pimsim baseline fit` / `pimsim baseline devices`)")
    if bool(args.device) == bool(args.measured):
        raise ConfigError("baseline: give --device NAME or --measured PHASES.csv (one of them)")
    spec = workload_from_args(args)
    from pimsim.workloads import MODEL_DEFAULT_KINDS

    if spec.kind not in ("generate", "prm-score", *MODEL_DEFAULT_KINDS) and (args.model or args.model_config):
        raise ConfigError(f"--model/--model-config are not flags of --workload {spec.kind}; "
                          "it takes --policy and --prm")
    models = models_from_args(args)
    if len(models) > 1:
        raise ConfigError("baseline: give one model (--model or --model-config)")
    workload = expand(spec, models[0]) if models else expand(spec)
    if args.measured:
        if args.mode or args.num_devices != 1:
            raise ConfigError("baseline: --mode and --num-devices apply to a --device, not to --measured figures")
        result = measured_baseline(workload, args.measured)
    else:
        result = run_baseline(workload, args.device, args.mode, args.num_devices)
    if args.json:
        print_json(result.to_dict())
        return 0
    mode = result.config.get("baseline", {}).get("mode")
    print(f"{result.machine}" + (f" ({mode} mode)" if mode else "") + f", {', '.join(result.config['models'])}")
    rows = [(ph.name, ph.tokens, ph.latency_s * 1e3, ph.energy_j, ph.latency_s / ph.tokens * 1e3)
            for ph in result.phases]
    print(format_table(["phase", "forward_tokens", "latency_ms", "energy_J", "ms/forward_token"], rows))
    print(f"\ntotal {result.latency_s * 1e3:.4g} ms, {result.energy_j:.4g} J; {result.tokens} tokens: "
          f"{result.e2e_latency_per_token_s * 1e3:.4g} ms/token end to end, {result.energy_per_token_j:.4g} J/token")
    ttft, tpot = result.ttft_s, result.tpot_s  # definitions: pimsim.result
    print("time to first token " + (f"{ttft * 1e3:.4g} ms" if ttft is not None else "unknown"),
          "time per output token " + (f"{tpot * 1e3:.4g} ms" if tpot is not None else "none (no decode)"), sep="; ")
    return 0


def _fit(args) -> int:
    from pimsim.baselines import compare, fit_device, load_device, read_measurements
    from pimsim.baselines.fit import preset_yaml

    device = load_device(args.device)
    measurements = [m for path in args.measurements for m in read_measurements(path, device.dtype_bytes)]
    sources = " ".join(args.measurements)
    hold_out = tuple(n.strip() for n in args.hold_out.split(",") if n.strip())
    res = fit_device(measurements, device, args.mode, source=sources, hold_out=hold_out, fit_floor=args.fit_floor)
    command = f"pimsim baseline fit {sources} --device {args.device} --mode {res.mode}" + (
        f" --hold-out {','.join(hold_out)}" if hold_out else "") + (" --fit-floor" if args.fit_floor else "")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(preset_yaml(res.preset, command + f" --out {args.out}"))
    if args.json:
        print_json({"preset": res.preset.model_dump(mode="json"), "rows": res.rows})
        return 0
    p = res.preset
    from pimsim.baselines.fit import held_out

    held = sum(held_out(m, hold_out) for m in measurements)
    print(f"{p.name} fitted on {len(measurements) - held} rows of {sources} ({res.mode} mode)"
          + (f"; {held} rows of {', '.join(hold_out)} held out (compared, not fitted)" if held else ""))
    print(f"  bandwidth_bytes_per_s                   {p.bandwidth_bytes_per_s:.4g}")
    if p.attention_stream_bandwidth_bytes_per_s is not None:
        print(f"  attention_stream_bandwidth_bytes_per_s  {p.attention_stream_bandwidth_bytes_per_s:.4g}")
    print(f"  kernel_overhead_s                       {p.kernel_overhead_s}")
    fitted = p.fit["fitted"]
    if "flops_per_s" in fitted:
        print(f"  flops_per_s                             {p.flops_per_s:.4g}")
    if res.energy_fitted:
        print(f"  power.active_w                          {p.power.active_w:.4g}")
        print(f"  power.energy_per_byte_j                 {p.power.energy_per_byte_j:.4g}")
    if "power.energy_per_flop_j" in fitted:
        print(f"  power.energy_per_flop_j                 {p.power.energy_per_flop_j:.4g}")
    print()
    rows = compare(measurements, p, res.mode)
    for r, m in zip(rows, measurements):
        if held_out(m, hold_out):
            r["row"] += " (held out)"
    print(_error_table(rows))
    print(f"\nwrote {args.out}" if args.out else "\n(use --out PRESET.yaml to write the fitted preset)")
    return 0


def _error_table(rows: list[dict]) -> str:
    table = []
    for r in rows:
        e = (r["measured_energy_j"], r["model_energy_j"], f"{r['energy_error'] * 100:+.1f}%") if "energy_error" in r \
            else ("-", "-", "-")
        table.append((r["row"], r["measured_latency_s"] * 1e3, r["model_latency_s"] * 1e3,
                      f"{r['latency_error'] * 100:+.1f}%") + e)
    return format_table(["row", "measured_ms", "model_ms", "latency_err", "measured_J", "model_J", "energy_err"],
                        table)


def _devices(args) -> int:
    from pimsim.baselines import device_names, load_device

    rows = []
    for name in device_names():
        d = load_device(name)
        rows.append((name, d.kind, d.dtype_bytes, d.memory_bytes / 1e9, d.flops_per_s / 1e12,
                     d.bandwidth_bytes_per_s / 1e12,
                     ", ".join(f"{m} {v * 1e6:.3g} us" for m, v in d.kernel_overhead_s.items()),
                     d.power.idle_w, d.power.tdp_w, d.description))
    print(format_table(["name", "kind", "dtype_B", "memory_GB", "TFLOP/s", "TB/s", "overhead/kernel", "idle_W", "tdp_W",
                        "description"], rows))
    return 0
