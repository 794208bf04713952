"""IANUS and NeuPIMs reproductions (issue 13): the presets carry the published figures by their stated
derivations (checked by hand), the NeuPIMs shard models have the Megatron shard's shapes and sizes, the
published data is self-consistent, the ianus.* / neupims.* families are registered with written tolerances,
and a small subset of each experiment reproduces the check families' numbers end to end."""

import math
from pathlib import Path

import pytest

from pimsim.hardware import load_hardware
from pimsim.hardware.system import load_system
from pimsim.validate import checks
from pimsim.validate.checks_repro import (FAMILIES, ianus_runs, neupims_model, neupims_step, published)
from pimsim.validate.tolerances import load_tolerances

ROOT = Path(__file__).resolve().parent.parent

# casys-kaist/NeuPIMs f299af3 extern/NewtonSim/configs/HBM2_8Gb_x128_dualpim.ini, typed in from the file
NEUPIMS_INI_TIMING = {"nCL": 14, "nCWL": 4, "nRCDRD": 14, "nRCDWR": 14, "nRP": 14, "nRAS": 34, "nRFC": 260,
                      "nREFI": 3900, "nRRDS": 4, "nRRDL": 6, "nWTRS": 6, "nWTRL": 8, "nFAW": 30, "nWR": 16,
                      "nCCDS": 1, "nCCDL": 2, "nRTP": 6}


def _banks(hw) -> int:
    d = hw.dram
    return d.ranks * d.bank_groups * d.banks_per_group


def _mac_spacing_tck(hw) -> int:
    """A bank unit's column-to-column MAC spacing: tCCD_L, or the unit's own rate when slower."""
    return max(hw.dram.timing["nCCDL"], hw.dram.timing.get("nUNITMAC", 1))


# ------------------------------------------------------------------------------------------------ IANUS
def test_ianus_pim_has_the_published_bandwidths_and_capacity():
    hw = load_hardware("ianus-aim-8ch")
    pub = published()["ianus"]["hardware"]
    d = hw.dram
    internal = d.channels * _banks(hw) * d.column_bytes / (_mac_spacing_tck(hw) * d.tck_ns * 1e-9)
    external = d.channels * hw.link.bytes_per_cycle / (d.tck_ns * 1e-9)
    assert internal == pytest.approx(pub["internal_bytes_per_s"], rel=1e-12)  # 8 x 16 x 32 B / 1 ns = 4096 GB/s
    assert external == pytest.approx(pub["external_bytes_per_s"], rel=1e-12)  # 8 x 16 B / 0.5 ns = 256 GB/s
    assert hw.capacity_bytes == 8 * 2**30 >= pub["pim_bytes"]  # 8 x 16 x 32768 x 2 KB


def test_ianus_pim_is_aim_32ch_but_for_channels_and_rows():
    mine, aim = load_hardware("ianus-aim-8ch"), load_hardware("aim-32ch")
    assert mine.dram.model_dump(exclude={"channels", "rows"}) == aim.dram.model_dump(exclude={"channels", "rows"})
    assert (mine.pim, mine.asic, mine.link, mine.energy) == (aim.pim, aim.asic, aim.link, aim.energy)


def test_ianus_system_joins_the_npu_and_the_pim_at_the_external_bandwidth():
    system, _ = load_system("ianus")
    assert system.devices["gpu"].device == "ianus-npu" and system.devices["pim"].pim == "ianus-aim-8ch"
    link = system.link_between("gpu", "pim")[1]
    assert link.bytes_per_s == published()["ianus"]["hardware"]["external_bytes_per_s"]


def test_ianus_run_is_npu_prefill_plus_handoff_plus_pim_decode():
    """The ianus system under prefill-gpu: the NPU's prefill run alone, plus the prompt's KV cache over the
    256 GB/s link (bytes / bandwidth, no latency), plus the decode on the PIM preset alone (pimgpt layout);
    gpu-only equals `pimsim baseline --device ianus-npu`."""
    from pimsim.baselines import run_baseline
    from pimsim.engine import simulate
    from pimsim.models import get_model
    from pimsim.workloads import GenerateSpec, Workload, expand

    m = get_model("gpt2-medium")
    spec = GenerateSpec(prompt=64, generate=17)
    wl = expand(spec, m)
    prefill = run_baseline(Workload(wl.spec, (wl.phases[0],), generated_tokens=1), "ianus-npu").latency_s
    decode = simulate(m, "ianus-aim-8ch", "pimgpt", Workload(wl.spec, (wl.phases[1],), generated_tokens=16)).latency_s
    handoff = 64 * m.kv_bytes_per_token(2) / published()["ianus"]["hardware"]["external_bytes_per_s"]
    assert simulate(m, "ianus", "prefill-gpu", spec).latency_s == pytest.approx(prefill + handoff + decode, rel=1e-12)
    assert simulate(m, "ianus", "gpu-only", spec).latency_s == pytest.approx(run_baseline(wl, "ianus-npu").latency_s,
                                                                             rel=1e-12)


