"""Strict validation of configuration input (issue 11): unknown timing keys, loose scalars, physical
bounds, duplicate YAML keys, undecodable or BOM-prefixed files, and model-config fields pimsim ignores.

Each case is bad input that used to give exit 0 with a wrong number, or a traceback; now it is exit 2
with one message naming what is wrong and where (file, field path, allowed values).
"""

from __future__ import annotations

import json
import logging

import pytest

from pimsim.dram import parse_trace
from pimsim.errors import ConfigError, TraceError
from pimsim.hardware import load_hardware
from pimsim.models.config import load_model

GDDR6_AIM_PARAMS = ("nBL", "nCL", "nRCDRD", "nRCDRDMAC", "nREFI", "nWPRE")  # a sample of the table's names

LLAMA_HF = {
    "model_type": "llama", "architectures": ["LlamaForCausalLM"], "num_hidden_layers": 16, "hidden_size": 2048,
    "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 64, "intermediate_size": 8192,
    "vocab_size": 128256, "max_position_embeddings": 131072, "tie_word_embeddings": True,
    "attention_bias": False, "mlp_bias": False, "hidden_act": "silu",
}
TRACE = "AiM MAC_ABK 64 0x80000000 0\nAiM EOC\n"


def _fails(result, *fragments: str) -> str:
    """Exit code 2, nothing on stdout, one `pimsim: error:` message containing every fragment."""
    rc, out, err = result
    assert rc == 2, (rc, out, err)
    assert "Traceback" not in err and out == ""
    assert err.count("pimsim: error:") == 1 and err.startswith("pimsim: error:"), err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} not in {err!r}"
    return err


def _hw_file(tmp_path, body: str, name: str = "hw.yaml"):
    path = tmp_path / name
    path.write_text("name: x\nbase: pimgpt-gddr6\n" + body)
    return path


# ------------------------------------------------------------------------------- 1. unknown timing keys
@pytest.mark.parametrize("key, suggestion", [
    ("nRCDRDMC", "nRCDRDMAC"),     # a typo
    ("nrcdrdmac", "nRCDRDMAC"),    # wrong case
    ("nFOO", None),                # nothing close
])
def test_unknown_timing_key_names_key_file_allowed_names_and_closest(cli, tmp_path, key, suggestion):
    hw = _hw_file(tmp_path, f"dram: {{timing: {{{key}: 500}}}}\n")
    err = _fails(cli("presets", "show", hw), str(hw), f"dram.timing.{key}",
                 "not a timing parameter of standard gddr6-aim", *GDDR6_AIM_PARAMS)
    if suggestion:
        assert f"did you mean '{suggestion}'" in err
    else:
        assert "did you mean" not in err


def test_unknown_timing_key_is_rejected_by_simulate_too(cli, tmp_path):
    hw = _hw_file(tmp_path, "dram: {timing: {nRCDRDMC: 500}}\n")
    _fails(cli("simulate", "--hardware", hw, "--model", "gpt2-small", "--workload", "generate",
               "--prompt", "4", "--generate", "2"), str(hw), "dram.timing.nRCDRDMC", "nRCDRDMAC")


def test_a_parameter_of_the_selected_standard_is_accepted(tmp_path):
    """lpddr5-pim's table has nPBR2PBR (gddr6-aim's has not): a key is judged against its own standard."""
    path = tmp_path / "lp.yaml"
    path.write_text("name: lp\nbase: lpddr5-pim\ndram: {timing: {nPBR2PBR: 80}}\n")
    assert load_hardware(path).dram.timing["nPBR2PBR"] == 80


