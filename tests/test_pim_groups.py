"""Groups of PIM devices over a fabric (engine/pim_group.py): tensor- and pipeline-parallel, CXL flits,
the pipeline schedule against simpy, capacity per device, and bad group entries."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from pimsim.engine import simulate
from pimsim.engine.pim_group import flow_completions, pipeline_wall_s, split_layers
from pimsim.engine.schedule import pipelined_makespan
from pimsim.engine.system import SystemSimulator
from pimsim.errors import CapacityError, ConfigError
from pimsim.hardware import load_hardware
from pimsim.hardware.system import Fabric, load_system
from pimsim.mapper import load_mapping
from pimsim.models import load_model
from pimsim.workloads import expand
from pimsim.workloads.spec import GenerateSpec

BW, LAT_NS = 50e9, 200.0


def _system(parallel: str, count: int = 2, pim: str = "aim-32ch", overrides=None, **fabric) -> dict:
    entry = {"pim": pim, "count": count, "parallel": parallel,
             "interconnect": {"bytes_per_s": BW, "latency_ns": LAT_NS, "pj_per_bit": 4.4, **fabric}}
    if overrides:
        entry["overrides"] = overrides
    return {"kind": "system", "name": f"g-{parallel}", "devices": {"pim": entry}}


# ------------------------------------------------------------------------------------------- the fabric
def test_cxl_transfers_follow_cents_flit_formula():
    """CENT cxl_latency.py: a vector of v fp16 values costs 180 ns + ceil(2 v / 192) flits x 256 B over
    lanes x 4 GiB/s (multicast). Llama2-70B's 8192-wide vector on cent-32dev (4 lanes)."""
    system, _ = load_system("cent-32dev")
    fabric = system.devices["pim"].interconnect
    flits = math.ceil(8192 * 2 / 64 / 3)  # 86
    cent_ns = 180 + flits * 256 / (4 * 4) * 1e9 / 1024 ** 3  # their expression, bandwidth in GiB/s
    assert fabric.transfer_s(8192 * 2) == pytest.approx(cent_ns * 1e-9, rel=1e-12)
    assert fabric.energy_j(8192 * 2) == pytest.approx(flits * 256 * 8 * 4.4e-12, rel=1e-12)
    plain = Fabric(bytes_per_s=BW, latency_ns=LAT_NS, pj_per_bit=1.0)
    assert plain.transfer_s(1000) == pytest.approx(1000 / BW + LAT_NS * 1e-9, rel=1e-12)


@pytest.mark.parametrize("n, lanes", [(8, 18), (20, 7), (32, 4)])
def test_cent_presets_give_each_device_its_share_of_144_lanes(n, lanes):
    system, _ = load_system(f"cent-{n}dev")
    entry = system.devices["pim"]
    assert (entry.count, entry.parallel) == (n, "pipeline")
    assert entry.interconnect.bytes_per_s == pytest.approx(lanes * 4 * 2 ** 30, rel=1e-6)


# ----------------------------------------------------------------------------------- tensor parallel
def _tensor_transfer_s_by_hand(model, n: int, tokens: int, head_tokens: int) -> float:
    """Per token: each layer broadcasts the inputs of qkv, attention (q, k, v), out, fc1, fc2 and gathers
    N-1 slices of their outputs; head tokens add lm_head's broadcast and gather. Written out for GELU MHA."""
    d, qkv, ffn, vocab = model.hidden, model.qkv_features, model.ffn, model.vocab
    bcast = [d, qkv, d, d, ffn]  # inputs of qkv_proj, attention, out_proj, fc1, fc2
    gather = [qkv, d, d, ffn, d]  # their outputs (attention: its q_features outputs)
    per_layer = sum(2 * x / BW + LAT_NS * 1e-9 for x in bcast) + \
        sum((n - 1) * 2 * x / n / BW + LAT_NS * 1e-9 for x in gather)
    head = (2 * d / BW + LAT_NS * 1e-9) + ((n - 1) * 2 * vocab / n / BW + LAT_NS * 1e-9)
    return tokens * model.layers * per_layer + head_tokens * head


