"""CENT's own AiM program for one Llama2-7B transformer block beside pimsim's `cent` mapping, op by op.

Why pimsim's `cent` mapping on cent-8dev-tp gives about half CENT's per-block PIM latency (docs/validation.md,
"CENT"): this regenerates CENT's trace (Yufeng98/CENT at 8c79786, cent_simulation/function_sim.py, the
model-parallel command of run_sim.py's generate_trace: `--Llama --n_heads 32 --ffn_dim 11008 --only-trace
--num-channels 32 --FC-devices 8 --model-parallel --seqlen S --op-trace --GEMV reuse-GB --reuse-size 32`), labels
every trace line with the op of CENT's `trace_only` that wrote it (the caller's line in Llama.py, between anchor
comments of that function), and replays on pimsim's command engine (aim-32ch, refresh off):
- the whole trace (pimsim's replay of CENT's program; CENT's own simulator gives 37,957 cycles at S=128);
- each op alone (its lines + EOC, from a precharged state) and each op's marginal time (the prefix through the
  op minus the prefix before it; the marginals add up to the whole);
- instruction counts per op (DRAM bursts for MAC_ABK / EWMUL / WR_GB / COPY by op size) and per channel;
- variants of CENT's segments changed one way at a time (host W/R MEM vs AiM instructions of the vector ops;
  q.K and score.V with the RD_MACs grouped, without WR_BIAS, with pimsim's 8-column GB load; q/k/v and w1/w3
  fused into one GEMV each, as pimsim's qkv_proj and gate_up_proj).
Then pimsim's own program for the same block (mapping `cent`, system cent-8dev-tp = 8 x aim-32ch as one
256-channel device, decode at context S-1 as tools/cent_terms.py builds it): each op's channel-0 program, its
instruction counts and its seconds as the engine walks the layer (refresh excluded, as CENT has none).

With --reference-yaml OUT (and --models, --seqlen, --extra-cases MODEL:S:N) it writes, instead of the report, the
per-op reference data of pimsim/mapper/data/cent_trace_ops.yaml (counts, bursts, busiest channel, replay cycles alone
and chained, line digests per op and per trace; names of pimsim.mapper.cent_programs) that
tests/test_cent_programs.py checks the closed-form generators against without torch or CENT.

Needs two environment variables:
  CENT_REPO  a CENT checkout, or a bare git mirror of it (its HEAD's cent_simulation/ is extracted), e.g.
             /work/.mirror/Yufeng98+CENT/repo
  CENT_VENV  a Python environment with CENT's dependency (torch; CPU is enough), e.g. /tmp/centvenv
Run from the repository root with pimsim's venv:
  CENT_REPO=... CENT_VENV=... .venv/bin/python tools/cent_trace_compare.py [--seqlen 128 2048] [--workdir DIR]
  [--json FILE]
Traces already in --workdir are reused. About 3 s per sequence length (CENT's generator on CPU and the replays).
Exit code 2 with one message on bad input (missing variables, CENT sources not found, anchor not found).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter, defaultdict
from io import BytesIO
from pathlib import Path

TCK_NS = 0.5  # aim-32ch (GDDR6 AiM) command clock; checked against the preset at run time

# Anchors in CENT's Llama.py `trace_only`, searched in this order: every trace line is labelled with the op of the
# last anchor at or before the line of trace_only that wrote it.
ANCHORS = (
    ("def trace_only", "norm1"),
    ("self.wq_row_index", "q"),
    ("self.wk_row_index", "k"),
    ("self.wv_row_index", "v"),
    ("# Store re-mapped xq/xk", "rope"),
    ("# Store xk", "kv_write"),
    ("# Query x key_cache GEMV", "qk"),
    ("if self.trace_softmax", "softmax"),
    ("# Score x value_cache GEMV", "sv"),
    ("self.wo_row_index", "wo"),
    ("self.EWADD_only_trace", "residual1"),
    ("# RMSNorm   sa.pow", "norm2"),
    ("self.w1_row_index", "w1"),
    ("self.w3_row_index", "w3"),
    ("# AF", "act"),
    ("self.w2_row_index", "w2"),
    ("self.EWADD_only_trace", "residual2"),
)
OP_ORDER = [label for _, label in ANCHORS] + ["end"]

# CENT op -> pimsim op of the same layer (mapping `cent`)
PIMSIM_OF = {
    "norm1": ("norm1",), "q": ("qkv_proj",), "k": ("qkv_proj",), "v": ("qkv_proj",), "rope": ("rotary",),
    "kv_write": ("k_append", "v_append"), "qk": ("attn_score",), "softmax": ("softmax",),
    "sv": ("attn_value",), "wo": ("out_proj",), "residual1": ("residual1",), "norm2": ("norm2",),
    "w1": ("gate_up_proj",), "w3": ("gate_up_proj",), "act": ("silu_mul",), "w2": ("down_proj",),
    "residual2": ("residual2",),
}
CLASSES = {  # op classes of the report table
    "qkv": ("q", "k", "v"), "out_proj": ("wo",), "ffn_up_gate": ("w1", "w3"), "ffn_down": ("w2",),
    "q.K": ("qk",), "score.V": ("sv",), "kv_write": ("kv_write",), "softmax": ("softmax",),
    "norms": ("norm1", "norm2"), "rope": ("rope",), "act(silu*gate)": ("act",),
    "residuals": ("residual1", "residual2"), "end": ("end",),
}

# The driver runs in CENT's venv inside cent_simulation/: it wraps the trace file so that every line written
# also records the caller's line number in Llama.py's trace_only (0 when written outside it).
_DRIVER = r'''
import runpy, sys
sys.path.insert(0, ".")
import aim_sim
_init = aim_sim.PIM.__init__
class Labelled:
    def __init__(self, f, side):
        self.f, self.side = f, open(side, "w")
    def write(self, s):
        self.f.write(s)
        line = 0
        fr = sys._getframe(1)
        while fr is not None:
            if fr.f_code.co_name == "trace_only" and fr.f_code.co_filename.endswith("Llama.py"):
                line = fr.f_lineno
                break
            fr = fr.f_back
        self.side.write((str(line) + "\n") * s.count("\n"))
    def close(self):
        self.f.close(); self.side.close()
def init(self, args):
    _init(self, args)
    self.file = Labelled(self.file, args.trace_file + ".lines")
aim_sim.PIM.__init__ = init
sys.argv = ["function_sim.py"] + sys.argv[1:]
runpy.run_path("function_sim.py", run_name="__main__")
'''


def fail(msg: str) -> None:
    print(f"cent_trace_compare: {msg}", file=sys.stderr)
    sys.exit(2)


# ---------------------------------------------------------------------------------------------- CENT side
def cent_sources(repo: Path, workdir: Path) -> Path:
    """cent_simulation/ of a checkout, or extracted from a bare mirror's HEAD into workdir."""
    if (repo / "cent_simulation" / "function_sim.py").is_file():
        return repo / "cent_simulation"
    out = workdir / "cent_src"
    if not (out / "cent_simulation" / "function_sim.py").is_file():
        try:
            tar = subprocess.run(["git", "-C", str(repo), "archive", "HEAD", "cent_simulation"], check=True,
                                 capture_output=True).stdout
        except (subprocess.CalledProcessError, FileNotFoundError) as exc:
            fail(f"CENT_REPO={repo}: neither a checkout with cent_simulation/function_sim.py nor a git repository "
                 f"whose HEAD has it ({exc})")
        out.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=BytesIO(tar)) as t:
            t.extractall(out, filter="data")
    return out / "cent_simulation"


