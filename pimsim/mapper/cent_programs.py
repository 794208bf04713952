"""CENT's own AiM program for one decode step of a Llama-style block, op by op, as closed forms of the dims.

CENT (Yufeng98/CENT at 8c79786, cent_simulation/) writes its per-block trace with `function_sim.py
--only-trace --model-parallel --GEMV reuse-GB --reuse-size 32` (run_sim.py generate_trace). This module emits
the same instruction stream without torch or CENT, one `CentOp` per op, from: hidden d = heads * head_dim
(CENT derives d from the heads), heads H, kv_heads Hkv, head_dim (128), ffn F, context S (CENT's --seqlen:
the new token sits at position S-1), channels per device C (32), banks per channel B (16), devices in the
tensor-parallel group N (--FC-devices), DRAM row R = 1024 bf16, burst 16 bf16, CENT's --max-seq-len (4096;
cent_dims takes max(4096, S), i.e. CENT run with --max-seq-len S beyond 4096). Checked line for line against
CENT's traces (tests/test_cent_programs.py, digests in pimsim/mapper/data/cent_trace_ops.yaml).

What CENT runs (read from its TransformerBlock.py / Llama.py; the code here is written from those rules), per
device, with TB = C*B banks per device, FCB = N*TB banks in the group, n_rep = H / Hkv, cd = ceil division:
- GEMV y = W x (n outputs, k inputs; q: n = H*hd, k/v: Hkv*hd, wo: d, w1/w3: F, w2: d with k = F): a bank owns
  m = cd(n, FCB) outputs, each output's k inputs in t = cd(k, R) rows. Per row-tile: WR_GB (R/16 bursts, the
  last tile the rest), then per reuse group (cd(m, 32) groups of cd(m, groups) outputs; w1: 16 instead of 32)
  g WR_BIAS, g MAC_ABK, [w1, last tile: g x (AF, RD_AF)], g RD_MAC. WR_GB = t, MAC_ABK = WR_BIAS = RD_MAC = m*t,
  AF = RD_AF = m (w1 only). q, k, v are three GEMVs, w1 and w3 two (not fused). Channel mask: all C when the
  used banks cd(n, m) need more than 32 channels (always, for these models). Split over the N devices.
- RMSNorm (norm1 on x, norm2 on the attention output): neighbour-bank length a = cd(d, TB/2) on cd(d, a)
  banks, bank-group length e = cd(d, TB/4) on u = cd(d, e) banks: W MEM = 2*cd(d, a)*cd(a, 16) + 2*u*cd(e, 16),
  R MEM = u*cd(e, 16); WR_BIAS, MAC_ABK (cd(a, 16) bursts), RD_MAC; EWMUL, B/4 x (COPY_BKGB, COPY_GBBK),
  EWMUL (cd(e, 16) bursts each); SYNC.
- rotary: W MEM = u*(2*cd(2e, 16) + 2*cd(2*(e // n_rep), 16)) (q and k in, and "loaded" back, which CENT also
  writes as W MEM); EWMUL d/16 and d/n_rep/16 bursts.
- KV write: the new key as Hkv*hd/16 `W MEM` to bank ((S-1) mod FCB) mod TB (one channel; CENT drops the device
  index), the new value as Hkv*hd/B WR_ABK, one per (kv head, hd/B), each on its head's channel (kv head h
  on channel h // cd(Hkv, C)), row offset (S-2) // R (CENT's).
- q.K (attn_score): keys split by token over the group's FCB banks: WR_GB = cd(Hkv*hd, R) * cd(S, FCB) * n_rep
  (R/16 bursts), MAC_ABK = WR_BIAS = RD_MAC = WR_GB * R/hd (hd/16 bursts), all C channels. Split over devices.
- softmax: the H x S scores through host lines into bank group 0/1 of the first cd(H, hpb)*4 banks (hpb =
  cd(H, 4C) heads per bank), twice (scale, then 1/sum): W MEM = 4*H*sum_k cd(s_k, 16), R MEM = 2*H*sum_k cd(s_k,
  16) over the cd(S, R) rows of s_k tokens; EWMUL = 2*hpb*cd(S, R); 2 SYNC. Only a few channels get the host
  lines (7B: 8), so this op is not uniform and grows as H*S.
- score.V (attn_value): one device, cd(Hkv, C) kv heads per channel: WR_GB = cd(Hkv, C)*n_rep*cd(S, R) (R/16
  bursts, the last row the rest), MAC_ABK = WR_BIAS = RD_MAC = WR_GB*hd/B. Not split over devices.
- SiLU*gate (silu_mul): bank-group length f = cd(F, TB/4) on v = cd(F, f) banks (the whole F on every device):
  W MEM = 3*v*cd(f, 16), R MEM = v*cd(f, 16); EWMUL, B/4 x (COPY_BKGB, COPY_GBBK), EWMUL (cd(f, 16)); SYNC.
- residuals: `AiM EWADD d/16 0 0` (no channel in the mask: CENT's trace times it as nothing).

Programs are the full multi-channel lines (real masks, `W MEM` / `R MEM` to their channels) in CENT's order:
the host decodes one instruction per tick, so the interleaving over channels is part of the timing. `uniform`
says whether every active channel runs the same instructions (then `channel0()` gives the one-channel
program pimsim's convention times, energy x channels_active; it does not hold for the host-line ops, whose
one-line-per-tick decode over 32 channels is most of their time). Rows are CENT's memory map (Llama.py
memory_mapping), so row hits inside and between ops are CENT's. Each op's lines end with `AiM EOC`.
"""

