"""The Chrome/Perfetto trace of `pimsim simulate --trace` (pimsim/engine/trace.py; issue 18): the whole run
op by op, every token; lanes named; no overlap within a lane; `--trace-tokens` sampling stated and placed
at the true times; counters that integrate to the run's energy; totals as a summary, not a timeline."""

from __future__ import annotations

import json
from collections import defaultdict

import pytest

from pimsim.engine.system import simulate
from pimsim.engine.trace import SUMMARY_PROCESS, write_chrome_trace
from pimsim.mapper import load_mapping
from pimsim.workloads import GenerateSpec, expand
from pimsim.models import load_model

SMALL = ("--model", "gpt2-small", "--workload", "generate", "--prompt", 8, "--generate", 8)
TOL_US = 1e-6  # trace times are rounded to 1e-6 us


def _load(path) -> dict:
    with open(path) as f:
        return json.load(f)


def _slices(trace) -> list[dict]:
    return [e for e in trace["traceEvents"] if e["ph"] == "X"]


def _names(trace) -> tuple[dict[int, str], dict[tuple[int, int], str]]:
    procs, threads = {}, {}
    for e in trace["traceEvents"]:
        if e["ph"] == "M" and e["name"] == "process_name":
            procs[e["pid"]] = e["args"]["name"]
        if e["ph"] == "M" and e["name"] == "thread_name":
            threads[(e["pid"], e["tid"])] = e["args"]["name"]
    return procs, threads


def _lane(trace, process_prefix: str, thread: str) -> list[dict]:
    procs, threads = _names(trace)
    return sorted((e for e in _slices(trace) if procs[e["pid"]].startswith(process_prefix)
                   and threads[(e["pid"], e["tid"])] == thread), key=lambda e: e["ts"])


def _trace(tmp_path, name, model, hardware, mapping, spec, **kw):
    mc = load_model(model)
    result = simulate(mc, hardware, mapping, spec, exact=kw.get("exact", False))
    path = tmp_path / name
    info = write_chrome_trace(result, path, expand(spec, mc), hardware, mapping, **kw)
    return result, _load(path), info


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    """gpt2-small 8 + 8 on pimgpt (serial), the full trace and one sampled to 3 token positions per phase."""
    d = tmp_path_factory.mktemp("trace")
    spec = GenerateSpec(prompt=8, generate=8)
    result, full, _ = _trace(d, "full.json", "gpt2-small", "pimgpt-gddr6", "pimgpt", spec)
    _, sampled, info = _trace(d, "sampled.json", "gpt2-small", "pimgpt-gddr6", "pimgpt", spec, tokens_per_phase=3)
    return result, full, sampled, info


def _check_lanes(trace) -> None:
    """No two slices of one lane overlap; every lane and process is named; every event has ph/ts/pid/tid."""
    for e in trace["traceEvents"]:
        assert {"ph", "ts", "pid", "tid"} <= e.keys(), e
    procs, threads = _names(trace)
    lanes = defaultdict(list)
    for e in _slices(trace):
        lanes[(e["pid"], e["tid"])].append(e)
    for key, events in lanes.items():
        assert key in threads and key[0] in procs, f"lane {key} has no thread_name/process_name"
        events.sort(key=lambda e: e["ts"])
        for a, b in zip(events, events[1:]):
            assert b["ts"] >= a["ts"] + a["dur"] - TOL_US, f"{threads[key]}: {a['name']} overlaps {b['name']}"
    for e in trace["traceEvents"]:
        if e["ph"] == "C":
            assert e["pid"] in procs


def _end_us(trace) -> float:
    return max(e["ts"] + e["dur"] for e in _slices(trace))


# ------------------------------------------------------------------------------ the whole run
def test_trace_covers_the_whole_run_op_by_op(small):
    result, full, _, _ = small
    assert _end_us(full) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    ops = [e for lane in ("PIM (all 8 channels)", "ASIC", "link (ASIC-PIM bus)")
           for e in _lane(full, "pim:", lane)]
    # every token drawn: 8 prefill tokens + 7 decode tokens, 12 layers x 18 ops + pre + post each
    assert sum(1 for e in ops if e["name"] == "L11.fc2") == 15
    assert sum(e["dur"] for e in ops) == pytest.approx(result.latency_s * 1e6, rel=1e-9)  # serial: back to back
    phases = _lane(full, "pim:", "phases")
    assert [p["name"] for p in phases] == [p.name for p in result.phases]
    for drawn, ph in zip(phases, result.phases):
        assert drawn["dur"] == pytest.approx(ph.latency_s * 1e6, rel=1e-9)
    assert len(_lane(full, "pim:", "tokens")) == 15


