"""pimsim.mapper.cent_programs against CENT's own traces (reference counts and replay cycles stored in
pimsim/mapper/data/cent_trace_ops.yaml by tools/cent_trace_compare.py --reference-yaml; no torch or CENT here)."""

from __future__ import annotations

import hashlib
from collections import Counter
from math import ceil
from pathlib import Path

import pytest
import yaml

from pimsim.dram import parse_trace
from pimsim.dram.engine import CommandEngine
from pimsim.hardware import load_hardware
from pimsim.mapper.cent_programs import CATEGORIES, CentDims, CentOp, block_program, cent_block_programs, channel0
from pimsim.mapper.programs import Program
from pimsim.models import get_model

REF = yaml.safe_load((Path(__file__).parents[1] / "pimsim/mapper/data/cent_trace_ops.yaml").read_text())
CASES = [(c["model"], c["context"], c["devices"]) for c in REF["cases"]]
SIZED = ("MAC_ABK", "EWMUL", "WR_GB", "COPY_BKGB", "COPY_GBBK", "EWADD")


@pytest.fixture(scope="module")
def engine():
    return CommandEngine(load_hardware("aim-32ch").dram, refresh=False)


def _case(model, context, devices):
    return next(c for c in REF["cases"] if (c["model"], c["context"], c["devices"]) == (model, context, devices))


def _ops(case) -> list[CentOp]:
    return cent_block_programs(get_model(case["model"]), case["context"], case["channels"], case["devices"])


def _counts(prog: Program):
    """Instruction counts, bursts of sized instructions, and instructions per channel, read off the lines."""
    n, bursts, per_ch = Counter(), Counter(), Counter()
    for ln in prog.lines:
        t = ln.split()
        if t[0] in ("W", "R"):
            n[f"{t[0]} MEM"] += 1
            per_ch[int(t[2])] += 1
            continue
        if t[1] == "EOC":
            continue
        n[t[1]] += 1
        if t[1] in SIZED:
            bursts[t[1]] += int(t[2])
        mask = next((x for x in t[2:] if x.startswith("0x")), None)
        if mask is not None:
            for ch in range(32):
                if int(mask, 16) >> (31 - ch) & 1:
                    per_ch[ch] += 1
    return n, bursts, per_ch


def _digest(prog: Program) -> str:
    """The reference's digest: sha256 of the lines (EOC excluded), newline-terminated, 16 hex digits."""
    return hashlib.sha256("".join(x + "\n" for x in prog.lines if x != "AiM EOC").encode()).hexdigest()[:16]


def _run(engine, prog: Program, state=None):
    return engine.run(parse_trace(prog.text), start_state=state)


@pytest.mark.parametrize("model,context,devices", CASES)
def test_ops_match_cent_counts_and_cycles(engine, model, context, devices):
    case = _case(model, context, devices)
    ops = _ops(case)
    assert [o.name for o in ops] == list(case["ops"])
    state = None
    for op in ops:
        ref = case["ops"][op.name]
        n, bursts, per_ch = _counts(op.program)
        assert _digest(op.program) == ref["lines_sha256"], op.name  # CENT's lines, line for line
        assert dict(n) == ref["counts"], op.name
        assert {k: v for k, v in bursts.items() if v != n[k]} == ref["bursts"], op.name
        assert max(per_ch.values(), default=0) == ref["max_per_channel"], op.name
        assert len(per_ch) == ref["channels_used"] == op.channels_active, op.name
        assert _run(engine, op.program).cycles == ref["cycles_alone"], op.name  # exact, from a precharged device
        res = _run(engine, op.program, state)
        assert res.cycles == ref["cycles_chained"], op.name  # exact, after the ops before it
        state = res.end_state