# ------------------------------------------------------------------- 2. strict scalars, physical bounds
@pytest.mark.parametrize("body, fragments", [
    pytest.param("dram: {channels: true}\n", ["dram.channels", "valid integer", "True"], id="bool-as-int"),
    pytest.param('dram: {channels: "8"}\n', ["dram.channels", "valid integer", "'8'"], id="numeric-string"),
    pytest.param("dram: {channels: 99999999999999999999}\n", ["dram.channels", "4096"], id="channels-huge"),
    pytest.param("dram: {rows: 16777217}\n", ["dram.rows", "16777216"], id="rows-above-2**24"),
    pytest.param("dram: {timing: {nRCDRD: 0}}\n", ["dram.timing.nRCDRD", ">= 1 cycle"], id="nRCDRD-zero"),
    pytest.param("dram: {timing: {nBL: 0}}\n", ["dram.timing.nBL", ">= 1 cycle"], id="nBL-zero"),
    pytest.param("dram: {timing: {nCCDS: 0, nCCDL: 0}}\n", ["dram.timing.nCCDS", ">= 1 cycle"], id="nCCD-zero"),
    pytest.param("dram: {timing: {nREFI: 100000000}}\n", ["dram.timing.nREFI", "10000000"], id="timing-huge"),
    pytest.param("dram: {timing: {nCL: 1.5}}\n", ["dram.timing.nCL", "valid integer"], id="timing-float"),
    pytest.param("dram: {tck_ns: 1e-9}\n", ["dram.tck_ns", "0.05"], id="tck-1e-9"),
    pytest.param("dram: {tck_ns: 1.0e-9}\n", ["dram.tck_ns", "0.05"], id="tck-1.0e-9"),
    pytest.param("energy: {io_pj_per_bit: 1.0e+308}\n", ["energy.io_pj_per_bit", "100"], id="io-energy-huge"),
    pytest.param("energy: {rd_pj: 1e7}\n", ["energy.rd_pj", "1000000"], id="command-energy-huge"),
    pytest.param("energy: {rd_pj: true}\n", ["energy.rd_pj", "valid number"], id="bool-as-float"),
    pytest.param("pim: {unit_clock_ghz: 1000}\n", ["pim.unit_clock_ghz", "20"], id="pim-clock-huge"),
    pytest.param("link: {bytes_per_cycle: \"16\"}\n", ["link.bytes_per_cycle", "valid number"], id="link-string"),
    pytest.param("asic: {latency_cycles: {add: 1, mul: 1, exp: 12, reciprocal: 6, rsqrt: 8, gelu: 10000000}}\n",
                 ["asic.latency_cycles.gelu", "1000000"], id="asic-latency-huge"),
])
def test_loose_or_unphysical_scalars_are_rejected(cli, tmp_path, body, fragments):
    hw = _hw_file(tmp_path, body)
    _fails(cli("presets", "show", hw), str(hw), *fragments)


def test_duplicate_yaml_key_names_file_key_and_lines(cli, tmp_path):
    hw = _hw_file(tmp_path, "dram: {channels: 4}\ndram: {channels: 2}\n")
    _fails(cli("presets", "show", hw), str(hw), "duplicate key 'dram'", "line 4", "line 3")


def test_duplicate_nested_yaml_key_is_rejected(tmp_path):
    hw = _hw_file(tmp_path, "dram:\n  timing:\n    nRP: 30\n    nRP: 31\n")
    with pytest.raises(ConfigError, match=r"line 6.*duplicate key 'nRP' \(first given at line 5\)"):
        load_hardware(hw)


def test_ints_for_float_fields_and_exponent_floats_are_accepted(tmp_path):
    """Strict types still take an int where a float is meant, and YAML 1.2 exponent floats (`2e-1`)."""
    hw = load_hardware(_hw_file(tmp_path, "dram: {tck_ns: 1}\nenergy: {io_pj_per_bit: 2e-1}\n"))
    assert hw.dram.tck_ns == 1.0 and hw.energy.io_pj_per_bit == pytest.approx(0.2)


def test_zero_is_still_allowed_where_a_shipped_table_uses_it(tmp_path):
    """nCLREG is 0 in the pimgpt-gddr6 preset; nWPRE, nRREFD, nCWLGB, nCWLREG, nMODCH may also be 0."""
    body = "dram: {timing: {nCLREG: 0, nWPRE: 0, nRREFD: 0, nCWLGB: 0, nCWLREG: 0, nMODCH: 0}}\n"
    t = load_hardware(_hw_file(tmp_path, body)).dram.timing
    assert (t["nCLREG"], t["nWPRE"], t["nRREFD"]) == (0, 0, 0)


