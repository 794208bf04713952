"""`pimsim replay TRACE --hardware PRESET|FILE [--refresh on|off] [--mode runlength|exact] [--json]`.

Executes an AiM trace (the public AiM simulator's grammar) with that simulator's semantics on the
command engine and prints total cycles, ns, DRAM command counts, row hits/misses and per-channel busy
cycles (JSON keys: cycles, ns, commands, row_hits, row_misses, channel_busy_cycles, category_cycles).
"""

from __future__ import annotations

from pimsim.cli.output import format_table, print_json


def add_parser(sub) -> None:
    p = sub.add_parser("replay", help="replay an AiM instruction trace on the cycle-exact DRAM command engine")
    p.add_argument("trace", help="trace file (AiM simulator grammar, ends with `AiM EOC`)")
    p.add_argument("--hardware", required=True, help="hardware preset name or YAML path")
    p.add_argument("--refresh", choices=("on", "off"), default="on",
                   help="periodic refresh (the AiM simulator never refreshes GDDR6: use off to compare)")
    p.add_argument("--mode", choices=("runlength", "exact"), default="runlength",
                   help="run-length command groups (default) or command by command; same cycle counts")
    p.add_argument("--row-policy", choices=("open", "close"), default="open")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=_replay)


def _replay(args) -> int:
    from pimsim.dram.engine import CommandEngine      # the kernel's cached native library: no numba
    from pimsim.dram.preset_cache import load_replay_hardware
    from pimsim.dram.program import parse_trace

    hw = load_replay_hardware(args.hardware)          # a validated preset from the cache, else validated now
    program = parse_trace(args.trace)
    engine = CommandEngine(hw.dram, refresh=args.refresh == "on", row_policy=args.row_policy)
    res = engine.run(program, mode=args.mode)
    if args.json:
        print_json(res.as_dict())
        return 0
    print(f"trace:        {args.trace}")
    print(f"hardware:     {hw.name} ({hw.dram.standard}, {hw.dram.channels} channels, tCK {hw.dram.tck_ns} ns, "
          f"refresh {args.refresh})")
    print(f"cycles:       {res.cycles:,}")
    print(f"ns:           {res.ns:,.1f}")
    print(f"row hits:     {res.row_hits:,}   row misses: {res.row_misses:,}")
    print()
    print(format_table(["command", "count"], sorted(res.commands.items())))
    print()
    print(format_table(["category", "cycles (slowest channel)"],
                       [(k, v) for k, v in res.category_cycles.items() if v]))
    busy = [(c, b) for c, b in enumerate(res.channel_busy_cycles) if b]
    print()
    print(format_table(["channel", "busy_cycles"], busy) if busy else "no channel was busy")
    return 0
