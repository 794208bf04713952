"""AttAcc reproduction (issue 13): the largest batches are their closed forms, the per-layer KV hand-off
(mapping `kv_handoff: layer`) holds one layer on the GPU and costs one transfer per layer, the capacity-only
check agrees with a run, and the attacc.* families are registered with written tolerances."""

import math

import pytest

from pimsim.engine import simulate
from pimsim.engine.placement import capacity_check_only
from pimsim.errors import CapacityError
from pimsim.hardware.system import load_system
from pimsim.mapper import load_mapping
from pimsim.validate import checks
from pimsim.validate.checks_attacc import FAMILIES, _workload, max_batch, model
from pimsim.validate.tolerances import load_tolerances

GIB = 2**30
TOKENS = 2048 + 128  # the prefill's 2048 and 128 generated: the last one's KV is written too (residency)


def _kv_token() -> int:
    m = model()
    return 2 * m.layers * m.kv_heads * m.head_dim * 2


@pytest.mark.parametrize("system, gib", [("dgx-640", 80), ("dgx-1280", 160)])
def test_dgx_largest_batch_is_the_closed_form(system, gib):
    """Each of 8 GPUs holds ceil(W/8) + ceil(B x tokens x kv / 8) <= its memory."""
    w = model().params * 2
    fits = lambda b: math.ceil(w / 8) + math.ceil(b * TOKENS * _kv_token() / 8) <= gib * GIB  # noqa: E731
    b = 0
    while fits(b + 1):
        b += 1
    assert max_batch(system) == b


def test_attacc_largest_batch_is_the_pim_memory():
    """The KV cache lives on the 640 hbm3-pim channels (1 GiB each) in 8 sequence groups of 80 (mapping
    attacc_paper): each group holds ceil(B / 8) sequences; the GPUs keep one layer while prefilling."""
    per_group = (80 * GIB) // (TOKENS * _kv_token())
    assert max_batch("dgx-attacc") == 8 * per_group


def test_layer_handoff_holds_one_layer_on_the_gpu_and_pays_one_transfer_per_layer(tmp_path):
    per_phase = tmp_path / "per_phase.yaml"
    text = load_mapping("attacc_paper").model_dump(mode="json")
    import yaml

    text.update(name="per_phase", kv_handoff="phase")
    per_phase.write_text(yaml.safe_dump(text))
    b = 40  # 40 sequences' prefill KV (40 x 2048 tokens, 396 GB) does not fit the GPUs beside the weights
    with pytest.raises(CapacityError, match="does not fit device gpu"):
        capacity_check_only(_workload(b), "attacc-dgx", str(per_phase))
    capacity_check_only(_workload(b), "attacc-dgx", "attacc_paper")
    small = _workload(4)
    a = simulate(model(), "attacc-dgx", "attacc_paper", small)
    p = simulate(model(), "attacc-dgx", str(per_phase), small)
    system, _ = load_system("attacc-dgx")
    link = system.links["nvlink"]
    nbytes = 4 * 2048 * _kv_token()
    layers = model().layers
    want_layer = layers * link.transfer_s(-(-nbytes // layers))
    assert a.breakdown_s["link.nvlink.kv_handoff"] == pytest.approx(want_layer, rel=1e-12)
    assert p.breakdown_s["link.nvlink.kv_handoff"] == pytest.approx(link.transfer_s(nbytes), rel=1e-12)
    assert a.breakdown_j["link.nvlink.kv_handoff"] == pytest.approx(p.breakdown_j["link.nvlink.kv_handoff"])


def test_capacity_only_check_agrees_with_a_run():
    b = max_batch("dgx-attacc") + 1
    with pytest.raises(CapacityError) as only:
        capacity_check_only(_workload(b), "attacc-dgx", "attacc_paper")
    with pytest.raises(CapacityError) as run:
        simulate(model(), "attacc-dgx", "attacc_paper", _workload(b))
    assert str(only.value) == str(run.value)


def test_attacc_families_registered_with_tolerances():
    tol = load_tolerances(families=list(checks.FAMILIES))
    for fam in FAMILIES:
        assert fam in checks.FAMILIES and tol[fam].kind == "reference-comparison" and len(tol[fam].reason.split()) >= 8


def test_model_file_is_gpt3_175b_with_a_longer_context():
    from pimsim.models import get_model

    base = get_model("gpt3-175b").model_dump()
    mine = model().model_dump()
    assert mine.pop("max_context") == 4096 and base.pop("max_context") == 2048
    for d in (mine, base):
        d.pop("name"), d.pop("source")
    assert mine == base