def anchor_lines(src: Path) -> list[tuple[int, str]]:
    """(line number, op) of each anchor in Llama.py's trace_only, in order."""
    lines = (src / "Llama.py").read_text().splitlines()
    start = next((i for i, s in enumerate(lines) if "def trace_only(self)" in s), None)
    if start is None:
        fail(f"{src / 'Llama.py'}: no `def trace_only(self)`")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].lstrip().startswith("def ")), len(lines))
    out, pos = [], start
    for text, label in ANCHORS:
        hit = next((i for i in range(pos, end) if text in lines[i]), None)
        if hit is None:
            fail(f"{src / 'Llama.py'}: anchor {text!r} ({label}) not found in trace_only after line {pos + 1}")
        out.append((hit + 1, label))
        pos = hit + 1
    return out


# CENT's models (run_sim.py / utils.py / simulation.sh): function_sim.py model flag, --n_heads, --ffn_dim, and the
# tensor-parallel group of the model-parallel runs (--num_devices 8 / 20 / 32; FC_devices = all of them)
CENT_MODELS = {
    "llama2-7b": ("--Llama", 32, 11008, 8),
    "llama2-13b": ("--Llama", 40, 13824, 20),
    "llama2-70b": ("--Llama-GQA", 64, 28672, 32),  # --n_kv_heads default 8
}


