#!/usr/bin/env bash
# Time pimsim and the public C++ AiM simulator (arkhadem/aim_simulator, Ramulator 2.0 based) on the same
# AiM trace, whole processes, in alternation (the machine is shared: alternating keeps both under the same
# load), and print each side's min / median and the ratio of the minima (issue 17).
#
#   REFSIM_BIN=/path/to/ramulator2 benchmarks/side_by_side.sh TRACE [ROUNDS]
#
# Environment: REFSIM_BIN (required) the reference binary; REFSIM_CONFIG its YAML configuration (default:
# the AiM GDDR6 configuration of the simulator's test/example.yaml, written to a temporary file; the trace
# path is passed as `-p Frontend.path=TRACE`); PIMSIM (default: `python -m pimsim.cli.main` of this checkout's venv);
# PIMSIM_ARGS (default: `--hardware aim-32ch --refresh off`: the reference never refreshes GDDR6).
# Both sides' stdout goes to files under a temporary folder (kept, path printed) and the cycle counts are
# compared: pimsim's `cycles:` line against the reference's `memory_system_cycles` statistic (exit 1 when
# they differ). With GNU time at /usr/bin/time, each side's peak resident memory is printed too.
set -euo pipefail

usage_build() {
  cat >&2 <<'EOF'
side_by_side.sh: REFSIM_BIN is not set (the C++ AiM simulator's binary).

Build it (benchmarks/REFERENCE_BUILD.md; about 10-15 min on 2 cores; needs CMake >= 3.14 and a C++20
compiler, g++-12 or clang++-15):
  git clone https://github.com/arkhadem/aim_simulator && cd aim_simulator && git checkout 0f28a07
  # its CMake fetches three pinned dependencies; offline, supply local copies of those tags instead:
  #   yaml-cpp (tag yaml-cpp-0.7.0), spdlog (v1.11.0), argparse (v2.9)
  mkdir build && cd build
  cmake -DCMAKE_BUILD_TYPE=Release -DFETCHCONTENT_FULLY_DISCONNECTED=ON \
        -DFETCHCONTENT_SOURCE_DIR_YAML-CPP=/path/to/yaml-cpp \
        -DFETCHCONTENT_SOURCE_DIR_SPDLOG=/path/to/spdlog \
        -DFETCHCONTENT_SOURCE_DIR_ARGPARSE=/path/to/argparse ..
  make -j2          # the executable is build/ramulator2 (it loads ../libramulator.so)

Then: REFSIM_BIN=$PWD/ramulator2 benchmarks/side_by_side.sh TRACE [ROUNDS]
EOF
  exit 2
}

[[ -n "${REFSIM_BIN:-}" ]] || usage_build
if [[ ! -x "$REFSIM_BIN" ]]; then
  echo "side_by_side.sh: REFSIM_BIN=$REFSIM_BIN is not an executable file" >&2
  exit 2
fi
if [[ $# -lt 1 || ! -f "$1" ]]; then
  echo "usage: REFSIM_BIN=... $0 TRACE [ROUNDS]   (TRACE: an AiM trace file; got '${1:-}')" >&2
  exit 2
fi
TRACE=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
ROUNDS=${2:-5}
if ! [[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]]; then
  echo "side_by_side.sh: ROUNDS must be a positive integer, got '$ROUNDS'" >&2
  exit 2
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
[[ -x "$PY" ]] || PY=python3
read -r -a PIMSIM_CMD <<< "${PIMSIM:-$PY -m pimsim.cli.main}"
read -r -a PIMSIM_OPTS <<< "${PIMSIM_ARGS:---hardware aim-32ch --refresh off}"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/side_by_side.XXXXXX")

CONFIG=${REFSIM_CONFIG:-}
if [[ -z "$CONFIG" ]]; then          # the AiM GDDR6 configuration of the simulator's test/example.yaml
  CONFIG=$OUT/aim_config.yaml
  cat > "$CONFIG" <<'EOF'
Frontend:
  impl: AiMTrace
  clock_ratio: 1
  Translation:
    impl: NoTranslation
    max_addr: 2147483648
MemorySystem:
  impl: AiMDRAM
  clock_ratio: 1
  DRAM:
    impl: GDDR6
    org:
      preset: GDDR6_AiM_org
    timing:
      preset: GDDR6_AiM_timing
  Controller:
    impl: AiM
    clock_ratio: 1
    Scheduler:
      impl: FRFCFS
    RefreshManager:
      impl: AllBank
    plugins:
  AddrMapper:
    impl: RoBaRaCoCh
EOF
fi

[[ -n "${EPOCHREALTIME:-}" ]] || { echo "side_by_side.sh: needs bash >= 5 (EPOCHREALTIME)" >&2; exit 2; }
TIMEV=()                              # GNU time, when installed: each run's peak resident memory
[[ -x /usr/bin/time ]] && /usr/bin/time -f %M true 2> /dev/null && TIMEV=(/usr/bin/time -o)
elapsed() {  # elapsed NAME OUTFILE CMD...: wall seconds of CMD (stdout to OUTFILE), failure fatal
  local name=$1 outfile=$2; shift 2
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  if ((${#TIMEV[@]})); then
    "${TIMEV[@]}" "$outfile.rss" -f %M "$@" > "$outfile" 2> "$outfile.err" || rc=$?
  else
    "$@" > "$outfile" 2> "$outfile.err" || rc=$?
  fi
  t1=$EPOCHREALTIME
  if ((rc != 0)); then
    echo "side_by_side.sh: $name failed (exit $rc); see $outfile.err" >&2
    exit 1
  fi
  awk -v a="${t0/,/.}" -v b="${t1/,/.}" 'BEGIN { printf "%.4f\n", b - a }'
}

echo "trace: $TRACE  rounds: $ROUNDS  outputs: $OUT"
# one untimed run each: pimsim's kernel cache and both programs' files in the OS cache
elapsed pimsim "$OUT/pimsim.warm" "${PIMSIM_CMD[@]}" replay "$TRACE" "${PIMSIM_OPTS[@]}" > /dev/null
elapsed reference "$OUT/ref.warm" "$REFSIM_BIN" -f "$CONFIG" -p "Frontend.path=$TRACE" > /dev/null
P=() R=()
for ((i = 1; i <= ROUNDS; i++)); do
  P+=("$(elapsed pimsim "$OUT/pimsim.$i" "${PIMSIM_CMD[@]}" replay "$TRACE" "${PIMSIM_OPTS[@]}")")
  R+=("$(elapsed reference "$OUT/ref.$i" "$REFSIM_BIN" -f "$CONFIG" -p "Frontend.path=$TRACE")")
  echo "round $i: pimsim ${P[-1]} s  reference ${R[-1]} s"
done
"$PY" - "${P[*]}" "${R[*]}" "$OUT" "$ROUNDS" <<'EOF'
import os, re, statistics, sys
p = [float(x) for x in sys.argv[1].split()]
r = [float(x) for x in sys.argv[2].split()]
out, rounds = sys.argv[3], int(sys.argv[4])

def cycles(path, key):
    m = re.search(rf"^\s*{key}:\s*([0-9][0-9,]*)\s*$", open(path).read(), re.M)
    return int(m.group(1).replace(",", "")) if m else None

def peak(prefix):  # MiB, from GNU time's %M (KiB) files; n/a without /usr/bin/time
    kib = [int(open(f).read().split()[-1]) for f in (f"{out}/{prefix}.{i}.rss" for i in range(1, rounds + 1))
           if os.path.exists(f)]
    return f"{max(kib) / 1024:.0f} MiB" if kib else "n/a"

pc, rc = cycles(f"{out}/pimsim.1", "cycles"), cycles(f"{out}/ref.1", "memory_system_cycles")
same = "same cycles" if pc is not None and pc == rc else "CYCLES DIFFER" if None not in (pc, rc) else "cycles n/a"
print(f"pimsim     min {min(p):.3f} s  median {statistics.median(p):.3f} s  peak {peak('pimsim')}  (cycles {pc})")
print(f"reference  min {min(r):.3f} s  median {statistics.median(r):.3f} s  peak {peak('ref')}  (memory_system_cycles {rc})")
print(f"reference / pimsim (min): {min(r) / min(p):.2f}x  (median: {statistics.median(r) / statistics.median(p):.2f}x)  {same}")
sys.exit(1 if same == "CYCLES DIFFER" else 0)
EOF
