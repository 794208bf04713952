"""Check families of the CENT reproduction (issue 13); tolerances in tolerances.d/cent.yaml, published values in
data/cent_published.yaml (Yufeng98/CENT at 8c79786).

CENT's setting: Llama2-7B / 13B / 70B on 8 / 20 / 32 CXL-attached AiM devices (pimsim/hardware/systems
cent-Ndev, pipeline, and cent-Ndev-tp, tensor), prefill 512 + decode 3584 tokens, pimsim's own mapping
pimgpt_kv_fit. The GPU system is 4 x a100-80gb, tensor-parallel, framework mode [assumption]; "the highest
batch it can achieve" is the largest batch whose weights and KV cache pass pimsim's capacity check.

- cent.fig13a.*: batch-1 end-to-end latency of CENT (tensor parallel) and of the GPU system, and their ratio;
  cent.fig13a.cent_latency_with_sampling adds CENT's 0.15 ms a token of CPU sampling (a system `host:`), the
  paper's setting of the one term pimsim's systems otherwise leave out.
- cent.fig13b.*: CENT's prefill / decode / end-to-end throughput at PP = 32 / 40 / 80 sequences in flight on
  the pipeline systems, and its ratio over the GPU system at its largest batch.
- cent.fig14a.decode_ratio: Llama2-70B decode throughput at the mid-decode context of sequences of 4K-32K
  (CENT PP 80 over the GPU system at its largest batch for that sequence), with the model's max context
  raised to 32K as CENT does.
- cent.fig15.*: CENT's end-to-end power and the CENT / GPU tokens-per-joule ratio of the fig13b runs.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Callable

import yaml

from pimsim.validate.checks import MS, Context, Fmt, X, largest_passing
from pimsim.validate.report import Check

DATA = Path(__file__).resolve().parent / "data" / "cent_published.yaml"
MAPPING = "pimgpt_kv_fit"
GPU, GPU_COUNT, GPU_MODE = "a100-80gb", 4, "framework"
PHASES = ("prefill", "decode", "end2end")

class _Unit(Fmt):
    """A plain unit the shared formats lack (tokens/s, W): 4 significant digits and the unit."""

    def value(self, v: float | None) -> str:
        text = super().value(v)
        return text if text == "n/a" else f"{text} {self.unit}"


TOKENS_PER_S, WATT = _Unit("tokens/s"), _Unit("W")


@lru_cache(maxsize=1)
def published() -> dict:
    return yaml.safe_load(DATA.read_text())


def _models() -> dict[str, dict]:
    return published()["models"]


def _spec(batch: int, sequence: int | None = None):
    from pimsim.workloads import GenerateSpec

    p = published()
    total = sequence or p["prefill_tokens"] + p["decode_tokens"]
    # generate G: the prefill emits the first token, G - 1 decode steps follow (phases.py)
    return GenerateSpec(prompt=p["prefill_tokens"], generate=total - p["prefill_tokens"] + 1, batch=batch)


def _cent(ctx: Context, model: str, system: str, batch: int):
    from pimsim.engine import simulate

    return ctx.cached(("cent", model, system, batch), lambda: simulate(model, system, MAPPING, _spec(batch)))


def _gpu(ctx: Context, model, batch: int, workload=None):
    from pimsim.baselines import run_baseline
    from pimsim.workloads import expand

    key = ("cent-gpu", getattr(model, "name", model), batch, None if workload is None else id(workload))
    return ctx.cached(key, lambda: run_baseline(workload or expand(_spec(batch), _model(model)), GPU, GPU_MODE,
                                                GPU_COUNT))


def _model(model):
    from pimsim.models import get_model

    return get_model(model) if isinstance(model, str) else model


def gpu_max_batch(model, sequence: int) -> int:
    """Largest batch whose weights + KV cache of `sequence` tokens pass the GPU system's capacity check."""
    from pimsim.baselines import load_device
    from pimsim.baselines.model import check_capacity
    from pimsim.errors import CapacityError
    from pimsim.workloads import expand

    dev, mc = load_device(GPU), _model(model)

    def fits(b: int) -> bool:
        try:
            check_capacity(expand(_spec(b, sequence), mc), dev, GPU_COUNT)
            return True
        except CapacityError:
            return False

    return largest_passing(fits)


