"""GPU/CPU baselines: calibration against measured hardware, roofline closed forms, monotonicity, errors.

Calibration targets are the measured files in ../shared/reference (never values this code printed);
roofline checks recompute kernel times from `ModelGraph` op costs and the preset's rates by hand.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest
import yaml

from pimsim.baselines import (compare, device_names, fit_device, load_device, measured_baseline,
                              read_measurements, run_baseline)
from pimsim.cli.main import main
from pimsim.errors import ConfigError, UnknownNameError
from pimsim.models import ModelGraph, OpKind, get_model
from pimsim.workloads import Phase, Workload, expand
from pimsim.workloads.spec import BestOfNSpec, GenerateSpec, PrmScoreSpec

SHARED_REF = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
DATA = Path(__file__).resolve().parents[1] / "pimsim" / "baselines" / "data"
# the measured files themselves beside the repo (as CI has them), else the copies kept in the package
REF = SHARED_REF if (SHARED_REF / "h100_gpt_decode_measured.csv").is_file() else DATA
H100_CSV = REF / "h100_gpt_decode_measured.csv"
CPU_CSV = REF / "cpu_gpt_decode_measured.csv"


def _rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def _one_step(model: str, context: int) -> Workload:
    """One batch-1 decode step with `context` tokens cached, as the H100 file measured."""
    ph = Phase("decode", "policy", "decode", get_model(model), 1, 1, context)
    return Workload(spec=None, phases=(ph,), generated_tokens=1)


def _generate(model: str, prompt: int, generate: int, batch: int = 1) -> Workload:
    return expand(GenerateSpec(prompt=prompt, generate=generate, batch=batch), get_model(model))


# ---- calibration ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("row", _rows(H100_CSV), ids=lambda r: f"{r['model']}-ctx{r['context']}")
def test_h100_graph_reproduces_measured_row(row):
    assert row["dtype"] == "fp16" and row["batch"] == "1"
    dev = load_device("h100-sxm")
    assert dev.dtype_bytes == 2
    res = run_baseline(_one_step(row["model"], int(row["context"])), dev, mode="graph")
    assert res.e2e_latency_per_token_s == pytest.approx(float(row["decode_ms_per_token"]) * 1e-3, rel=0.10)
    assert res.energy_per_token_j == pytest.approx(float(row["energy_j_per_token"]), rel=0.20)


def test_h100_fitted_parameters_are_physically_plausible():
    dev = load_device("h100-sxm")
    assert 1.5e12 <= dev.bandwidth_bytes_per_s <= 2.97e12  # at most the measured copy rate
    assert 1e-6 <= dev.kernel_overhead_s["graph"] <= 6e-6  # a few microseconds per kernel in a graph
    assert dev.kernel_overhead_s["eager"] > dev.kernel_overhead_s["graph"]
    assert dev.attention_stream_bandwidth_bytes_per_s <= dev.bandwidth_bytes_per_s
    assert 120 <= dev.power.idle_w <= 124  # measured idle
    assert dev.power.active_w >= 0 and dev.power.energy_per_byte_j > 0
    # streaming at the fitted bandwidth must stay below the 700 W board limit
    stream_w = dev.power.idle_w + dev.power.active_w + dev.power.energy_per_byte_j * dev.bandwidth_bytes_per_s
    assert stream_w < 700


@pytest.mark.parametrize("row", _rows(CPU_CSV), ids=lambda r: r["model"])
def test_server_cpu_reproduces_measured_row(row):
    assert row["dtype"] == "fp32"
    dev = load_device("server-16vcpu")
    assert dev.dtype_bytes == 4
    prompt, generated = int(row["prompt"]), int(row["generated"])
    res = run_baseline(_generate(row["model"], prompt, generated), dev)
    decode = next(p for p in res.phases if p.name == "decode")
    per_token = decode.latency_s / (generated - 1)  # mean over the decode steps
    assert per_token == pytest.approx(float(row["decode_ms_per_token"]) * 1e-3, rel=0.25)


@pytest.mark.parametrize("name", ["h100_gpt_decode_measured.csv", "cpu_gpt_decode_measured.csv"])
def test_kept_fit_inputs_are_the_reference_files(name):
    assert (DATA / name).read_bytes() == (REF / name).read_bytes()


@pytest.mark.parametrize("device,csv_names", [
    ("h100-sxm", ["h100_gpt_decode_measured.csv", "h100_gpt_prefill_measured.csv"]),
    ("h200-sxm", ["h200_gpt_decode_measured.csv", "h200_gpt_prefill_measured.csv"]),
    ("server-16vcpu", ["cpu_gpt_decode_measured.csv"])])
def test_refit_reproduces_the_shipped_preset(device, csv_names):
    shipped = load_device(device)
    rows = [m for name in csv_names for m in read_measurements(DATA / name, shipped.dtype_bytes)]
    hold_out = tuple(((shipped.fit or {}).get("held_out") or {}).get("rows_of", ()))  # as the preset was fitted
    fit_floor = "kernel_floor_s" in (shipped.fit or {}).get("fitted", ())  # `--fit-floor`, as in its header
    res = fit_device(rows, shipped, source=" ".join(f"pimsim/baselines/data/{name}" for name in csv_names),
                     hold_out=hold_out, fit_floor=fit_floor)
    assert res.preset.model_dump() == shipped.model_dump()


@pytest.mark.parametrize("csv_name,raw_name,decoder", [
    ("h200_gpt_decode_measured.csv", "h200_gpu_baseline_raw.jsonl", None),
    ("h200_gpt_decode_batched_measured.csv", "h200_gpu_regimes_raw.jsonl", None),
    ("h200_gpt_decode_large_measured.csv", "h200_gpu_large_raw.jsonl", "fused"),
    ("h100_gpt_decode_large_measured.csv", "h100_gpu_large_raw.jsonl", "fused")])
def test_decode_measurement_files_are_the_raw_logs(csv_name, raw_name, decoder):
    """Each CSV holds exactly the long-replay (gpu-graph-energy) records of its measurement log (of one
    decoder where the log holds two); per token means per generated token, so a batch-B step's time is
    divided by B."""
    raw = [json.loads(line) for line in (DATA / raw_name).read_text().splitlines()]
    runs = [r for r in raw if r["kind"] == "gpu-graph-energy" and (decoder is None or r.get("decoder") == decoder)]
    with (DATA / csv_name).open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(runs) >= 6
    for row, run in zip(rows, runs):
        assert (row["model"], int(row["context"]), int(row["params"]), int(row["batch"])) == \
            (run["model"], run["ctx"], run["params"], run["batch"])
        assert float(row["decode_ms_per_token"]) == pytest.approx(run["decode_ms_mean"] / run["batch"], abs=5e-5)
        assert float(row["energy_j_per_token"]) == pytest.approx(run["j_per_token"], abs=5e-5)


def test_h200_preset_ceilings_are_the_measured_ones():
    info = next(json.loads(line) for line in (DATA / "h200_gpu_baseline_raw.jsonl").read_text().splitlines()
                if json.loads(line)["kind"] == "info")
    shipped = load_device("h200-sxm")
    assert shipped.bandwidth_cap_bytes_per_s == pytest.approx(info["copy_TBps"] * 1e12, rel=1e-3)
    # the compute rate is fitted to whole prefills at the power limit: below the short matmul benchmark
    assert 0.5 * info["bf16_TFLOPs"] * 1e12 < shipped.flops_per_s < info["bf16_TFLOPs"] * 1e12


@pytest.mark.parametrize("gpu", ["h100", "h200"])
def test_prefill_files_are_the_raw_logs(gpu):
    raw = [json.loads(line) for line in (DATA / f"{gpu}_gpu_prefill_raw.jsonl").read_text().splitlines()]
    runs = [r for r in raw if r["kind"] == "gpu-prefill-graph"]
    with (DATA / f"{gpu}_gpt_prefill_measured.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(runs) == 14
    for row, run in zip(rows, runs):
        assert (row["model"], int(row["new_tokens"]), int(row["context"])) == (run["model"], run["prompt"], 0)
        assert float(row["decode_ms_per_token"]) == pytest.approx(run["prefill_ms"], abs=5e-5)
        assert float(row["energy_j_per_token"]) == pytest.approx(run["energy_j"], abs=5e-5)


def test_prefill_rows_time_a_whole_prefill_step(tmp_path):
    """A `new_tokens` T row is one T-token prefill yielding one token per sequence: its model time equals
    run_baseline's for that prefill phase; and prompt/generated rows refuse new_tokens > 1."""
    path = tmp_path / "p.csv"
    path.write_text("model,context,new_tokens,decode_ms_per_token\ngpt3-xl,0,512,3.0\n")
    (m,) = read_measurements(path, 2)
    ph = Phase("prefill", "policy", "prefill", get_model("gpt3-xl"), 1, 512, 0, 1)
    expect = run_baseline(Workload(spec=None, phases=(ph,), generated_tokens=1), "h200-sxm").latency_s
    assert compare([m], load_device("h200-sxm"))[0]["model_latency_s"] == pytest.approx(expect, rel=1e-12)
    path.write_text("model,prompt,generated,new_tokens,decode_ms_per_token\ngpt3-xl,64,8,4,3.0\n")
    with pytest.raises(ConfigError, match="line 2: column 'new_tokens'"):
        read_measurements(path, 2)