@pytest.mark.parametrize("n", [2, 4])
def test_a_tensor_group_is_one_device_with_every_channel_plus_the_fabric(n):
    model = load_model("gpt2-small")
    spec = GenerateSpec(prompt=16, generate=8, batch=2)
    group = simulate(model, _system("tensor", n), "pimgpt", spec)
    alone = load_hardware("aim-32ch", overrides={"dram": {"channels": 32 * n}})
    single = SystemSimulator(alone, load_mapping("pimgpt")).run(expand(spec, model))
    tokens = 2 * (16 + 7)  # every token of both sequences: the prompt's 16, then 7 decode steps
    head_tokens = 2 * (1 + 7)  # the prompt's last position and every decode step
    fabric_s = _tensor_transfer_s_by_hand(model, n, tokens, head_tokens)
    assert group.counters["link_s.pim.interconnect"] == pytest.approx(fabric_s, rel=1e-9)
    assert group.latency_s == pytest.approx(single.latency_s + fabric_s, rel=1e-9)
    assert group.commands == single.commands


def test_a_tensor_group_runs_in_exact_mode_within_the_fast_exact_bound():
    model = load_model("gpt2-small")
    spec = GenerateSpec(prompt=8, generate=4)
    fast = simulate(model, _system("tensor"), "pimgpt", spec)
    exact = simulate(model, _system("tensor"), "pimgpt", spec, exact=True)
    assert exact.latency_s == pytest.approx(fast.latency_s, rel=0.01)  # docs/validation.md: fast vs exact


# --------------------------------------------------------------------------------- pipeline parallel
def test_split_layers_deals_contiguous_runs():
    assert split_layers(12, 5) == [3, 3, 2, 2, 2]
    assert sum(split_layers(80, 32)) == 80
    with pytest.raises(ConfigError, match="at least 13 layers"):
        split_layers(12, 13)


def test_pipeline_at_batch_one_is_the_single_device_plus_the_hops():
    """One sequence cannot overlap itself: each decode token costs the one-device token time plus N-1
    hidden-vector hops, and the sampled id's return before every step but the first."""
    model = load_model("gpt2-small")
    n, steps = 4, 6
    spec = GenerateSpec(prompt=8, generate=steps + 1)
    group = simulate(model, _system("pipeline", n), "pimgpt", spec)
    single = simulate(model, "aim-32ch", "pimgpt", spec)
    decode_g = next(p for p in group.phases if p.kind == "decode")
    decode_1 = next(p for p in single.phases if p.kind == "decode")
    hop = 2 * model.hidden / BW + LAT_NS * 1e-9
    back = 4 / BW + LAT_NS * 1e-9
    assert decode_g.latency_s == pytest.approx(decode_1.latency_s + steps * (n - 1) * hop + (steps - 1) * back,
                                               rel=1e-9)
    assert group.commands == single.commands  # the same work, dealt to the stages


def test_pipeline_overlaps_sequences_up_to_the_bottleneck_stage():
    model = load_model("gpt2-small")
    spec = GenerateSpec(prompt=4, generate=9, batch=8)
    group = simulate(model, _system("pipeline", 4), "pimgpt", spec)
    single = simulate(model, "aim-32ch", "pimgpt", spec)
    decode_g = next(p for p in group.phases if p.kind == "decode").latency_s
    decode_1 = next(p for p in single.phases if p.kind == "decode").latency_s
    assert decode_1 / 4 < decode_g < decode_1 / 2  # four stages, the embedding and head stages heavier


def _chains(steps, batch, x_h, x_id, prefill):
    """simpy chains of the pipeline: stages are shared resources, hops private delays."""
    chains = []
    if prefill:  # every token of a prompt is its own item; the batch's sequences enter token by token
        for j, t in enumerate(steps[0]):
            for b in range(batch):
                chain = []
                for k, sec in enumerate(t):
                    chain.append((f"stage{k}", sec))
                    if k < len(t) - 1:
                        chain.append((f"hop{b}.{j}.{k}", x_h))
                chains.append(chain)
        return chains
    for b in range(batch):
        chain = []
        for s, tokens in enumerate(steps):
            for k, sec in enumerate(tokens[0]):
                chain.append((f"stage{k}", sec))
                if k < len(tokens[0]) - 1:
                    chain.append((f"hop{b}.{s}.{k}", x_h))
            if s < len(steps) - 1:
                chain.append((f"id{b}.{s}", x_id))
        chains.append(chain)
    return chains


