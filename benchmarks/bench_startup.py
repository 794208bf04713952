"""Start-up speed (issue 17): whole-process wall time of `pimsim --help`, `pimsim presets list` and the replay
of a one-instruction trace (`AiM MAC_ABK` + `AiM EOC`, aim-32ch, refresh off), each run as a subprocess
after one untimed warm-up run (so the kernel's native library is built and cached, and the replay's preset
(pimsim.dram.preset_cache) and standard's parsed table (pimsim.util.yaml_cache) are cached: these are warm
figures; the cold start is benchmarks/bench_speed_table.py's first_replay_cold). Targets: --help <= 0.2 s,
the replay <= 0.3 s. A tree given by PIMSIM_BENCH_SRC keeps its kernel library in its own
pimsim/dram/__pycache__ (unless NUMBA_CACHE_DIR is set): its first warm-up run builds it (5-12 s, untimed).

Run: .venv/bin/python -m pytest benchmarks/bench_startup.py --benchmark-enable -o python_files='bench_*.py' -q -s
Before/after in one run: PIMSIM_BENCH_SRC=/path/to/other/checkout times that source tree's pimsim (put on
PYTHONPATH) instead of this one, e.g. `git archive OLD pimsim | tar -x -C /tmp/old` and point it there.
extra_info: min_s, median_s and peak_rss_mib (largest resident set of any timed child so far).
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

ROUNDS = 7
TARGET_S = {"help": 0.2, "replay_one_instruction": 0.3}
TIMES: dict[str, tuple[float, float]] = {}


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    path = tmp_path_factory.mktemp("startup") / "one_mac.trace"
    path.write_text("AiM MAC_ABK 64 0x80000000 0\nAiM EOC\n")
    return path


def _env() -> dict[str, str]:
    """The environment of the timed processes: the source tree to time first on PYTHONPATH (they run in a
    neutral folder, so the current directory cannot shadow it)."""
    env = dict(os.environ)
    src = os.environ.get("PIMSIM_BENCH_SRC", str(REPO))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    return env


def _commands(trace) -> dict[str, list[str]]:
    return {
        "help": ["--help"],
        "presets_list": ["presets", "list"],
        "replay_one_instruction": ["replay", str(trace), "--hardware", "aim-32ch", "--refresh", "off"],
    }


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """Wall seconds of one `python -m pimsim.cli.main ARGV` process (output discarded; exit 0 required)."""
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pimsim.cli.main", *argv], env=env, cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


@pytest.mark.parametrize("case", ["help", "presets_list", "replay_one_instruction"])
def test_whole_process_start_up(benchmark, trace, case):
    argv, env, cwd = _commands(trace)[case], _env(), trace.parent
    _run(argv, env, cwd)                                 # warm-up: kernel cache, OS file cache
    benchmark.pedantic(_run, args=(argv, env, cwd), rounds=ROUNDS, iterations=1)
    stats = benchmark.stats.stats
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    benchmark.extra_info.update(min_s=stats.min, median_s=stats.median, peak_rss_mib=peak_mib,
                                source=env["PYTHONPATH"].split(os.pathsep)[0],
                                target_s=TARGET_S.get(case))
    TIMES[case] = (stats.min, stats.median)
    target = f"  (target <= {TARGET_S[case]} s)" if case in TARGET_S else ""
    print(f"\n{case:24s} min {stats.min:6.3f} s  median {stats.median:6.3f} s  peak RSS {peak_mib:5.0f} MiB{target}")
    assert peak_mib < 2048                               # the memory bound for every benchmark
