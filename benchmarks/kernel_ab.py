"""Command-engine throughput, this checkout against another source tree, alternating in one run (issue 17).

    .venv/bin/python benchmarks/kernel_ab.py BEFORE_DIR [ROUNDS]

BEFORE_DIR holds a `pimsim/` (e.g. `git archive OLD pimsim | tar -x -C DIR`). Each round runs one child
process per side (before, then this checkout) that times the workloads of benchmarks/bench_dram.py (min of
5 runs after a warm-up run) and prints DRAM commands per second and the cycle count; the cycle counts of both
sides must agree (the same model), and the last lines are after/before ratios of the best rates.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, time
from pimsim.dram import CommandEngine, Instr, Program
from pimsim.dram.gemv import gemv_program
from pimsim.hardware import load_hardware
hw = load_hardware("pimgpt-gddr6")
progs = {"mac_stream_1ch": Program.from_instrs([Instr("MAC_ABK", 64, (0,), row=i // 4) for i in range(20000)]
                                               + [Instr("EOC")]),
         "gemv_4096x16384_8ch": gemv_program(4096, 16384, 8)}
try:  # time the kernel, not the result store (trees older than the store have no memo switch)
    engine = CommandEngine(hw.dram, refresh=True, memo=False)
except TypeError:
    engine = CommandEngine(hw.dram, refresh=True)
out = {}
for name, prog in progs.items():
    for mode in ("exact", "runlength"):
        res = engine.run(prog, mode=mode)
        best = min((lambda t0: (engine.run(prog, mode=mode), time.perf_counter() - t0)[1])(time.perf_counter())
                   for _ in range(5))
        out[f"{name} {mode}"] = (sum(res.commands.values()) / best, res.cycles)
print(json.dumps(out))
"""


def _side(src: str) -> dict[str, tuple[float, int]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")])))
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, cwd="/")
    if proc.returncode != 0:
        raise SystemExit(f"{src}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) < 2 or not (Path(sys.argv[1]) / "pimsim").is_dir():
        print(__doc__, file=sys.stderr)
        return 2
    before, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    best: dict[str, dict[str, float]] = {"before": {}, "after": {}}
    for r in range(rounds):
        for label, src in (("before", before), ("after", str(REPO))):
            for case, (rate, cycles) in _side(src).items():
                print(f"round {r + 1} {label:6s} {case:30s} {rate / 1e6:7.1f} M commands/s  cycles {cycles}")
                best[label][case] = max(best[label].get(case, 0.0), rate)
                best.setdefault(f"cycles {case}", {})[label] = cycles
    for case in best["after"]:
        c = best[f"cycles {case}"]
        same = "same cycles" if c["before"] == c["after"] else f"CYCLES DIFFER {c}"
        print(f"{case:30s} after/before {best['after'][case] / best['before'][case]:5.2f}x  ({same})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
