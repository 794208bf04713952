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
- `gemv_sizes`: replays of 2,896 / 11,584 / 321,344 commands (gemv 768x768 on 8 channels, 3072x768 and
  3584x18944 on 32), and `gemv4_replay`: 4 x gemv_3584x18944 (1,285,376 commands).
The `--exact` rows take minutes each on this 2-core machine: they run only with PIMSIM_BENCH_SLOW=1.

The C++ reference in the same run: REFSIM_BIN=/path/to/ramulator2 (arkhadem/aim_simulator, Release; how to
build it: benchmarks/REFERENCE_BUILD.md) times the reference on the same trace as every replay row
(`gemv16_replay`, `gemv4_replay`, `gemv_sizes`, `replay_one_instruction`), whole processes in alternation
with pimsim round by round, with the AiM GDDR6 configuration benchmarks/side_by_side.sh writes (its
test/example.yaml; REFSIM_CONFIG=FILE for another), checks that both report the same cycles (pimsim's
`cycles:` = the reference's `memory_system_cycles`), and prints reference/pimsim wall-time ratios (how many
times the reference's speed pimsim runs) of the minima and the medians, and both sides' peak resident
memory (GNU time's %M). A REFSIM_BIN that is not an executable file stops the run (exit 2).

Run: .venv/bin/python -m pytest benchmarks/bench_speed_table.py --benchmark-enable -o python_files='bench_*.py' -q -s
     REFSIM_BIN=/path/to/ramulator2 .venv/bin/python -m pytest ... (same)   # with the reference beside it
Before/after in one run: PIMSIM_BENCH_BEFORE=DIR (a source tree holding `pimsim/`, e.g. after
`git archive OLD pimsim mappings | tar -x -C DIR`) times that tree and this one alternately, round by round, in the
same benchmark, and prints after/before ratios of the minima (the machine is shared: alternation keeps
both sides under the same load). PIMSIM_BENCH_SRC=DIR times DIR instead of this checkout.
"""

from __future__ import annotations

import os
import re
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
REFSIM_BIN = os.environ.get("REFSIM_BIN")


def _reference_config(path: Path) -> Path:
    """The reference's YAML configuration: REFSIM_CONFIG, else the one benchmarks/side_by_side.sh writes
    (kept there only, so both scripts time the same configuration)."""
    if os.environ.get("REFSIM_CONFIG"):
        return Path(os.environ["REFSIM_CONFIG"])
    script = (REPO / "benchmarks" / "side_by_side.sh").read_text()
    found = re.search(r"cat > \"\$CONFIG\" <<'EOF'\n(.*?)\nEOF\n", script, re.S)
    assert found, "benchmarks/side_by_side.sh: its reference configuration (heredoc) was not found"
    path.write_text(found.group(1) + "\n")
    return path


def _cycles(stdout: str, key: str) -> int | None:
    """pimsim's `cycles: N` (key 'cycles'; N may have thousands separators) or the reference's
    `memory_system_cycles: N` statistic (key 'memory_system_cycles')."""
    found = re.search(rf"^\s*{key}:\s*([0-9][0-9,]*)\s*$", stdout, re.M)
    return int(found.group(1).replace(",", "")) if found else None


def _gemv_repeat_trace(path: Path, times: int) -> Path:
    """`times` x gemv_3584x18944 on 32 channels, one trace (one EOC at the end)."""
    from pimsim.dram.gemv import gemv_trace

    lines = [ln for ln in gemv_trace(3584, 18944, 32).splitlines() if ln.strip() != "AiM EOC"]
    path.write_text("\n".join(lines * times + ["AiM EOC"]) + "\n")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    if REFSIM_BIN and not (os.path.isfile(REFSIM_BIN) and os.access(REFSIM_BIN, os.X_OK)):
        pytest.exit(f"REFSIM_BIN={REFSIM_BIN} is not an executable file (benchmarks/REFERENCE_BUILD.md)", 2)
    d = tmp_path_factory.mktemp("speed_table")
    if REFSIM_BIN:
        _reference_config(d / "aim_reference.yaml")
    (d / "eoc.trace").write_text("AiM EOC\n")
    (d / "pim128.yaml").write_text("base: pimgpt-gddr6\nname: pimgpt-gddr6-128ch\ndram:\n  channels: 128\n")
    from pimsim.dram.gemv import gemv_trace

    for m, k, ch in ((768, 768, 8), (3072, 768, 32), (3584, 18944, 32)):
        (d / f"gemv_{m}x{k}_{ch}ch.trace").write_text(gemv_trace(m, k, ch))
    _gemv_repeat_trace(d / "gemv16.trace", 16)
    _gemv_repeat_trace(d / "gemv4.trace", 4)
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


def _gnu_time() -> str | None:
    """/usr/bin/time when it is GNU time (its %M: the command's own peak resident set, KiB)."""
    try:
        ok = subprocess.run(["/usr/bin/time", "-f", "%M", "true"], capture_output=True).returncode == 0
    except OSError:
        return None
    return "/usr/bin/time" if ok else None


GNU_TIME = _gnu_time()


def _run(cmd: list[str], env: dict[str, str], cwd: Path, name: str) -> tuple[float, float, str]:
    """(wall seconds, peak RSS MiB, stdout) of one process CMD; exit 0 required.

    The peak is GNU time's %M when /usr/bin/time is there: a child spawned straight from this (pytest)
    process reports at least this process's own resident set in ru_maxrss (Linux keeps the high-water mark
    of the address space it replaced at exec), ~50 MiB here, whatever the child used. Without GNU time it
    is that ru_maxrss, an upper bound. GNU time's own start (about a millisecond) is inside the wall time,
    on every side alike."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(suffix=".rss") as rss_file:
        argv = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd] if GNU_TIME else cmd
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
        peak_kib = usage.ru_maxrss
        if GNU_TIME and proc.returncode == 0:
            peak_kib = int(Path(rss_file.name).read_text().split()[-1])
    assert proc.returncode == 0, f"{name} {' '.join(cmd[1:])}: exit {proc.returncode}\n{stderr[-2000:]}"
    return wall, peak_kib / 1024, stdout


def _table_row(benchmark, name: str, argv: list[str], cwd: Path, *, rounds: int, warm: bool = True,
               cold: bool = False, reference_trace: Path | None = None) -> None:
    """Time `pimsim ARGV` on every source, alternating round by round; the benchmark's own stats are the
    last source's (this checkout). `cold`: each round gets an empty kernel cache (NUMBA_CACHE_DIR).
    `reference_trace`: with REFSIM_BIN set, the C++ reference replays that trace as one more side of the
    alternation (timed first in each round), and both must report the same cycles."""
    sides = []                                       # (label, command, env factory)
    if REFSIM_BIN and reference_trace is not None:
        ref_cmd = [REFSIM_BIN, "-f", str(cwd / "aim_reference.yaml"), "-p", f"Frontend.path={reference_trace}"]
        sides.append(("reference", ref_cmd, lambda: dict(os.environ)))
    for label, src in _sources():
        def env_for(src=src):
            return _env(src, {"NUMBA_CACHE_DIR": tempfile.mkdtemp(prefix="pimsim_cold_")} if cold else None)
        sides.append((label, [sys.executable, "-m", "pimsim.cli.main", *argv], env_for))
    times: dict[str, list[float]] = {label: [] for label, _, _ in sides}
    peaks: dict[str, float] = {label: 0.0 for label, _, _ in sides}
    cycles: dict[str, int | None] = {}

    def once(label, cmd, env_for):
        wall, rss, stdout = _run(cmd, env_for(), cwd, label)
        peaks[label] = max(peaks[label], rss)
        if label not in cycles:
            cycles[label] = _cycles(stdout, "memory_system_cycles" if label == "reference" else "cycles")
        return wall

    if warm:
        for side in sides:
            once(*side)                              # kernel cache, OS file cache
    for _ in range(rounds - 1):
        for side in sides:
            times[side[0]].append(once(*side))
    last = sides[-1]
    for side in sides[:-1]:                          # the final round: the other sides, then this one
        times[side[0]].append(once(*side))

    def timed():
        times[last[0]].append(once(*last))

    benchmark.pedantic(timed, rounds=1, iterations=1)
    row: dict[str, float] = {}
    for label, ts in times.items():
        row[f"{label}_min_s"], row[f"{label}_median_s"] = min(ts), sorted(ts)[len(ts) // 2]
        row[f"{label}_peak_rss_mib"] = peaks[label]
    if "before" in times:
        row["after_over_before"] = row["after_min_s"] / row["before_min_s"]
    if "reference" in times:
        row["reference_over_pimsim_min"] = row["reference_min_s"] / row["after_min_s"]
        row["reference_over_pimsim_median"] = row["reference_median_s"] / row["after_median_s"]
        if cycles.get("reference") is not None:
            row["cycles"] = cycles["reference"]
    pimsim_peak = max(v for k, v in peaks.items() if k != "reference")
    row["peak_rss_mib"] = pimsim_peak
    benchmark.extra_info.update(row)
    RESULTS[name] = row
    text = "  ".join(f"{label} min {row[f'{label}_min_s']:7.3f} s median {row[f'{label}_median_s']:7.3f} s"
                     f" (peak {peaks[label]:4.0f} MiB)" for label in times)
    extra = f"  after/before {row['after_over_before']:.3f}" if "before" in times else ""
    if "reference" in times:
        extra += (f"  reference/pimsim {row['reference_over_pimsim_min']:.2f}x (min)"
                  f" {row['reference_over_pimsim_median']:.2f}x (median)  cycles {cycles}")
    print(f"\n{name:22s} {text}{extra}")
    assert pimsim_peak < PEAK_LIMIT_MIB
    if "reference" in times and cycles.get("reference") is not None:
        assert len(set(cycles.values())) == 1, f"{name}: cycles differ {cycles}"


@pytest.mark.parametrize("times", [16, 4])
def test_gemv_repeat_replay(benchmark, files, times):
    trace = files / f"gemv{times}.trace"
    _table_row(benchmark, f"gemv{times}_replay",
               ["replay", str(trace), "--hardware", "aim-32ch", "--refresh", "off"], files,
               rounds=5, reference_trace=trace)


def test_first_replay_cold(benchmark, files):
    _table_row(benchmark, "first_replay_cold",
               ["replay", str(files / "eoc.trace"), "--hardware", "aim-32ch"], files, rounds=3, warm=False,
               cold=True)


def test_replay_one_instruction(benchmark, files):
    _table_row(benchmark, "replay_one_instruction",
               ["replay", str(files / "eoc.trace"), "--hardware", "aim-32ch"], files, rounds=7,
               reference_trace=files / "eoc.trace")


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
               rounds=5, reference_trace=files / f"{trace}.trace")
