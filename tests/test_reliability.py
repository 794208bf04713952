"""Reliability: pimsim must not break or lie under bad input.

- Determinism: the same configuration twice (separate processes, different hash seeds) gives identical JSON.
- Fuzzing (hypothesis) over hardware configs, mappings, workloads and AiM traces through the CLI: every
  outcome is a result or one clear message with exit code 2; never an internal traceback, never NaN,
  never a negative time or energy; PIM energy is at least background power x time (baselines: idle power).
- Capacity: Qwen2.5-Math-PRM-72B gets a capacity error with required vs available bytes on a preset too
  small, and completes within 2 GB of peak memory on presets large enough.
- Sweeps resume after a kill with nothing lost or duplicated: tests/test_experiments.py
  (test_resume_after_killed_run), not duplicated here.
"""

from __future__ import annotations

import io
import json
import math
import os
import subprocess
import sys
import tempfile
import traceback
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from pimsim.cli.main import main
from pimsim.hardware import load_hardware

REPO = Path(__file__).resolve().parents[1]
# derandomized (the same examples every run), no example database, no shrinking (a failure is reported as
# found; the minimal cases found so far are kept as named edge cases below), a small budget per test
FUZZ = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                phases=(Phase.explicit, Phase.generate), print_blob=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
TWO_GB = 2 * 1024 ** 3


