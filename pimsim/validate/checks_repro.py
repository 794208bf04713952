"""Check families of the IANUS and NeuPIMs reproductions (issue 13); tolerances in tolerances.d/repro.yaml,
published values and setup in data/repro_published.yaml (each with its source).

IANUS (ASPLOS 2024; no public simulator, figures as shared/reference/peer_studies.md restates the paper):
the `ianus` system (ianus-npu + ianus-aim-8ch, pimsim/hardware/systems/ianus.yaml), mapping prefill-gpu
(prefill on the NPU, decode on PIM), batch 1.
- ianus.latency_ratio: a100-80gb (framework mode) end-to-end latency over the ianus system's, GPT-2 M / L / XL
  at prompt 128 + 512 generated, against 12.0 / 8.1 / 6.6x.
- ianus.gpt2xl_token_latency: GPT-2 XL at (64, 256), latency per generated token, against 3.8 ms.
- ianus.pim_over_npu: the NPU alone (gpu-only on the same system) over the NPU + PIM at (64, 256), against
  15.5 / 3.8 = 4.08x.

NeuPIMs (ASPLOS 2024; setup read in casys-kaist/NeuPIMs at f299af3): the `neupims` system (neupims-npu +
neupims-hbm2), one device's shard of each GPT-3 model of its configs (data/repro_models/*.json), one decode
step of B sequences at context 300 (the mean seq_len of its ShareGPT bs512 request trace), B in 256, 512 (its
README enables sub-batch interleaving at B >= 256). Decode throughput is B / step seconds. The three systems:
NPU-only = gpu-only, naive NPU+PIM = attacc (weights as NPU GEMMs, attention on PIM, serial: one row buffer),
NeuPIMs = attacc_overlap (two sub-batches whose NPU and PIM work overlap: what dual row buffers allow).
- neupims.ratio_npu_only / neupims.ratio_naive: per model, the geometric mean over the batches whose three
  runs fit (pimsim checks each device's capacity) of NeuPIMs' throughput over the baseline's, against 2.4x /
  1.6x. A batch that does not fit is named in the row's message.
`neupims_step` and `ianus_runs` are the runs the rows are built from (also used by docs/reproductions.md's
term-by-term account and by tests).
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

from pimsim.validate.checks import MS, Context, X
from pimsim.validate.report import Check

HERE = Path(__file__).resolve().parent
DATA = HERE / "data" / "repro_published.yaml"


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load(DATA.read_text())


def neupims_model(name: str):
    """One device's shard `name` of a NeuPIMs GPT-3 model, built from its full shape in repro_published.yaml
    ([layers, n_embd, n_head, n_tp, n_pp]) by Megatron's split: layers / PP layers, heads / TP heads of
    n_embd / n_head, an FFN of 4 n_embd / TP, a vocabulary of ceil(50304 / TP); norms replicated, GPT-style
    blocks (LayerNorm, GELU, learned positions, biases, tied embedding), NeuPIMs' max_seq_len 2048. Built from
    the packaged YAML so that `pimsim validate` needs no other file; data/repro_models/NAME.json holds the same
    model for the experiment (tests/test_repro_ianus_neupims.py checks they are equal)."""
    from pimsim.models import ModelConfig

    from pimsim.errors import ConfigError

    p = published()["neupims"]
    if name not in p["shapes"]:
        raise ConfigError(f"unknown NeuPIMs shard {name!r}; known (data/repro_published.yaml neupims.shapes): "
                          f"{', '.join(p['shapes'])}")
    layers, e, heads, tp, pp = p["shapes"][name]
    tag = name.split("-")[2].upper()
    return ModelConfig(
        name=name, family="gpt3", layers=layers // pp, hidden=e, heads=heads // tp, kv_heads=heads // tp,
        head_dim=e // heads, ffn=4 * e // tp, vocab=-(-p["vocab"] // tp), max_context=2048, norm="layernorm",
        mlp="gelu", position="learned", tied_embeddings=True, qkv_bias=True, linear_bias=True, head="lm",
        source=(f"one device's shard of NeuPIMs' GPT3-{tag} (casys-kaist/NeuPIMs f299af3 "
                f"configs/model_configs/gpt3-{tag}.json: n_head {heads}, n_embd {e}, n_tp {tp}, n_pp {pp}, "
                f"vocab 50304; layers {layers} from trace-generator/get_distributions.py ModelConfig.init): "
                f"Megatron tensor parallelism gives each device heads/{tp} and ffn/{tp} (4E/{tp}), the vocabulary "
                f"split {tp} ways, and pipeline parallelism layers/{pp}; norms replicated; no all-reduce modelled"))


# ------------------------------------------------------------------------------------------------- IANUS
def ianus_runs(model: str, prompt: int, generate: int, which: str):
    """One run of the IANUS setup: which = "pim" (ianus, prefill-gpu), "pim_paper" (ianus, IANUS's own op split:
    `paper_mapping`), "npu" (ianus, gpu-only) or "gpu" (the A100 of the comparison)."""
    from pimsim.baselines import run_baseline
    from pimsim.engine import simulate
    from pimsim.models import get_model
    from pimsim.workloads import GenerateSpec, expand

    p = published()["ianus"]
    spec = GenerateSpec(prompt=prompt, generate=generate)
    if which == "gpu":
        return run_baseline(expand(spec, get_model(model)), p["gpu"]["device"], p["gpu"]["mode"])
    mapping = {"pim": p["mapping"], "pim_paper": p["paper_mapping"], "npu": p["npu_only_mapping"]}[which]
    return simulate(model, p["system"], mapping, spec)


def _ianus(ctx: Context, model: str, prompt: int, generate: int, which: str):
    return ctx.cached(("ianus", model, prompt, generate, which), lambda: ianus_runs(model, prompt, generate, which))


_IANUS_SETTINGS = (("pim", ""), ("pim_paper", " in IANUS's op split (ianus_paper)"))  # (run, label suffix)


def ianus_latency_ratio(ctx: Context) -> list[Check]:
    fam, pub = "ianus.latency_ratio", published()["ianus"]["latency_ratio"]
    out = []
    for which, suffix in _IANUS_SETTINGS:
        for model, ref in pub["ratio"].items():
            pim = _ianus(ctx, model, pub["prompt"], pub["generate"], which)
            gpu = _ianus(ctx, model, pub["prompt"], pub["generate"], "gpu")
            ratio = gpu.latency_s / pim.latency_s
            out.append(ctx.check(fam, f"A100 (framework) / IANUS latency{suffix}, {model} ({pub['prompt']}, "
                                      f"{pub['generate']})", ratio, (ref, ref), X, item=model + suffix,
                                 pimsim_text=f"{ratio:.4g}x (A100 {gpu.latency_s:.4g} s, IANUS {pim.latency_s:.4g} s)"))
    return out


def ianus_token_latency(ctx: Context) -> list[Check]:
    pub = published()["ianus"]["token_latency"]
    npu = _ianus(ctx, pub["model"], pub["prompt"], pub["generate"], "npu")
    t_npu = npu.e2e_latency_per_token_s
    where = f"{pub['model']} ({pub['prompt']}, {pub['generate']})"
    out = []
    for which, suffix in _IANUS_SETTINGS:
        t_pim = _ianus(ctx, pub["model"], pub["prompt"], pub["generate"], which).e2e_latency_per_token_s
        item = (pub["model"] + suffix) if suffix else None
        out += [ctx.check("ianus.gpt2xl_token_latency", f"ianus system latency per generated token{suffix}, {where}",
                          t_pim, (pub["pim_s"],) * 2, MS, item=item),
                ctx.check("ianus.pim_over_npu", f"NPU alone / NPU + PIM latency per token{suffix}, {where}",
                          t_npu / t_pim, (published()["ianus"]["pim_over_npu"],) * 2, X, item=item,
                          pimsim_text=f"{t_npu / t_pim:.4g}x ({t_npu * 1e3:.4g} / {t_pim * 1e3:.4g} ms)")]
    return out


# ----------------------------------------------------------------------------------------------- NeuPIMs
def neupims_step(model: str, batch: int, which: str, context: int | None = None):
    """One decode step of `batch` sequences at `context` (default the trace's mean) on the neupims system,
    `which` in npu_only / naive / neupims (data/repro_published.yaml: mappings)."""
    from pimsim.engine import simulate
    from pimsim.workloads import Phase, Workload

    p = published()["neupims"]
    if which not in p["mappings"]:
        from pimsim.errors import ConfigError

        raise ConfigError(f"unknown NeuPIMs system {which!r}; known: {', '.join(p['mappings'])}")
    m = neupims_model(model)
    ctx_tokens = context or p["context_tokens"]
    wl = Workload(spec=f"decode step at {ctx_tokens}", phases=(
        Phase("decode", "policy", "decode", m, batch, 1, ctx_tokens, 1),), generated_tokens=batch)
    return simulate(m, p["system"], p["mappings"][which], wl)


def neupims_ratios(ctx: Context) -> list[Check]:
    from pimsim.errors import CapacityError

    p = published()["neupims"]
    runs: dict[tuple[str, int], dict[str, float]] = {}
    misfit: dict[str, list[str]] = {}
    for model in p["models"]:
        for b in p["batches"]:
            for which in ("npu_only", "naive", "neupims"):
                try:
                    r = ctx.cached(("neupims", model, b, which), lambda: neupims_step(model, b, which))
                    runs.setdefault((model, b), {})[which] = r.latency_s
                except CapacityError:
                    misfit.setdefault(model, []).append(f"{which} at batch {b}")
    out = []
    for fam, base, ref in (("neupims.ratio_npu_only", "npu_only", p["ratio_npu_only"]),
                           ("neupims.ratio_naive", "naive", p["ratio_naive"])):
        for model in p["models"]:
            # throughput ratio = (B / t_neupims) / (B / t_base) = t_base / t_neupims at one batch
            per = {b: runs[(model, b)][base] / runs[(model, b)]["neupims"] for b in p["batches"]
                   if base in runs.get((model, b), {}) and "neupims" in runs.get((model, b), {})}
            gone = [m for m in misfit.get(model, []) if m.startswith((base, "neupims"))]
            msg = f"does not fit a device: {', '.join(gone)} (left out of the mean)" if gone else None
            if not per:
                out.append(ctx.check(fam, f"NeuPIMs / {base}, {model}", float("nan"), (ref, ref), X, item=model,
                                     fail=True, pimsim_text="does not fit", message=msg))
                continue
            geo = math.exp(sum(math.log(v) for v in per.values()) / len(per))
            shown = ", ".join(f"B {b}: {v:.3g}x" for b, v in per.items())
            out.append(ctx.check(fam, f"NeuPIMs / {base} decode throughput at context {p['context_tokens']}, {model}",
                                 geo, (ref, ref), X, item=model, pimsim_text=f"{geo:.4g}x ({shown})", message=msg))
    return out


# ------------------------------------------------------------------------------ experiment evaluators
# experiments/repro_ianus.yaml and repro_neupims.yaml name these as `evaluator:`: each evaluates a point as
# the built-in evaluator does (`pimsim.experiments.evaluate`), and adds the ratios the studies publish as row
# columns under `counters.` (so a bars plot can put the published ratio beside pimsim's), computed from the
# same runs the check families make.

def _decode_only(workload):
    """`workload` without its prefill: a generate of prompt P and 2 tokens is one decode step at context P,
    the step `neupims_step` times (its generated tokens: one per sequence)."""
    from pimsim.workloads import Workload

    steps = tuple(p for p in workload.phases if p.kind == "decode")
    return Workload(workload.spec, steps, generated_tokens=sum(p.batch * p.steps for p in steps),
                    problems=workload.problems, notes=workload.notes)


def neupims_point(point: dict) -> dict:
    """A point of experiments/repro_neupims.yaml: one decode step (`_decode_only`) on the neupims system,
    its `model` column the shard's name (the experiment names model files); the NeuPIMs point (mapping attacc_overlap) also gets counters.over_npu_only and counters.over_naive, its
    throughput over the other two mappings' at the same step (NaN where one does not fit)."""
    from pimsim.errors import CapacityError
    from pimsim.experiments.evaluate import _simulate, _system_parts, load_point_workload, result_row

    wl = _decode_only(load_point_workload(point))
    result = _simulate(point, wl)
    row = {**result_row(result, wl), **_system_parts(result)}
    row["model"] = wl.phases[0].model.name  # the shard's name, not its file path (tables and plot labels)
    maps = published()["neupims"]["mappings"]
    if point.get("mapping") == maps["neupims"]:
        for which in ("npu_only", "naive"):
            try:
                other = _simulate({**point, "mapping": maps[which]}, wl).latency_s
                row[f"counters.over_{which}"] = other / result.latency_s
            except CapacityError:
                row[f"counters.over_{which}"] = float("nan")
    return row


def ianus_point(point: dict) -> dict:
    """A point of experiments/repro_ianus.yaml, evaluated by the built-in evaluator; the ianus system's
    prefill-gpu and ianus_paper points also get counters.a100_over_ianus (the check's A100, `ianus_runs(...,
    "gpu")`, over its latency) and counters.npu_over_ianus (the same system's gpu-only over it)."""
    from pimsim.experiments.evaluate import _simulate, evaluate_point, load_point_workload

    row = dict(evaluate_point(point))
    p = published()["ianus"]
    if point.get("target") == "system" and point.get("mapping") in (p["mapping"], p["paper_mapping"]):
        from pimsim.baselines import run_baseline

        wl = load_point_workload(point)
        gpu = run_baseline(wl, p["gpu"]["device"], p["gpu"]["mode"])
        row["counters.a100_over_ianus"] = gpu.latency_s / row["latency_s"]
        row["counters.npu_over_ianus"] = _simulate({**point, "mapping": p["npu_only_mapping"]}, wl).latency_s \
            / row["latency_s"]
    return row


_GROUPS = {"ianus.ratio": ianus_latency_ratio, "ianus.token": ianus_token_latency, "neupims": neupims_ratios}


def _family(group: str, family: str) -> Callable[[Context], list[Check]]:
    """The rows of `family`, from its group's runs (computed once per validation, shared by the group)."""
    def run(ctx: Context) -> list[Check]:
        return [c for c in ctx.cached(("repro-group", group), lambda: _GROUPS[group](ctx)) if c.family == family]

    return run


FAMILIES: dict[str, Callable[[Context], list[Check]]] = {
    fam: _family(group, fam) for group, fams in (
        ("ianus.ratio", ("ianus.latency_ratio",)),
        ("ianus.token", ("ianus.gpt2xl_token_latency", "ianus.pim_over_npu")),
        ("neupims", ("neupims.ratio_npu_only", "neupims.ratio_naive")),
    ) for fam in fams
}
