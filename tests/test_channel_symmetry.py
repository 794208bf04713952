"""Timing one channel for all (issue 11): fast and exact mode time the mapper's programs on channel 0
alone (pimsim/mapper/programs.py: every channel runs the same program). Here each mapping's programs for
one token run on every channel of each PIM preset at once (the channel-0 mask widened to all channels; the
K append stays on channel 0, as the mapper places it) and must take exactly the cycles of the one-channel
run, with every channel issuing channel 0's commands (the others less the K append's), refresh on and off.
"""

import pytest

from pimsim.dram import CommandEngine, parse_trace
from pimsim.dram.program import SINGLE_CHANNEL
from pimsim.hardware import load_hardware
from pimsim.mapper import Mapper, load_mapping
from pimsim.mapper.programs import CH0_MASK
from pimsim.models import get_model
from pimsim.validate import fast_exact as fx
from pimsim.validate.fast_exact import PRESETS


def _mask(channels: int) -> str:
    """AiM mask of channels 0..n-1 (channel 0 is the most significant bit of 32)."""
    return f"0x{((1 << channels) - 1) << (32 - channels):08x}"


def _widen_line(line: str, mask: str) -> str:
    """One channel-0 trace line sent to the channels of `mask`: a broadcast instruction takes the mask,
    one that names a single channel (WR_ABK, ...) is written once per channel."""
    if CH0_MASK not in line:
        return line
    if line.split()[1] not in SINGLE_CHANNEL:
        return line.replace(CH0_MASK, mask)
    n = bin(int(mask, 16)).count("1")
    return "".join(line.replace(CH0_MASK, f"0x{1 << (31 - c):08x}") for c in range(n))


def _token_text(mapper, context: int, widen: str | None) -> tuple[str, int]:
    """The token's PIM programs joined (inner EOCs dropped) and how many K-append ops it holds; with
    `widen`, every program but the K append sent to those channels."""
    k_append = mapper.kv_append_ops()[0].program
    text, k_ops = [], 0
    for op in mapper.map_token(context, head=True).ops():
        if op.unit != "pim":
            continue
        body = op.program.text.replace("AiM EOC\n", "")
        if op.program is k_append:
            k_ops += 1
        elif widen:
            body = "".join(_widen_line(line, widen) for line in body.splitlines(keepends=True))
        text.append(body)
    return "".join(text) + "AiM EOC\n", k_ops


def _state_commands(dram) -> set[str]:
    """The standard's row opens / closes and refreshes (by their table roles, not by name): they depend on
    the bank state a channel is in, not on the op's work."""
    from pimsim.dram.table import ROLES, compile_table

    t = compile_table(dram)
    state = {"open", "open_first", "close", "refresh"}
    return {n for n, r in zip(t.command_names, t.role) if ROLES[r] in state}


def _work(counts: dict[str, int], state: set[str]) -> dict[str, int]:
    """The commands that do the op's work (not row opens/closes or refreshes, which depend on state)."""
    return {k: v for k, v in counts.items() if k not in state}


@pytest.mark.parametrize("refresh", [False, True], ids=["refresh-off", "refresh-on"])
@pytest.mark.parametrize("mapping", fx.mappings())
@pytest.mark.parametrize("preset", PRESETS)
def test_every_channel_runs_what_channel_0_runs(preset, mapping, refresh):
    """Refresh off: the same cycles exactly. Refresh on, the channels' refreshes fall at different points
    around the K appends that only channel 0 runs, so the runs may differ by at most one refresh's cost per
    K append (one per layer): layers x (tRFC + tRTP + tRP + tRCD_MAC + tCCD_L), the bound of a refresh's
    cost in docs/dram_engine.md (all-bank; tRFCpb for per-bank). Work commands match per channel always."""
    hw = load_hardware(preset)
    nch = min(hw.dram.channels, 32)  # AiM masks name at most 32 channels
    model = get_model("gpt2-small")
    mapper = Mapper(model, hw, load_mapping(mapping))
    one_text, k_ops = _token_text(mapper, 12, None)
    all_text, _ = _token_text(mapper, 12, _mask(nch))
    one_dram = hw.dram.model_copy(update={"channels": 1})
    all_dram = hw.dram.model_copy(update={"channels": nch})
    one = CommandEngine(one_dram, refresh=refresh).run(parse_trace(one_text, source="<one channel>"))
    full = CommandEngine(all_dram, refresh=refresh).run(parse_trace(all_text, source="<all channels>"))
    t = hw.dram.timing
    if refresh:
        per_refresh = (t["nRFCpb"] if hw.dram.refresh == "per_bank" else t["nRFC"]) + t["nRTP"] + t["nRP"] + \
            t.get("nRCDRDMAC", t.get("nRCDRD", 0)) + t["nCCDL"]
        assert abs(full.cycles - one.cycles) <= k_ops * per_refresh
    else:
        assert full.cycles == one.cycles
    state = _state_commands(hw.dram)
    ch0 = _work(one.channel_commands_by_name(0), state)
    assert _work(full.channel_commands_by_name(0), state) == ch0
    k_counts = {}
    if k_ops:  # the other channels skip the K appends
        k = CommandEngine(one_dram, refresh=False).run(parse_trace(mapper.kv_append_ops()[0].program.text,
                                                                   source="<k append>"))
        k_counts = _work(k.channel_commands_by_name(0), state)
    expected_other = {name: n - k_ops * k_counts.get(name, 0) for name, n in ch0.items()}
    expected_other = {name: n for name, n in expected_other.items() if n}
    for c in range(1, nch):
        assert _work(full.channel_commands_by_name(c), state) == expected_other, c