def test_fit_recovers_a_compute_rate_from_synthetic_prefills(tmp_path):
    truth = load_device("h100-sxm").model_copy(update={"flops_per_s": 5.0e14})
    lines = ["model,context,new_tokens,decode_ms_per_token"]
    for model in ("gpt2-xl", "gpt3-xl"):
        for ctx, new in ((128, 1), (900, 1), (0, 1024), (0, 2048)):
            if ctx + new > get_model(model).max_context:
                continue
            ph = Phase("p", "policy", "prefill" if new > 1 else "decode", get_model(model), 1, new, ctx, 1)
            t = run_baseline(Workload(spec=None, phases=(ph,), generated_tokens=1), truth).latency_s
            lines.append(f"{model},{ctx},{new},{t * 1e3!r}")
    path = tmp_path / "synthetic.csv"
    path.write_text("\n".join(lines) + "\n")
    fitted = fit_device(read_measurements(path, 2), load_device("h100-sxm")).preset
    assert fitted.flops_per_s == pytest.approx(5.0e14, rel=2e-3)


def test_fit_recovers_parameters_from_synthetic_measurements(tmp_path):
    """Measurements made by a known preset are fitted back to it (the fit is not tied to one file)."""
    truth = load_device("h100-sxm").model_copy(update={
        "bandwidth_bytes_per_s": 2.2e12, "attention_stream_bandwidth_bytes_per_s": 8.0e10,
        "kernel_overhead_s": {"graph": 2.5e-6, "eager": 10.0e-6}})
    lines = ["model,context,batch,decode_ms_per_token"]
    for model in ("gpt2-small", "gpt2-xl", "gpt3-large", "gpt3-xl"):
        for ctx in (100, 900):
            t = run_baseline(_one_step(model, ctx), truth).e2e_latency_per_token_s
            lines.append(f"{model},{ctx},1,{t * 1e3!r}")
    path = tmp_path / "synthetic.csv"
    path.write_text("\n".join(lines) + "\n")
    fitted = fit_device(read_measurements(path, 2), "h100-sxm").preset
    assert fitted.bandwidth_bytes_per_s == pytest.approx(2.2e12, rel=1e-3)
    assert fitted.attention_stream_bandwidth_bytes_per_s == pytest.approx(8.0e10, rel=1e-3)
    assert fitted.kernel_overhead_s["graph"] == pytest.approx(2.5e-6, rel=1e-3)
    assert max(abs(r["latency_error"]) for r in compare(read_measurements(path, 2), fitted)) < 1e-3