def cent_args(model: str, seqlen: int, devices: int | None = None) -> list[str]:
    """function_sim.py arguments of run_sim.py generate_trace (model-parallel, whole block); `devices`
    overrides the model's tensor-parallel group (run_sim.py also runs every factor of --num_devices)."""
    flag, heads, ffn, group = CENT_MODELS[model]
    devices = devices or group
    return [flag, "--n_heads", str(heads), "--ffn_dim", str(ffn), "--only-trace", "--num-channels", "32",
            "--FC-devices", str(devices), "--model-parallel", "--seqlen", str(seqlen), "--op-trace", "--GEMV",
            "reuse-GB", "--reuse-size", "32"]


def generate(src: Path, venv: Path, seqlen: int, trace: Path, model: str = "llama2-7b",
             devices: int | None = None) -> None:
    py = venv / "bin" / "python"
    if not py.exists():
        fail(f"CENT_VENV={venv}: no bin/python")
    if trace.exists() and Path(str(trace) + ".lines").exists():
        return
    cmd = [str(py), "-c", _DRIVER] + cent_args(model, seqlen, devices) + ["--trace-file", str(trace)]
    r = subprocess.run(cmd, cwd=src, capture_output=True, text=True)
    if r.returncode != 0 or not trace.exists():
        fail(f"CENT trace generation failed (seqlen {seqlen}): {r.stderr.strip()[-800:]}")


def labels_of(trace: Path, anchors: list[tuple[int, str]]) -> list[str]:
    import bisect
    nums = [int(x) for x in Path(str(trace) + ".lines").read_text().split()]
    starts = [a for a, _ in anchors]
    out = []
    for n in nums:
        if n == 0:
            out.append("end")
        else:
            i = bisect.bisect_right(starts, n) - 1
            out.append(anchors[i][1] if i >= 0 else "norm1")
    return out


def instr(line: str) -> tuple[str, int, list[int] | None]:
    """(instruction, op size in DRAM bursts, channels or None for no channel) of one trace line."""
    t = line.split()
    if t[0] in ("W", "R"):  # single-bank host write/read: W MEM ch bank row
        return f"{t[0]} MEM", 1, [int(t[2])]
    op = t[1]
    mask = next((x for x in t[2:] if x.startswith("0x")), None)
    chans = None
    if mask is not None:
        v = int(mask, 16)
        chans = [c for c in range(32) if v >> (31 - c) & 1]
    size = int(t[2]) if op in ("MAC_ABK", "EWMUL", "WR_GB", "COPY_BKGB", "COPY_GBBK", "EWADD") else 1
    return op, size, chans


def count_ops(lines: list[str], labels: list[str]):
    """per op: Counter of instructions, Counter of bursts; per channel: instructions."""
    n_ins: dict[str, Counter] = defaultdict(Counter)
    n_bursts: dict[str, Counter] = defaultdict(Counter)
    per_ch: dict[str, Counter] = defaultdict(Counter)  # op -> channel -> instructions on it
    for line, lab in zip(lines, labels):
        name, size, chans = instr(line)
        n_ins[lab][name] += 1
        n_bursts[lab][name] += size
        for c in chans or ():
            per_ch[lab][c] += 1
    return n_ins, n_bursts, per_ch


# ---------------------------------------------------------------------------------------------- replay
class Replayer:
    def __init__(self, hardware: str = "aim-32ch"):
        from pimsim.dram.engine import CommandEngine
        from pimsim.dram.preset_cache import load_replay_hardware
        from pimsim.dram.program import parse_trace

        self.hw = load_replay_hardware(hardware)
        self.parse = parse_trace
        self.engine = CommandEngine(self.hw.dram, refresh=False, row_policy="open")
        self.tck = self.hw.dram.tck_ns

    def run(self, lines: list[str]):
        body = [x for x in lines if x.strip() and x.strip() != "AiM EOC"]
        return self.engine.run(self.parse("\n".join(body + ["AiM EOC"]) + "\n"))


