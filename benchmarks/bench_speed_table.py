"""Issue 17's speed table, one benchmark per row, every figure a whole `pimsim` process (what a user waits
for): wall seconds, min and median over the rounds, and the process's own peak resident memory (issue 17:
under 2 GB for every benchmark).

Rows (the issue's table):
- `gemv16_replay`: `pimsim replay` of 16 x gemv_3584x18944 on 32 channels (aim-32ch, refresh off: the C++
  AiM simulator never refreshes GDDR6), 5,141,504 DRAM commands, warm kernel cache;
- `first_replay_cold`: the first command after install: a one-instruction replay with an empty kernel
  cache (NUMBA_CACHE_DIR set to a fresh folder each round: it builds the kernel's native library);
- `replay_one_instruction` (`AiM EOC`) and `help`: start-up (also benchmarks/bench_startup.py);
- `bo16_7b_fast` / `bo16_7b_exact`: qwen2.5-math-7b-instruct + qwen2.5-math-prm-7b best-of-16 (question
  128, 8 x 64-token steps) on pimgpt-gddr6 with 128 channels;
- `bo8_1p5b_fast` / `bo8_1p5b_exact`: qwen2.5-math-1.5b-instruct + skywork-prm-1.5b best-of-8 (question
  128, 4 x 64-token steps, aim-32ch, mapping pimgpt_kv_fit);
- `gemv_sizes`: replays of 0.02-1.3 M commands (the C++ reference beside them: benchmarks/side_by_side.sh).
The `--exact` rows take minutes each on this 2-core machine: they run only with PIMSIM_BENCH_SLOW=1.

Run: .venv/bin/python -m pytest benchmarks/bench_speed_table.py --benchmark-enable -o python_files='bench_*.py' -q -s
Before/after in one run: PIMSIM_BENCH_BEFORE=DIR (a source tree holding `pimsim/`, e.g. after
`git archive OLD pimsim mappings | tar -x -C DIR`) times that tree and this one alternately, round by round, in the
same benchmark, and prints after/before ratios of the minima (the machine is shared: alternation keeps
both sides under the same load). PIMSIM_BENCH_SRC=DIR times DIR instead of this checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SLOW = os.environ.get("PIMSIM_BENCH_SLOW") == "1"
PEAK_LIMIT_MIB = 2048
RESULTS: dict[str, dict[str, float]] = {}


def _gemv16_trace(path: Path) -> Path:
    from pimsim.dram.gemv import gemv_trace

    lines = [ln for ln in gemv_trace(3584, 18944, 32).splitlines() if ln.strip() != "AiM EOC"]
    path.write_text("\n".join(lines * 16 + ["AiM EOC"]) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("speed_table")
    (d / "eoc.trace").write_text("AiM EOC\n")
    (d / "pim128.yaml").write_text("base: pimgpt-gddr6\nname: pimgpt-gddr6-128ch\ndram:\n  channels: 128\n")
    from pimsim.dram.gemv import gemv_trace

    for m, k, ch in ((768, 768, 8), (3072, 768, 32), (3584, 18944, 32)):
        (d / f"gemv_{m}x{k}_{ch}ch.trace").write_text(gemv_trace(m, k, ch))
    _gemv16_trace(d / "gemv16.trace")
    return d


def _sources() -> list[tuple[str, str]]:
    """(label, source tree) of each side timed: this checkout (or PIMSIM_BENCH_SRC), and PIMSIM_BENCH_BEFORE."""
    after = ("after", os.environ.get("PIMSIM_BENCH_SRC", str(REPO)))
    before = os.environ.get("PIMSIM_BENCH_BEFORE")
    return [("before", before), after] if before else [after]


def _env(src: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [src, env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


def _run(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one `python -m pimsim.cli.main ARGV` process; exit 0 required."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "pimsim.cli.main", *argv], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.returncode == 0, f"pimsim {' '.join(argv)}: exit {proc.returncode}\n{err[-2000:]}"
    return wall, usage.ru_maxrss / 1024


def _table_row(benchmark, name: str, argv: list[str], cwd: Path, *, rounds: int, warm: bool = True,
               cold: bool = False) -> None:
    """Time `argv` on every source, alternating round by round; the benchmark's own stats are the last
    source's (this checkout). `cold`: each round gets an empty kernel cache (NUMBA_CACHE_DIR)."""
    sources = _sources()
    times: dict[str, list[float]] = {label: [] for label, _ in sources}
    peak = 0.0

    def env_for(src):
        return _env(src, {"NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="pimsim_cold_")} if cold else None)

    if warm:
        for _, src in sources:
            _run(argv, env_for(src), cwd)            # kernel cache, OS file cache
    for _ in range(rounds - 1):
        for label, src in sources:
            wall, rss = _run(argv, env_for(src), cwd)
            times[label].append(wall)
            peak = max(peak, rss)
    last_label, last_src = sources[-1]
    for label, src in sources[:-1]:                  # the final round: the other sources, then this one
        wall, rss = _run(argv, env_for(src), cwd)
        times[label].append(wall)
        peak = max(peak, rss)

    def timed():
        wall, rss = _run(argv, env_for(last_src), cwd)
        times[last_label].append(wall)
        return rss

    peak = max(peak, benchmark.pedantic(timed, rounds=1, iterations=1))
    row = {}
    for label, ts in times.items():
        row[f"{label}_min_s"], row[f"{label}_median_s"] = min(ts), sorted(ts)[len(ts) // 2]
    if "before" in times:
        row["after_over_before"] = row["after_min_s"] / row["before_min_s"]
    row["peak_rss_mib"] = peak
    benchmark.extra_info.update(row)
    RESULTS[name] = row
    text = "  ".join(f"{label} min {row[f'{label}_min_s']:7.3f} s median {row[f'{label}_median_s']:7.3f} s"
                     for label in times)
    ratio = f"  after/before {row['after_over_before']:.3f}" if "before" in times else ""
    print(f"\n{name:22s} {text}{ratio}  peak RSS {peak:5.0f} MiB")
    assert peak < PEAK_LIMIT_MIB


def test_gemv16_replay(benchmark, files):
    _table_row(benchmark, "gemv16_replay",
               ["replay", str(files / "gemv16.trace"), "--hardware", "aim-32ch", "--refresh", "off"], files,
               rounds=5)


def test_first_replay_cold(benchmark, files):
    _table_row(benchmark, "first_replay_cold",
               ["replay", str(files / "eoc.trace"), "--hardware", "aim-32ch"], files, rounds=3, warm=False,
               cold=True)


def test_replay_one_instruction(benchmark, files):
    _table_row(benchmark, "replay_one_instruction",
               ["replay", str(files / "eoc.trace"), "--hardware", "aim-32ch"], files, rounds=7)


def test_help(benchmark, files):
    _table_row(benchmark, "help", ["--help"], files, rounds=7)


BO16_7B = ["simulate", "--mapping", "pimgpt", "--workload", "best-of-n", "--policy", "qwen2.5-math-7b-instruct",
           "--prm", "qwen2.5-math-prm-7b", "--n", "16", "--question-tokens", "128", "--steps", "8",
           "--step-tokens", "64", "--scoring", "single-pass"]
BO8_1P5B = ["simulate", "--hardware", "aim-32ch", "--mapping", "pimgpt_kv_fit", "--workload", "best-of-n",
            "--policy", "qwen2.5-math-1.5b-instruct", "--prm", "skywork-prm-1.5b", "--n", "8",
            "--question-tokens", "128", "--steps", "4", "--step-tokens", "64"]


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_bo16_7b(benchmark, files, mode):
    if mode == "exact" and not SLOW:
        pytest.skip("minutes per round: PIMSIM_BENCH_SLOW=1")
    argv = BO16_7B + ["--hardware", str(files / "pim128.yaml")] + (["--exact"] if mode == "exact" else [])
    _table_row(benchmark, f"bo16_7b_{mode}", argv, files, rounds=3 if mode == "fast" else 1,
               warm=mode == "fast")


@pytest.mark.parametrize("mode", ["fast", "exact"])
def test_bo8_1p5b(benchmark, files, mode):
    if mode == "exact" and not SLOW:
        pytest.skip("tens of seconds per round: PIMSIM_BENCH_SLOW=1")
    argv = BO8_1P5B + (["--exact"] if mode == "exact" else [])
    _table_row(benchmark, f"bo8_1p5b_{mode}", argv, files, rounds=3 if mode == "fast" else 1,
               warm=mode == "fast")


@pytest.mark.parametrize("trace", ["gemv_768x768_8ch", "gemv_3072x768_32ch", "gemv_3584x18944_32ch"])
def test_gemv_sizes(benchmark, files, trace):
    _table_row(benchmark, f"replay_{trace}",
               ["replay", str(files / f"{trace}.trace"), "--hardware", "aim-32ch", "--refresh", "off"], files,
               rounds=5)