# ---- roofline closed forms ------------------------------------------------------------------------------

def _matmul_closed_form(model: str, tokens: int, context: int, dev) -> tuple[float, list[bool]]:
    """Sum over the weight matmuls of max(FLOPs/F, bytes/BW), from ModelGraph op costs; and which are
    memory-bound (per-layer ops only)."""
    graph = ModelGraph(get_model(model))
    total, memory_bound = 0.0, []
    for c in graph.step(tokens, context, 1, dev.dtype_bytes):
        if c.op.kind is not OpKind.WEIGHT_MATMUL:
            continue
        t_mem = (c.weight_bytes + c.act_bytes) / dev.bandwidth_bytes_per_s
        t_cmp = c.flops / dev.flops_per_s
        total += max(t_mem, t_cmp)
        if c.op.layer is not None:
            memory_bound.append(t_mem >= t_cmp)
    return total, memory_bound


def test_decode_is_memory_bound_and_prefill_compute_bound():
    # the flat roofline's closed form; tiles and waves have their own (tests/test_gemm_tiling_stacks.py)
    dev = load_device("h100-sxm").model_copy(update={"gemm_tiling": None})
    ridge = dev.flops_per_s / dev.bandwidth_bytes_per_s  # FLOP per byte where the roofline bends
    assert 250 < ridge < 350
    dec = run_baseline(_one_step("gpt3-xl", 512), dev)
    expected, mem = _matmul_closed_form("gpt3-xl", 1, 512, dev)
    assert all(mem)
    assert dec.breakdown_s["weight_matmul"] == pytest.approx(expected, rel=1e-9)
    assert dec.counters["memory_bound_fraction"] > 0.99
    pre = run_baseline(_generate("gpt3-xl", 2048, 1), dev)
    expected, mem = _matmul_closed_form("gpt3-xl", 2048, 0, dev)
    assert not any(mem)
    assert pre.breakdown_s["weight_matmul"] == pytest.approx(expected, rel=1e-9)
    flops = sum(c.flops for c in ModelGraph(get_model("gpt3-xl")).step(2048, 0, 1, 2)
                if c.op.kind is OpKind.WEIGHT_MATMUL and c.op.layer is not None)
    assert pre.breakdown_s["weight_matmul"] >= flops / dev.flops_per_s