def _throughputs(res, batch: int) -> dict[str, float]:
    """Tokens per second by phase: prefill batch x 512 tokens, decode batch x 3584, end to end both."""
    p = published()
    by = {ph.name: ph.latency_s for ph in res.phases}
    pre, dec = batch * p["prefill_tokens"], batch * p["decode_tokens"]
    return {"prefill": pre / by["prefill"], "decode": dec / by["decode"], "end2end": (pre + dec) / res.latency_s}


def fig13a(ctx: Context) -> list[Check]:
    pub = published()["fig13a"]
    out = []
    for model, m in _models().items():
        cent = _cent(ctx, model, f"{m['system']}-tp", 1)
        gpu = _gpu(ctx, model, 1)
        rows = (("cent.fig13a.cent_latency", f"CENT {m['devices']} devices TP, {model}", cent.latency_s,
                 pub["cent_latency_s"][model], MS),
                ("cent.fig13a.gpu_latency", f"4 x A100 framework, {model}", gpu.latency_s,
                 pub["gpu_latency_s"][model], MS),
                ("cent.fig13a.speedup", f"GPU / CENT latency, {model}", gpu.latency_s / cent.latency_s,
                 pub["speedup"][model], X))
        out += [ctx.check(fam, label, v, (ref, ref), fmt, item=model) for fam, label, v, ref, fmt in rows]
    return out


SAMPLING_STEP_S = 0.15e-3  # CENT cent_simulation/utils.py InOut_latency = 0.15 (ms), "Top-K sampling on CPU"


def fig13a_with_sampling(ctx: Context) -> list[Check]:
    """Fig. 13a's CENT runs with CENT's own CPU sampling term (the paper's setting of that one term): a
    system `host:` adds its seconds per token step serially (tests/test_cent_repro.py holds a run with it to
    exactly this sum), so the rows reuse the runs of cent.fig13a.cent_latency."""
    pub, fam = published()["fig13a"], "cent.fig13a.cent_latency_with_sampling"
    steps = published()["prefill_tokens"] + published()["decode_tokens"]  # every prompt token and decode step
    out = []
    for model, m in _models().items():
        latency = _cent(ctx, model, f"{m['system']}-tp", 1).latency_s + SAMPLING_STEP_S * steps
        out.append(ctx.check(fam, f"CENT {m['devices']} devices TP + 0.15 ms/token CPU sampling, {model}",
                             latency, (pub["cent_latency_s"][model],) * 2, MS, item=model))
    return out


def fig13b_and_15(ctx: Context) -> list[Check]:
    pub13, pub15 = published()["fig13b"], published()["fig15"]
    out = []
    for model, m in _models().items():
        cent = _cent(ctx, model, m["system"], m["pp"])
        b_gpu = gpu_max_batch(model, published()["prefill_tokens"] + published()["decode_tokens"])
        gpu = _gpu(ctx, model, b_gpu)
        ct, gt = _throughputs(cent, m["pp"]), _throughputs(gpu, b_gpu)
        for ph in PHASES:
            key = "decode" if ph == "decode" else ph
            out.append(ctx.check("cent.fig13b.cent_throughput", f"CENT PP {m['pp']} {ph} tokens/s, {model}", ct[ph],
                                 (pub13["cent_tokens_per_s"][model][key],) * 2, TOKENS_PER_S, item=f"{model} {ph}"))
            out.append(ctx.check("cent.fig13b.throughput_ratio", f"CENT / GPU (batch {b_gpu}) {ph}, {model}",
                                 ct[ph] / gt[ph], (pub13["ratio"][model][key],) * 2, X, item=f"{model} {ph}"))
        watts = cent.energy_j / cent.latency_s
        out.append(ctx.check("cent.fig15.power", f"CENT PP {m['pp']} end-to-end power, {model}", watts,
                             (pub15["cent_power_w"][model],) * 2, WATT, item=model))
        tpj = (ct["end2end"] * cent.latency_s / cent.energy_j) / (gt["end2end"] * gpu.latency_s / gpu.energy_j)
        out.append(ctx.check("cent.fig15.tokens_per_joule_ratio", f"CENT / GPU (batch {b_gpu}) tokens per J, {model}",
                             tpj, (pub15["tokens_per_joule_ratio"][model],) * 2, X, item=model))
    return out