def cent_side(rep: Replayer, lines: list[str], labels: list[str]) -> dict:
    whole = rep.run(lines)
    ops = [op for op in OP_ORDER if op in labels]
    iso, marg, marg_cat = {}, {}, {}
    prev, prev_cat = 0, Counter()
    last_idx = {op: max(i for i, lab in enumerate(labels) if lab == op) for op in ops}
    for op in ops:
        sel = [x for x, lab in zip(lines, labels) if lab == op]
        iso[op] = rep.run(sel).cycles
        # ops are contiguous in CENT's trace: the prefix through the op's last line
        r = rep.run(lines[:last_idx[op] + 1])
        marg[op] = r.cycles - prev
        cat = Counter(r.category_cycles)
        marg_cat[op] = {k: cat[k] - prev_cat[k] for k in cat if cat[k] - prev_cat[k]}
        prev, prev_cat = r.cycles, cat
    return {"whole": whole, "isolated_cycles": iso, "marginal_cycles": marg, "marginal_categories": marg_cat}


# ---------------------------------------------------------------------------------------------- variants
_ORDER_IN_GROUP = {"WR_BIAS": 0, "MAC_ABK": 1, "AF": 2, "RD_AF": 2, "RD_MAC": 3}


def _tiles(seg: list[str]) -> list[list[str]]:
    """A GEMV segment cut at its WR_GBs (each tile starts with one)."""
    out: list[list[str]] = []
    for x in seg:
        if " WR_GB " in x or not out:
            out.append([])
        out[-1].append(x)
    return out


def grouped(seg: list[str]) -> list[str]:
    """Within each tile: all WR_BIAS, then all MAC_ABK, then AF/RD_AF, then all RD_MAC (pimsim's order)."""
    out = []
    for tile in _tiles(seg):
        head = [x for x in tile if " WR_GB " in x]
        rest = [x for x in tile if " WR_GB " not in x]
        out += head + sorted(rest, key=lambda x: _ORDER_IN_GROUP.get(x.split()[1], 4))
    return out


def fused(*segs: list[str]) -> list[str]:
    """GEMVs with the same input as one: per tile one WR_GB (the first's), then every GEMV's outputs, grouped."""
    tiles = [_tiles(s) for s in segs]
    if len({len(t) for t in tiles}) != 1:
        raise ValueError("fused GEMVs need the same input tiles")
    out = []
    for i in range(len(tiles[0])):
        body = [x for t in tiles for x in t[i] if " WR_GB " not in x]
        out += [tiles[0][i][0]] + sorted(body, key=lambda x: _ORDER_IN_GROUP.get(x.split()[1], 4))
    return out


def variants(rep: Replayer, lines: list[str], labels: list[str]) -> list[tuple[str, float]]:
    """(what, us) of CENT's segments replayed alone and changed one way at a time."""
    seg = lambda *ops: [x for x, lab in zip(lines, labels) if lab in ops]  # noqa: E731
    us = lambda ls: rep.run(ls).cycles * rep.tck / 1000  # noqa: E731
    host = lambda ls: [x for x in ls if x.startswith(("W ", "R "))]  # noqa: E731
    aim = lambda ls: [x for x in ls if not x.startswith(("W ", "R "))]  # noqa: E731
    rows = []
    for op in ("norm1", "rope", "softmax", "norm2", "act", "kv_write"):
        s = seg(op)
        rows += [(f"{op}: as CENT", us(s)), (f"{op}: its host W/R MEM only", us(host(s))),
                 (f"{op}: its AiM instructions only", us(aim(s)))]
    qk = seg("qk")
    g = grouped(qk)
    nb = [x for x in g if "WR_BIAS" not in x]
    gb8 = [x.replace("WR_GB 64 ", "WR_GB 8 ") for x in nb]
    rows += [("q.K: as CENT (WR_BIAS, MAC_ABK, RD_MAC per head)", us(qk)),
             ("q.K: RD_MACs grouped after the MACs of each GB load", us(g)),
             ("q.K: grouped, no WR_BIAS", us(nb)),
             ("q.K: grouped, no WR_BIAS, WR_GB 8 columns (= pimsim's attn_score program)", us(gb8))]
    sv = seg("sv")
    rows += [("score.V: as CENT", us(sv)), ("score.V: RD_MACs grouped", us(grouped(sv))),
             ("score.V: grouped, no WR_BIAS", us([x for x in grouped(sv) if "WR_BIAS" not in x]))]
    q, k, v, w1, w3 = (seg(o) for o in ("q", "k", "v", "w1", "w3"))
    no_af = [x for x in w1 if x.split()[1] not in ("AF", "RD_AF")]
    rows += [("q, k, v: as CENT (three GEMVs)", us(q + k + v)), ("q, k, v fused (one WR_GB per tile)", us(fused(q, k, v))),
             ("w1, w3: as CENT (two GEMVs, AF + RD_AF on w1)", us(w1 + w3)), ("w1 without AF / RD_AF, then w3", us(no_af + w3)),
             ("w1, w3 fused without AF (= pimsim's gate_up_proj)", us(fused(no_af, w3)))]
    return rows