def test_weight_matmul_turns_compute_bound_at_the_ridge():
    """fc1 of gpt3-xl (2048 x 8192, fp16): intensity ~= tokens FLOP/byte, so it bends near tokens = ridge."""
    dev = load_device("h100-sxm")
    ridge = dev.flops_per_s / dev.bandwidth_bytes_per_s
    d_in, d_out, b = 2048, 8192, 2

    def bound(tokens: int) -> str:
        flops = 2 * tokens * d_in * d_out + tokens * d_out
        moved = (d_in * d_out + d_out) * b + tokens * (d_in + d_out) * b
        return "compute" if flops / moved > ridge else "memory"

    low, high = int(ridge * 0.8), int(ridge * 1.6)
    assert bound(low) == "memory" and bound(high) == "compute"
    for tokens, kind in ((low, "memory"), (high, "compute")):
        _, mem = _matmul_closed_form("gpt3-xl", tokens, 0, dev)
        # fc1 is the 3rd weight matmul of each layer (qkv, out, fc1, fc2)
        assert mem[2] == (kind == "memory")


def test_batched_decode_amortises_weights():
    dev = load_device("h100-sxm")
    one = run_baseline(_generate("gpt2-xl", 128, 64, batch=1), dev)
    many = run_baseline(_generate("gpt2-xl", 128, 64, batch=32), dev)
    assert many.latency_s > one.latency_s
    assert many.e2e_latency_per_token_s < one.e2e_latency_per_token_s / 8


def test_eager_adds_the_framework_overhead_per_kernel():
    dev = load_device("h100-sxm")
    w = _generate("gpt2-medium", 32, 128)
    graph, eager = run_baseline(w, dev, "graph"), run_baseline(w, dev, "eager")
    extra = dev.kernel_overhead_s["eager"] - dev.kernel_overhead_s["graph"]
    assert eager.latency_s - graph.latency_s == pytest.approx(graph.counters["kernels"] * extra, rel=1e-9)


def test_energy_is_idle_active_time_plus_work():
    dev = load_device("a100-80gb")
    res = run_baseline(_generate("gpt2-large", 128, 256), dev)
    p = dev.power
    assert res.breakdown_j["idle"] == pytest.approx(p.idle_w * res.latency_s)
    expected = ((p.idle_w + p.active_w) * res.latency_s + p.energy_per_byte_j * res.counters["bytes"]
                + p.energy_per_flop_j * res.counters["flops"])
    assert res.energy_j == pytest.approx(expected, rel=1e-9)
    assert res.energy_j / res.latency_s < p.tdp_w


# ---- monotonicity ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("device", ["h100-sxm", "t4", "server-16vcpu"])
def test_more_tokens_or_larger_models_never_take_less_time(device):
    dev = load_device(device)
    for model in ("gpt2-small", "qwen2.5-math-1.5b-instruct"):
        times = [run_baseline(_generate(model, p, g), dev).latency_s
                 for p, g in ((16, 8), (16, 64), (128, 64), (512, 64), (512, 400))]
        assert times == sorted(times)
    for family in (["gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl"],
                   ["qwen2.5-math-1.5b-instruct", "qwen2.5-math-7b-instruct"],
                   ["llama-3.2-1b", "llama-3.2-3b"]):
        times = [run_baseline(_generate(m, 256, 128), dev).latency_s for m in family]
        assert times == sorted(times)