@pytest.mark.parametrize("change, fragments", [
    pytest.param({"num_hidden_layers": 10**30}, ["num_hidden_layers", "1000"], id="layers-1e30-int"),
    pytest.param({"num_hidden_layers": 1e30}, ["num_hidden_layers", "valid integer"], id="layers-1e30-float"),
    pytest.param({"hidden_size": 2**21, "head_dim": 2**16}, ["hidden_size", "1048576"], id="hidden-huge"),
    pytest.param({"vocab_size": 2**25}, ["vocab_size", "16777216"], id="vocab-huge"),
    pytest.param({"max_position_embeddings": 2**30}, ["max_position_embeddings", "16777216"], id="context-huge"),
    pytest.param({"num_attention_heads": True}, ["num_attention_heads", "valid integer"], id="heads-bool"),
    pytest.param({"tie_word_embeddings": "false"}, ["tie_word_embeddings", "true or false", "'false'"],
                 id="tie-string"),
    pytest.param({"attention_bias": 0, "mlp_bias": 0}, ["attention_bias", "true or false"], id="bias-int"),
])
def test_model_config_scalars_are_strict_and_bounded(cli, tmp_path, change, fragments):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA_HF, **change}))
    _fails(cli("models", "show", "--model-config", path), str(path), *fragments)


def test_native_model_file_is_bounded_too(tmp_path):
    from pimsim.models.zoo import get_model

    data = get_model("gpt2-small").model_dump() | {"layers": 10**6}
    path = tmp_path / "native.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError, match=r"native\.json.*layers.*1000"):
        load_model(None, path)


# ---------------------------------------------------------------------- 3. undecodable bytes and BOMs
def test_invalid_utf8_in_hardware_yaml_names_file_and_byte_offset(cli, tmp_path):
    hw = tmp_path / "hw.yaml"
    hw.write_bytes(b"name: x\nbase: pimgpt-gddr6\ndescription: caf\xe9\n")
    _fails(cli("presets", "show", hw), str(hw), "not valid UTF-8", "byte offset 43", "0xe9")


def test_invalid_utf8_in_model_config_names_file_and_byte_offset(cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(b'{"model_type": "llama\xff"}')
    _fails(cli("models", "show", "--model-config", path), str(path), "not valid UTF-8", "byte offset 21")


def test_invalid_utf8_in_trace_is_a_trace_error_with_byte_offset(cli, tmp_path):
    path = tmp_path / "t.trace"
    path.write_bytes(b"# \xc3\x28\n" + TRACE.encode())
    with pytest.raises(TraceError, match=r"t\.trace: not valid UTF-8 .*byte offset 2"):
        parse_trace(path)
    _fails(cli("replay", path, "--hardware", "pimgpt-gddr6"), str(path), "byte offset 2")


def test_utf8_bom_is_accepted_in_hardware_model_and_trace_files(cli, tmp_path):
    bom = b"\xef\xbb\xbf"
    hw = tmp_path / "hw.yaml"
    hw.write_bytes(bom + b"name: bom-hw\nbase: pimgpt-gddr6\ndram: {channels: 2}\n")
    assert load_hardware(hw).dram.channels == 2
    cfg = tmp_path / "config.json"
    cfg.write_bytes(bom + json.dumps(LLAMA_HF).encode())
    assert load_model(None, cfg).layers == 16
    trace = tmp_path / "t.trace"
    trace.write_bytes(bom + TRACE.encode())
    assert len(parse_trace(trace)) == len(parse_trace(TRACE))
    assert len(parse_trace("\ufeff" + TRACE)) == len(parse_trace(TRACE))
    rc, out, err = cli("replay", trace, "--hardware", "pimgpt-gddr6", "--json")
    assert rc == 0, err
    assert json.loads(out)["commands"]["MAC16"] == 64


# -------------------------------------------------------------- 4. model-config fields pimsim ignores
def _config(tmp_path, **extra):
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**LLAMA_HF, **extra}))
    return path


