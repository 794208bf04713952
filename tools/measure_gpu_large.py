"""Batch 1-16 decode of two 7-8B GQA models on a GPU, with the decoder of ../shared/tools/measure_gpu_baseline.py.

The tool's llama-style decoder expands K/V to every query head (repeat_interleave) before attention, which
copies the cache each step; a serving stack does not. Here attention groups the query heads of each KV head
as a short query sequence against that head's cache (exact for decode: the cache holds only past tokens, so
no mask is needed), so no copy is made. Everything else is the tool's: weights, graph capture, NVML energy
over >= 1.5 s of replays. Batches: $BATCHES (default 1,4,16). FUSED=1 measures FusedDecoder (a serving
stack's kernel count) instead. Each model's kernels per step are counted with torch.profiler first. Appends JSON lines to $OUT/gpu_large.jsonl. The H200 run of 2026-11-26 is
pimsim/baselines/data/h200_gpu_large_raw.jsonl.
"""
import os

import torch
import torch.nn.functional as F

from gpu_log import json_log, measurement_tool

M = measurement_tool()
emit = json_log("gpu_large.jsonl")


class GroupedDecoder(M.Decoder):
    def step(self, tok, pos):
        B, hd, rep = self.B, self.hd, self.h // self.kvh
        x = self.emb[tok]
        for i, lw in enumerate(self.layers):
            y = self.norm(x, lw["n1"])
            qkv = F.linear(y, lw["qkv"], lw["qkv_b"])
            q, k, v = qkv.split([self.d, self.kvh * hd, self.kvh * hd], -1)
            q = q.view(B, self.kvh, rep, hd)
            k = k.view(B, self.kvh, 1, hd)
            v = v.view(B, self.kvh, 1, hd)
            q = q * 0.5 + q.flip(-1) * 0.5  # rotary stand-in, as the tool's
            k = k * 0.5 + k.flip(-1) * 0.5
            self.k[i].index_copy_(2, pos, k)
            self.v[i].index_copy_(2, pos, v)
            a = F.scaled_dot_product_attention(q, self.k[i], self.v[i])  # cache of ctx+1: all valid at pos=ctx
            x = x + F.linear(a.reshape(B, self.d), lw["o"])
            y = self.norm(x, lw["n2"])
            gu = F.linear(y, lw["gate_up"])
            gt, up = gu.chunk(2, -1)
            x = x + F.linear(F.silu(gt) * up, lw["down"])
        return F.linear(x, self.lm).argmax(-1)


class FusedDecoder(GroupedDecoder):
    """As GroupedDecoder with a serving stack's kernel count: RMSNorm as one fused op (F.rms_norm) and the
    rotary stand-in as one elementwise pass over q and k together (same bytes, one kernel)."""

    def step(self, tok, pos):
        B, hd, rep, qk_w = self.B, self.hd, self.h // self.kvh, self.d + self.kvh * self.hd
        x = self.emb[tok]
        for i, lw in enumerate(self.layers):
            y = F.rms_norm(x, (self.d,), lw["n1"], eps=1e-6)
            qkv = F.linear(y, lw["qkv"], lw["qkv_b"])
            qk = qkv[:, :qk_w] * 0.5  # rotary stand-in: one kernel over q and k
            q = qk[:, :self.d].view(B, self.kvh, rep, hd)
            k = qk[:, self.d:].view(B, self.kvh, 1, hd)
            v = qkv[:, qk_w:].view(B, self.kvh, 1, hd)
            self.k[i].index_copy_(2, pos, k)
            self.v[i].index_copy_(2, pos, v)
            a = F.scaled_dot_product_attention(q, self.k[i], self.v[i])
            x = x + F.linear(a.reshape(B, self.d), lw["o"])
            y = F.rms_norm(x, (self.d,), lw["n2"], eps=1e-6)
            gt, up = F.linear(y, lw["gate_up"]).chunk(2, -1)
            x = x + F.linear(F.silu(gt) * up, lw["down"])
        return F.linear(x, self.lm).argmax(-1)


def kernels_per_step(cls, L, d, h, kvh, ffn, vocab):
    """CUDA kernels one eager batch-1 decode step launches (torch.profiler), the graph's kernel count."""
    from torch.profiler import ProfilerActivity, profile
    m = cls(L, d, h, kvh, ffn, vocab, 513, 1, "llama", torch.bfloat16, "cuda")
    tok = torch.zeros(1, dtype=torch.long, device="cuda")
    pos = torch.tensor([512], device="cuda")
    with torch.inference_mode():
        m.step(tok, pos)
        torch.cuda.synchronize()
        with profile(activities=[ProfilerActivity.CUDA]) as prof:
            m.step(tok, pos)
            torch.cuda.synchronize()
    n = sum(1 for e in prof.events() if e.device_type == torch.autograd.DeviceType.CUDA)
    del m
    torch.cuda.empty_cache()
    return n


BATCHES = [int(b) for b in os.environ.get("BATCHES", "1,4,16").split(",")]  # sequences per decode step
DECODER = "fused" if os.environ.get("FUSED") == "1" else "tool"  # FUSED=1: FusedDecoder
M.Decoder = FusedDecoder if DECODER == "fused" else GroupedDecoder
M.emit = lambda rec: emit(dict(rec, decoder=DECODER))
LARGE = {  # zoo name: (layers, d_model, heads, kv_heads, ffn, vocab)
    "rlhflow-8b-prm": (32, 4096, 32, 8, 14336, 128256),
    "qwen2.5-math-7b-instruct": (28, 3584, 28, 4, 18944, 152064),
}
for name, (L, d, h, kvh, ffn, vocab) in LARGE.items():
    try:
        emit(dict(kind="kernels-per-step", model=name, decoder=DECODER,
                  kernels=kernels_per_step(M.Decoder, L, d, h, kvh, ffn, vocab)))
    except Exception as e:  # noqa
        emit(dict(kind="error", part="kernel-count", model=name, err=repr(e)[:300]))
    for batch in BATCHES:
        try:
            M.graph_energy(name, L, d, h, kvh, ffn, vocab, 512, batch, "llama", torch.bfloat16, seconds=1.5)
        except Exception as e:  # noqa
            emit(dict(kind="error", part="large", model=name, batch=batch, err=repr(e)[:300]))
print("DONE")