def test_decode_step_time_grows_with_context():
    dev = load_device("h100-sxm")
    steps = [run_baseline(_one_step("gpt2-xl", c), dev).latency_s for c in (1, 128, 512, 1023)]
    assert steps == sorted(steps) and steps[-1] > steps[0]


# ---- API, tokens, speed ---------------------------------------------------------------------------------

def test_presets_listed_and_valid():
    assert set(device_names()) >= {"t4", "a100-80gb", "h100-sxm", "h200-sxm", "xeon-gold-6154", "server-16vcpu"}
    for name in device_names():
        dev = load_device(name)
        assert dev.name == name and dev.sources
        assert dev.bandwidth_bytes_per_s <= dev.peak_bandwidth_bytes_per_s
        assert dev.flops_per_s <= dev.peak_flops_per_s


def test_result_tokens_per_workload_kind():
    dev = load_device("h100-sxm")
    gen = run_baseline(_generate("gpt2-small", 32, 16, batch=4), dev)
    assert gen.tokens == 64 and gen.machine == "h100-sxm"
    assert [p.name for p in gen.phases] == ["prefill", "decode"]
    prm = expand(PrmScoreSpec(solutions=8, question_tokens=50, steps=5, step_tokens=40), get_model("skywork-prm-1.5b"))
    assert prm.generated_tokens == 0
    assert run_baseline(prm, dev).tokens == 8 * 5 * 40  # scored solution tokens
    bon = expand(BestOfNSpec(policy="qwen2.5-math-1.5b-instruct", prm="skywork-prm-1.5b", n=4,
                             question_tokens=50, steps=3, step_tokens=20))
    res = run_baseline(bon, dev)
    assert res.tokens == bon.generated_tokens
    assert res.latency_s == pytest.approx(sum(p.latency_s for p in res.phases))


def test_long_decode_is_fast():
    dev = load_device("h100-sxm")
    w = _generate("gpt3-xl", 64, 1024)
    run_baseline(w, dev)
    start = time.perf_counter()
    for _ in range(10):
        run_baseline(w, dev)
    assert (time.perf_counter() - start) / 10 < 0.05


def test_unknown_mode_and_device():
    with pytest.raises(UnknownNameError, match="known devices: .*h100-sxm"):
        load_device("h200-nvl")
    with pytest.raises(ConfigError, match="mode 'graph' not available"):
        run_baseline(_generate("gpt2-small", 8, 8), "server-16vcpu", mode="graph")


# ---- measured per-phase baseline ------------------------------------------------------------------------

def test_measured_phase_csv_is_used_as_is(tmp_path):
    path = tmp_path / "phases.csv"
    path.write_text("phase,latency_s,energy_j\nprefill,0.010,2.5\ndecode,0.5,100\n")
    res = measured_baseline(_generate("gpt2-small", 32, 16), path)
    assert res.latency_s == pytest.approx(0.51) and res.energy_j == pytest.approx(102.5)
    assert res.tokens == 16 and [p.latency_s for p in res.phases] == [0.010, 0.5]


@pytest.mark.parametrize("text,match", [
    ("phase,latency_s\nprefill,1\n", "missing column 'energy_j'"),
    ("phase,latency_s,energy_j\nprefill,1,1\n", "no row for phase.*decode"),
    ("phase,latency_s,energy_j\nprefill,1,1\ndecode,fast,1\n", "line 3: column 'latency_s': not a number"),
    ("phase,latency_s,energy_j\nprefill,1,1\ndecode,1,1\nverify,1,1\n", "verify are not in the workload"),
])
def test_measured_phase_csv_errors(tmp_path, text, match):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        measured_baseline(_generate("gpt2-small", 32, 16), path)


# ---- CLI --------------------------------------------------------------------------------------------------

RUN = ["baseline", "--device", "h100-sxm", "--model", "gpt2-small", "--workload", "generate",
       "--prompt", "64", "--generate", "32"]


