"""Term-by-term account of the CENT reproduction's misses (docs/validation.md, "CENT"): no GPU needed.

1. Per transformer block and token, Llama2-7B on 8 CENT devices in tensor parallelism (Fig. 13a's setting):
   CENT's own PIM / CXL / accelerator terms (cent_published.yaml, from CENT's simulation_results.csv) beside
   pimsim's decode step at the same position (CENT: start_pos = seqlen - 1), split the same way (DRAM side of the PIM units; CXL fabric;
   the device's vector unit), and CENT's per-token terms pimsim has no counterpart for (embedding trace,
   0.15 ms of CPU top-K sampling).
2. The GPU system (4 x a100-80gb, framework mode) against CENT's measured Llama2-70B query latency by batch
   (data/GPU_70B_4k.csv): how each side scales from batch 1.

Run: `.venv/bin/python tools/cent_terms.py` (about 40 s on 2 cores).
"""

from __future__ import annotations

from pimsim.baselines import run_baseline
from pimsim.engine import simulate
from pimsim.models import get_model
from pimsim.validate.checks_cent import GPU, GPU_COUNT, GPU_MODE, MAPPING, _spec, published
from pimsim.workloads import Phase, Workload, expand

DRAM_TERMS = ("pim.pim_", "pim.kv_write", "pim.refresh")


def block_terms(model: str = "llama2-7b") -> list[str]:
    pub = published()
    m, mc = pub["models"][model], get_model(model)
    rows = [f"{model}, {m['devices']} devices TP, per block per token, us: context | CENT pim / cxl / acc | "
            "pimsim pim / cxl / asic | CENT token ms (+ embedding, + 0.15 ms sampling) | pimsim token ms"]
    for ctx_tokens, c in pub["block_terms_ms"][model].items():
        wl = Workload(spec=f"decode at {ctx_tokens}", phases=(
            Phase("decode", "policy", "decode", mc, 1, 1, int(ctx_tokens) - 1, 1),), generated_tokens=1)
        r = simulate(mc, f"{m['system']}-tp", MAPPING, wl)
        t = r.breakdown_s
        pim = sum(v for k, v in t.items() if k.startswith(DRAM_TERMS)) / mc.layers
        cxl, asic = t.get("pim.interconnect", 0.0) / mc.layers, t.get("pim.asic", 0.0) / mc.layers
        rows.append(f"{ctx_tokens:>6} | {c['pim'] * 1e3:6.2f} / {c['cxl'] * 1e3:5.2f} / {c['acc'] * 1e3:5.2f} | "
                    f"{pim * 1e6:6.2f} / {cxl * 1e6:5.2f} / {asic * 1e6:5.2f} | {c['token']:.3f} "
                    f"(+{c['embedding']:.4f}, +0.15) | {r.latency_s * 1e3:.3f}")
    return rows


def gpu_batch_scaling(model: str = "llama2-70b") -> list[str]:
    pub = published()["gpu_70b_4k_query_latency_s"]
    mc = get_model(model)
    rows = [f"{model} on {GPU_COUNT} x {GPU} ({GPU_MODE}), sequence 4096: batch | CENT measured query s (x batch 1) "
            "| pimsim s (x batch 1)"]
    base_m = base_p = None
    for batch, measured in pub.items():
        s = run_baseline(expand(_spec(int(batch)), mc), GPU, GPU_MODE, GPU_COUNT).latency_s
        base_m, base_p = base_m or measured, base_p or s
        rows.append(f"{batch:>5} | {measured:8.2f} ({measured / base_m:4.2f}) | {s:8.2f} ({s / base_p:4.2f})")
    return rows


if __name__ == "__main__":
    print("\n".join(block_terms()))
    print()
    print("\n".join(gpu_batch_scaling()))
