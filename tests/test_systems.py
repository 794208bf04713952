"""Systems of devices with phases placed by the mapping (issue 12, first step; pimsim/engine/placement.py).

Expected values come from running each part alone (`pimsim baseline`'s model on the GPU, the PIM system
simulation on the PIM device) and from closed forms of the link and of standby power, with the figures
read from the system file's own devices.
"""

import pytest
import yaml

from pimsim.baselines.device import load_device
from pimsim.baselines.model import run_baseline
from pimsim.engine import simulate
from pimsim.engine.system import SystemSimulator
from pimsim.errors import CapacityError
from pimsim.hardware import load_hardware
from pimsim.mapper import load_mapping
from pimsim.models import load_model
from pimsim.workloads import expand
from pimsim.workloads.spec import GenerateSpec, PrmScoreSpec

H100 = load_device("h100-sxm")
PIM64 = load_hardware("aim-32ch", overrides={"dram": {"channels": 64}})
PIM_STANDBY_W = 64 * PIM64.energy.background_w_per_channel + PIM64.energy.asic_static_w
PCIE_BYTES_PER_S, PCIE_LATENCY_S, PCIE_PJ_PER_BIT = 63.0e9, 1e-6, 4.4  # h100-aim.yaml, as its comments cite

WORKLOADS = [GenerateSpec(prompt=256, generate=16, batch=4),
             PrmScoreSpec(solutions=4, question_tokens=64, steps=4, step_tokens=32)]


@pytest.mark.parametrize("spec", WORKLOADS, ids=["decode", "prm-scoring"])
def test_gpu_only_equals_the_baseline_plus_the_idle_pim(spec):
    model = "gpt2-xl" if spec.kind == "generate" else "eurus-prm-7b"
    system = simulate(model, "h100-aim", "gpu-only", spec)
    alone = run_baseline(expand(spec, load_model(model)), H100, "graph")
    assert system.latency_s == alone.latency_s
    for ph_sys, ph_alone in zip(system.phases, alone.phases):
        assert ph_sys.latency_s == ph_alone.latency_s
    assert system.energy_j == pytest.approx(alone.energy_j + PIM_STANDBY_W * alone.latency_s, rel=1e-12)
    assert system.counters["busy_s.gpu"] == alone.latency_s and system.counters["busy_s.pim"] == 0


def test_all_pim_equals_the_pim_device_alone_plus_the_idle_gpu():
    spec = WORKLOADS[0]
    system = simulate("gpt2-xl", "h100-aim", "pimgpt", spec)
    alone = simulate("gpt2-xl", PIM64, "pimgpt", spec)
    assert system.latency_s == alone.latency_s
    assert system.commands == alone.commands
    assert system.energy_j == pytest.approx(alone.energy_j + H100.power.idle_w * alone.latency_s, rel=1e-12)


def test_prefill_on_the_gpu_hands_the_kv_cache_to_pim_over_the_link():
    """prefill (GPU) + the prompt's KV cache over PCIe + decode (PIM), each part checked on its own."""
    spec = GenerateSpec(prompt=256, generate=16, batch=4)
    m = load_model("gpt2-xl")
    wl = expand(spec, m)
    system = simulate(m, "h100-aim", "prefill-gpu", spec)
    prefill_alone = run_baseline(wl, H100, "graph").phases[0]
    kv_bytes = 4 * 256 * 2 * m.layers * m.kv_heads * m.head_dim * 2  # batch x prompt x (K+V) x layers x width x bf16
    handoff_s = kv_bytes / PCIE_BYTES_PER_S + PCIE_LATENCY_S
    _, decode_alone_s = SystemSimulator(PIM64, load_mapping("prefill-gpu")).phase(wl.phases[1])
    assert system.phases[0].latency_s == prefill_alone.latency_s
    assert system.phases[1].latency_s == pytest.approx(handoff_s + decode_alone_s, rel=1e-12)
    assert system.latency_s == pytest.approx(prefill_alone.latency_s + handoff_s + decode_alone_s, rel=1e-12)
    assert system.counters["link_bytes.pcie"] == kv_bytes
    assert system.breakdown_j["link.pcie.kv_handoff"] == pytest.approx(kv_bytes * 8 * PCIE_PJ_PER_BIT * 1e-12)
    assert system.config["placement"] == {"prefill": "gpu", "decode": "pim"}
    # time to first token is the GPU prefill; time per output token the PIM decode with the hand-off
    assert system.ttft_s == prefill_alone.latency_s