# ---------------------------------------------------------------------------------------------- pimsim side
def pimsim_side(rep: Replayer, seqlen: int) -> dict:
    """pimsim's layer at context seqlen-1 (mapping cent, 8 x aim-32ch as one 256-channel device)."""
    from pimsim.engine.system import SystemSimulator
    from pimsim.hardware import load_hardware
    from pimsim.mapper import load_mapping
    from pimsim.models import get_model

    mc = get_model("llama2-7b")
    one = load_hardware("aim-32ch")
    hw = load_hardware("aim-32ch", overrides={"dram": {"channels": one.dram.channels * 8},
                                              "asic": {"device_channels": one.dram.channels}})
    sim = SystemSimulator(hw, load_mapping("cent"))
    step = sim.mapper(mc).map_token(seqlen - 1)
    # walk two layers (the second finds the state the first leaves, as every later layer does)
    entry = None
    for _ in range(2):
        rows = []
        for op in step.layer:
            unit, sec, tally, entry = sim.op_cost(op, entry)
            refresh = tally.seconds.get("refresh", 0.0)
            cats = {k: v for k, v in tally.seconds.items() if v}
            rows.append((op, unit, sec - refresh, cats))
    out = []
    for op, unit, sec, cats in rows:
        prog = op.program
        d = {"name": op.name, "unit": unit, "seconds": sec, "categories_s": cats, "channels_active": op.channels_active}
        if prog is not None:
            ins, bursts = Counter(), Counter()
            for line in prog.lines:
                if line.strip() == "AiM EOC":
                    continue
                name, size, _ = instr(line)
                ins[name] += 1
                bursts[name] += size
            d.update(instructions=dict(ins), bursts=dict(bursts), isolated_cycles=rep.run(list(prog.lines)).cycles)
        else:
            d.update(asic_flops=op.asic_flops)
        out.append(d)
    return {"ops": out, "hw_channels": hw.dram.channels}


# ---------------------------------------------------------------------------------------------- report
def fmt_counts(c: Counter | dict, bursts: Counter | dict | None = None) -> str:
    parts = []
    for k in sorted(c):
        b = (bursts or {}).get(k, c[k])
        parts.append(f"{k} {c[k]}" + (f"({b}b)" if b != c[k] else ""))
    return ", ".join(parts)


