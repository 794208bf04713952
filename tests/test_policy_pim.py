"""mappings/policy-pim.yaml ("policy on PIM, PRM on GPU", issue 14): on h100-aim a best-of-n's latency is the
policy's phases simulated on the system's PIM device alone plus the PRM's phases on its H100 alone (serial,
no KV crosses), as the experiments' composed placement adds them."""

import pytest
import yaml

from pimsim.baselines import run_baseline
from pimsim.engine import simulate
from pimsim.experiments import split_workload
from pimsim.hardware import load_hardware
from pimsim.mapper import load_mapping
from pimsim.workloads import expand, parse_workload


def test_policy_pim_is_the_sum_of_its_two_sides(tmp_path):
    wl = expand(parse_workload({"kind": "best-of-n", "policy": "qwen2.5-math-1.5b-instruct",
                                "prm": "skywork-prm-1.5b", "n": 4, "question_tokens": 128, "steps": 4,
                                "step_tokens": 32}), None)
    whole = simulate(None, "h100-aim", "policy-pim", wl)
    pim_part, gpu_part = split_workload(wl, ["policy"])
    m = load_mapping("policy-pim").model_dump(mode="json")
    m.update(name="policy-pim-alone", placement={})
    path = tmp_path / "alone.yaml"
    path.write_text(yaml.safe_dump(m))
    pim = simulate(None, load_hardware("aim-32ch", overrides={"dram": {"channels": 64}}), str(path), pim_part)
    gpu = run_baseline(gpu_part, "h100-sxm", "graph")
    assert whole.latency_s == pytest.approx(pim.latency_s + gpu.latency_s, rel=1e-12)
    assert {p.role for p in whole.phases} == {"policy", "prm"}
