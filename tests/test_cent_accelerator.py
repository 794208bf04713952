"""CENT's accelerator latency model as an ASIC timing model (`timing_model: cent`, issue 13).

Independent expectations: CENT's own per-block accelerator latency (its simulation_results.csv `Acc latency`,
restated in pimsim/validate/data/cent_published.yaml `block_terms_ms`, Llama2-7B, 32 channels per device), and
CENT's formulas (run_sim.py calculate_acc_latency) worked by hand for a small case.
"""

from __future__ import annotations

import pytest
import yaml

from pimsim.engine.asic import ASIC_TIMING, asic_seconds
from pimsim.errors import ConfigError
from pimsim.hardware import load_hardware
from pimsim.hardware.schema import AsicConfig
from pimsim.mapper.mapper import Mapper, MappedOp
from pimsim.mapper.schema import load_mapping
from pimsim.models import get_model
from pimsim.validate.checks_cent import DATA

CENT_OPS = ("rmsnorm", "softmax", "rotary")


def _layer_seconds(hw, model, context: int, fns=CENT_OPS) -> float:
    step = Mapper(model, hw, load_mapping("cent")).map_token(context)
    return sum(asic_seconds(op, hw) for op in step.layer if op.unit == "asic" and op.asic_fn in fns)


@pytest.mark.parametrize("context", [128, 2048, 4096])
def test_norms_softmax_and_rotary_sum_to_cents_published_acc_latency(context):
    published = yaml.safe_load(DATA.read_text())["block_terms_ms"]["llama2-7b"][context]["acc"] * 1e-3
    got = _layer_seconds(load_hardware("cent-aim-32ch"), get_model("llama2-7b"), context)
    assert got == pytest.approx(published, rel=1e-9)


def test_softmax_norm_and_rotary_by_hand():
    # C = 4 channels: EXP = 4 + 11 + 1 = 16, VEC = 8 + 1 + 1 = 10 cycles (cent_power_calculator.py ACCEL_CYCLE)
    hw = load_hardware("cent-aim-32ch", overrides={"dram": {"channels": 4}})
    clock = 2e9
    soft = MappedOp("softmax", "asic", "asic", asic_flops=1, asic_fn="softmax", asic_elements=2 * 64, asic_rows=2)
    # 128 / 16 / 4 x (16 + 10) + 2 x (1 + 16 + 0.25 + 1) = 52 + 36.5
    assert asic_seconds(soft, hw) == pytest.approx((52 + 36.5) / clock)
    norm = MappedOp("norm1", "asic", "asic", asic_flops=1, asic_fn="rmsnorm", asic_elements=1024)
    # 1024 / 16 / 16 / 4 x 10 + 1 + 1 + 1 + 26
    assert asic_seconds(norm, hw) == pytest.approx((10 + 29) / clock)
    rot = MappedOp("rotary", "asic", "asic", asic_flops=1, asic_fn="rotary", asic_elements=800)
    assert asic_seconds(rot, hw) == pytest.approx(800 * 3 / 8 / clock)


def test_other_vector_ops_keep_the_lane_model():
    hw = load_hardware("cent-aim-32ch")
    lanes = load_hardware("aim-32ch", overrides={"asic": {"clock_ghz": 2.0}})
    op = MappedOp("residual1", "asic", "asic", asic_flops=4096, asic_fn="residual", asic_elements=4096)
    assert asic_seconds(op, hw) == asic_seconds(op, lanes) == pytest.approx((4096 / 256) / 2e9)


def test_a_tensor_group_times_the_accelerator_at_one_devices_channels(tmp_path):
    """In a tensor-parallel group timed as one device of N x the channels, CENT's formula still sees the
    channels of the device its accelerator sits beside (32), so the group's ASIC seconds equal one device's."""
    from pimsim.engine import simulate
    from pimsim.workloads import Phase, Workload

    system = tmp_path / "g.yaml"
    system.write_text("kind: system\nname: g\ndevices:\n  pim:\n    pim: cent-aim-32ch\n    count: 4\n"
                      "    parallel: tensor\n    interconnect: {bytes_per_s: 1.0e+11, latency_ns: 0, pj_per_bit: 0}\n")
    mc = get_model("llama2-7b")
    wl = Workload(spec="d", phases=(Phase("decode", "policy", "decode", mc, 1, 1, 4095, 1),), generated_tokens=1)
    group = simulate(mc, str(system), "cent", wl).breakdown_s["pim.asic"]
    one = simulate(mc, "cent-aim-32ch", "cent", wl).breakdown_s["asic"]
    assert group == pytest.approx(one, rel=1e-12)


def test_registry_and_schema_name_the_same_models():
    literal = AsicConfig.model_fields["timing_model"].annotation.__args__
    assert set(literal) == set(ASIC_TIMING)


def test_an_unknown_timing_model_is_a_config_error_naming_the_field():
    with pytest.raises(ConfigError, match="timing_model"):
        load_hardware("aim-32ch", overrides={"asic": {"timing_model": "fast"}})