@pytest.mark.parametrize("seed", range(40))
def test_the_pipeline_schedule_equals_simpy(seed):
    """Exact for prefills (any token times) and for decode at constant stage times; within 0.4% where
    every stage grows 1% a step (written before the first comparison: the loop's period is taken per step)."""
    rnd = random.Random(seed)
    n, batch = rnd.randint(2, 5), rnd.randint(1, 6)
    x_h, x_id = rnd.uniform(0, 0.5), rnd.uniform(0, 0.3)
    base = [rnd.uniform(0.5, 2) for _ in range(n)]
    tokens = [[t * rnd.uniform(0.8, 1.2) for t in base] for _ in range(rnd.randint(1, 10))]
    tokens[-1][-1] += rnd.choice([0, 1, 5])  # the head on the prompt's last position
    assert pipeline_wall_s([tokens], batch, x_h, 0.0) == \
        pytest.approx(pipelined_makespan(_chains([tokens], batch, x_h, 0.0, True)), rel=1e-12)
    steps = rnd.randint(1, 8)
    const = [[base]] * steps
    assert pipeline_wall_s(const, batch, x_h, x_id) == \
        pytest.approx(pipelined_makespan(_chains(const, batch, x_h, x_id, False)), rel=1e-12)
    growing = [[[t * (1 + 0.01 * s) for t in base]] for s in range(steps)]
    sim = pipelined_makespan(_chains(growing, batch, x_h, x_id, False))
    assert sim * (1 - 1e-12) <= pipeline_wall_s(growing, batch, x_h, x_id) <= sim * 1.004


def test_flow_completions_of_identical_items_is_the_textbook_makespan():
    t = [1.0, 3.0, 2.0]
    assert flow_completions([(t, 5)], 0.5)[-1] == pytest.approx(sum(t) + 4 * 3.0 + 2 * 0.5)


def test_pipeline_groups_refuse_exact_mode_and_multivector_units():
    model = load_model("gpt2-small")
    spec = GenerateSpec(prompt=4, generate=2)
    with pytest.raises(ConfigError, match="exact mode"):
        simulate(model, _system("pipeline"), "pimgpt", spec, exact=True)
    with pytest.raises(ConfigError, match="multi-vector"):
        simulate(model, _system("pipeline", pim="aim-32ch-mv4"), "pimgpt", spec)


# --------------------------------------------------------------------------------------------- capacity
def test_pipeline_capacity_is_the_fullest_device():
    """gpt2-small on two 1-channel devices (512 MiB each): the first device holds 6 layers, the
    embedding table (tied: the last device's head reads a copy of it) and 6/12 of the KV cache."""
    model = load_model("gpt2-small")
    batch = 24
    spec = GenerateSpec(prompt=8, generate=4, batch=batch)
    mapper = SystemSimulator(load_hardware("aim-32ch", overrides={"dram": {"channels": 1}}),
                             load_mapping("pimgpt")).mapper(model)
    kv = batch * model.max_context * 2 * model.layers * model.kv_features * 2  # PIM-GPT reserves max context
    weights = (6 * model.weight_params_per_layer + (model.vocab + model.max_context) * model.hidden) * 2
    need = weights + kv // 2
    assert mapper.reserved_context(12) == model.max_context
    with pytest.raises(CapacityError, match=f"{need:,}"):
        simulate(model, _system("pipeline", overrides={"dram": {"channels": 1}}), "pimgpt", spec)
    simulate(model, _system("pipeline", overrides={"dram": {"channels": 1}}), "pimgpt",
             GenerateSpec(prompt=8, generate=4, batch=2))  # fits


@pytest.mark.parametrize("sharing", [True, False])
def test_pipeline_capacity_counts_the_resident_kv_as_one_device_does(sharing):
    """A best-of-n with the question shared: the fullest stage holds its layers' share of the KV the
    single-device capacity rule counts (`pim_required_bytes`, resident tokens under reserve: workload),
    so sharing shrinks it; the two code paths must agree to the byte."""
    from pimsim.engine.capacity import pim_required_bytes
    from pimsim.workloads import parse_workload

    wl = expand(parse_workload({"kind": "best-of-n", "policy": "gpt2-small", "prm": "gpt2-medium", "n": 8,
                                "question_tokens": 200, "steps": 4, "step_tokens": 50,
                                "prefix_sharing": sharing}), None)
    system = _system("pipeline", overrides={"dram": {"channels": 1}})
    mapping = load_mapping("pimgpt_kv_fit")
    sim = SystemSimulator(load_hardware("aim-32ch", overrides={"dram": {"channels": 1}}), mapping)
    one = dict(pim_required_bytes(wl, sim.mapper))
    from pimsim.engine.placement import resolve_devices
    from pimsim.hardware.system import SystemConfig

    dev = resolve_devices(SystemConfig.model_validate(system), "<t>", mapping, False)["pim"]
    from pimsim.workloads import resident_kv

    held = resident_kv(wl)
    for c in wl.resident_copies():
        m = c.model
        most = split_layers(m.layers, 2)[0]
        ends = max(m.embedding_params, m.head_params + m.norm_params + (m.vocab * m.hidden if m.tied_embeddings else 0))
        want = (most * m.weight_params_per_layer + ends) * 2 + math.ceil(one[c.label]["kv_cache_bytes"] * most / m.layers)
        assert dev.group.stage_bytes(m, c, held[c.label].tokens) == want


