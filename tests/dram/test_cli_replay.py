"""`pimsim replay` end to end (subprocess), and trace-grammar errors: file, line, grammar, exit code 2."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pimsim.dram import parse_trace
from pimsim.errors import TraceError

REF = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "aim_calibration"
needs_ref = pytest.mark.skipif(not REF.is_dir(), reason=f"reference data folder {REF} is absent")


def _pimsim(*args):
    return subprocess.run([sys.executable, "-m", "pimsim.cli.main", *args], capture_output=True, text=True,
                          timeout=120)


@needs_ref
def test_replay_json_end_to_end_and_deterministic():
    args = ("replay", str(REF / "gemv_768x768_ch8.trace"), "--hardware", "aim-32ch", "--refresh", "off", "--json")
    p1, p2 = _pimsim(*args), _pimsim(*args)
    assert p1.returncode == 0, p1.stderr
    assert p1.stdout == p2.stdout
    d = json.loads(p1.stdout)
    assert {"cycles", "ns", "commands", "row_hits", "row_misses", "channel_busy_cycles"} <= set(d)
    assert d["cycles"] == 1345 and d["ns"] == 672.5
    assert d["commands"] == {"ACT16": 48, "MAC16": 2304, "PREA": 40, "RDMAC16": 48, "TMOD": 24, "WRGB": 384,
                             "WRMAC16": 48}
    assert len(d["channel_busy_cycles"]) == 32 and d["row_misses"] == 48
    assert d["row_hits"] == 2304 - 48


@needs_ref
def test_replay_text_with_refresh_and_a_yaml_hardware(tmp_path):
    hw = tmp_path / "hw.yaml"
    hw.write_text("base: aim-32ch\nname: my-aim\ndram:\n  channels: 8\n")
    p = _pimsim("replay", str(REF / "micro_b_mac_100rows_op64_ch1.trace"), "--hardware", str(hw))
    assert p.returncode == 0, p.stderr
    assert "cycles:" in p.stdout and "REFab" in p.stdout and "PREA" in p.stdout


BAD = {
    "missing_eoc": ("AiM MAC_ABK 64 0x80000000 0\n", "line 1", "missing `AiM EOC`"),
    "bad_token": ("AiM MAC_ABK 64 0x80000000 0\nAiM MULT 3\nAiM EOC\n", "line 2", "bad token 'MULT'"),
    "bad_first_token": ("# c\nAIM EOC\n", "line 2", "bad token 'AIM'"),
    "bad_number": ("AiM WR_GB 6x4 0 0x80000000\nAiM EOC\n", "line 1", "bad number '6x4'"),
    "negative": ("AiM MAC_ABK 64 0x80000000 -1\nAiM EOC\n", "line 1", "bad number '-1'"),
    "mask_width": ("AiM WR_BIAS 0 0x180000000\nAiM EOC\n", "line 1", "wider than 32 bits"),
    "mask_digits": ("AiM WR_BIAS 0 0x0080000000\nAiM EOC\n", "line 1", "wider than 32 bits"),
    "zero_mask": ("AiM WR_BIAS 0 0x0\nAiM EOC\n", "line 1", "selects no channel"),
    "field_missing": ("AiM MAC_ABK 64 0x80000000\nAiM EOC\n", "line 1", "field missing"),
    "too_many": ("AiM EOC 3\n", "line 1", "too many fields"),
    "after_eoc": ("AiM EOC\nAiM SYNC\n", "line 2", "after `AiM EOC`"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_traces_name_file_line_and_grammar(case, tmp_path):
    text, line, what = BAD[case]
    f = tmp_path / f"{case}.trace"
    f.write_text(text)
    with pytest.raises(TraceError) as err:
        parse_trace(f)
    msg = str(err.value)
    assert str(f) in msg and what in msg
    if case != "missing_eoc":
        assert line in msg
    if case in ("bad_number", "negative", "mask_width", "field_missing"):
        assert "expected `AiM " in msg       # the grammar of that instruction


@pytest.mark.parametrize("case", ["missing_eoc", "bad_token", "mask_width", "field_missing"])
def test_cli_exit_code_2_on_malformed_trace(case, tmp_path):
    f = tmp_path / "t.trace"
    f.write_text(BAD[case][0])
    p = _pimsim("replay", str(f), "--hardware", "aim-32ch")
    assert p.returncode == 2
    assert str(f) in p.stderr and BAD[case][2] in p.stderr and "Traceback" not in p.stderr


def test_cli_exit_code_2_when_trace_needs_more_channels(tmp_path):
    f = tmp_path / "t.trace"
    f.write_text("# eight channels is not enough\nAiM MAC_ABK 64 0xffffffff 0\nAiM EOC\n")
    p = _pimsim("replay", str(f), "--hardware", "pimgpt-gddr6")
    assert p.returncode == 2
    assert "line 2" in p.stderr and "channel 31" in p.stderr and "8 channels" in p.stderr


def test_cli_exit_code_2_on_missing_file_and_unknown_preset(tmp_path):
    p = _pimsim("replay", str(tmp_path / "nope.trace"), "--hardware", "aim-32ch")
    assert p.returncode == 2 and "cannot read trace" in p.stderr
    f = tmp_path / "t.trace"
    f.write_text("AiM EOC\n")
    p = _pimsim("replay", str(f), "--hardware", "no-such-preset")
    assert p.returncode == 2


def test_grammar_accepts_isr_prefix_hex_decimal_and_comments():
    prog = parse_trace("# comment\n\nAiM ISR_MAC_ABK 0x40 2147483648 7\n  # indented comment\nAiM EOC\n")
    rec = prog.array[0]
    assert int(rec["opsize"]) == 64 and int(rec["mask"]) == 1 and int(rec["row"]) == 7   # 0x80000000 = channel 0
    assert prog.to_trace().splitlines()[0] == "AiM MAC_ABK 64 0x80000000 7"
