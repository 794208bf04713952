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
# Both sides' stdout goes to files under a temporary folder (kept, path printed) so the cycle counts can be
# compared: pimsim's `cycles:` line against the reference's `memory_system_cycles` statistic.
set -euo pipefail

usage_build() {
  cat >&2 <<'EOF'
side_by_side.sh: REFSIM_BIN is not set (the C++ AiM simulator's binary).

Build it (about 15 min on 2 cores; needs CMake >= 3.14 and a C++20 compiler, g++-12 or clang++-15):
  git clone https://github.com/arkhadem/aim_simulator && cd aim_simulator
  # its CMake fetches three pinned dependencies; offline, supply them locally instead:
  #   yaml-cpp 0.7.0, spdlog v1.11.0, argparse v2.9 (e.g. -DFETCHCONTENT_SOURCE_DIR_YAML-CPP=...)
  mkdir build && cd build && cmake -DCMAKE_BUILD_TYPE=Release .. && make -j2
  # the executable is build/ramulator2

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
elapsed() {  # elapsed NAME OUTFILE CMD...: wall seconds of CMD (stdout to OUTFILE), failure fatal
  local name=$1 outfile=$2; shift 2
  local t0 t1 rc=0
  t0=$EPOCHREALTIME
  "$@" > "$outfile" 2> "$outfile.err" || rc=$?
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
"$PY" - "${P[*]}" "${R[*]}" "$OUT/pimsim.1" "$OUT/ref.1" <<'EOF'
import statistics, sys
p = [float(x) for x in sys.argv[1].split()]
r = [float(x) for x in sys.argv[2].split()]
cycles = next((ln.split(":", 1)[1].strip() for ln in open(sys.argv[3]) if ln.startswith("cycles:")), "?")
ref = next((ln.split(":", 1)[1].strip() for ln in open(sys.argv[4]) if "memory_system_cycles" in ln), "?")
print(f"pimsim     min {min(p):.3f} s  median {statistics.median(p):.3f} s  (cycles {cycles})")
print(f"reference  min {min(r):.3f} s  median {statistics.median(r):.3f} s  (memory_system_cycles {ref})")
print(f"reference / pimsim (min): {min(r) / min(p):.2f}x  (median: {statistics.median(r) / statistics.median(p):.2f}x)")
EOF