def _cli(*argv) -> tuple[int, str, str]:
    """`pimsim ARGV` in this process; an exception other than argparse's exit fails the test with its traceback."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 2
    except BaseException:  # noqa: BLE001
        pytest.fail(f"internal error (a traceback, not a message) from `pimsim {' '.join(map(str, argv))}`:\n"
                    f"{traceback.format_exc()}")
    return rc, out.getvalue(), err.getvalue()


def _assert_clear_outcome(rc: int, out: str, err: str, argv, *, must_fail: bool = False) -> dict | None:
    """A result (exit 0, JSON) or one clear message (exit 2); returns the parsed JSON of a result. With
    `must_fail` (the case holds a value no field accepts) only exit 2 will do."""
    assert rc in ((2,) if must_fail else (0, 2)), (rc, argv, err[-2000:])
    assert "Traceback" not in err and "Traceback" not in out
    if rc == 2:
        assert err.startswith("pimsim: error: ") or "error:" in err.splitlines()[-1], err
        assert len(err.strip()) > len("pimsim: error: ")
        return None
    return json.loads(out)


def _walk_numbers(obj, path=""):
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk_numbers(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk_numbers(v, f"{path}[{i}]")
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path, obj


def _assert_sane_result(data: dict, background_w: float) -> None:
    """Finite everywhere; no negative time or energy; energy >= background power x time."""
    for path, v in _walk_numbers(data):
        assert math.isfinite(v), (path, v)
    assert data["latency_s"] >= 0 and data["energy_j"] >= 0
    for section in [data] + list(data.get("phases", [])):
        assert section["latency_s"] >= 0 and section["energy_j"] >= 0, section
        for k, v in section.get("breakdown_s", {}).items():
            # overlap_saved is the (documented) time pipelining saves: negative by definition, it makes the
            # categories sum to the wall time
            assert v >= 0 or k == "overlap_saved", (k, v)
        for k, v in section.get("breakdown_j", {}).items():
            assert v >= 0, (k, v)
    assert data["energy_j"] >= background_w * data["latency_s"] * (1 - 1e-9), (data["energy_j"], background_w)


def _pim_background_w(hw) -> float:
    return hw.dram.channels * hw.energy.background_w_per_channel + hw.energy.asic_static_w


# ------------------------------------------------------------------------------------------ determinism

def _subprocess_json(argv: list[str], hash_seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    proc = subprocess.run([sys.executable, "-m", "pimsim.cli.main", *argv], capture_output=True, text=True,
                          timeout=120, env=env, cwd=REPO)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.stdout


@pytest.mark.parametrize("argv", [
    ["simulate", "--model", "gpt2-small", "--workload", "generate", "--prompt", "16", "--generate", "8", "--json"],
    ["simulate", "--model", "skywork-prm-1.5b", "--workload", "prm-score", "--solutions", "2", "--question-tokens",
     "8", "--steps", "2", "--step-tokens", "4", "--json"],
    ["baseline", "--device", "t4", "--model", "gpt3-xl", "--workload", "generate", "--prompt", "64", "--generate",
     "32", "--json"],
    ["validate", "--json", "--only", "dram.*,aim.*"],
], ids=["simulate", "simulate-prm", "baseline", "validate"])
def test_same_configuration_twice_gives_identical_json(argv):
    first = _subprocess_json(argv, "1")
    second = _subprocess_json(argv, "4242")
    assert first and json.loads(first)
    assert first == second


def test_same_configuration_twice_in_one_process_gives_identical_results():
    from pimsim.engine import simulate
    from pimsim.workloads import GenerateSpec

    spec = GenerateSpec(prompt=8, generate=8, batch=2)
    a = simulate("gpt2-small", "pimgpt-gddr6", "pimgpt", spec).to_dict()
    b = simulate("gpt2-small", "pimgpt-gddr6", "pimgpt", spec).to_dict()
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


# ------------------------------------------------------------------------------------------ fuzzing: configs
# Strategies start from a valid configuration and change a few fields, mostly to other plausible values and
# sometimes to invalid ones, so that both results and error messages are exercised.

PIMGPT = yaml.safe_load((REPO / "pimsim" / "hardware" / "presets" / "pimgpt-gddr6.yaml").read_text())
TIMING = sorted(PIMGPT["dram"]["timing"])
BAD_NUMBERS = [0, -1, -0.5, math.nan, math.inf, "8", [8], None, 1e300]


def _plausible(value):
    """A strategy of plausible replacements for a preset value (same type, 1/4x..4x)."""
    if isinstance(value, bool):
        return st.booleans()
    if isinstance(value, int):
        return st.integers(max(1, value // 4), max(2, value * 4))
    if isinstance(value, float):
        return st.floats(min_value=value / 4 if value else 0.0, max_value=value * 4 if value else 1.0)
    return st.just(value)


@st.composite
def hardware_overrides(draw):
    overrides: dict = {}
    for _ in range(draw(st.integers(1, 3))):
        section = draw(st.sampled_from(["dram", "dram", "timing", "pim", "asic", "link", "energy"]))
        if section == "timing":
            name = draw(st.sampled_from(TIMING + ["nBOGUS"]))
            value = draw(st.one_of(_plausible(PIMGPT["dram"]["timing"].get(name, 10)), st.sampled_from([0, -3])))
            overrides.setdefault("dram", {}).setdefault("timing", {})[name] = value
            continue
        fields = {k: v for k, v in PIMGPT[section].items() if not isinstance(v, (dict, list))}
        name = draw(st.sampled_from(sorted(fields)))
        bad = draw(st.integers(0, 3)) == 0
        value = draw(st.sampled_from(BAD_NUMBERS)) if bad else draw(_plausible(fields[name]))
        if section == "dram" and name == "standard":
            value = draw(st.sampled_from(["gddr6-aim", "gddr6", "hbm-pim", "lpddr5-pim", "no-such-standard"]))
        if section == "dram" and name == "refresh":
            value = draw(st.sampled_from(["all_bank", "per_bank", "sometimes"]))
        if section == "pim" and name == "dtype":
            value = draw(st.sampled_from(["bf16", "fp16", "fp32", "int8", "fp4"]))
        if section == "dram" and name == "channels" and not bad:
            value = draw(st.one_of(st.integers(1, 64), st.sampled_from([65, 128])))
        overrides.setdefault(section, {})[name] = value
    if draw(st.integers(0, 9)) == 0:  # malformed structure
        overrides = draw(st.sampled_from([{"dram": "eight"}, {"unknown_section": 1}, {"base": "no-such-preset"},
                                          {"dram": {"timing": {"nRCDRD": 1.5}}}, {"asic": None}]))
    return overrides


def _write_yaml(folder: str, name: str, data) -> Path:
    path = Path(folder) / name
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# values and names no hardware field accepts (wrong type, not finite, negative, absurd, unknown): a case
# holding one must exit 2, never run (before: any case could pass with exit 0 or 2)
_NEVER_VALID = ("nBOGUS", "no-such-standard", "no-such-preset", "sometimes", "unknown_section", "eight")


def _never_valid(node) -> bool:
    if isinstance(node, dict):
        if node.get("nRCDRD") == 1.5:  # a cycle count that is not whole
            return True
        return any(k in _NEVER_VALID or _never_valid(v) for k, v in node.items())
    if isinstance(node, list) or node is None or isinstance(node, str):
        return node in _NEVER_VALID or isinstance(node, list) or node is None or node == "8"
    if isinstance(node, bool):
        return False
    return not math.isfinite(node) or node < 0 or node >= 1e300


def _hardware_case(overrides: dict) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = _write_yaml(d, "hw.yaml", {"base": "pimgpt-gddr6", **overrides})
        argv = ["simulate", "--hardware", path, "--model", "gpt2-small", "--workload", "generate", "--prompt", "3",
                "--generate", "2", "--json"]
        rc, out, err = _cli(*argv)
        data = _assert_clear_outcome(rc, out, err, argv, must_fail=_never_valid(overrides))
        if data is not None:
            _assert_sane_result(data, _pim_background_w(load_hardware(path)))


@pytest.mark.parametrize("overrides", [
    pytest.param({"dram": {"channels": 65}}, id="channels-beyond-64-bit-mask"),
    pytest.param({"dram": {"column_bytes": 4096}}, id="column-wider-than-global-buffer"),
    pytest.param({"pim": {"global_buffer_bytes": 16}}, id="global-buffer-narrower-than-a-column"),
    pytest.param({"link": {"latency_ns": math.inf}}, id="infinite-link-latency"),
    pytest.param({"energy": {"mac_pj_per_bank": math.inf}}, id="infinite-energy"),
    pytest.param({"dram": {"timing": {"nREFI": 300}}}, id="refresh-interval-just-above-trfc-plus-row"),
    pytest.param({"dram": {"channels": 1, "rows": 1}}, id="one-row-per-bank"),
])
def test_hardware_edge_cases(overrides):
    """Edge cases the fuzzer found or that sit on a validation boundary, kept as named cases."""
    _hardware_case(overrides)


@FUZZ
@given(overrides=hardware_overrides())
def test_fuzz_hardware_configs(overrides):
    _hardware_case(overrides)


PIMGPT_MAPPING = yaml.safe_load((REPO / "mappings" / "pimgpt.yaml").read_text())
MAPPING_CHOICES = {
    ("weights", "pack_rows"): [True, False, "yes please"],
    ("weights", "split_heads"): [True, False],
    ("weights", "partial_sums"): ["asic", "wr_bias", "magic"],
    ("weights", "output_group"): [None, 1, 7, 32, 0, -1],
    ("attention", "placement"): ["pim", "asic", "gpu"],
    ("attention", "v_layout"): ["column_major", "row_major", "diagonal"],
    ("attention", "concat_heads"): [True, False],
    ("overlap",): ["serial", "pipelined", "sometimes"],
}


@st.composite
def mapping_docs(draw):
    doc = json.loads(json.dumps(PIMGPT_MAPPING))
    for key in draw(st.lists(st.sampled_from(sorted(MAPPING_CHOICES)), min_size=1, max_size=4, unique=True)):
        target = doc
        for part in key[:-1]:
            target = target[part]
        target[key[-1]] = draw(st.sampled_from(MAPPING_CHOICES[key]))
    if draw(st.integers(0, 9)) == 0:
        doc.pop(draw(st.sampled_from(["weights", "attention", "name"])))
    return doc


@FUZZ
@given(mapping=mapping_docs(), batch=st.integers(1, 3))
def test_fuzz_mappings(mapping, batch):
    with tempfile.TemporaryDirectory() as d:
        path = _write_yaml(d, "map.yaml", mapping)
        argv = ["simulate", "--mapping", path, "--model", "gpt2-small", "--workload", "generate", "--prompt", "4",
                "--generate", "3", "--batch", str(batch), "--json"]
        rc, out, err = _cli(*argv)
        data = _assert_clear_outcome(rc, out, err, argv)
        if data is not None:
            _assert_sane_result(data, _pim_background_w(load_hardware("pimgpt-gddr6")))


# ------------------------------------------------------------------------------------------ fuzzing: workloads

WORKLOADS = {  # kind -> (fixed flags, {flag: plausible range})
    "generate": (["--model", "gpt2-small"], {"--prompt": (1, 40), "--generate": (1, 12), "--batch": (1, 4)}),
    "prm-score": (["--model", "skywork-prm-1.5b"], {"--solutions": (1, 3), "--question-tokens": (1, 24),
                                                   "--steps": (1, 3), "--step-tokens": (1, 8),
                                                   "--verify-tokens": (1, 8)}),
    "best-of-n": (["--policy", "gpt2-small", "--prm", "gpt3-small"], {"--n": (1, 3), "--question-tokens": (1, 16),
                                                                      "--steps": (1, 3), "--step-tokens": (1, 8)}),
    "beam-search": (["--policy", "gpt2-small", "--prm", "gpt3-small"],
                    {"--beam-width": (1, 3), "--expansions": (1, 3), "--steps": (1, 3), "--step-tokens": (1, 8),
                     "--question-tokens": (1, 16)}),
}
BAD_SIZES = ["0", "-2", "1025", "5000", "10000000", "x", "1.5"]


@st.composite
def workload_args(draw):
    kind = draw(st.sampled_from(sorted(WORKLOADS)))
    fixed, ranges = WORKLOADS[kind]
    args = ["--workload", kind, *fixed]
    for flag, (lo, hi) in ranges.items():
        args += [flag, str(draw(st.integers(lo, hi)))]
    if kind == "prm-score":
        args += ["--scoring", draw(st.sampled_from(["single-pass", "per-step-prefix", "implicit", "generative"]))]
    if kind == "beam-search" and draw(st.booleans()):
        args.append("--prefix-reuse")
    mutation = draw(st.integers(0, 5))
    if mutation == 1:  # one size out of range or not a number
        i = 2 * draw(st.integers(0, len(ranges) - 1))
        flag_pos = args.index(list(ranges)[i // 2])
        args[flag_pos + 1] = draw(st.sampled_from(BAD_SIZES))
    elif mutation == 2:  # a flag of another kind, or a flag missing
        if draw(st.booleans()):
            args += draw(st.sampled_from([["--n", "2"], ["--prompt", "4"], ["--beam-width", "2"]]))
        else:
            flag_pos = args.index(draw(st.sampled_from(list(ranges))))
            del args[flag_pos:flag_pos + 2]
    elif mutation == 3:  # an unknown model
        if "--model" in args:
            args[args.index("--model") + 1] = "gpt-5"
        else:
            args[args.index("--prm") + 1] = "no-such-prm"
    return args


@FUZZ
@given(args=workload_args())
@example(args=["--workload", "generate", "--model", "gpt2-small", "--prompt", "1020", "--generate", "5"])
def test_fuzz_workloads_on_pim_and_baselines(args):
    from pimsim.baselines import load_device

    hw = load_hardware("pimgpt-gddr6")
    for command, extra, background_w in (("simulate", [], _pim_background_w(hw)),
                                         ("baseline", ["--device", "t4"], load_device("t4").power.idle_w)):
        argv = [command, *extra, *args, "--json"]
        rc, out, err = _cli(*argv)
        data = _assert_clear_outcome(rc, out, err, argv)
        if data is not None:
            _assert_sane_result(data, background_w)


# ------------------------------------------------------------------------------------------ fuzzing: traces

FIELDS = {"WR_SBK": ("gpr0", "mask", "bank", "row"), "WR_ABK": ("gpr0", "mask", "row"),
          "WR_GB": ("opsize", "gpr0", "mask"), "WR_BIAS": ("gpr0", "mask"), "RD_MAC": ("gpr0", "mask"),
          "RD_AF": ("gpr0", "mask"), "RD_SBK": ("gpr0", "mask", "bank", "row"),
          "COPY_BKGB": ("opsize", "mask", "bank", "row"), "COPY_GBBK": ("opsize", "mask", "bank", "row"),
          "MAC_SBK": ("opsize", "mask", "bank", "row"), "MAC_ABK": ("opsize", "mask", "row"), "AF": ("mask",),
          "EWMUL": ("opsize", "mask", "row"), "EWADD": ("opsize", "gpr0", "gpr1"), "SYNC": (), "EOC": ()}
GOOD_FIELD = {
    "mask": st.sampled_from(["0x80000000", "0xff000000", "0x40000000", "0x80000000", "0xc0000000"]),
    "opsize": st.integers(1, 64).map(str),
    "row": st.integers(0, 40).map(str),
    "bank": st.integers(0, 15).map(str),
    "gpr0": st.integers(0, 31).map(str),
    "gpr1": st.integers(0, 31).map(str),
}
BAD_FIELD = {
    "mask": st.sampled_from(["0xffffffff", "0x00000001", "0", "0x1ffffffff", "-1", "0xZZ"]),
    "opsize": st.sampled_from(["0", "-1", "65", "1024", "1048576", "x"]),
    "row": st.sampled_from(["-1", "16384", "536870912", "1099511627776", "0x"]),
    "bank": st.sampled_from(["-1", "16", "17"]),
    "gpr0": st.sampled_from(["-1", "abc"]),
    "gpr1": st.sampled_from(["-1", "abc"]),
}


@st.composite
def trace_line(draw):
    kind = draw(st.integers(0, 39))  # 1 in 13 lines broken
    if kind == 0:  # garbage or a comment
        return draw(st.sampled_from(["", "# comment", "AiM", "AiM NOPE 1 2", "MAC_ABK 64 0x80000000 1",
                                     "AiM MAC_ABK 64 0x80000000 1 extra", "AiM  MAC_ABK 64 0x80000000 1",
                                     "\t", "AiM ISR_MAC_ABK 8 0x80000000 2", "AiM WR_GB 8 0 0x80000000 # x"]))
    op = draw(st.sampled_from(sorted(FIELDS)))
    fields = list(FIELDS[op])
    if kind == 1 and fields:  # a field missing
        fields.pop(draw(st.integers(0, len(fields) - 1)))
    bad = kind == 2 and fields and draw(st.sampled_from(fields))
    values = [draw(BAD_FIELD[f] if f == bad else GOOD_FIELD[f]) for f in fields]
    return " ".join(["AiM", op, *values])


@FUZZ
@given(lines=st.lists(trace_line(), max_size=16), eoc=st.integers(0, 5), refresh=st.sampled_from(["on", "off"]))
@example(lines=["AiM MAC_ABK 64 0x80000000 3"] * 3, eoc=0, refresh="on")  # truncated: no EOC
def test_fuzz_traces_replay(lines, eoc, refresh):
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "fuzz.trace"
        path.write_text("\n".join(lines + (["AiM EOC"] if eoc else [])) + "\n")
        argv = ["replay", path, "--hardware", "pimgpt-gddr6", "--refresh", refresh, "--json"]
        rc, out, err = _cli(*argv)
        data = _assert_clear_outcome(rc, out, err, argv)
        if data is None:
            assert "fuzz.trace" in err, err
            return
        assert isinstance(data["cycles"], int) and data["cycles"] >= 0
        assert math.isfinite(data["ns"]) and data["ns"] >= 0
        assert all(v >= 0 for v in data["commands"].values())
        assert all(v >= 0 for v in data["category_cycles"].values())
        assert sum(data["category_cycles"].values()) == data["cycles"]


def test_replay_on_more_channels_than_the_engine_holds_is_a_clear_message():
    with tempfile.TemporaryDirectory() as d:
        hw = _write_yaml(d, "hw.yaml", {"base": "pimgpt-gddr6", "dram": {"channels": 65}})
        trace = Path(d) / "t.trace"
        trace.write_text("AiM MAC_ABK 64 0x80000000 1\nAiM EOC\n")
        argv = ["replay", trace, "--hardware", hw, "--json"]
        rc, out, err = _cli(*argv)
        data = _assert_clear_outcome(rc, out, err, argv)
        if data is not None:
            assert data["cycles"] == 185


# ------------------------------------------------------------------------------------------ capacity

PRM72 = "qwen2.5-math-prm-72b"
PRM_TINY = ["--workload", "prm-score", "--solutions", "1", "--question-tokens", "2", "--steps", "1",
            "--step-tokens", "1"]


def test_prm72b_on_a_preset_too_small_names_required_and_available_bytes():
    from pimsim.models import get_model

    m = get_model(PRM72)
    weights = m.params * 2  # bf16
    kv = m.max_context * 2 * m.layers * m.kv_heads * m.head_dim * 2  # K and V, bf16, reserved for max_context
    available = 8 * 16 * 16384 * 2048  # pimgpt-gddr6: 8 channels x 16 banks x 16K rows x 2 KB
    rc, out, err = _cli("simulate", "--model", PRM72, *PRM_TINY, "--json")
    assert rc == 2 and not out
    assert err.startswith("pimsim: error: ") and err.count("\n") == 1, err
    assert f"requires {weights + kv:,} bytes" in err
    assert f"has {available:,} bytes" in err


_PEAK_RSS_SCRIPT = """
import json, resource, sys
from pimsim.engine import simulate
from pimsim.hardware import load_hardware
from pimsim.workloads import PrmScoreSpec
hw = load_hardware("pimgpt-gddr6", overrides=json.loads(sys.argv[1]))
r = simulate("qwen2.5-math-prm-72b", hw, "pimgpt",
             PrmScoreSpec(solutions=1, question_tokens=2, steps=1, step_tokens=1))