@pytest.mark.parametrize("model,context,devices", CASES)
def test_block_matches_cent_whole_trace(engine, model, context, devices):
    case = _case(model, context, devices)
    ops = _ops(case)
    assert _digest(block_program(ops)) == case["lines_sha256"]  # the whole trace, line for line
    whole = _run(engine, block_program(ops)).cycles
    assert whole == case["whole_cycles"]  # the concatenated program is CENT's trace: same cycles exactly
    chained = sum(o["cycles_chained"] for o in case["ops"].values())
    assert abs(chained - whole) <= 0.01 * whole  # per-op timing (each op ends with its own EOC) within 1%


def test_closed_forms_llama2_7b_tp8():
    """Hand-derived counts for Llama2-7B on 8 devices (d 4096, F 11008, 4096 banks in the group) at S=128."""
    ops = {o.name: o for o in cent_block_programs(get_model("llama2-7b"), 128, 32, 8)}
    n = {k: _counts(o.program)[0] for k, o in ops.items()}
    fcb = 8 * 32 * 16
    for name, outs, ins in (("q_proj", 4096, 4096), ("k_proj", 4096, 4096), ("out_proj", 4096, 4096),
                            ("up_proj", 11008, 4096), ("down_proj", 4096, 11008)):
        macs = ceil(outs / fcb) * ceil(ins / 1024)  # outputs per bank x input row-tiles
        assert n[name]["MAC_ABK"] == n[name]["WR_BIAS"] == n[name]["RD_MAC"] == macs
        assert n[name]["WR_GB"] == ceil(ins / 1024)
    assert n["gate_proj"]["AF"] == n["gate_proj"]["RD_AF"] == ceil(11008 / fcb)  # on the last tile only
    # RMSNorm: 2 neighbour-bank writes of d/16 bursts, 2 bank-group writes of d/16, one read of d/16 (x 1 line)
    assert n["norm1"]["W MEM"] == 4 * 4096 // 16 and n["norm1"]["R MEM"] == 4096 // 16
    assert n["rotary"]["W MEM"] == 4 * 2 * 4096 // 16  # q and k in, q and k back (CENT writes them again)
    assert n["kv_write"]["W MEM"] == 32 * 128 // 16 and n["kv_write"]["WR_ABK"] == 32 * 128 // 16
    assert n["attn_score"]["MAC_ABK"] == 32 and n["attn_score"]["WR_GB"] == 4  # 4 rows of 8 heads, 1 slice
    assert n["softmax"]["W MEM"] == 4 * 32 * 128 // 16 and n["softmax"]["R MEM"] == 2 * 32 * 128 // 16
    assert n["attn_value"]["MAC_ABK"] == 128 // 16 and n["attn_value"]["WR_GB"] == 1  # one head per channel
    assert n["silu_mul"]["W MEM"] == 3 * 128 * ceil(ceil(11008 / 128) / 16)
    assert {o.category for o in ops.values()} <= set(CATEGORIES)
    assert [k for k, o in ops.items() if o.per_device] == [
        "norm1", "rotary", "kv_write", "softmax", "attn_value", "residual1", "norm2", "silu_mul", "residual2"]


def test_context_scaling_and_gqa():
    """Softmax host traffic and score.V grow with S; 70B (GQA, 8 kv heads on 32 channels) leaves channels idle
    in the KV write and repeats each kv head's K row load for its 8 query heads."""
    s1 = {o.name: _counts(o.program)[0] for o in cent_block_programs(get_model("llama2-7b"), 1024, 32, 8)}
    s4 = {o.name: _counts(o.program)[0] for o in cent_block_programs(get_model("llama2-7b"), 4096, 32, 8)}
    assert s4["softmax"]["W MEM"] == 4 * s1["softmax"]["W MEM"]
    assert s4["attn_value"]["MAC_ABK"] == 4 * s1["attn_value"]["MAC_ABK"] == 4 * 8
    big = {o.name: o for o in cent_block_programs(get_model("llama2-70b"), 128, 32, 32)}
    assert big["kv_write"].channels_active == 8
    assert _counts(big["attn_score"].program)[0]["WR_GB"] == 8  # one 1024-element row x 8 repeats


