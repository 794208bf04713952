#!/usr/bin/env python3
"""Planted-fault check: every fault in FAULTS must fail at least one test (issue 19).

Each fault is one small text substitution in one file of the package, with the test subset that should
catch it. The tool copies pimsim/, tests/, mappings/, experiments/ and pyproject.toml into a temporary
folder (beside a link to ../shared, which some tests read), checks that the subsets pass there unfaulted,
then for each fault: applies it, runs pytest on its subset with PYTHONPATH at the copy, records which
tests failed, and restores the file. The working tree is never modified. Exit 1 if any fault survives
(or the unfaulted copy fails, or a fault's text is no longer in its file: the list must follow the code).

    .venv/bin/python tools/planted_faults.py            # every fault (about 3 minutes on 2 cores)
    .venv/bin/python tools/planted_faults.py --fast     # the fast ones (what tests/test_planted_faults.py runs)
    .venv/bin/python tools/planted_faults.py --only speedup-inverted,act16-energy-x2 --json

Add a fault for every bug fixed: the change that would bring the bug back, and the test that proves it is
fixed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COPIED = ("pimsim", "tests", "mappings", "experiments", "pyproject.toml")
IV = "tests/test_independent_values.py"


@dataclass(frozen=True)
class Fault:
    """`old` -> `new` in `path` (exactly one occurrence); `tests`: pytest arguments that must catch it."""

    name: str
    why: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]
    fast: bool = True


FAULTS: tuple[Fault, ...] = (
    # --- the eight faults of issue 19's spot check (four of them survived every test then)
    Fault("gddr6-refab-to-act-nrfc-1", "REFab -> ACT latency nRFC - 1 in the GDDR6-AiM table",
          "pimsim/hardware/standards/gddr6-aim.yaml",
          "to: [ACT, ACT16, REFab, REFpb], latency: nRFC}", "to: [ACT, ACT16, REFab, REFpb], latency: nRFC - 1}",
          (IV, "-k", "hand_derived")),
    Fault("act16-energy-x2", "ACT16 energy doubled", "pimsim/hardware/standards/gddr6-aim.yaml",
          "energy: {pj: banks * act_pre_pj_per_bank, as: pim_act}",
          "energy: {pj: 2 * banks * act_pre_pj_per_bank, as: pim_act}", (IV, "-k", "energy")),
    Fault("speedup-inverted", "speedup = PIM latency / baseline latency", "pimsim/experiments/tables.py",
          'm["latency_s_baseline"] / m["latency_s_pim"]', 'm["latency_s_pim"] / m["latency_s_baseline"]',
          (IV, "-k", "speedup")),
    Fault("hbm-act-to-mac16-nrcdrd+1", "HBM-PIM ACT -> MAC16 latency nRCDRD + 1",
          "pimsim/hardware/standards/hbm-pim.yaml",
          "to: [MAC16, AF16, EWMUL16], latency: nRCDRD}", "to: [MAC16, AF16, EWMUL16], latency: nRCDRD + 1}",
          (IV, "-k", "hand_derived")),
    Fault("refresh-interval-x1.1", "refresh interval 10% long", "pimsim/dram/engine.py",
          'self.refresh_interval_cycles = (timing.get("nREFI", 1) //',
          'self.refresh_interval_cycles = (int(timing.get("nREFI", 1) * 1.1) //',
          (IV, "-k", "trefi")),
    Fault("refresh-stall-formula", "stall busy x c / I instead of busy x c / (I - c)", "pimsim/engine/refresh.py",
          "return busy_cycles * c / (interval_cycles - c)", "return busy_cycles * c / interval_cycles",
          ("tests/test_system.py", "-k", "fast_and_exact")),
    Fault("pipelined-capacity-2", "the pipelined schedule's resources serve two sequences at once",
          "pimsim/engine/schedule.py", "simpy.Resource(env, capacity=1)", "simpy.Resource(env, capacity=2)",
          ("tests/test_system.py", "-k", "pipelined")),
    Fault("gddr6-nrtp+1", "MAC16 -> PREA latency nRTP + 1 in the GDDR6-AiM table",
          "pimsim/hardware/standards/gddr6-aim.yaml",
          "to: [PREA], latency: nRTP}\n  - {level: channel, from: [MAC16, AF16, EWMUL16], to: [PRE]",
          "to: [PREA], latency: nRTP + 1}\n  - {level: channel, from: [MAC16, AF16, EWMUL16], to: [PRE]",
          (IV, "-k", "hand_derived")),
    Fault("mixed-idle-energy-dropped", "a mixed placement forgets the idle power of the waiting side",
          "pimsim/experiments/evaluate.py", "energy_j=pim.energy_j + device.energy_j + sum(wait_j.values()),",
          "energy_j=pim.energy_j + device.energy_j,", ("tests/test_experiment_end_to_end.py",), fast=False),
    # --- one per bug fixed in issue 11 (the change that brings the bug back)
    Fault("per-bank-interval-trefi-fast", "fast mode spaces per-bank refreshes by tREFI, not tREFI/banks",
          "pimsim/engine/pim_timing.py", "        return self.engine.refresh_interval_cycles",
          '        return self.hw.dram.timing["nREFI"]',
          ("tests/test_refresh_modes.py", "-k", "per_bank"), fast=False),
    Fault("per-bank-interval-trefi-engine", "the engine issues one REFpb per tREFI, not per tREFI/banks",
          "pimsim/dram/engine.py", "// (dram.banks if per_bank else 1)) or 1", "// 1) or 1",
          (IV, "-k", "per_bank")),
    Fault("entry-rows-ignored", "fast mode times every program from the default settled rows",
          "pimsim/engine/pim_timing.py",
          "res = self.engine.run(self.parsed(program), start_state=self._start(entry))",
          "res = self.engine.run(self.parsed(program), start_state=self._start(None))",
          ("tests/test_refresh_modes.py",), fast=False),
    Fault("stream-refresh-probe-off", "refresh cost measured per program, not per layer stream",
          "pimsim/engine/system.py", "if stream and not self.exact:", "if False:",
          ("tests/test_refresh_modes.py",), fast=False),
    Fault("timing-key-typo-accepted", "a timing key the standard lacks is accepted",
          "pimsim/hardware/standards.py", "        if key not in allowed:\n",
          "        if key not in allowed and False:\n", ("tests/test_strict_input.py", "-k", "timing")),
    Fault("duplicate-yaml-key-accepted", "a YAML key given twice keeps the last",
          "pimsim/util/config_io.py", "if first is not key_node.start_mark:",
          "if first is not key_node.start_mark and False:", ("tests/test_strict_input.py", "-k", "duplicate"), fast=False),
    Fault("bom-kept", "a UTF-8 BOM stays in the text", "pimsim/util/config_io.py",
          'return text.removeprefix("\\ufeff")', "return text", ("tests/test_strict_input.py", "-k", "bom"), fast=False),
    Fault("baseline-kv-not-counted", "GPU/CPU capacity counts the weights only", "pimsim/baselines/model.py",
          "if weights + kv <= device.memory_bytes:", "if weights <= device.memory_bytes:",
          (IV, "-k", "capacity")),
    Fault("implicit-prm-one-copy", "an implicit PRM's reference model shares the PRM's weight copy",
          "pimsim/workloads/phases.py", "key = (ph.model, ph.weight_copy)", "key = (ph.model, '')",
          ("tests/test_capacity_checks.py", "-k", "implicit"), fast=False),
    Fault("workload-file-model-overridden", "--model silently replaces a workload file's model",
          "pimsim/cli/common.py", "                if name != data[field]:",
          "                if name != data[field] and False:", ("tests/test_capacity_checks.py", "-k", "file_model"), fast=False),
    Fault("verify-tokens-any-scoring", "verify_tokens accepted with single-pass scoring",
          "pimsim/workloads/spec.py", 'if self.verify_tokens is not None and self.scoring != "generative":',
          'if self.verify_tokens is not None and self.scoring == "nothing":',
          ("tests/test_capacity_checks.py", "-k", "verify_tokens"), fast=False),
    Fault("ttft-includes-decode", "time to first token counts the decode phases too", "pimsim/result.py",
          'p.role == role and p.kind == "prefill")', "p.role == role)",
          ("tests/test_reporting_and_paths.py", "-k", "ttft"), fast=False),
    Fault("experiment-name-dotdot", "experiment name '..' accepted", "pimsim/experiments/spec.py",
          'if v in (".", ".."):', 'if v in (".",):', ("tests/test_reporting_and_paths.py", "-k", "plain_file_name"), fast=False),
    Fault("run-out-onto-file", "run --out onto a file passes the folder check", "pimsim/experiments/runner.py",
          "            if not p.is_dir():\n", "            if False:\n",
          ("tests/test_reporting_and_paths.py", "-k", "run_out"), fast=False),
    Fault("hardware-file-named-by-base", "a hardware file without name: is labelled by its base preset",
          "pimsim/hardware/loader.py", 'data = {**data, "name": Path(text).stem}', "pass",
          ("tests/test_reporting_and_paths.py", "-k", "without_name"), fast=False),
)


def copy_tree(dest: Path) -> Path:
    """A copy of the package and its tests under dest/main (numba's cache kept; bytecode dropped), with
    dest/shared linking to the reference folder beside the repository."""
    root = dest / "main"
    root.mkdir(parents=True)
    ignore = shutil.ignore_patterns("*.pyc", ".pytest_cache", ".hypothesis")
    for name in COPIED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, root / name, ignore=ignore, copy_function=shutil.copy2)
        elif src.exists():
            shutil.copy2(src, root / name)
    shared = REPO.parent / "shared"
    if shared.is_dir():
        (dest / "shared").symlink_to(shared)
    return root


def run_pytest(root: Path, args: tuple[str, ...], timeout_s: float) -> tuple[int, list[str], str]:
    """(exit code, failed test ids, output tail) of pytest `args` run in the copy at `root`."""
    env = {**os.environ, "PYTHONPATH": str(root), "PYTHONDONTWRITEBYTECODE": "1"}
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--tb=no", "-rf",
           "-o", "addopts=", *args]
    try:
        proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return 124, [], "timed out"
    out = proc.stdout + proc.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
    return proc.returncode, failed, out[-1500:]


def baseline_runs(faults: list[Fault]) -> list[tuple[str, ...]]:
    """At most two pytest runs that cover every fault's subset unfaulted: the files of the subsets with a
    `-k` under the OR of their expressions (a superset of each), and the whole-file subsets."""
    keyed: dict[str, None] = {}
    exprs: dict[str, None] = {}
    whole: dict[str, None] = {}
    for f in faults:
        files = [a for a in f.tests if a.startswith("tests/")]
        if "-k" in f.tests:
            keyed.update(dict.fromkeys(files))
            exprs[f"({f.tests[f.tests.index('-k') + 1]})"] = None
        else:
            whole.update(dict.fromkeys(files))
    runs = []
    if keyed:
        runs.append((*keyed, "-k", " or ".join(exprs)))
    if whole:
        runs.append(tuple(whole))
    return runs


def apply(root: Path, fault: Fault) -> str:
    """Plant `fault` in the copy; returns the original text of the file (to restore it)."""
    path = root / fault.path
    text = path.read_text()
    n = text.count(fault.old)
    if n != 1:
        raise SystemExit(f"planted_faults: fault {fault.name}: expected its text once in {fault.path}, "
                         f"found it {n} times; update FAULTS to follow the code")
    path.write_text(text.replace(fault.old, fault.new))
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--fast", action="store_true", help="only the faults marked fast")
    ap.add_argument("--only", help="comma-separated fault names")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per pytest run")
    args = ap.parse_args(argv)
    faults = [f for f in FAULTS if f.fast or not args.fast]
    if args.only:
        names = args.only.split(",")
        unknown = sorted(set(names) - {f.name for f in FAULTS})
        if unknown:
            ap.error(f"unknown fault(s) {unknown}; known: {', '.join(f.name for f in FAULTS)}")
        faults = [f for f in FAULTS if f.name in names]
    report = []
    with tempfile.TemporaryDirectory(prefix="pimsim-faults-") as tmp:
        root = copy_tree(Path(tmp))
        for subset in baseline_runs(faults):
            rc, failed, tail = run_pytest(root, subset, args.timeout)
            if rc != 0:
                print(f"planted_faults: the unfaulted copy fails its own tests (exit {rc}): {failed}\n{tail}",
                      file=sys.stderr)
                return 1
        for fault in faults:
            original = apply(root, fault)
            t0 = time.perf_counter()
            try:
                rc, failed, tail = run_pytest(root, fault.tests, args.timeout)
            finally:
                (root / fault.path).write_text(original)
            caught = rc != 0 and bool(failed)
            report.append({"fault": fault.name, "why": fault.why, "file": fault.path, "caught": caught,
                           "caught_by": failed, "exit": rc, "seconds": round(time.perf_counter() - t0, 1)})
            if not args.json:
                mark = f"caught by {len(failed)}" if caught else f"SURVIVED (exit {rc})"
                print(f"{fault.name:34s} {mark:16s} {', '.join(t.split('::')[-1] for t in failed[:3])}",
                      flush=True)
            if not caught and rc not in (0, 1):
                print(tail, file=sys.stderr)
    caught = sum(r["caught"] for r in report)
    if args.json:
        print(json.dumps({"caught": caught, "planted": len(report), "faults": report}, indent=1))
    else:
        print(f"{caught}/{len(report)} planted faults caught")
    return 0 if caught == len(report) else 1


if __name__ == "__main__":
    sys.exit(main())