def report(seqlen: int, cent: dict, counts, pims: dict, tck: float) -> tuple[list[str], dict]:
    n_ins, n_bursts, per_ch = counts
    us = lambda cyc: cyc * tck / 1000  # noqa: E731
    whole = cent["whole"]
    lines = [f"== seqlen {seqlen}: CENT trace replayed on pimsim (aim-32ch, refresh off): {whole.cycles:,} cycles = "
             f"{us(whole.cycles):.2f} us; categories (slowest channel): "
             + ", ".join(f"{k} {v:,}" for k, v in sorted(whole.category_cycles.items()) if v)]
    lines.append(f"   DRAM commands: " + ", ".join(f"{k} {v:,}" for k, v in sorted(whole.commands.items())))
    lines.append("CENT ops (labelled by trace_only's line): op | instructions (b = DRAM bursts) | channels used "
                 "(max instr per channel) | alone us | marginal us | marginal categories (cycles)")
    for op in OP_ORDER:
        if op not in n_ins:
            continue
        ch = per_ch[op]
        chs = f"{len(ch)} ch (max {max(ch.values())}, min {min(ch.values())})" if ch else "no channel"
        lines.append(f"  {op:9s} | {fmt_counts(n_ins[op], n_bursts[op])} | {chs} | "
                     f"{us(cent['isolated_cycles'][op]):6.2f} | {us(cent['marginal_cycles'][op]):6.2f} | "
                     + ", ".join(f"{k} {v}" for k, v in sorted(cent["marginal_categories"][op].items())))
    pim_ops = pims["ops"]
    lines.append(f"pimsim `cent` layer (cent-8dev-tp: {pims['hw_channels']} channels as one device; programs per channel, "
                 "identical on every channel unless noted): op | instructions | alone us | in-layer us (no refresh)")
    for d in pim_ops:
        if "instructions" in d:
            act = "" if d["channels_active"] is None else f" [{d['channels_active']} channel(s)]"
            lines.append(f"  {d['name']:12s} | {fmt_counts(d['instructions'], d['bursts'])}{act} | "
                         f"{us(d['isolated_cycles']):6.2f} | {d['seconds'] * 1e6:6.2f}")
        else:
            lines.append(f"  {d['name']:12s} | {d['unit']} ({d['asic_flops']} flops) | - | {d['seconds'] * 1e6:6.2f}")
    # class table
    pim_by_name = defaultdict(float)
    pim_pim = defaultdict(float)
    for d in pim_ops:
        pim_by_name[d["name"]] += d["seconds"]
        if d["unit"] == "pim":
            pim_pim[d["name"]] += d["seconds"]
    lines.append("By op class: class | CENT MAC_ABK / WR_GB / other AiM / host W,R MEM | CENT marginal us (share) | "
                 "pimsim MAC_ABK / WR_GB / other | pimsim us PIM (+ASIC) | CENT - pimsim PIM us")
    total_c = whole.cycles
    table = {}
    tot_p = sum(pim_pim.values())
    for cls, ops in CLASSES.items():
        c_ins = Counter()
        for op in ops:
            c_ins.update(n_ins.get(op, {}))
        c_us = us(sum(cent["marginal_cycles"].get(op, 0) for op in ops))
        names = sorted({p for op in ops for p in PIMSIM_OF.get(op, ())})
        p_ins = Counter()
        for d in pim_ops:
            if d["name"] in names and "instructions" in d:
                p_ins.update(d["instructions"])
        p_pim = sum(pim_pim[n] for n in names) * 1e6
        p_all = sum(pim_by_name[n] for n in names) * 1e6
        mem = c_ins["W MEM"] + c_ins["R MEM"]
        other = sum(v for k, v in c_ins.items() if k not in ("MAC_ABK", "WR_GB", "W MEM", "R MEM"))
        p_other = sum(v for k, v in p_ins.items() if k not in ("MAC_ABK", "WR_GB"))
        table[cls] = {"cent_us": c_us, "pimsim_pim_us": p_pim, "pimsim_all_us": p_all, "cent_instructions": dict(c_ins),
                      "pimsim_instructions": dict(p_ins)}
        lines.append(f"  {cls:15s} | {c_ins['MAC_ABK']:4d} / {c_ins['WR_GB']:3d} / {other:4d} / {mem:5d} | "
                     f"{c_us:6.2f} ({100 * c_us / us(total_c):4.1f}%) | {p_ins['MAC_ABK']:4d} / {p_ins['WR_GB']:3d} / "
                     f"{p_other:4d} | {p_pim:6.2f} (+{p_all - p_pim:5.2f}) | {c_us - p_pim:+6.2f}")
    lines.append(f"  {'total':15s} | {'':26s} | {us(total_c):6.2f}         | {'':18s} | {tot_p * 1e6:6.2f}")
    return lines, {"seqlen": seqlen, "cent_cycles": whole.cycles, "cent_categories": dict(whole.category_cycles),
                   "cent_commands": dict(whole.commands), "cent_isolated_cycles": cent["isolated_cycles"],
                   "cent_marginal_cycles": cent["marginal_cycles"], "cent_instructions": {k: dict(v) for k, v in n_ins.items()},
                   "cent_per_channel": {k: dict(v) for k, v in per_ch.items()}, "classes": table,
                   "pimsim_ops": pim_ops}