@pytest.mark.parametrize("preset", ["ianus-aim-8ch", "neupims-hbm2"])
def test_pim_streams_weights_at_its_internal_bandwidth(preset):
    """One batch-1 decode step on the PIM alone: its MAC-stream time is at least the weights over the
    internal bandwidth by hand (every weight is read once: ianus 4096 GB/s, neupims 32 ch x 32 banks x 32 B
    per 2 ns = 16.4 TB/s, so both ranks' banks take part) and within 10% of it (partial rows, attention)."""
    from pimsim.engine import simulate
    from pimsim.models import get_model
    from pimsim.workloads import Phase, Workload

    hw = load_hardware(preset)
    m = get_model("gpt2-medium")
    wl = Workload(spec="step", phases=(Phase("decode", "policy", "decode", m, 1, 1, 16, 1),), generated_tokens=1)
    r = simulate(m, preset, "pimgpt", wl)
    internal = hw.dram.channels * _banks(hw) * hw.dram.column_bytes / (_mac_spacing_tck(hw) * hw.dram.tck_ns * 1e-9)
    if preset == "ianus-aim-8ch":
        assert internal == pytest.approx(published()["ianus"]["hardware"]["internal_bytes_per_s"], rel=1e-12)
    floor = m.params * hw.pim.dtype_bytes / internal
    assert floor <= r.breakdown_s["pim_mac_stream"] <= 1.10 * floor


# ---------------------------------------------------------------------------------------------- NeuPIMs
def test_neupims_pim_has_the_configs_organisation_and_timing():
    hw = load_hardware("neupims-hbm2")
    hwp = published()["neupims"]["hardware"]
    d = hw.dram
    assert d.channels == hwp["dram_channels"] and _banks(hw) == hwp["dram_banks_per_ch"]
    assert d.columns * d.column_bytes == hwp["dram_page_size"]
    assert hw.pim.mac_lanes == hwp["pim_comp_coverage"] and hw.pim.unit_clock_ghz * 1000 == hwp["dram_freq_mhz"]
    assert d.tck_ns == 1000 / hwp["dram_freq_mhz"]
    assert hw.capacity_bytes == hwp["hbm_size_gb"] * 2**30  # 32 x 32 x 32768 x 1 KB
    assert {k: d.timing[k] for k in NEUPIMS_INI_TIMING} == NEUPIMS_INI_TIMING
    assert d.timing["nRC"] == d.timing["nRAS"] + d.timing["nRP"]


def test_neupims_system_link_is_the_npus_peak_bandwidth():
    from pimsim.baselines import load_device

    system, _ = load_system("neupims")
    npu = load_device(system.devices["gpu"].device)
    assert npu.kind == "npu" and system.devices["pim"].pim == "neupims-hbm2"
    assert system.link_between("gpu", "pim")[1].bytes_per_s == npu.peak_bandwidth_bytes_per_s == 32 * 16 * 2e9