def test_cli_run_prints_the_simulate_keys(capsys):
    assert main(RUN + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    for key in ("latency_s", "energy_j", "tokens", "e2e_latency_per_token_s", "energy_per_token_j", "breakdown_s"):
        assert key in out
    assert out["tokens"] == 32 and out["machine"] == "h100-sxm"
    assert out["e2e_latency_per_token_s"] == pytest.approx(out["latency_s"] / 32)
    assert main(RUN + ["--mode", "eager"]) == 0
    assert "eager mode" in capsys.readouterr().out


def test_cli_devices_and_fit(tmp_path, capsys):
    assert main(["baseline", "devices"]) == 0
    assert "xeon-gold-6154" in capsys.readouterr().out
    out = tmp_path / "mine.yaml"
    assert main(["baseline", "fit", str(DATA / "h100_gpt_decode_measured.csv"), "--device", "h100-sxm",
                 "--out", str(out)]) == 0
    assert "gpt3-xl b1 ctx 960" in capsys.readouterr().out
    written = yaml.safe_load(out.read_text())
    assert written["fit"]["source"].endswith("h100_gpt_decode_measured.csv")
    provenance = {"fit", "notes"}
    assert (load_device(out).model_dump(exclude=provenance) == load_device("h100-sxm").model_dump(exclude=provenance))
    assert main(["baseline", "--device", str(out)] + RUN[3:]) == 0


@pytest.mark.parametrize("argv_tail,files,match", [
    (["--device", "tpu-v9"], None, "unknown baseline device 'tpu-v9'"),
    (["--device", "h100-sxm", "--measured", "x.csv"], None, "one of them"),
    (["--measured", "{bad}"], "phase,latency_s\nprefill,1\n", "missing column 'energy_j'"),
])
def test_cli_run_errors_exit_2(tmp_path, capsys, argv_tail, files, match):
    if files is not None:
        (tmp_path / "bad.csv").write_text(files)
        argv_tail = [a.replace("{bad}", str(tmp_path / "bad.csv")) for a in argv_tail]
    argv = ["baseline"] + argv_tail + ["--model", "gpt2-small", "--workload", "generate", "--prompt", "8",
                                       "--generate", "8"]
    assert main(argv) == 2
    assert match in capsys.readouterr().err


@pytest.mark.parametrize("text,match", [
    ("", "empty file"),
    ("model,context\ngpt2-small,128\n", "missing column 'decode_ms_per_token'"),
    ("model,decode_ms_per_token\ngpt2-small,1.0\n", "missing column 'context'"),
    ("model,context,decode_ms_per_token\ngpt2-small,128,slow\n", "line 2: column 'decode_ms_per_token': not a number"),
    ("model,context,decode_ms_per_token\ngpt2-small,-5,1.0\n", "line 2: column 'context': must be >= 0"),
    ("model,context,decode_ms_per_token\ngpt9,128,1.0\n", "line 2: column 'model'"),
    ("model,context,decode_ms_per_token,dtype\ngpt2-small,128,1.0,fp64\n", "unknown 'fp64'"),
    ("model,context,new_tokens,decode_ms_per_token\ngpt2-small,0,0,1.0\n", "line 2: column 'new_tokens': must be >= 1"),
    ("model,context,new_tokens,decode_ms_per_token\ngpt2-small,0,2048,9.0\n", "line 2: context 2048 exceeds gpt2-small"),
    ("model,context,new_tokens,decode_ms_per_token\ngpt2-small,0,512,2.0\n", "only prefill rows"),
])
def test_cli_fit_malformed_csv_exit_2(tmp_path, capsys, text, match):
    path = tmp_path / "m.csv"
    path.write_text(text)
    assert main(["baseline", "fit", str(path), "--device", "h100-sxm"]) == 2
    assert match in capsys.readouterr().err


def test_cli_fit_missing_second_file_exit_2(tmp_path, capsys):
    missing = tmp_path / "nope.csv"
    assert main(["baseline", "fit", str(DATA / "h100_gpt_decode_measured.csv"), str(missing),
                 "--device", "h100-sxm"]) == 2
    assert "nope.csv" in capsys.readouterr().err


def test_cli_fit_unknown_device_exit_2(capsys):
    assert main(["baseline", "fit", str(DATA / "cpu_gpt_decode_measured.csv"), "--device", "nope"]) == 2
    assert "unknown baseline device 'nope'" in capsys.readouterr().err