# ----------------------------------------------------------------------------------------- bad entries
@pytest.mark.parametrize("edit, match", [
    (lambda e: e.pop("parallel"), "need parallel:"),
    (lambda e: e.pop("interconnect"), "need parallel:"),
    (lambda e: e.update(count=1), "describe a group"),
    (lambda e: e.update(parallel="diagonal"), "parallel"),
    (lambda e: e["interconnect"].update(flit_bytes=256), "both flit_bytes and flit_payload_bytes"),
    (lambda e: e["interconnect"].update(flit_bytes=64, flit_payload_bytes=192), "exceeds flit_bytes"),
], ids=["no-parallel", "no-interconnect", "group-of-one", "unknown-parallel", "half-flits", "payload-too-big"])
def test_bad_group_entries_exit_2_naming_the_field(tmp_path, cli, edit, match):
    data = _system("pipeline")
    edit(data["devices"]["pim"])
    path = tmp_path / "group.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, out, err = cli("simulate", "--model", "gpt2-small", "--hardware", path, "--mapping", "pimgpt",
                       "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2, (out, err)
    assert match in err and "devices.pim" in err and "Traceback" not in err


def test_an_op_class_split_onto_a_group_is_refused(tmp_path, cli):
    data = {"kind": "system", "name": "g", "devices": {"gpu": {"device": "h100-sxm"},
                                                          "pim": _system("tensor")["devices"]["pim"]},
            "links": {"pcie": {"between": ["gpu", "pim"], "bytes_per_s": 6.3e10, "latency_ns": 1000,
                               "pj_per_bit": 4.4}}}
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", path, "--mapping", "attacc",
                     "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2 and "group of PIM devices" in err


# --------------------------------------------------------------------------------- hybrid (CENT's)
def test_a_pipeline_of_tensor_groups_reduces_to_its_two_ends():
    """tensor_group = count is one stage: the tensor group's time, plus nothing for hops; tensor_group 1 is
    the plain pipeline. Between them, at batch 1, a decode step costs the stage tensor group's token time
    plus (S-1) hidden hops."""
    model = load_model("gpt2-small")
    spec = GenerateSpec(prompt=4, generate=5)
    tensor = simulate(model, _system("tensor", 4), "pimgpt", spec)
    one_stage = dict(_system("pipeline", 4))
    one_stage["devices"]["pim"]["tensor_group"] = 4
    assert simulate(model, one_stage, "pimgpt", spec).latency_s == pytest.approx(tensor.latency_s, rel=1e-9)
    plain = simulate(model, _system("pipeline", 4), "pimgpt", spec)
    by_one = dict(_system("pipeline", 4))
    by_one["devices"]["pim"]["tensor_group"] = 1
    assert simulate(model, by_one, "pimgpt", spec).latency_s == plain.latency_s
    hybrid = dict(_system("pipeline", 4))
    hybrid["devices"]["pim"]["tensor_group"] = 2
    pairs = simulate(model, _system("tensor", 2), "pimgpt", spec)
    dec_h = next(p for p in simulate(model, hybrid, "pimgpt", spec).phases if p.kind == "decode")
    dec_p = next(p for p in pairs.phases if p.kind == "decode")
    hop, back = 2 * model.hidden / BW + LAT_NS * 1e-9, 4 / BW + LAT_NS * 1e-9
    steps = 4
    assert dec_h.latency_s == pytest.approx(dec_p.latency_s + steps * hop + (steps - 1) * back, rel=1e-9)


def test_tensor_group_must_divide_a_pipeline_group(tmp_path, cli):
    data = _system("pipeline", 6)
    data["devices"]["pim"]["tensor_group"] = 4
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump(data))
    rc, _, err = cli("simulate", "--model", "gpt2-small", "--hardware", path, "--mapping", "pimgpt",
                     "--workload", "generate", "--prompt", "8", "--generate", "4")
    assert rc == 2 and "tensor_group: 4" in err and "multiple" in err
