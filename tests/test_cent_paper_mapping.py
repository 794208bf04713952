"""The `cent_paper` mapping (`op_programs: cent`): a block's PIM ops are CENT's own programs
(pimsim/mapper/cent_programs.py), timed by pimsim's engine, beside pimsim's ASIC ops (issue 13, CENT's setting).

Independent expectation: CENT's own per-op and whole-block traces, replayed (pimsim/mapper/data/
cent_trace_ops.yaml, regenerated from CENT's function_sim.py by tools/cent_trace_compare.py). A token's layer,
walked as the simulator walks it, must take CENT's whole-block cycles but for two stated differences, both
measured: (1) the block's first op (norm1, host bursts) finds the channels in PIM mode, as it does after the
previous layer's last GEMV, where CENT times one block from a fresh device (+605 .. +840 cycles: 32 channels'
mode switches); (2) an op after a whole-device op finds the rows one channel left before it (<= 33 cycles).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pimsim.dram import parse_trace
from pimsim.dram.engine import CommandEngine
from pimsim.engine import simulate
from pimsim.engine.system import SystemSimulator
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware
from pimsim.hardware.system import load_system
from pimsim.mapper.mapper import CENT_SEQLEN_GAP
from pimsim.mapper.schema import load_mapping
from pimsim.models import get_model
from pimsim.workloads import Phase, Workload

DATA = Path(__file__).resolve().parents[1] / "pimsim" / "mapper" / "data" / "cent_trace_ops.yaml"
CASES = [c for c in yaml.safe_load(DATA.read_text())["cases"] if c["context"] % CENT_SEQLEN_GAP == 0]
NORM1_SWITCH_CYCLES = 900  # bound on (1) above: 32 channels' mode switch before the first host burst
ENTRY_CYCLES = 33  # bound on (2) above


def _group(devices: int):
    return load_hardware("cent-aim-32ch", overrides={"dram": {"channels": 32 * devices},
                                                     "asic": {"device_channels": 32}})


def _layer_cycles(case) -> dict[str, int]:
    hw = _group(case["devices"])
    sim = SystemSimulator(hw, load_mapping("cent_paper"))
    step = sim.mapper(get_model(case["model"])).map_token(case["context"])
    out, entry = {}, None
    for op in step.layer:
        unit, sec, tally, entry = sim.op_cost(op, entry)
        if op.unit in ("pim", "pim_device"):
            out[op.name] = round((sec - tally.seconds.get("refresh", 0.0)) / (hw.dram.tck_ns * 1e-9))
    return out


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['model']}-{c['context']}-{c['devices']}dev")
def test_a_layer_takes_cents_block_cycles(case):
    got = _layer_cycles(case)
    assert set(got) == set(case["ops"])  # every op of CENT's block, no other PIM op
    for name, cycles in got.items():
        ref = case["ops"][name]
        if name == "norm1":
            assert 0 <= cycles - ref["cycles_alone"] <= NORM1_SWITCH_CYCLES
        else:
            assert abs(cycles - ref["cycles_chained"]) <= ENTRY_CYCLES, name
    total, whole = sum(got.values()), case["whole_cycles"]
    assert 0 <= total - whole <= NORM1_SWITCH_CYCLES + ENTRY_CYCLES * len(got)


def test_contexts_run_cents_block_at_the_next_multiple_of_its_seqlen_gap():
    mapper = SystemSimulator(_group(8), load_mapping("cent_paper")).mapper(get_model("llama2-7b"))
    a, b, c = mapper.map_token(129), mapper.map_token(256), mapper.map_token(257)
    assert [op.program for op in a.layer] == [op.program for op in b.layer]
    assert a.layer[0] is b.layer[0]
    assert c.layer != b.layer  # 257 runs the block at 384


def test_whole_device_ops_count_the_commands_their_program_issues():
    hw = _group(8)
    sim = SystemSimulator(hw, load_mapping("cent_paper"))
    step = sim.mapper(get_model("llama2-7b")).map_token(1024)
    dev = load_hardware("cent-aim-32ch").dram
    for op in step.layer:
        if op.unit != "pim_device":
            continue
        res = CommandEngine(dev, refresh=False).run(parse_trace(op.program.text))
        _, sec, tally, _ = sim.op_cost(op, None)
        # fast mode's refresh stall brings row commands; the settled start (PIM mode) one mode switch per channel
        refresh_adds = ("ACT", "PRE", "REF", "TMOD")  # (prefixes: ACT16, PREA, REFab, ...)
        counted = {k: v for k, v in tally.commands.items() if not k.startswith(refresh_adds)}
        assert counted == {k: v * op.device_copies for k, v in res.commands.items()
                           if v and not k.startswith(refresh_adds)}, op.name
        assert tally.commands["ACT"] >= res.commands.get("ACT", 0) * op.device_copies, op.name
        assert sec >= res.cycles * hw.dram.tck_ns * 1e-9


def test_exact_mode_is_refused_with_a_config_error():
    mc = get_model("llama2-7b")
    wl = Workload(spec="d", phases=(Phase("decode", "policy", "decode", mc, 1, 1, 127, 1),), generated_tokens=1)
    with pytest.raises(ConfigError, match="exact mode is not modelled"):
        simulate(mc, "cent-8dev-tp-paper", "cent_paper", wl, exact=True)


@pytest.mark.parametrize("n", [8, 20, 32])
def test_paper_systems_differ_from_pimsims_in_the_accelerator_and_the_host_only(n):
    own, _ = load_system(f"cent-{n}dev-tp")
    paper, _ = load_system(f"cent-{n}dev-tp-paper")
    a, b = own.model_dump(), paper.model_dump()
    assert b["devices"]["pim"]["pim"] == "cent-aim-32ch" and a["devices"]["pim"]["pim"] == "aim-32ch"
    assert b["host"]["step_s"] == pytest.approx(0.15e-3) and a["host"] is None
    for d in (a, b):
        for k in ("name", "description", "host"):
            d.pop(k)
        d["devices"]["pim"].pop("pim")
    assert a == b


@pytest.mark.parametrize("model,hardware,match", [
    ("gpt2-small", "aim-32ch", "norm layernorm"),
    ("llama2-7b", "hbm2-pim", "DRAM standard"),
    ("qwen2.5-math-1.5b-instruct", "aim-32ch", "biased linears"),
])
def test_a_block_cents_generator_does_not_write_is_refused(model, hardware, match, cli):
    with pytest.raises(ConfigError, match=match):
        simulate(model, hardware, "cent_paper", Workload(spec="d", phases=(
            Phase("decode", "policy", "decode", get_model(model), 1, 1, 127, 1),), generated_tokens=1))
    rc, _, err = cli("simulate", "--model", model, "--hardware", hardware, "--mapping", "cent_paper",
                     "--workload", "generate", "--prompt", "4", "--generate", "2")
    assert rc == 2 and "op_programs: cent" in err and "Traceback" not in err