def test_capacity_is_checked_on_the_device_each_phase_runs_on():
    spec = GenerateSpec(prompt=64, generate=4)
    with pytest.raises(CapacityError, match="h100-sxm"):  # 143 GB of weights on an 80 GB GPU
        simulate("qwen2.5-math-prm-72b", "h100-aim", "gpu-only", spec)
    with pytest.raises(CapacityError, match="h100-aim|aim-32ch|do not fit|does not fit"):  # nor on 32 GiB of PIM
        simulate("qwen2.5-math-prm-72b", "h100-aim", "pimgpt", spec)
    # a 7B model fits both: the GPU holds it for prefill, PIM for decode
    simulate("qwen2.5-math-7b-instruct", "h100-aim", "prefill-gpu", spec)


def _write(tmp_path, name, data):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


SYSTEM = {"kind": "system", "name": "s", "devices": {"gpu": {"device": "h100-sxm"}, "pim": {"pim": "aim-32ch"}},
          "links": {"pcie": {"between": ["gpu", "pim"], "bytes_per_s": 6.3e10, "latency_ns": 1000,
                             "pj_per_bit": 4.4}}}


@pytest.mark.parametrize("edit, match", [
    (lambda s: s["devices"]["gpu"].update(device="h999"), "devices.gpu: unknown baseline device"),
    (lambda s: s["devices"]["pim"].update(pim="nopreset"), "devices.pim: unknown hardware preset"),
    (lambda s: s["links"]["pcie"].update(between=["gpu", "npu"]), "links.pcie.between: 'npu' is no device"),
    (lambda s: s["devices"]["gpu"].update(pim="aim-32ch"), "devices.gpu: give exactly one of pim"),
    (lambda s: s["links"]["pcie"].update(bytes_per_s="fast"), "links.pcie.bytes_per_s"),
    (lambda s: s.pop("devices"), "devices"),
], ids=["unknown-device", "unknown-pim-preset", "link-to-nowhere", "two-kinds", "mistyped-bandwidth", "no-devices"])
def test_bad_system_files_exit_2_naming_the_field(tmp_path, cli, edit, match):
    data = yaml.safe_load(yaml.safe_dump(SYSTEM))
    edit(data)
    path = _write(tmp_path, "system.yaml", data)
    rc, out, err = cli("simulate", "--model", "gpt2-small", "--hardware", path, "--mapping", "prefill-gpu",
                       "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2, (out, err)
    assert match in err and "Traceback" not in err


def test_placements_that_name_what_the_hardware_lacks_exit_2(tmp_path, cli):
    mapping = load_mapping("prefill-gpu").model_dump(mode="json")
    mapping.update(name="npu-decode", placement={"prefill": "gpu", "decode": "npu"})
    path = _write(tmp_path, "npu.yaml", mapping)
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", "h100-aim", "--mapping", path,
                     "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2 and "device 'npu'" in err and "devices: gpu, pim" in err
    mapping.update(placement={"decoding": "pim"})
    path = _write(tmp_path, "badkey.yaml", mapping)
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", "h100-aim", "--mapping", path,
                     "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2 and "placement.decoding: not a placement key" in err
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", "pimgpt-gddr6", "--mapping", "gpu-only",
                     "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2 and "places phases on gpu" in err


def test_presets_list_shows_the_systems(cli):
    rc, out, _ = cli("presets", "list")
    assert rc == 0 and "h100-aim" in out and "pcie(gpu-pim, 63 GB/s)" in out


def test_attacc_splits_a_decode_step_between_gpu_gemms_and_pim_attention():
    """attacc: the GPU runs every kernel of the step but attention and the KV appends (the same kernels and
    times as `pimsim baseline`), PIM the attention, and per layer q/k/v go over PCIe and outputs come back."""
    spec = GenerateSpec(prompt=256, generate=9, batch=8)
    m = load_model("gpt3-xl")
    system = simulate(m, "h100-aim", "attacc", spec)
    alone = run_baseline(expand(spec, m), H100, "graph")
    dec, base = system.phases[1], alone.phases[1]
    for cat in ("weight_matmul", "vector", "embedding"):
        assert dec.breakdown_s.get(f"gpu.{cat}", 0.0) == pytest.approx(base.breakdown_s.get(cat, 0.0), rel=1e-12)
    assert "gpu.attention" not in dec.breakdown_s and "gpu.kv_append" not in dec.breakdown_s
    # kernels.py: per layer one fused attention kernel and two KV-append kernels leave the GPU's step
    _, per_launch_s = H100.overhead_s("graph")
    dropped = 3 * m.layers * 8 * per_launch_s
    assert base.breakdown_s["kernel_overhead"] - dec.breakdown_s["gpu.kernel_overhead"] == pytest.approx(dropped)
    # link: per layer and step, q + k + v (MHA: 3 x heads) to PIM and the heads' outputs back, bf16
    qkv_out_bytes = 8 * 8 * m.layers * 4 * m.heads * m.head_dim * 2
    handoff_bytes = 8 * 256 * 2 * m.layers * m.kv_heads * m.head_dim * 2  # the prefill's cache (batch 8)
    assert system.counters["link_bytes.pcie"] == qkv_out_bytes + handoff_bytes
    link_s = qkv_out_bytes / PCIE_BYTES_PER_S + 2 * m.layers * 8 * PCIE_LATENCY_S
    assert dec.breakdown_s["link.pcie.qkv_and_outputs"] == pytest.approx(link_s, rel=1e-12)
    # PIM runs the KV appends and the attention programs, no weight GEMV
    assert system.commands["MAC16"] > 0 and dec.breakdown_s["pim.pim_mac_stream"] > 0
    assert system.config["placement"]["decode"] == {"weights": "gpu", "attention": "pim"}


def test_attacc_keeps_weights_on_the_gpu_and_the_kv_cache_on_pim():
    """Capacity per op class: 7B weights (15 GB) fit the GPU; the KV cache of 128 sequences of gpt3-xl at
    2048 tokens (128 x 2048 x 196,608 B = 51.5 GB) does not fit 32 GiB of PIM, and the message says which."""
    with pytest.raises(CapacityError, match=r"device pim \(.*KV cache"):
        simulate("gpt3-xl", "h100-aim", "attacc", GenerateSpec(prompt=2040, generate=8, batch=128))
    simulate("qwen2.5-math-7b-instruct", "h100-aim", "attacc", GenerateSpec(prompt=64, generate=4, batch=4))


def test_experiments_sweep_placements_on_a_system(tmp_path):
    """A system as experiment hardware: one point per mapping (its placement), rows equal to `simulate`,
    error bands weighted by the PIM and GPU parts, and a placement mapping refused beside a PIM preset."""
    import pandas as pd

    from pimsim.errors import ConfigError
    from pimsim.experiments import LocalExecutor, run_experiment

    spec = {"name": "sys", "description": "placements on h100-aim",
            "workloads": [{"label": "gen", "kind": "generate", "model": "gpt2-small", "prompt": 16, "generate": 3}],
            "hardware": [{"preset": "h100-aim"}], "mappings": ["gpu-only", "attacc", "pimgpt"], "plots": []}
    path = _write(tmp_path, "sys.yaml", spec)
    summary = run_experiment(path, tmp_path / "out", executor=LocalExecutor(1), progress=False)
    assert not summary.failed and summary.errors == 0
    rows = pd.read_csv(tmp_path / "out" / "results.csv").set_index("placement")
    gen = GenerateSpec(prompt=16, generate=3)
    for mapping in ("gpu-only", "attacc", "pimgpt"):
        alone = simulate("gpt2-small", "h100-aim", mapping, gen)
        assert rows.loc[mapping, "latency_s"] == pytest.approx(alone.latency_s, rel=1e-12)
        assert rows.loc[mapping, "energy_j"] == pytest.approx(alone.energy_j, rel=1e-12)
        assert rows.loc[mapping, "target"] == "system"
    # gpu-only: the whole time on the GPU, so the band is the H100's (no PIM share); pimgpt: PIM's alone
    assert "0% PIM" in rows.loc["gpu-only", "latency_band_source"]
    assert "100% PIM" in rows.loc["pimgpt", "latency_band_source"]
    spec["hardware"] = [{"preset": "pimgpt-gddr6"}]
    with pytest.raises(ConfigError, match="mappings.0: gpu-only places phases on devices other than `pim`"):
        run_experiment(_write(tmp_path, "bad.yaml", spec), tmp_path / "out2", executor=LocalExecutor(1),
                       progress=False)


def test_overlapped_attacc_lies_between_its_busiest_unit_and_its_serial_sum():
    """attacc_overlap: two sub-batches alternate between GPU projections and PIM attention. Any schedule
    of that work takes at least the busiest unit's time and at most the sum of everything; the GPU part
    reads the weights once per sub-batch, so it is at least the one-batch GPU part."""
    spec = GenerateSpec(prompt=512, generate=5, batch=16)
    serial = simulate("gpt3-xl", "h100-aim", "attacc", spec).phases[1]
    over = simulate("gpt3-xl", "h100-aim", "attacc_overlap", spec).phases[1]
    busy = {unit: sum(v for k, v in over.breakdown_s.items() if k.startswith(unit + ".") and "kv_handoff" not in k)
            for unit in ("gpu", "pim", "link.pcie")}
    handoff = over.breakdown_s["link.pcie.kv_handoff"]  # the prefill's KV cache, before the decode steps
    assert max(busy.values()) <= over.latency_s - handoff * (1 - 1e-12)
    assert over.latency_s - handoff <= sum(busy.values()) * (1 + 1e-12)
    gpu_serial = sum(v for k, v in serial.breakdown_s.items() if k.startswith("gpu."))
    assert busy["gpu"] >= gpu_serial
    # at 512 keys x 16 sequences the second weight read costs more than hiding attention saves; at 1536 x 64
    # (19 GB of KV cache) hiding attention wins
    assert over.latency_s > serial.latency_s
    long = GenerateSpec(prompt=1536, generate=3, batch=64)
    assert simulate("gpt3-xl", "h100-aim", "attacc_overlap", long).phases[1].latency_s < \
        simulate("gpt3-xl", "h100-aim", "attacc", long).phases[1].latency_s


def test_an_npu_can_take_the_weights_of_a_split_with_its_gemm_shapes(tmp_path):
    """NeuPIMs' arrangement: NPU GEMMs + PIM attention. The NPU side times its weight matmuls by shape
    (pimsim.baselines.npu), exactly as `pimsim baseline --device neupims-npu` times them."""
    system = {"kind": "system", "name": "npu-aim", "devices": {"npu": {"device": "neupims-npu"},
                                                                "pim": {"pim": "aim-32ch"}},
              "links": {"l": {"between": ["npu", "pim"], "bytes_per_s": 6.3e10, "latency_ns": 1000,
                              "pj_per_bit": 4.4}}}
    mapping = load_mapping("attacc").model_copy(update={
        "name": "npu-split", "placement": {"prefill": "npu", "decode": {"weights": "npu", "attention": "pim"}}})
    spec = GenerateSpec(prompt=64, generate=9, batch=4)
    m = load_model("gpt2-medium")
    split = simulate(m, system, mapping, spec).phases[1]
    alone = run_baseline(expand(spec, m), load_device("neupims-npu"), None).phases[1]
    assert split.breakdown_s["npu.weight_matmul"] == pytest.approx(alone.breakdown_s["weight_matmul"], rel=1e-12)
    assert "npu.attention" not in split.breakdown_s