def test_lanes_are_named_and_do_not_overlap(small):
    _, full, sampled, _ = small
    _check_lanes(full)
    _check_lanes(sampled)
    procs, threads = _names(full)
    assert {"phases", "tokens", "PIM (all 8 channels)", "ASIC", "link (ASIC-PIM bus)"} <= set(threads.values())


def test_summary_is_a_separate_process_not_a_timeline(small):
    result, full, _, _ = small
    procs, threads = _names(full)
    pid = next(p for p, n in procs.items() if n == SUMMARY_PROCESS)
    summary = [e for e in _slices(full) if e["pid"] == pid]
    assert len(summary) == 2  # one slice per total (time, energy), nothing laid end to end
    by_name = {e["name"]: e for e in summary}
    time = by_name["time by category (totals, not a timeline)"]["args"]
    assert time == pytest.approx({f"{k} (ms)": v * 1e3 for k, v in result.breakdown_s.items()})
    assert not any("time by category" == n for n in threads.values())  # the old fake-timeline lane


def test_power_counter_integrates_to_the_run_energy(small):
    """The power track (energy model per run of ops + background) integrates to the result's energy."""
    result, full, _, _ = small
    power = sorted((e for e in full["traceEvents"] if e["ph"] == "C" and e["name"] == "power (W)"),
                   key=lambda e: e["ts"])
    energy_j = sum(a["args"]["value"] * (b["ts"] - a["ts"]) * 1e-6 for a, b in zip(power, power[1:]))
    assert power[-1]["args"]["value"] == 0.0 and power[-1]["ts"] == pytest.approx(result.latency_s * 1e6)
    assert energy_j == pytest.approx(result.energy_j, rel=1e-4)


def test_bandwidth_counter_stays_under_the_peak_mac_bandwidth(small):
    from pimsim.hardware import load_hardware

    hw = load_hardware("pimgpt-gddr6")
    d = hw.dram
    peak_gbs = d.channels * (d.banks // hw.pim.banks_per_unit) * d.column_bytes / (
        d.timing["nCCDL"] * d.tck_ns * 1e-9) / 1e9
    _, full, _, _ = small
    bw = [e["args"]["value"] for e in full["traceEvents"] if e["ph"] == "C" and e["name"].startswith("PIM MAC")]
    assert max(bw) > 0.3 * peak_gbs
    assert max(bw) <= peak_gbs * (1 + 1e-6)


# ------------------------------------------------------------------------------ sampling
def test_trace_tokens_sampling_is_stated_and_sits_at_the_true_times(small):
    result, full, sampled, info = small
    other = sampled["otherData"]
    assert other["tokens_per_phase"] == 3 and other["token_positions"] == 15
    assert other["token_positions_drawn"] == 6 and "3 evenly spaced token positions per phase" in other["sampling"]
    assert "every token" in full["otherData"]["sampling"]
    assert _end_us(sampled) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    full_ops = {(e["name"], e["tid"], round(e["ts"], 3)): e for e in _slices(full)}
    drawn = [e for e in _slices(sampled) if e["tid"] in (3, 4, 5)]
    assert 0 < len(drawn) < len(full_ops)
    for e in drawn:  # every sampled op is the full trace's op at the same time
        twin = full_ops[(e["name"], e["tid"], round(e["ts"], 3))]
        assert e["ts"] == pytest.approx(twin["ts"], abs=1e-4) and e["dur"] == pytest.approx(twin["dur"], abs=1e-4)
    tokens = _lane(sampled, "pim:", "tokens")
    # prefill: 8 positions, indices 0, 3.5 -> 4, 7; decode: 7 positions (ctx 9-15), indices 0, 3, 6
    assert [t["args"]["ctx"] for t in tokens if t["args"]["drawn"]] == [1, 5, 8, 9, 12, 15]


def test_sampled_power_still_integrates_to_the_energy(small):
    result, _, sampled, _ = small
    power = sorted((e for e in sampled["traceEvents"] if e["ph"] == "C" and e["name"] == "power (W)"),
                   key=lambda e: e["ts"])
    energy_j = sum(a["args"]["value"] * (b["ts"] - a["ts"]) * 1e-6 for a, b in zip(power, power[1:]))
    assert energy_j == pytest.approx(result.energy_j, rel=1e-4)


# ------------------------------------------------------------------------------ other schedules and systems
def test_pipelined_batch_trace_ends_at_the_latency_without_overlap_in_a_lane(tmp_path):
    mp = load_mapping("pimgpt").model_copy(update={"overlap": "pipelined", "name": "pimgpt-pipelined"})
    spec = GenerateSpec(prompt=4, generate=4, batch=3)
    result, trace, _ = _trace(tmp_path, "p.json", "gpt2-small", "pimgpt-gddr6", mp, spec)
    assert _end_us(trace) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    _check_lanes(trace)
    asic = _lane(trace, "pim:", "ASIC")
    assert {e["args"]["seq"] for e in asic} == {0, 1, 2}
    # overlap: the PIM lane is busy for less than the run (ASIC work of one sequence under another's PIM work)
    pim_us = sum(e["dur"] for e in _lane(trace, "pim:", "PIM (all 8 channels)"))
    assert pim_us + sum(e["dur"] for e in asic) > _end_us(trace)


