"""Batched decode and prefill on a GPU, with the decoder of ../shared/tools/measure_gpu_baseline.py.

Needs an NVIDIA GPU, PyTorch and nvidia-ml-py, and measure_gpu_baseline.py beside this file or in
../shared/tools. Appends JSON lines to $OUT/gpu_regimes.jsonl (OUT defaults to /tmp/out):
- gpu-graph-energy: batched decode (batch 4, 16, 64; 512 cached tokens), the tool's graph_energy: the whole
  step in one CUDA graph, >= 1.5 s of replays, NVML board energy over the window.
- gpu-prefill-eager: batch-1 prefill of 128/512/2048 tokens, eager PyTorch (see docs/baselines.md for why
  these are kept but not used).
The H200 run of 2026-11-26 is pimsim/baselines/data/h200_gpu_regimes_raw.jsonl.
"""
import time

import torch
import torch.nn.functional as F

from gpu_log import json_log, measurement_tool

M = measurement_tool()
emit = json_log("gpu_regimes.jsonl")


M.emit = emit  # the tool's graph_energy reports through emit
fp16 = torch.float16
GPT = {"gpt2-xl": (48, 1600, 25), "gpt3-xl": (24, 2048, 16), "gpt2-medium": (24, 1024, 16)}

# batched decode: long graphed replays (>= 1.5 s) at a fixed position, NVML energy over the window
for name in ("gpt3-xl", "gpt2-xl", "gpt2-medium"):
    L, d, h = GPT[name]
    for batch in (4, 16, 64):
        try:
            M.graph_energy(name, L, d, h, h, 4 * d, 50257, 512, batch, "gpt", fp16, seconds=1.5)
        except Exception as e:  # noqa
            emit(dict(kind="error", part="batched", model=name, batch=batch, err=repr(e)[:300]))


def prefill_forward(m, tok):
    """One prefill of len(tok) tokens, batch 1: the decoder's weights, causal attention, logits of the last."""
    T = tok.shape[0]
    x = m.emb[tok] + m.pos_emb[:T]
    for lw in m.layers:
        y = m.norm(x, lw["n1"])
        qkv = F.linear(y, lw["qkv"], lw["qkv_b"])
        q, k, v = qkv.split([m.d, m.d, m.d], -1)
        q = q.view(T, m.h, m.hd).transpose(0, 1)
        k = k.view(T, m.h, m.hd).transpose(0, 1)
        v = v.view(T, m.h, m.hd).transpose(0, 1)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + F.linear(a.transpose(0, 1).reshape(T, m.d), lw["o"])
        y = m.norm(x, lw["n2"])
        x = x + F.linear(F.gelu(F.linear(y, lw["fc1"], lw["fc1_b"])), lw["fc2"])
    return F.linear(m.norm(x[-1:], m.layers[-1]["n2"]), m.lm).argmax(-1)


import pynvml
pynvml.nvmlInit()
hdl = pynvml.nvmlDeviceGetHandleByIndex(0)
for name in ("gpt3-xl", "gpt2-xl", "gpt2-medium"):
    L, d, h = GPT[name]
    try:
        m = M.Decoder(L, d, h, h, 4 * d, 50257, 2048, 1, "gpt", fp16, "cuda")
        for T in (128, 512, 2048):
            tok = torch.randint(0, 50257, (T,), device="cuda")
            with torch.inference_mode():
                for _ in range(5):
                    prefill_forward(m, tok)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                for _ in range(10):
                    prefill_forward(m, tok)
                torch.cuda.synchronize()
                per = (time.perf_counter() - t0) / 10
                n = max(20, int(1.5 / per))
                e0 = pynvml.nvmlDeviceGetTotalEnergyConsumption(hdl)
                t0 = time.perf_counter()
                for _ in range(n):
                    prefill_forward(m, tok)
                torch.cuda.synchronize()
                dt = time.perf_counter() - t0
                j = (pynvml.nvmlDeviceGetTotalEnergyConsumption(hdl) - e0) / 1000.0
            emit(dict(kind="gpu-prefill-eager", model=name, params=m.params, dtype="torch.float16", batch=1,
                      prompt=T, reps=n, prefill_ms=1e3 * dt / n, energy_j=j / n, avg_w=j / dt))
        del m
        torch.cuda.empty_cache()
    except Exception as e:  # noqa
        emit(dict(kind="error", part="prefill", model=name, err=repr(e)[:300]))
print("DONE")