@pytest.mark.parametrize("extra", [
    {"num_local_experts": 8, "num_experts_per_tok": 2},   # Mixtral-style
    {"num_experts": 60, "num_experts_per_tok": 4},        # Qwen2-MoE-style
])
def test_moe_config_is_rejected_not_run_as_dense(cli, tmp_path, extra):
    path = _config(tmp_path, **extra)
    key = next(iter(extra))
    _fails(cli("models", "show", "--model-config", path), str(path), key, "mixture-of-experts", "not modelled")


def test_ignored_fields_give_one_warning_naming_each_and_the_file(tmp_path, caplog):
    path = _config(tmp_path, sliding_window=4096, rope_scaling="yes please")
    with caplog.at_level(logging.WARNING, logger="pimsim"):
        model = load_model(None, path)
        load_model(None, path)   # the same file again: no second warning
    assert model.layers == 16
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(path) in warnings[0] and "'sliding_window'" in warnings[0] and "'rope_scaling'" in warnings[0]


def test_ignored_field_warning_reaches_stderr_of_the_cli(run_cli, tmp_path):
    path = _config(tmp_path, sliding_window=4096)
    rc, out, err = run_cli("models", "show", "--model-config", path, "--json")
    assert rc == 0 and json.loads(out)["layers"] == 16
    assert err.count("pimsim: warning:") == 1 and "'sliding_window'" in err and str(path) in err


@pytest.mark.parametrize("extra", [
    {},
    {"sliding_window": None},
    {"sliding_window": 4096, "use_sliding_window": False},   # Qwen2 configs carry the field switched off
    {"sliding_window": 131072},                              # a window as long as the context changes nothing
    {"rope_scaling": None},
    {"rope_scaling": {"rope_type": "llama3", "factor": 32.0}},
    {"rope_scaling": {"type": "linear", "factor": 2.0}},
    {"num_local_experts": 1},
])
def test_fields_that_change_nothing_give_no_warning(tmp_path, caplog, extra):
    path = _config(tmp_path, **extra)
    with caplog.at_level(logging.WARNING, logger="pimsim"):
        load_model(None, path)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


GDDR6_TIMING = {"nBL": 4, "nCL": 24, "nRCDRD": 26, "nRCDWR": 16, "nRP": 26, "nRAS": 53, "nRC": 79, "nWR": 26,
                "nRTP": 4, "nCWL": 6, "nCCDS": 4, "nCCDL": 6, "nRRDS": 4, "nRRDL": 6, "nWTRS": 9, "nWTRL": 11,
                "nFAW": 32, "nRFC": 210, "nRFCpb": 105, "nRREFD": 14, "nREFI": 3333}


def test_switching_standard_sheds_the_base_timing_keys_the_new_table_lacks():
    """A file cannot delete an inherited key: keys of the base's AiM table are dropped when the file selects
    plain gddr6, while keys the file writes itself are still checked against the new table."""
    hw = load_hardware({"base": "pimgpt-gddr6", "dram": {"standard": "gddr6", "timing": GDDR6_TIMING}})
    assert hw.dram.timing == GDDR6_TIMING
    with pytest.raises(ConfigError, match=r"dram\.timing\.nRCDRDMAC: not a timing parameter of standard gddr6"):
        load_hardware({"base": "pimgpt-gddr6",
                       "dram": {"standard": "gddr6", "timing": {**GDDR6_TIMING, "nRCDRDMAC": 56}}})


def test_duplicate_json_key_in_model_config_is_rejected(cli, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LLAMA_HF)[:-1] + ', "num_hidden_layers": 32}')
    _fails(cli("models", "show", "--model-config", path), str(path), "duplicate key 'num_hidden_layers'")