def test_channel0_exact_for_uniform_ops(engine):
    for op in cent_block_programs(get_model("llama2-13b"), 1000, 32, 20):
        if op.uniform:
            assert _run(engine, channel0(op.program)).cycles == _run(engine, op.program).cycles, op.name
        else:
            assert op.category in ("pim_vector", "kv_write")


@pytest.mark.parametrize("kw,word", [
    (dict(hidden=4000), "hidden"), (dict(kv_heads=5), "kv_heads"), (dict(context=5000, max_seq_len=4096), "exceeds"),
    (dict(channels=64), "32 bits"), (dict(context=0), "positive")])
def test_bad_dims(kw, word):
    base = dict(hidden=4096, heads=32, kv_heads=32, head_dim=128, ffn=11008, context=128, devices=8)
    base.update(kw)
    with pytest.raises(ValueError, match=word):
        CentDims(**base)


def _cd(a: int, b: int) -> int:
    return -(-a // b)


@pytest.mark.parametrize("model,context,devices", CASES)
def test_docstring_closed_forms_hold_for_cent_counts(model, context, devices):
    """The module docstring's count formulas against CENT's own counts (the reference, not the generator)."""
    m = get_model(model)
    d, h, hkv, f, hd = m.hidden, m.heads, m.kv_heads, m.ffn, m.head_dim
    s, tb, r, b = context, 32 * 16, 1024, 16
    fcb, nrep = devices * tb, h // hkv
    o = {k: v["counts"] for k, v in _case(model, context, devices)["ops"].items()}
    a, e = _cd(d, tb // 2), _cd(d, tb // 4)
    u = _cd(d, e)
    fl = _cd(f, tb // 4)
    tok = sum(_cd(min(r, s - k * r), 16) for k in range(_cd(s, r)))
    want = {
        ("norm1", "W MEM"): 2 * _cd(d, a) * _cd(a, 16) + 2 * u * _cd(e, 16), ("norm1", "R MEM"): u * _cd(e, 16),
        ("norm2", "W MEM"): 2 * _cd(d, a) * _cd(a, 16) + 2 * u * _cd(e, 16),
        ("rotary", "W MEM"): u * (2 * _cd(2 * e, 16) + 2 * _cd(2 * (e // nrep), 16)),
        ("kv_write", "W MEM"): hkv * hd // 16, ("kv_write", "WR_ABK"): hkv * hd // b,
        ("attn_score", "WR_GB"): _cd(hkv * hd, r) * _cd(s, fcb) * nrep,
        ("attn_score", "MAC_ABK"): _cd(hkv * hd, r) * _cd(s, fcb) * nrep * r // hd,
        ("softmax", "W MEM"): 4 * h * tok, ("softmax", "R MEM"): 2 * h * tok,
        ("softmax", "EWMUL"): 2 * _cd(h, 4 * 32) * _cd(s, r),
        ("attn_value", "WR_GB"): _cd(hkv, 32) * nrep * _cd(s, r),
        ("attn_value", "MAC_ABK"): _cd(hkv, 32) * nrep * _cd(s, r) * hd // b,
        ("silu_mul", "W MEM"): 3 * _cd(f, fl) * _cd(fl, 16), ("silu_mul", "R MEM"): _cd(f, fl) * _cd(fl, 16),
        ("q_proj", "MAC_ABK"): _cd(h * hd, fcb) * _cd(d, r), ("k_proj", "MAC_ABK"): _cd(hkv * hd, fcb) * _cd(d, r),
        ("gate_proj", "AF"): _cd(f, fcb), ("gate_proj", "RD_AF"): _cd(f, fcb),
        ("up_proj", "MAC_ABK"): _cd(f, fcb) * _cd(d, r), ("down_proj", "MAC_ABK"): _cd(d, fcb) * _cd(f, r),
        ("down_proj", "WR_GB"): _cd(f, r), ("out_proj", "WR_GB"): _cd(d, r),
    }
    for (op, ins), v in want.items():
        assert o[op].get(ins) == v, (op, ins)