# CENT trace label -> op name of pimsim.mapper.cent_programs
GENERATOR_OP = {
    "norm1": "norm1", "q": "q_proj", "k": "k_proj", "v": "v_proj", "rope": "rotary", "kv_write": "kv_write",
    "qk": "attn_score", "softmax": "softmax", "sv": "attn_value", "wo": "out_proj", "residual1": "residual1",
    "norm2": "norm2", "w1": "gate_proj", "w3": "up_proj", "act": "silu_mul", "w2": "down_proj",
    "residual2": "residual2",
}


def reference_entry(lines: list[str], labels: list[str]) -> dict:
    """Per op of one CENT trace: instruction counts (W MEM / R MEM and each AiM instruction), DRAM bursts of
    the sized instructions, instructions on the busiest channel, and replay cycles (aim-32ch, refresh off) of
    the op alone (its lines + EOC from a precharged device) and chained (started from the end state of the
    ops before it, as the whole trace runs), and a digest of its lines; plus the whole trace's cycles and
    digest (so a test can check a generator line for line without storing the trace)."""
    import hashlib

    from pimsim.dram import parse_trace
    from pimsim.dram.engine import CommandEngine
    from pimsim.hardware import load_hardware

    def digest(sel):  # sha256 of the op's lines (one per line, newline-terminated, EOC excluded), 16 hex digits
        return hashlib.sha256("".join(x + "\n" for x in sel if x != "AiM EOC").encode()).hexdigest()[:16]

    eng = CommandEngine(load_hardware("aim-32ch").dram, refresh=False)

    def run(sel, state=None):
        body = [x for x in sel if x != "AiM EOC"]
        return eng.run(parse_trace("\n".join(body + ["AiM EOC"]) + "\n"), start_state=state)

    n_ins, n_bursts, per_ch = count_ops(lines, labels)
    ops, state = {}, None
    for lab in OP_ORDER:
        if lab == "end" or lab not in n_ins:
            continue
        sel = [x for x, lb in zip(lines, labels) if lb == lab]
        alone = run(sel)
        chained = run(sel, state)
        state = chained.end_state
        ops[GENERATOR_OP[lab]] = {
            "counts": dict(sorted(n_ins[lab].items())),
            "bursts": {k: v for k, v in sorted(n_bursts[lab].items()) if v != n_ins[lab][k]},
            "max_per_channel": max(per_ch[lab].values()) if per_ch[lab] else 0,
            "channels_used": len(per_ch[lab]),
            "cycles_alone": alone.cycles,
            "cycles_chained": chained.cycles,
            "lines_sha256": digest(sel),
        }
    return {"whole_cycles": run(lines).cycles, "lines_sha256": digest(lines), "ops": ops}