print(json.dumps({"latency_s": r.latency_s, "energy_j": r.energy_j, "capacity_bytes": hw.capacity_bytes,
                  "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}))
"""


@pytest.mark.parametrize("overrides", [
    {"dram": {"channels": 512}},                 # more channels of the same chips: 256 GiB
    {"dram": {"channels": 64, "rows": 81920}},   # 64 channels of 5x larger chips: 160 GiB
], ids=["512-channels", "64-channels-larger-chips"])
def test_prm72b_on_a_preset_large_enough_completes_within_2gb(overrides):
    proc = subprocess.run([sys.executable, "-c", _PEAK_RSS_SCRIPT, json.dumps(overrides)], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r = json.loads(proc.stdout)
    assert r["capacity_bytes"] > 144_397_434_884
    assert r["latency_s"] > 0 and r["energy_j"] > 0
    assert r["peak_rss_bytes"] <= TWO_GB, r


# ------------------------------------------------------------------------------------------ sweeps

def test_sweep_resume_after_kill_is_covered_by_the_experiments_suite():
    """Resume after a kill (nothing lost or duplicated) is tests/test_experiments.py::test_resume_after_killed_run:
    it kills a running `pimsim run` (SIGKILL to the whole process group), reruns it and compares the store with an
    uninterrupted run key by key. This keeps that reference from going stale."""
    text = (REPO / "tests" / "test_experiments.py").read_text()
    assert "def test_resume_after_killed_run(" in text
    body = text.split("def test_resume_after_killed_run(")[1].split("\ndef ")[0]
    assert "SIGKILL" in body and "already stored" in body and "_stored(out) == reference" in body
