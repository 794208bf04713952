"""Sequence groups (mapping attention.sequence_groups, issue 13 / AttAcc): in an op-class split the PIM's
channels form G equal groups that attend for their share of the sequences at once. Independent expectation:
the same split on a device of channels / G, whose PIM time for ceil(B / G) sequences is G groups' wall and
whose commands for all B sequences are theirs."""

import pytest
import yaml

from pimsim.engine import simulate
from pimsim.errors import CapacityError, ConfigError
from pimsim.hardware.system import load_system
from pimsim.mapper import load_mapping
from pimsim.workloads import GenerateSpec


def _files(tmp_path, groups: int, channels: int):
    m = load_mapping("attacc").model_dump(mode="json")
    m["name"] = f"attacc-g{groups}"
    m["attention"]["sequence_groups"] = groups
    mp = tmp_path / f"map{groups}.yaml"
    mp.write_text(yaml.safe_dump(m))
    system, _ = load_system("h100-aim")
    s = system.model_dump(mode="json", exclude_none=True)
    s["name"] = f"h100-aim-{channels}"
    s["devices"]["pim"]["overrides"] = {"dram": {"channels": channels}}
    sp = tmp_path / f"sys{channels}.yaml"
    sp.write_text(yaml.safe_dump(s))
    return str(sp), str(mp)


@pytest.mark.parametrize("groups, batch", [(4, 8), (4, 7), (2, 3)])
def test_groups_attend_at_once_as_one_group_of_a_smaller_device(tmp_path, groups, batch):
    spec = GenerateSpec(prompt=32, generate=4, batch=batch)
    big = simulate("gpt2-medium", *_files(tmp_path, groups, 64), spec)
    rounds = -(-batch // groups)
    one_group_time = simulate("gpt2-medium", *_files(tmp_path, 1, 64 // groups),
                              GenerateSpec(prompt=32, generate=4, batch=rounds))
    one_group_work = simulate("gpt2-medium", *_files(tmp_path, 1, 64 // groups), spec)
    assert big.counters["busy_s.pim"] == pytest.approx(one_group_time.counters["busy_s.pim"], rel=1e-12)
    assert big.commands == pytest.approx(one_group_work.commands, rel=1e-12)


def test_one_group_is_the_old_split(tmp_path):
    spec = GenerateSpec(prompt=32, generate=4, batch=4)
    a = simulate("gpt2-medium", *_files(tmp_path, 1, 64), spec)
    b = simulate("gpt2-medium", "h100-aim", "attacc", spec)
    assert a.latency_s == b.latency_s and a.energy_j == b.energy_j


def test_groups_that_do_not_divide_the_channels_or_run_whole_on_pim_are_errors(tmp_path):
    spec = GenerateSpec(prompt=32, generate=4, batch=4)
    with pytest.raises(ConfigError, match="sequence_groups 3 must divide device pim's 64 channels"):
        simulate("gpt2-medium", *_files(tmp_path, 3, 64), spec)
    m = load_mapping("pimgpt_kv_fit").model_dump(mode="json")
    m["attention"]["sequence_groups"] = 2
    path = tmp_path / "whole.yaml"
    path.write_text(yaml.safe_dump(m))
    with pytest.raises(ConfigError, match="applies to phases split by op class"):
        simulate("gpt2-medium", "aim-32ch", str(path), spec)


def test_capacity_rounds_each_group_up(tmp_path):
    """Each group holds ceil(B / G) sequences' KV: B = G x k + 1 needs (k + 1) x G sequences' room."""
    from pimsim.engine.placement import capacity_check_only

    from pimsim.models import get_model
    from pimsim.workloads import expand

    m = get_model("gpt2-medium")
    sysf, mapf = _files(tmp_path, 4, 64)
    # on 64 AiM channels (32 GiB) gpt2-medium's KV of 1024 tokens is 96 MiB a sequence (reserve: workload)
    per_seq = 1024 * 2 * m.layers * m.hidden * 2
    cap = 64 * 2**29
    fits = cap // per_seq // 4 * 4  # a multiple of the groups fits exactly
    capacity_check_only(expand(GenerateSpec(prompt=512, generate=513, batch=fits), m), sysf, mapf)
    over = expand(GenerateSpec(prompt=512, generate=513, batch=fits + 1), m)
    assert (fits + 1) * per_seq <= cap  # fits one group of all the channels ...
    capacity_check_only(over, *_files(tmp_path, 1, 64))
    with pytest.raises(CapacityError):  # ... but not 4 groups of ceil((fits + 1) / 4) sequences each
        capacity_check_only(over, sysf, mapf)