def test_exact_mode_trace_is_scaled_to_the_exact_phase_times(tmp_path):
    spec = GenerateSpec(prompt=4, generate=4)
    result, trace, _ = _trace(tmp_path, "x.json", "gpt2-small", "pimgpt-gddr6", "pimgpt", spec, exact=True)
    assert _end_us(trace) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    assert "scaled" in trace["otherData"]["timing"]
    _check_lanes(trace)


def test_system_trace_has_a_lane_per_device_with_its_phases(tmp_path):
    spec = GenerateSpec(prompt=16, generate=4, batch=2)
    result, trace, _ = _trace(tmp_path, "s.json", "gpt2-small", "h100-aim", "prefill-gpu", spec)
    assert _end_us(trace) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    _check_lanes(trace)
    procs, _ = _names(trace)
    assert any(n.startswith("gpu:") for n in procs.values()) and any(n.startswith("pim:") for n in procs.values())
    assert any(n.startswith("link pcie") for n in procs.values())
    assert [e["name"] for e in _lane(trace, "gpu:", "phases")] == ["prefill"]
    assert [e["name"] for e in _lane(trace, "pim:", "phases")] == ["decode"]
    assert [e["name"] for e in _lane(trace, "link pcie", "transfers")] == ["KV hand-off gpu -> pim"]


def test_attacc_split_trace_ends_at_the_latency(tmp_path):
    spec = GenerateSpec(prompt=16, generate=3)
    result, trace, _ = _trace(tmp_path, "a.json", "gpt2-small", "h100-aim", "attacc", spec)
    assert _end_us(trace) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    _check_lanes(trace)


# ------------------------------------------------------------------------------ the CLI
def test_cli_trace_writes_a_json_perfetto_loads(cli, tmp_path):
    out = tmp_path / "t.json"
    rc, stdout, err = cli("simulate", *SMALL, "--trace", out, "--trace-tokens", 2)
    assert rc == 0, err
    trace = _load(out)
    assert trace["otherData"]["tokens_per_phase"] == 2
    assert f"wrote {out}: " in stdout and "2 evenly spaced token positions per phase" in stdout


@pytest.mark.parametrize("args, message", [
    (("--trace-tokens", 0, "--trace", "T"), "--trace-tokens must be a positive number of token positions "
                                            "per phase, got 0"),
    (("--trace-tokens", 4), "--trace-tokens samples the trace: give --trace OUT.json with it"),
])
def test_cli_trace_tokens_bad_input(cli, tmp_path, args, message):
    args = tuple(tmp_path / "t.json" if a == "T" else a for a in args)
    rc, _, err = cli("simulate", *SMALL, *args)
    assert rc == 2
    assert message in err
    assert not (tmp_path / "t.json").exists()


def test_cli_suggests_sampling_for_a_large_trace(cli, tmp_path, monkeypatch):
    import pimsim.cli.simulate as simulate_cli

    monkeypatch.setattr(simulate_cli, "LARGE_TRACE_EVENTS", 100)
    rc, stdout, err = cli("simulate", *SMALL, "--trace", tmp_path / "t.json")
    assert rc == 0, err
    assert "note: over 100 events" in stdout and "--trace-tokens 64" in stdout


def test_multi_vector_batch_trace_ends_at_the_latency(tmp_path):
    """Multi-vector units (aim-32ch-mv4: weight GEMVs serve 4 sequences per pass): batch 6 = passes of 4 + 2."""
    spec = GenerateSpec(prompt=4, generate=3, batch=6)
    result, trace, _ = _trace(tmp_path, "m.json", "gpt2-small", "aim-32ch-mv4", "pimgpt", spec)
    assert _end_us(trace) == pytest.approx(result.latency_s * 1e6, rel=1e-9)
    _check_lanes(trace)
    pim = [e for e in _slices(trace) if e["name"] == "L0.fc1" and e.get("cat") == "pim_mac"]
    assert {e["args"]["seq"] for e in pim} == {"0-3", "4-5"}
    power = sorted((e for e in trace["traceEvents"] if e["ph"] == "C" and e["name"] == "power (W)"),
                   key=lambda e: e["ts"])
    energy_j = sum(a["args"]["value"] * (b["ts"] - a["ts"]) * 1e-6 for a, b in zip(power, power[1:]))
    assert energy_j == pytest.approx(result.energy_j, rel=1e-4)
