"""Exact reuse (issue 17): `CommandEngine.run` returns a stored result for a repeated (program instructions,
mode, start state) instead of simulating again. A run is a deterministic function of that key, so every
figure must equal a run without the store: checked here field by field against an engine with `memo=False`,
and on whole `--exact` simulations (every Result figure) against the same simulation with the store off
(`MEMO_ENTRIES = 0`: nothing is kept)."""

from __future__ import annotations

import numpy as np
import pytest

from pimsim.dram import CommandEngine, Instr, Program
from pimsim.hardware import load_hardware

HW = load_hardware("pimgpt-gddr6")


def _program(rows: int, channels=(0, 1)) -> Program:
    instrs = [Instr("WR_GB", 8, channels)]
    for r in range(rows):
        instrs += [Instr("MAC_ABK", 16 + 8 * (r % 3), channels, row=r), Instr("RD_MAC", 1, channels)]
    return Program.from_instrs(instrs + [Instr("EOC")])


def _same(a, b) -> None:
    assert (a.cycles, a.ns, a.commands, a.row_hits, a.row_misses, a.channel_busy_cycles, a.category_cycles) == (
        b.cycles, b.ns, b.commands, b.row_hits, b.row_misses, b.channel_busy_cycles, b.category_cycles)
    assert np.array_equal(a.channel_category_cycles, b.channel_category_cycles)
    assert np.array_equal(a.channel_commands, b.channel_commands)
    assert a.end_state == b.end_state


@pytest.mark.parametrize("mode", ["runlength", "exact"])
def test_a_repeated_run_returns_what_a_fresh_simulation_gives(mode):
    stored, plain = CommandEngine(HW.dram), CommandEngine(HW.dram, memo=False)
    prog = _program(12)
    first = stored.run(prog, mode=mode)
    state = first.end_state
    for _ in range(3):                                # chained runs: the second and third start states repeat
        again = stored.run(prog, mode=mode, start_state=state)
        _same(again, plain.run(prog, mode=mode, start_state=state))
    assert len(stored._memo) == 2                     # (prog, None) and (prog, state): two simulations, four runs


def test_a_different_start_state_or_program_is_simulated_not_reused():
    stored, plain = CommandEngine(HW.dram), CommandEngine(HW.dram, memo=False)
    prog = _program(8)
    settled, open_row = stored.settled_state(), stored.settled_state(open_row=3)
    for state in (settled, open_row, None):
        _same(stored.run(prog, start_state=state), plain.run(prog, start_state=state))
    other = _program(9)
    _same(stored.run(other, start_state=settled), plain.run(other, start_state=settled))
    assert len(stored._memo) == 4


def test_changing_a_returned_result_does_not_change_the_stored_one():
    engine = CommandEngine(HW.dram)
    prog = _program(5)
    a = engine.run(prog)
    expected = CommandEngine(HW.dram, memo=False).run(prog)
    a.channel_commands[:] = -1
    a.channel_category_cycles[:] = -1
    a.commands.clear()
    a.category_cycles.clear()
    a.channel_busy_cycles.clear()
    _same(engine.run(prog), expected)


def test_logged_runs_are_not_stored():
    engine = CommandEngine(HW.dram)
    res = engine.run(_program(4), log=True)
    assert res.log is not None and len(engine._memo) == 0


def _flat(d, prefix=""):
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        elif isinstance(v, list):
            for i, x in enumerate(v):
                out.update(_flat(x, f"{prefix}{k}.{i}.") if isinstance(x, dict) else {f"{prefix}{k}.{i}": x})
        else:
            out[f"{prefix}{k}"] = v
    return out


def _exact(monkeypatch, keep: bool, *args):
    """Every figure of `simulate(*args, exact=True)`, flattened, and (runs, simulations) of the engines."""
    from pimsim.engine import simulate

    calls = {"run": 0, "_run": 0}
    for name in calls:
        original = getattr(CommandEngine, name)

        def counted(self, *a, _original=original, _name=name, **kw):
            calls[_name] += 1
            return _original(self, *a, **kw)
        monkeypatch.setattr(CommandEngine, name, counted)
    if not keep:
        monkeypatch.setattr(CommandEngine, "MEMO_ENTRIES", 0)
    res = simulate(*args, exact=True)
    monkeypatch.undo()
    return _flat(res.to_dict()), (calls["run"], calls["_run"])


def test_an_exact_generation_is_the_same_with_and_without_reuse(monkeypatch):
    from pimsim.workloads import GenerateSpec

    args = ("gpt2-small", HW, "pimgpt", GenerateSpec(prompt=8, generate=24))
    with_store, (runs, sims) = _exact(monkeypatch, True, *args)
    without, (runs0, sims0) = _exact(monkeypatch, False, *args)
    assert with_store == without
    assert runs == runs0 == sims0 and sims < runs    # the store was used, and every run simulated without it


@pytest.mark.slow
def test_the_1p5b_best_of_8_exact_run_is_the_same_with_and_without_reuse(monkeypatch):
    """The issue's 1.5B policy + 1.5B PRM best-of-8 row (aim-32ch, pimgpt_kv_fit, question 128, 4 x 64-token
    steps): ~20 s without reuse, ~5 s with it on this 2-core machine; every Result figure equal."""
    from pimsim.workloads.spec import BestOfNSpec

    spec = BestOfNSpec(policy="qwen2.5-math-1.5b-instruct", prm="skywork-prm-1.5b", n=8, question_tokens=128,
                       steps=4, step_tokens=64)
    args = (None, load_hardware("aim-32ch"), "pimgpt_kv_fit", spec)
    with_store, (runs, sims) = _exact(monkeypatch, True, *args)
    without, (runs0, sims0) = _exact(monkeypatch, False, *args)
    assert with_store == without
    assert runs == runs0 == sims0 and sims < runs / 4


def test_the_store_is_bounded_by_entries_and_bytes(monkeypatch):
    engine = CommandEngine(HW.dram)
    monkeypatch.setattr(CommandEngine, "MEMO_ENTRIES", 3)
    progs = [_program(n) for n in range(2, 8)]
    for p in progs:
        engine.run(p)
    assert len(engine._memo) == 3                     # the three most recent
    one = engine._memo_bytes // 3
    monkeypatch.setattr(CommandEngine, "MEMO_BYTES", 2 * one)
    engine.run(_program(9))
    assert len(engine._memo) == 2 and engine._memo_bytes <= 2 * one
    _same(engine.run(_program(9)), CommandEngine(HW.dram, memo=False).run(_program(9)))


def test_a_read_only_programs_kept_signature_is_its_content_hash():
    """Program.signature is kept once computed only for a read-only array (exact mode's joined programs): the
    kept value equals a fresh hash of the same instructions in a writable copy, and a writable program is
    hashed again each time, so an edit in place changes its key."""
    base = _program(3)
    frozen_arr = base.array.copy()
    frozen_arr.flags.writeable = False
    frozen = Program(frozen_arr, "<frozen>")
    first = frozen.signature()
    assert frozen.signature() == first == Program(base.array.copy()).signature()
    writable = Program(base.array.copy())
    before = writable.signature()
    writable.array["row"][1] += 1
    assert writable.signature() != before