def fig14a(ctx: Context) -> list[Check]:
    from pimsim.engine import simulate
    from pimsim.errors import CapacityError
    from pimsim.workloads import Phase, Workload

    pub, fam = published()["fig14a"], "cent.fig14a.decode_ratio"
    base = _model("llama2-70b")
    model = base.model_copy(update={"max_context": max(pub["sequence_tokens"])})  # CENT runs 70B to 32K
    m, dec = _models()["llama2-70b"], published()["decode_tokens"]
    out = []
    for seq, ref in zip(pub["sequence_tokens"], pub["ratio"]):
        ctx_tokens = (seq + seq - dec) // 2  # figure_14a.py's mid-decode context
        label = f"Llama2-70B decode at context {ctx_tokens} (sequence {seq})"
        step = lambda b: Workload(spec=f"decode step at {ctx_tokens}", phases=(
            Phase("decode", "policy", "decode", model, b, 1, ctx_tokens, 1),), generated_tokens=b)
        try:
            cent = simulate(model, m["system"], MAPPING, step(m["pp"]))
        except CapacityError as exc:
            out.append(ctx.check(fam, label, float("nan"), (ref, ref), X, item=str(seq), fail=True,
                                 pimsim_text="does not fit", message=f"CENT side: {exc}"))
            continue
        b_gpu = gpu_max_batch(model, seq)
        gpu = _gpu(ctx, model, b_gpu, step(b_gpu))
        ratio = (m["pp"] / cent.latency_s) / (b_gpu / gpu.latency_s)
        out.append(ctx.check(fam, f"{label}: CENT PP {m['pp']} / GPU batch {b_gpu}", ratio, (ref, ref), X,
                             item=str(seq)))
    return out


PAPER_MAPPING = "cent_paper"


def fig13a_paper_setting(ctx: Context) -> list[Check]:
    """Fig. 13a's CENT runs in CENT's own setting of the terms where its model and pimsim's differ by design:
    system cent-Ndev-tp-paper (CENT's accelerator latency model, its 0.15 ms of CPU sampling per token step)
    with mapping cent_paper (CENT's trace generator's program for every op). The GPU side is the rows above."""
    from pimsim.engine import simulate

    pub, out = published()["fig13a"], []
    for model, m in _models().items():
        system = f"{m['system']}-tp-paper"
        cent = ctx.cached(("cent-paper", model, system), lambda: simulate(model, system, PAPER_MAPPING, _spec(1)))
        gpu = _gpu(ctx, model, 1)
        out.append(ctx.check("cent.fig13a.cent_latency_paper_setting",
                             f"CENT {m['devices']} devices TP in CENT's setting ({system}, {PAPER_MAPPING}), {model}",
                             cent.latency_s, (pub["cent_latency_s"][model],) * 2, MS, item=model))
        out.append(ctx.check("cent.fig13a.speedup_paper_setting",
                             f"GPU / CENT latency, CENT in CENT's setting, {model}", gpu.latency_s / cent.latency_s,
                             (pub["speedup"][model],) * 2, X, item=model))
    return out


_GROUPS = {"fig13a": fig13a, "fig13a-paper": fig13a_paper_setting, "fig13a-sampling": fig13a_with_sampling, "fig13b": fig13b_and_15, "fig14a": fig14a}


def _family(group: str, family: str) -> Callable[[Context], list[Check]]:
    """The rows of `family`, from its group's runs (one computation per validation, shared by the group)."""
    def run(ctx: Context) -> list[Check]:
        return [c for c in ctx.cached(("cent-group", group), lambda: _GROUPS[group](ctx)) if c.family == family]

    return run


FAMILIES: dict[str, Callable[[Context], list[Check]]] = {
    fam: _family(group, fam) for group, fams in (
        ("fig13a", ("cent.fig13a.cent_latency", "cent.fig13a.gpu_latency", "cent.fig13a.speedup")),
        ("fig13a-sampling", ("cent.fig13a.cent_latency_with_sampling",)),
        ("fig13a-paper", ("cent.fig13a.cent_latency_paper_setting", "cent.fig13a.speedup_paper_setting")),
        ("fig13b", ("cent.fig13b.cent_throughput", "cent.fig13b.throughput_ratio", "cent.fig15.power",
                    "cent.fig15.tokens_per_joule_ratio")),
        ("fig14a", ("cent.fig14a.decode_ratio",))) for fam in fams
}
