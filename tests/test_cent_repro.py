"""CENT reproduction (issue 13): the restated published data is self-consistent, the GPU system's largest batch
equals its closed form, the cent.* families are registered with written tolerances, and the tensor-parallel
presets differ from the pipeline ones only in `parallel`."""

import math

import pytest
import yaml

from pimsim.hardware.system import load_system
from pimsim.models import get_model
from pimsim.validate import checks
from pimsim.validate.checks_cent import DATA, FAMILIES, gpu_max_batch, published
from pimsim.validate.tolerances import load_tolerances

MODELS = ("llama2-7b", "llama2-13b", "llama2-70b")


def test_published_ratios_are_the_quotients_of_the_published_figures():
    p = published()
    for m in MODELS:
        a = p["fig13a"]
        assert a["speedup"][m] == pytest.approx(a["gpu_latency_s"][m] / a["cent_latency_s"][m], rel=1e-12)
        b = p["fig13b"]
        for ph in ("prefill", "decode", "end2end"):
            # figure_13b.csv's ratios are CENT's processed_results throughput over data/GPU_throughput.csv
            assert b["ratio"][m][ph] == pytest.approx(b["cent_tokens_per_s"][m][ph] / b["gpu_tokens_per_s"][m][ph],
                                                      rel=1e-12)
    # figure_14a.csv = CENT throughput / data/GPU_70B_decoding.csv: the GPU column times the ratio is CENT's
    f = p["fig14a"]
    assert len(f["ratio"]) == len(f["gpu_decode_tokens_per_s"]) == len(f["sequence_tokens"]) == 4


@pytest.mark.parametrize("model", MODELS)
def test_gpu_max_batch_is_the_closed_form(model):
    """Each of 4 x 80 GB devices holds ceil(W/4) + ceil(B x 4096 x kv/4) bytes (bf16; kv = 2 x layers x
    kv_heads x head_dim x 2 bytes per token): the largest B that fits, solved by hand."""
    m = get_model(model)
    w = m.params * 2
    kv_seq = 4096 * 2 * m.layers * m.kv_heads * m.head_dim * 2
    mem = 80_000_000_000
    b = (4 * (mem - math.ceil(w / 4))) // kv_seq
    while math.ceil(w / 4) + math.ceil((b + 1) * kv_seq / 4) <= mem:
        b += 1
    while math.ceil(w / 4) + math.ceil(b * kv_seq / 4) > mem:
        b -= 1
    assert gpu_max_batch(model, 4096) == b


def test_cent_families_registered_with_tolerances():
    tol = load_tolerances(families=list(checks.FAMILIES))
    for fam in FAMILIES:
        assert fam in checks.FAMILIES and tol[fam].kind == "reference-comparison"
        assert tol[fam].reason and tol[fam].source and tol[fam].tolerance is not None


@pytest.mark.parametrize("n", [8, 20, 32])
def test_tensor_presets_differ_only_in_parallel(n):
    pp, _ = load_system(f"cent-{n}dev")
    tp, _ = load_system(f"cent-{n}dev-tp")
    a, b = pp.model_dump(), tp.model_dump()
    assert b["devices"]["pim"]["parallel"] == "tensor" and a["devices"]["pim"]["parallel"] == "pipeline"
    for d in (a, b):
        d.pop("name"), d.pop("description")
        d["devices"]["pim"].pop("parallel")
    assert a == b


def test_data_file_names_its_source():
    assert yaml.safe_load(DATA.read_text())["source"].startswith("Yufeng98/CENT at 8c79786")


def test_a_host_step_term_adds_its_seconds_per_token_step(tmp_path):
    """A system `host:` of s seconds per token step adds s x (prompt + generate - 1) to a generate run (each
    prefill token and each decode step), nothing to its energy, and is booked as host.token_steps."""
    from pimsim.engine import simulate
    from pimsim.workloads import GenerateSpec

    system, _ = load_system("cent-8dev-tp")
    data = system.model_dump(mode="json", exclude_none=True)
    data.update(name="with-host", host={"step_s": 1e-4, "source": "test"})
    path = tmp_path / "host.yaml"
    path.write_text(yaml.safe_dump(data))
    spec = GenerateSpec(prompt=16, generate=5)
    a = simulate("gpt2-small", "cent-8dev-tp", "pimgpt_kv_fit", spec)
    b = simulate("gpt2-small", str(path), "pimgpt_kv_fit", spec)
    assert b.latency_s - a.latency_s == pytest.approx(1e-4 * (16 + 5 - 1), rel=1e-9)
    assert b.breakdown_s["host.token_steps"] == pytest.approx(1e-4 * 20, rel=1e-12)
    extra = {k: v for k, v in b.breakdown_j.items() if k not in a.breakdown_j}
    assert {k: b.breakdown_j[k] for k in a.breakdown_j} == pytest.approx(a.breakdown_j)  # the same work
    # the devices stand by while the host works: 8 devices x (32 channels x 0.5 W + ASIC static) x host time
    from pimsim.hardware import load_hardware

    hw = load_hardware("aim-32ch")
    standby_w = 8 * (hw.dram.channels * hw.energy.background_w_per_channel + hw.energy.asic_static_w)
    assert extra == pytest.approx({"pim.standby_while_idle": standby_w * 1e-4 * 20}, rel=1e-9)


@pytest.mark.parametrize("host, match", [({"step_s": -1e-4, "source": "x"}, "host.step_s"),
                                          ({"step_s": 1e-4}, "host.source"),
                                          ({"step_s": 1e-4, "source": "x", "cpu": 2}, "host.cpu")])
def test_a_bad_host_entry_exits_2_naming_the_field(tmp_path, cli, host, match):
    system, _ = load_system("cent-8dev-tp")
    data = system.model_dump(mode="json", exclude_none=True)
    data.update(name="bad-host", host=host)
    path = tmp_path / "host.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = cli("simulate", "--model", "gpt2-small", "--hardware", path, "--mapping", "pimgpt_kv_fit",
                       "--workload", "generate", "--prompt", "8", "--generate", "2")
    assert rc == 2 and match in err and "Traceback" not in err, err