@pytest.mark.parametrize("name", list(published()["neupims"]["models"]))
def test_neupims_shards_are_the_megatron_shards(name):
    """A device of TP t and PP p holds layers/p layers of heads/t heads, an FFN of 4E/t, a vocabulary of
    ceil(50304/t); its parameters (GPT-style, biases, tied embedding, learned positions) by hand."""
    layers, e, heads, tp, pp = published()["neupims"]["shapes"][name]
    m = neupims_model(name)
    assert (m.layers, m.hidden, m.heads, m.kv_heads, m.head_dim, m.ffn) == (
        layers // pp, e, heads // tp, heads // tp, e // heads, 4 * e // tp)
    q = e // tp  # this device's query width = its K and V widths
    per_layer = (e * 3 * q + 3 * q) + (q * e + e) + (e * 4 * e // tp + 4 * e // tp) + (4 * e // tp * e + e) + 4 * e
    vocab = -(-published()["neupims"]["vocab"] // tp)
    assert m.params == layers // pp * per_layer + vocab * e + 2048 * e + 2 * e
    assert m.kv_bytes_per_token(2) == 2 * (layers // pp) * q * 2


@pytest.mark.parametrize("name", list(published()["neupims"]["models"]))
def test_neupims_model_files_are_the_checks_models(name):
    """The experiment's model files (data/repro_models) are the models the check families build."""
    from pimsim.models import load_model

    assert load_model(ROOT / published()["neupims"]["models"][name]) == neupims_model(name)


def test_neupims_overlap_lies_between_its_busiest_unit_and_the_serial_sum():
    """NeuPIMs' step (two sub-batches overlapped) is no longer than its serial sum over the NPU, PIM and
    link, and no shorter than its busiest resource (schedule bounds)."""
    r = neupims_step("neupims-gpt3-7b-tp4", 256, "neupims")
    busy = [v for k, v in r.counters.items() if k.startswith(("busy_s.", "link_s."))]
    assert max(busy) <= r.latency_s * (1 + 1e-12) and r.latency_s <= sum(busy) * (1 + 1e-12)


def test_unknown_shard_or_system_is_a_config_error():
    from pimsim.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown NeuPIMs shard 'gpt3-7b'.*neupims-gpt3-7b-tp4"):
        neupims_model("gpt3-7b")
    with pytest.raises(ConfigError, match="unknown NeuPIMs system 'gpu'.*npu_only, naive, neupims"):
        neupims_step("neupims-gpt3-7b-tp4", 1, "gpu")


def test_neupims_naive_is_the_serial_sum():
    """The naive NPU+PIM step (attacc, one row buffer) runs its units one after another: its latency is the
    NPU's, the PIM's and the link's busy time summed."""
    r = neupims_step("neupims-gpt3-7b-tp4", 256, "naive")
    busy = sum(v for k, v in r.counters.items() if k.startswith(("busy_s.", "link_s.")))
    assert r.latency_s == pytest.approx(busy, rel=1e-12)


# --------------------------------------------------------------------------------- data and families
def test_published_data_is_self_consistent():
    p = published()
    t = p["ianus"]["token_latency"]
    assert p["ianus"]["pim_over_npu"] == pytest.approx(t["npu_only_s"] / t["pim_s"], rel=1e-12)
    assert set(p["ianus"]["latency_ratio"]["ratio"]) == {"gpt2-medium", "gpt2-large", "gpt2-xl"}
    n = p["neupims"]
    assert n["context_tokens"] == round(n["trace_mean_seq_len"])
    assert all(b >= 256 for b in n["batches"])  # README line 79: sub-batch interleaving from 256
    assert set(n["models"]) == set(n["shapes"])
    for name, path in n["models"].items():
        assert (ROOT / path).is_file() and Path(path).stem == name


def test_families_registered_with_tolerances():
    tol = load_tolerances(families=list(checks.FAMILIES))
    assert {f.split(".")[0] for f in FAMILIES} == {"ianus", "neupims"}
    for fam in FAMILIES:
        assert fam in checks.FAMILIES and tol[fam].kind == "reference-comparison"
        assert tol[fam].tolerance == 0.30 and len(tol[fam].reason) > 40 and tol[fam].source


# ----------------------------------------------------------------------------------- experiments, e2e
def _subset(path: str, **changes):
    from pimsim.experiments.spec import load_experiment

    exp = load_experiment(ROOT / path)
    return exp.model_copy(update=changes)


def test_neupims_experiment_subset_reproduces_the_check_runs(tmp_path, monkeypatch):
    import pandas as pd

    from pimsim.experiments.runner import run_experiment

    monkeypatch.chdir(ROOT)  # the experiment names its model files from the repository root
    exp = _subset("experiments/repro_neupims.yaml",
                  models=["pimsim/validate/data/repro_models/neupims-gpt3-7b-tp4.json"],
                  workloads=[{"label": "step", "kind": "generate", "prompt": 300, "generate": 2, "batch": 256}])
    run_experiment(exp, tmp_path, progress=False)
    pub = pd.read_csv(tmp_path / "neupims_ratios_published.csv")
    t = {w: neupims_step("neupims-gpt3-7b-tp4", 256, w).latency_s for w in ("npu_only", "naive", "neupims")}
    got = dict(zip(pub["metric"], pub["pimsim"]))
    assert got["counters.over_npu_only"] == pytest.approx(t["npu_only"] / t["neupims"], rel=1e-12)
    assert got["counters.over_naive"] == pytest.approx(t["naive"] / t["neupims"], rel=1e-12)
    assert set(pub["published"]) == {2.4, 1.6}


def test_ianus_experiment_subset_reproduces_the_check_runs(tmp_path):
    import pandas as pd

    from pimsim.experiments.runner import run_experiment

    exp = _subset("experiments/repro_ianus.yaml", models=["gpt2-medium"],
                  workloads=[{"label": "in 128 out 512", "kind": "generate", "prompt": 128, "generate": 512}])
    run_experiment(exp, tmp_path, progress=False)
    pub = pd.read_csv(tmp_path / "ianus_ratios_published.csv")
    gpu = ianus_runs("gpt2-medium", 128, 512, "gpu").latency_s
    assert list(pub["published"]) == [12.0, 12.0] and list(pub["series"]) == ["prefill-gpu", "ianus_paper"]
    for row, which in zip(pub.itertuples(), ("pim", "pim_paper")):  # both splits, as the check runs them
        assert row.pimsim == pytest.approx(gpu / ianus_runs("gpt2-medium", 128, 512, which).latency_s, rel=1e-12)
        assert math.isfinite(row.error)