def build_reference(src: Path, venv: Path, work: Path, cases: list[tuple[str, int, int]], out: Path) -> None:
    """Regenerate CENT's traces for (model, seqlen) cases and write the per-op reference YAML."""
    import datetime

    import yaml

    commit = "unknown"
    repo = os.environ.get("CENT_REPO", "")
    try:
        commit = subprocess.run(["git", "-C", repo, "rev-parse", "HEAD"], capture_output=True, text=True,
                                check=True).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        pass
    anchors = anchor_lines(src)
    doc = {
        "provenance": {
            "cent_repository": "https://github.com/Yufeng98/CENT",
            "cent_commit": commit,
            "generator": "cent_simulation/function_sim.py (run from cent_simulation/, CPU torch)",
            "commands": {m: "python3 function_sim.py " + " ".join(cent_args(m, 0)).replace(
                "--seqlen 0", "--seqlen <S>") + " --trace-file <trace>" for m in CENT_MODELS},
            "models": {m: dict(zip(("flag", "n_heads", "ffn_dim", "fc_devices"), v))
                       for m, v in CENT_MODELS.items()},
            "labelling": "tools/cent_trace_compare.py: each trace line labelled by the op of Llama.py trace_only "
                         "that wrote it (anchors in ANCHORS), names of pimsim.mapper.cent_programs",
            "replay": "pimsim CommandEngine(load_hardware('aim-32ch').dram, refresh=False); cycles of tCK 0.5 ns",
            "date": datetime.date.today().isoformat(),
            "built_by": "CENT_REPO=... CENT_VENV=... python tools/cent_trace_compare.py --reference-yaml OUT",
        },
        "cases": [],
    }
    for model, s, n in cases:
        n = n or CENT_MODELS[model][3]
        trace = (work / f"{model}_seqlen_{s}_devices_{n}.txt").resolve()
        generate(src, venv, s, trace, model, n)
        lines = [x for x in trace.read_text().splitlines() if x.strip()]
        labels = labels_of(trace, anchors)
        if len(labels) != len(lines):
            fail(f"{trace}: {len(lines)} trace lines but {len(labels)} labels")
        entry = {"model": model, "context": s, "devices": n, "channels": 32}
        entry.update(reference_entry(lines, labels))
        doc["cases"].append(entry)
        print(f"{model} S={s} N={n}: {entry['whole_cycles']} cycles", file=sys.stderr)
    out.write_text(yaml.safe_dump(doc, sort_keys=False, width=120, default_flow_style=None))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seqlen", type=int, nargs="+", default=[128, 2048])
    ap.add_argument("--workdir", default=None, help="where traces go (default: a temporary directory)")
    ap.add_argument("--json", default=None, help="write the figures as JSON here")
    ap.add_argument("--reference-yaml", default=None,
                    help="instead of the report: write per-op reference counts/cycles for --models x --seqlen")
    ap.add_argument("--models", nargs="+", default=list(CENT_MODELS), help="with --reference-yaml")
    ap.add_argument("--extra-cases", nargs="*", default=[], metavar="MODEL:S:N",
                    help="with --reference-yaml: more cases, N = --FC-devices")
    a = ap.parse_args(argv)
    repo, venv = os.environ.get("CENT_REPO"), os.environ.get("CENT_VENV")
    if not repo or not venv:
        fail("set CENT_REPO (CENT checkout or bare mirror) and CENT_VENV (Python environment with torch)")
    if any(s < 2 for s in a.seqlen):
        fail("--seqlen values must be at least 2")
    extra = []
    for spec in a.extra_cases:
        parts = spec.split(":")
        if len(parts) != 3 or parts[0] not in CENT_MODELS or not all(p.isdigit() and int(p) > 0 for p in parts[1:]) \
                or int(parts[1]) < 2:
            fail(f"--extra-cases {spec!r}: want MODEL:S:N with MODEL in {sorted(CENT_MODELS)}, S >= 2, N >= 1")
        extra.append((parts[0], int(parts[1]), int(parts[2])))
    bad = [m for m in a.models if m not in CENT_MODELS]
    if bad:
        fail(f"unknown --models {bad}; known: {sorted(CENT_MODELS)}")
    work = Path(a.workdir) if a.workdir else Path(tempfile.mkdtemp(prefix="cent_trace_"))
    work.mkdir(parents=True, exist_ok=True)
    src = cent_sources(Path(repo), work)
    if a.reference_yaml:
        build_reference(src, Path(venv), work, [(m, s, 0) for m in a.models for s in a.seqlen] + extra,
                        Path(a.reference_yaml))
        return 0
    anchors = anchor_lines(src)
    rep = Replayer()
    if abs(rep.tck - TCK_NS) > 1e-9:
        print(f"note: aim-32ch tCK is {rep.tck} ns", file=sys.stderr)
    out = []
    for s in a.seqlen:
        trace = (work / f"trace_8_FC_devices_seqlen_{s}.txt").resolve()
        generate(src, Path(venv), s, trace)
        lines = [x for x in trace.read_text().splitlines() if x.strip()]
        labels = labels_of(trace, anchors)
        if len(labels) != len(lines):
            fail(f"{trace}: {len(lines)} trace lines but {len(labels)} labels")
        cent = cent_side(rep, lines, labels)
        text, data = report(s, cent, count_ops(lines, labels), pimsim_side(rep, s), rep.tck)
        var = variants(rep, lines, labels)
        text.append("Variants (CENT's segments replayed alone, changed one way at a time): what | us")
        text += [f"  {w:75s} | {t:6.2f}" for w, t in var]
        data["variants_us"] = dict(var)
        print("\n".join(text) + "\n")
        out.append(data)
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