from __future__ import annotations

from dataclasses import dataclass

from pimsim.mapper.programs import CH0_MASK, Program

BURST = 16  # bf16 per burst (one column)
COLUMN_BYTES = 32
CATEGORIES = ("pim_mac", "attention", "kv_write", "pim_vector")


@dataclass(frozen=True)
class CentDims:
    """The dims CENT's generator takes (function_sim.py: d = head_dim * heads)."""

    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn: int
    context: int  # CENT's --seqlen S (the token at position S-1)
    channels: int = 32  # per device (--num-channels)
    banks: int = 16
    devices: int = 1  # --FC-devices
    dram_column: int = 1024  # bf16 per DRAM row (--DRAM-column)
    max_seq_len: int = 4096  # --max-seq-len
    reuse_size: int = 32  # --reuse-size

    def __post_init__(self) -> None:
        bad = [k for k in ("hidden", "heads", "kv_heads", "head_dim", "ffn", "context", "channels", "banks",
                           "devices", "dram_column", "max_seq_len", "reuse_size") if getattr(self, k) < 1]
        if bad:
            raise ValueError(f"CENT dims must be positive: {', '.join(bad)}")
        if self.hidden != self.heads * self.head_dim:
            raise ValueError(f"CENT derives hidden = heads x head_dim ({self.heads} x {self.head_dim}), got "
                             f"hidden {self.hidden}")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads {self.heads} not a multiple of kv_heads {self.kv_heads}")
        if self.channels > 32:
            raise ValueError(f"CENT's channel masks are 32 bits; channels {self.channels} > 32")
        if self.banks % 4 or self.head_dim % self.banks or self.dram_column % self.head_dim:
            raise ValueError("CENT's layout needs banks % 4 == 0, head_dim % banks == 0, row % head_dim == 0")
        if self.context > self.max_seq_len:
            raise ValueError(f"context {self.context} exceeds max_seq_len {self.max_seq_len}")
        if self.ffn > self.channels * (self.banks // 4) * self.dram_column:
            raise ValueError("ffn larger than one bank-group row per channel: CENT's two-pass SiLU branch is not "
                             "modelled")


@dataclass(frozen=True)
class CentOp:
    name: str  # norm1, q_proj, k_proj, v_proj, rotary, kv_write, attn_score, softmax, attn_value, out_proj,
    # residual1, norm2, gate_proj (w1, with AF), up_proj (w3), silu_mul, down_proj, residual2
    category: str  # pim_mac | attention | kv_write | pim_vector
    program: Program  # full multi-channel lines in CENT's order (see module docstring), ending in AiM EOC
    channels_active: int  # channels of one device the op touches
    per_device: bool  # True: every device runs the whole op (not split over the N devices)
    graph_op: str | None = None  # pimsim graph op it implements (qkv_proj for q/k/v, gate_up_proj for w1/w3)
    uniform: bool = True  # every line is one all-active-channel AiM instruction (no host W/R MEM lines, no
    # per-channel lines): channel0(program) then replays in the same cycles. False for the vector ops and the
    # KV write: their host lines are decoded one per tick across all channels, so time the full program


def _mask(channels) -> str:
    v = 0
    for c in channels:
        v |= 1 << (31 - c)
    return hex(v)


class _Layout:
    """CENT's memory map (Llama.py memory_mapping): the first row of each tensor in every bank."""

    def __init__(self, d: CentDims):
        c, b, r = d.channels, d.banks, d.dram_column
        tb = c * b
        fcb = tb * d.devices
        cd = lambda a, q: -(-a // q)  # noqa: E731
        kvf = d.kv_heads * d.head_dim
        rx = (d.hidden // b - 1) // r + 1
        rows = [("x", rx), ("x_copy", rx), ("SANorm", rx),
                ("wq", cd(d.hidden, fcb) * cd(d.hidden, r)), ("wk", cd(kvf, fcb) * cd(d.hidden, r)),
                ("wv", cd(kvf, fcb) * cd(d.hidden, r)), ("xq", 1), ("xk", 1),
                ("cache_k", cd(d.max_seq_len, fcb) * cd(kvf, r)),
                ("scores", cd(d.max_seq_len, r) * cd(d.heads, c * 4)),
                ("cache_v", cd(d.max_seq_len, r) * cd(d.kv_heads, c) * cd(d.head_dim, b)),
                ("output", (d.heads * d.head_dim // tb - 1) // r + 1),
                ("wo", cd(d.hidden, fcb) * cd(d.hidden, r)), ("sa", (d.hidden // tb - 1) // r + 1),
                ("sa_copy", (d.hidden // tb - 1) // r + 1), ("FFNNorm", (d.hidden // tb - 1) // r + 1),
                ("w1", cd(d.ffn, fcb) * cd(d.hidden, r)), ("w3", cd(d.ffn, fcb) * cd(d.hidden, r)),
                ("x1", (d.ffn // tb - 1) // r + 1), ("x3", (d.ffn // tb - 1) // r + 1),
                ("x1_sigmoid", (d.ffn // tb - 1) // r + 1), ("ffn_vector", cd(d.ffn, r * b)), ("w2", 0)]
        at = 0
        self.row: dict[str, int] = {}
        for name, n in rows:
            self.row[name] = at
            at += n


class _Emit:
    def __init__(self, d: CentDims):
        self.d = d
        self.lines: list[str] = []
        self.all = _mask(range(d.channels))

    # host single-burst accesses into a bank-group pattern: element block `i` of bank `k` lands in
    # global bank k*stride + group (channel = that // banks)
    def host(self, kind: str, banks_used: int, stride: int, group: int, row: int, length: int) -> None:
        b = self.d.banks
        for _ in range(-(-length // BURST)):
            for k in range(banks_used):
                g = (k * stride + group) % (self.d.channels * b)
                self.lines.append(f"{kind} MEM {g // b} {g % b} {row}")

    def aim(self, text: str) -> None:
        self.lines.append("AiM " + text)


def _program(lines: list[str]) -> Program:
    gb = res = macs = last = 0
    for ln in lines:
        t = ln.split()
        if t[0] != "AiM":
            last = max(last, int(t[4]))
            continue
        op = t[1]
        if op == "WR_GB":
            gb += int(t[2]) * COLUMN_BYTES
        elif op == "RD_MAC":
            res += COLUMN_BYTES
        elif op == "MAC_ABK":
            macs += int(t[2])
            last = max(last, int(t[4]))
        elif op in ("EWMUL", "WR_ABK"):
            last = max(last, int(t[4]))
    return Program(tuple(lines) + ("AiM EOC",), gb, res, macs, last)


def _gemv(e: _Emit, row0: int, k: int, n: int, *, af: bool) -> int:
    """CENT's reuse-GB GEMV of n outputs over k inputs on all banks of the N devices; returns channels used."""
    d = e.d
    fcb = d.channels * d.banks * d.devices
    per_bank = -(-n // fcb)
    rows_per_vec = -(-k // d.dram_column)
    used_banks = -(-n // per_bank)
    need = -(-used_banks // d.banks)
    nch = d.channels if need > d.channels else d.channels // need * need
    m = _mask(range(nch))
    reuse = d.reuse_size // 2 if af else d.reuse_size
    groups = -(-per_bank // reuse)
    gsize = -(-per_bank // groups)
    for r in range(rows_per_vec):
        size = (k - d.dram_column * r - 1) // BURST + 1 if r == rows_per_vec - 1 else d.dram_column // BURST
        e.aim(f"WR_GB {size} 0 {m}")
        for g in range(groups):
            cnt = gsize if g < groups - 1 else per_bank - gsize * (groups - 1)
            e.lines.extend([f"AiM WR_BIAS 0 {m}"] * cnt)
            for j in range(cnt):
                e.aim(f"MAC_ABK {size} {m} {row0 + (g * gsize + j) * rows_per_vec + r}")
            if af and r == rows_per_vec - 1:
                e.lines.extend([f"AiM AF {m}", f"AiM RD_AF 0 {m}"] * cnt)
            e.lines.extend([f"AiM RD_MAC 0 {m}"] * cnt)
    return nch


def _rmsnorm(e: _Emit, src: int, ew_row: int, dst: int, *, second: bool) -> None:
    """x.pow on neighbour banks (MAC_ABK), then the scale by EWMUL on bank groups, read back by the host."""
    d = e.d
    tb = d.channels * d.banks
    nb_len = -(-d.hidden // (tb // 2))
    nb_banks = -(-d.hidden // nb_len)
    ew_len = -(-d.hidden // (tb // 4))
    ew_banks = -(-d.hidden // ew_len)
    ew_size = -(-ew_len // BURST)
    e.host("W", nb_banks, 2, 0, src, nb_len)
    e.host("W", nb_banks, 2, 1, src, nb_len)
    e.aim(f"WR_BIAS 0 {e.all}")
    e.aim(f"MAC_ABK {-(-nb_len // BURST)} {e.all} {src}")
    e.aim(f"RD_MAC 0 {e.all}")
    for group in ((1, 0) if second else (0, 1)):
        e.host("W", ew_banks, 4, group, ew_row, ew_len)
    e.aim(f"EWMUL {ew_size} {e.all} {ew_row}")
    for bank in range(2, d.banks, 4):
        e.aim(f"COPY_BKGB {ew_size} {e.all} {bank} {ew_row}")
        e.aim(f"COPY_GBBK {ew_size} {e.all} {bank - 1} {dst}")
    e.aim(f"EWMUL {ew_size} {e.all} {dst}")
    e.host("R", ew_banks, 4, 2, dst, ew_len)
    e.aim("SYNC")


def cent_dims(model, context: int, channels: int = 32, devices: int = 1, *, banks: int = 16,
              dram_column: int = 1024, max_seq_len: int | None = None) -> CentDims:
    """CentDims of a pimsim ModelConfig (hidden, heads, kv_heads, head_dim, ffn)."""
    return CentDims(hidden=model.hidden, heads=model.heads, kv_heads=model.kv_heads, head_dim=model.head_dim,
                    ffn=model.ffn, context=context, channels=channels, banks=banks, devices=devices,
                    dram_column=dram_column, max_seq_len=max(4096, context) if max_seq_len is None else max_seq_len)


def cent_block_programs(model, context: int, channels: int = 32, devices: int = 1, **kw) -> list[CentOp]:
    """CENT's program for one block's decode step at context S (token S-1), per op, on one device of the
    N-device tensor-parallel group. `model`: a pimsim ModelConfig or a CentDims (then context etc. unused)."""
    d = model if isinstance(model, CentDims) else cent_dims(model, context, channels, devices, **kw)
    return _block(d)


def _block(d: CentDims) -> list[CentOp]:
    L = _Layout(d).row
    c, b, r = d.channels, d.banks, d.dram_column
    tb = c * b
    fcb = tb * d.devices
    n_rep = d.heads // d.kv_heads
    kvf = d.kv_heads * d.head_dim
    s = d.context
    ops: list[CentOp] = []

    def op(name, category, fill, *, per_device, graph_op=None, nch=None):
        e = _Emit(d)
        fill(e)
        chans: set[int] = set()
        masks: set[str] = set()
        host = False
        for ln in e.lines:
            t = ln.split()
            if t[0] in ("W", "R"):
                chans.add(int(t[2]))
                host = True
            elif t[1] not in ("SYNC", "EOC", "EWADD"):
                mtok = next(x for x in t[2:] if x.startswith("0x"))
                masks.add(mtok)
                v = int(mtok, 16)
                chans.update(i for i in range(32) if v >> (31 - i) & 1)
        uniform = not host and len(masks) <= 1
        ops.append(CentOp(name, category, _program(e.lines), len(chans) if nch is None else nch, per_device,
                          graph_op, uniform))

    op("norm1", "pim_vector", lambda e: _rmsnorm(e, L["x"], L["x_copy"], L["SANorm"], second=False), per_device=True,
       graph_op="norm1")
    for name, row, n in (("q_proj", L["wq"], d.heads * d.head_dim), ("k_proj", L["wk"], kvf),
                         ("v_proj", L["wv"], kvf)):
        op(name, "pim_mac", lambda e, row=row, n=n: _gemv(e, row, d.hidden, n, af=False), per_device=False,
           graph_op="qkv_proj")

    ew_len = -(-d.hidden // (tb // 4))
    ew_banks = -(-d.hidden // ew_len)

    def rotary(e):
        e.host("W", ew_banks, 4, 1, L["xq"], ew_len * 2)
        e.host("W", ew_banks, 4, 1, L["xk"], ew_len // n_rep * 2)
        e.aim(f"EWMUL {d.hidden // BURST} {e.all} {L['xq']}")
        e.aim(f"EWMUL {d.hidden // n_rep // BURST} {e.all} {L['xk']}")
        e.host("W", ew_banks, 4, 2, L["xq"], ew_len * 2)  # CENT writes (not reads) the results back here
        e.host("W", ew_banks, 4, 2, L["xk"], ew_len // n_rep * 2)
    op("rotary", "pim_vector", rotary, per_device=True, graph_op="rotary")

    def kv_write(e):
        seq = s - 1
        g = seq % fcb
        g %= c * b  # CENT's bank_index drops the device index
        ch, bank = g // b, g % b
        krows = kvf // r
        for row in range(krows):
            e.lines.extend([f"W MEM {ch} {bank} {L['cache_k'] + seq // fcb * krows + row}"] * (r // BURST))
        row_off = (seq - 1) // r  # CENT: ((S-2) // R + 1) - 1
        rows_per_dim = d.max_seq_len // r
        hpc = -(-d.kv_heads // c)
        for h in range(hpc):
            base = L["cache_v"] + rows_per_dim * (d.head_dim // b) * h
            for it in range(d.head_dim // b):
                for chan in range(c):
                    if chan * hpc + h > d.kv_heads - 1:
                        break
                    e.aim(f"WR_ABK 0 {_mask([chan])} {base + it * rows_per_dim + row_off}")
    op("kv_write", "kv_write", kv_write, per_device=True)

    def attn_score(e):
        rows_per_vec = -(-kvf // r)
        iters = -(-s // fcb)
        need_all = fcb // b
        for row in range(rows_per_vec):
            for it in range(iters):
                left = (s - fcb * it - 1) // b + 1 if it == iters - 1 else need_all
                nch = c if need_all > 32 else c // left * left
                m = _mask(range(nch))
                for _ in range(n_rep):
                    e.aim(f"WR_GB {r // BURST} 0 {m}")
                    for _ in range(r // d.head_dim):
                        e.aim(f"WR_BIAS 0 {m}")
                        e.aim(f"MAC_ABK {d.head_dim // BURST} {m} {L['cache_k'] + it * rows_per_vec + row}")
                        e.aim(f"RD_MAC 0 {m}")
    op("attn_score", "attention", attn_score, per_device=False, graph_op="attn_score")

    def softmax(e):
        rows = -(-s // r)
        hpb = -(-d.heads // (c * 4))

        def scores(kind, group):
            for k in range(rows):
                size = s - r * (rows - 1) if k == rows - 1 else r
                for j in range(hpb):
                    for _ in range(-(-size // BURST)):
                        for bank in range(group, tb, 4):
                            if (bank // 4) * hpb + j > d.heads - 1:
                                break
                            e.lines.append(f"{kind} MEM {bank // b} {bank % b} {L['scores'] + j * rows + k}")

        def scale():
            for j in range(hpb):
                for k in range(rows):
                    size = s - k * r if k == rows - 1 else r
                    e.aim(f"EWMUL {(size - 1) // BURST + 1} {e.all} {L['scores'] + j * rows + k}")
        for _ in range(2):  # scale the scores, then the exps by 1/sum
            scores("W", 0)
            scores("W", 1)
            scale()
            scores("R", 2)
            e.aim("SYNC")
    op("softmax", "pim_vector", softmax, per_device=True, graph_op="softmax")

    def attn_value(e):
        rows_per_seq = -(-s // r)
        rows_per_dim = -(-d.max_seq_len // r)
        hpc = -(-d.kv_heads // c)
        its = d.head_dim // b
        for h in range(hpc):
            base = L["cache_v"] + rows_per_dim * its * h
            for _ in range(n_rep):
                for off in range(rows_per_seq):
                    size = (s - off * r - 1) // BURST + 1 if off == rows_per_seq - 1 else r // BURST
                    e.aim(f"WR_GB {size} 0 {e.all}")
                    for it in range(its):
                        e.aim(f"WR_BIAS 0 {e.all}")
                        e.aim(f"MAC_ABK {size} {e.all} {base + it * rows_per_dim + off}")
                        e.aim(f"RD_MAC 0 {e.all}")
    op("attn_value", "attention", attn_value, per_device=True, graph_op="attn_value")

    op("out_proj", "pim_mac", lambda e: _gemv(e, L["wo"], d.hidden, d.hidden, af=False), per_device=False,
       graph_op="out_proj")
    op("residual1", "pim_vector", lambda e: e.aim(f"EWADD {d.hidden // BURST} 0 0"), per_device=True,
       graph_op="residual1", nch=0)
    op("norm2", "pim_vector", lambda e: _rmsnorm(e, L["sa_copy"], L["sa_copy"], L["FFNNorm"], second=True), per_device=True,
       graph_op="norm2")
    op("gate_proj", "pim_mac", lambda e: _gemv(e, L["w1"], d.hidden, d.ffn, af=True), per_device=False,
       graph_op="gate_up_proj")
    op("up_proj", "pim_mac", lambda e: _gemv(e, L["w3"], d.hidden, d.ffn, af=False), per_device=False,
       graph_op="gate_up_proj")

    def silu_mul(e):
        ln = -(-d.ffn // (tb // 4))
        used = -(-d.ffn // ln)
        size = -(-ln // BURST)
        row = L["x1_sigmoid"]
        e.host("W", used, 4, 0, row, ln)
        e.host("W", used, 4, 1, row, ln)
        e.aim(f"EWMUL {size} {e.all} {row}")
        for bank in range(2, b, 4):
            e.aim(f"COPY_BKGB {size} {e.all} {bank} {row}")
            e.aim(f"COPY_GBBK {size} {e.all} {bank - 1} {row}")
        e.host("W", used, 4, 0, row, ln)
        e.aim(f"EWMUL {size} {e.all} {row}")
        e.host("R", used, 4, 2, row, ln)
        e.aim("SYNC")
    op("silu_mul", "pim_vector", silu_mul, per_device=True, graph_op="silu_mul")

    op("down_proj", "pim_mac", lambda e: _gemv(e, L["w2"], d.ffn, d.hidden, af=False), per_device=False,
       graph_op="down_proj")
    op("residual2", "pim_vector", lambda e: e.aim(f"EWADD {d.hidden // BURST} 0 0"), per_device=True,
       graph_op="residual2", nch=0)
    return ops


def block_program(ops: list[CentOp]) -> Program:
    """The ops' lines back to back, one EOC at the end: CENT's whole-block trace."""
    lines = [ln for o in ops for ln in o.program.lines if ln != "AiM EOC"]
    return _program(lines)


def channel0(program: Program) -> Program:
    """A uniform op's program on channel 0 only (pimsim's one-channel convention): every all-channel mask
    becomes channel 0's; host lines and single-channel instructions of other channels are dropped."""
    out = []
    for ln in program.lines:
        t = ln.split()
        if t[0] in ("W", "R"):
            if t[2] == "0":
                out.append(ln)
            continue
        if t[1] in ("EOC", "SYNC", "EWADD"):
            out.append(ln)
            continue
        i = next(k for k, x in enumerate(t) if x.startswith("0x"))
        if int(t[i], 16) >> 31 & 1:
            t[i] = CH0_MASK
            out.append(" ".join(t))
    return Program(tuple(out), program.gb_write_bytes, program.result_read_bytes, program.mac_columns,
                   program.last_row)
