"""Batch-1 prefill on a GPU, captured in a CUDA graph, with fused causal attention.

Uses the weights of ../shared/tools/measure_gpu_baseline.py's decoder (gpt and llama styles). The prefill
runs every layer over T tokens with `scaled_dot_product_attention(is_causal=True)` on 4-D tensors (the
fused kernels' layout; grouped-query models expand K/V to the query heads, T x d elements per layer,
small beside the matmuls) and ends with the head on the last position. The whole prefill is one CUDA
graph, replayed for >= 1.5 s with NVML board energy over the window, so host overhead is excluded as in
the tool's decode rows. Appends JSON lines to $OUT/gpu_prefill.jsonl. The H200 run of 2026-11-26 is
pimsim/baselines/data/h200_gpu_prefill_raw.jsonl.
"""
import time

import torch
import torch.nn.functional as F
import pynvml

from gpu_log import json_log, measurement_tool

M = measurement_tool()
emit = json_log("gpu_prefill.jsonl")


def prefill(m, tok):
    T, hd = tok.shape[0], m.hd
    x = m.emb[tok]
    if m.style == "gpt":
        x = x + m.pos_emb[:T]
    for lw in m.layers:
        y = m.norm(x, lw["n1"])
        q, k, v = F.linear(y, lw["qkv"], lw["qkv_b"]).split([m.d, m.kvh * hd, m.kvh * hd], -1)
        q = q.view(1, T, m.h, hd).transpose(1, 2)
        k = k.view(1, T, m.kvh, hd).transpose(1, 2)
        v = v.view(1, T, m.kvh, hd).transpose(1, 2)
        if m.kvh != m.h:
            k = k.repeat_interleave(m.h // m.kvh, 1)
            v = v.repeat_interleave(m.h // m.kvh, 1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + F.linear(a.transpose(1, 2).reshape(T, m.d), lw["o"])
        y = m.norm(x, lw["n2"])
        if m.style == "gpt":
            x = x + F.linear(F.gelu(F.linear(y, lw["fc1"], lw["fc1_b"])), lw["fc2"])
        else:
            gt, up = F.linear(y, lw["gate_up"]).chunk(2, -1)
            x = x + F.linear(F.silu(gt) * up, lw["down"])
    return F.linear(x[-1:], m.lm).argmax(-1)


pynvml.nvmlInit()
hdl = pynvml.nvmlDeviceGetHandleByIndex(0)
MODELS = {  # zoo name: (layers, d, heads, kv_heads, ffn, vocab, style, dtype, prompt lengths)
    "gpt2-medium": (24, 1024, 16, 16, 4096, 50257, "gpt", torch.float16, (128, 512, 1024)),
    "gpt2-xl": (48, 1600, 25, 25, 6400, 50257, "gpt", torch.float16, (128, 512, 1024)),
    "gpt3-xl": (24, 2048, 16, 16, 8192, 50257, "gpt", torch.float16, (128, 512, 1024, 2048)),
    "qwen2.5-math-7b-instruct": (28, 3584, 28, 4, 18944, 152064, "llama", torch.bfloat16, (128, 512, 1024, 2048)),
}
for name, (L, d, h, kvh, ffn, vocab, style, dtype, lengths) in MODELS.items():
    try:
        m = M.Decoder(L, d, h, kvh, ffn, vocab, 2048, 1, style, dtype, "cuda")
    except Exception as e:  # noqa
        emit(dict(kind="error", part="prefill-build", model=name, err=repr(e)[:300]))
        continue
    for T in lengths:
        try:
            tok = torch.randint(0, vocab, (T,), device="cuda")
            with torch.inference_mode():
                s = torch.cuda.Stream()
                s.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(s):
                    for _ in range(3):
                        prefill(m, tok)
                torch.cuda.current_stream().wait_stream(s)
                gr = torch.cuda.CUDAGraph()
                with torch.cuda.graph(gr):
                    prefill(m, tok)
                for _ in range(5):
                    gr.replay()
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(10):
                    gr.replay()
                torch.cuda.synchronize()
                n = max(20, int(1.5 / ((time.perf_counter() - t0) / 10)))
                e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(hdl)
                t0 = time.perf_counter()
                for _ in range(n):
                    gr.replay()
                torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                j = (pynvml.nvmlDeviceGetTotalEnergyConsumption(hdl) - e0) / 1000.0
            emit(dict(kind="gpu-prefill-graph", model=name, params=m.params, dtype=str(dtype), batch=1, prompt=T,
                      reps=n, prefill_ms=1e3 * dt / n, energy_j=j / n, avg_w=j / dt))
            del gr
        except Exception as e:  # noqa
            emit(dict(kind="error", part="prefill", model=name, prompt=T, err=repr(e)[:300]))
    del m
    torch.cuda.empty_cache()
print("DONE")
