"""The check families of `pimsim validate`: each computes pimsim's figures and sets them beside a reference.

A family function takes the shared `Context` (tolerances, reference paths, cached runs) and returns its
`Check` rows; the error and status always come from `Context.check` (the rules of `tolerances.py` with
the family's entry in tolerances.yaml). Families in order (ids as in tolerances.yaml):

- measured: the baselines against the measured H100 and CPU files; AiM trace replay against the public
  AiM simulator's cycle and command counts.
- closed-form: peak MAC bandwidth, MAC and read streaming bandwidth, refresh overhead, single-instruction
  costs (aim_gddr6.md), the per-token streaming floor and the background-energy floor of real runs.
- consistency: fast mode against exact mode (system), run-length against command-by-command (engine).
- checker: the independent timing checker over command logs of sampled token steps.
- reference-comparison: the PIM-GPT published ranges (speedup and energy efficiency over the T4 and the
  Xeon Gold 6154), non-VMM share, row-hit rate, ASIC-clock sensitivity and channel scaling.

The PIM-GPT workload is the one of experiments/pimgpt_speedup.yaml (prompt 64, 960 generated, batch 1):
the whole family set runs in well under a minute on two cores, so nothing is shortened.
"""

from __future__ import annotations

import csv
import math
import random
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

from pimsim.validate.report import FAIL, PASS, Check
from pimsim.validate.tolerances import Bound, Tolerance, error_of, within

PIMGPT_MODELS = ("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl",
                 "gpt3-small", "gpt3-medium", "gpt3-large", "gpt3-xl")
PIMGPT_PRESET = "pimgpt-gddr6"
PIMGPT_MAPPING = "pimgpt"
PROMPT, GENERATE = 64, 960  # experiments/pimgpt_speedup.yaml
SAMPLE_SEED = 2310  # the PIM-GPT arXiv number: a fixed seed so the sampled command logs are reproducible


# ---------------------------------------------------------------------------------------------- formats

@dataclass(frozen=True)
class Fmt:
    """How a family's figures are shown: unit of values and of absolute errors."""

    unit: str  # x | % | ms | us | J | cycles | count | GB/s | TB/s

    def value(self, v: float | None) -> str:
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            return "n/a"
        u = self.unit
        if u == "x":
            return f"{v:,.0f}x" if abs(v) >= 1000 else f"{v:.3g}x"
        if u == "%":
            return f"{100 * v:.3g}%"
        if u == "ms":
            return f"{v * 1e3:.4g} ms"
        if u == "us":
            return f"{v * 1e6:.4g} us"
        if u == "J":
            return f"{v:.4g} J"
        if u == "cycles":
            return f"{v:,.0f} cycles"
        if u == "count":
            return f"{v:,.0f}"
        if u == "GB/s":
            return f"{v / 1e9:.4g} GB/s"
        if u == "TB/s":
            return f"{v / 1e12:.4g} TB/s"
        return f"{v:.4g}"

    def error(self, e: float | None, kind: str) -> str:
        if e is None or not math.isfinite(e):
            return "n/a"
        if kind == "relative":
            return "0%" if abs(e) < 5e-7 else f"{100 * e:+.3g}%"
        if self.unit == "%":
            return "0 pp" if abs(e) < 5e-9 else f"{100 * e:+.3g} pp"
        if self.unit in ("cycles", "count"):
            return f"{e:+,.0f}" + (" cycles" if self.unit == "cycles" else "")
        return f"{e:+.4g}"

    def _bound(self, x: float, kind: str) -> str:
        if kind == "relative":
            return "0" if abs(x) < 1e-6 else f"{100 * x:+.3g}%"
        if self.unit == "%":
            return "0" if abs(x) < 1e-9 else f"{100 * x:+.3g} pp"
        return f"{x:+,.4g}".replace("+0", "0") if x else "0"

    def tolerance(self, bounds: Bound, kind: str, reference: Bound) -> str:
        lo, hi = bounds
        tiny = 1e-6 if kind == "relative" else 1e-9
        zero = lambda x: x is not None and abs(x) < tiny  # noqa: E731
        point = reference[0] is not None and reference[0] == reference[1]
        if zero(lo) and zero(hi):
            return "exact" if point else ("inside the range" if None not in reference else "within the bound")
        if lo is not None and hi is not None and abs(lo + hi) < tiny * max(1.0, abs(hi)):
            return "+/-" + self._bound(hi, kind).lstrip("+")
        if lo is None:
            return "<= " + self._bound(hi, kind)
        if hi is None:
            return ">= " + self._bound(lo, kind)
        return f"[{self._bound(lo, kind)}, {self._bound(hi, kind)}]"

    def reference(self, ref: Bound) -> str:
        lo, hi = ref
        if lo is not None and lo == hi:
            return self.value(lo)
        if lo is None:
            return "<= " + self.value(hi)
        if hi is None:
            return ">= " + self.value(lo)
        return f"{self.value(lo)}-{self.value(hi)}"


X, PCT, MS, US, JOULE, CYC, COUNT, GBPS, TBPS = (Fmt(u) for u in ("x", "%", "ms", "us", "J", "cycles", "count",
                                                                    "GB/s", "TB/s"))


# ---------------------------------------------------------------------------------------------- context

class Context:
    """Tolerances, reference paths and the runs several families share (simulated once per validation)."""

    def __init__(self, tolerances: dict[str, Tolerance], references):
        from pimsim.hardware import load_hardware

        self.tol = tolerances
        self.refs = references
        self.hw = load_hardware(PIMGPT_PRESET)
        self._cache: dict[tuple, object] = {}

    def cached(self, key: tuple, make: Callable[[], object]):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def spec(self):
        from pimsim.workloads import GenerateSpec

        return GenerateSpec(prompt=PROMPT, generate=GENERATE)

    def pim(self, model: str, hw=None, tag: str = "pimgpt-gddr6"):
        """PIM-GPT run of `model` (prompt 64 + 960) on `hw` (default the published preset)."""
        from pimsim.engine import simulate

        return self.cached(("pim", model, tag), lambda: simulate(model, hw or self.hw, PIMGPT_MAPPING, self.spec()))

    def baseline(self, model: str, device: str, mode: str | None):
        from pimsim.baselines import run_baseline
        from pimsim.models import get_model
        from pimsim.workloads import expand

        return self.cached(("base", model, device, mode),
                           lambda: run_baseline(expand(self.spec(), get_model(model)), device, mode))

    # ------------------------------------------------------------------ building rows
    def check(self, family: str, label: str, value: float, reference: Bound, fmt: Fmt, *, item: str | None = None,
              reference_text: str | None = None, pimsim_text: str | None = None, message: str | None = None,
              fail: bool = False) -> Check:
        """One row: error of `value` against `reference` by the family's error rule, status by its tolerance.
        `fail` forces a failure the number alone does not show (explained in `message`)."""
        tol = self.tol[family]
        err = error_of(value, reference, tol.error)
        ok = within(err, tol.bounds) and not fail
        return Check(
            id=f"{family}[{item}]" if item else family, family=family, kind=tol.kind, check=label,
            title=tol.title, label=tol.label, reference=reference_text or fmt.reference(reference),
            pimsim=pimsim_text or fmt.value(value), error=err, error_text=fmt.error(err, tol.error),
            tolerance=fmt.tolerance(tol.bounds, tol.error, reference), status=PASS if ok else FAIL,
            reason=tol.reason, source=tol.source, error_kind=tol.error,
            reference_value=_json_ref(reference), pimsim_value=value, message=message,
        )

    def over_items(self, family: str, label: str, items: list[tuple[str, float]], reference: Bound, fmt: Fmt,
                   *, reference_text: str | None = None, item_text: Callable[[str, float], str] | None = None
                   ) -> Check:
        """One row for a figure over several items (models): each item's error against the reference, the
        row's error the worst of them, pass only when every item passes; per-item figures in `details`."""
        tol = self.tol[family]
        details = []
        for name, v in items:
            err = error_of(v, reference, tol.error)
            ok = within(err, tol.bounds)
            d = {"item": name, "value": v, "pimsim": item_text(name, v) if item_text else fmt.value(v),
                 "error": err, "error_text": fmt.error(err, tol.error), "status": PASS if ok else FAIL}
            if not ok and tol.error == "relative" and math.isfinite(err) and err != -1:
                d["factor_needed"] = 1.0 / (1.0 + err)  # by how much the figure must change to reach the nearest end
            details.append(d)
        worst = max(details, key=lambda d: (d["status"] != PASS,
                                            abs(d["error"]) if math.isfinite(d["error"]) else math.inf))
        values = [v for _, v in items]
        lo, hi = min(values), max(values)
        shown = fmt.value(lo) if fmt.value(lo) == fmt.value(hi) else f"{fmt.value(lo)}-{fmt.value(hi)}"
        status = PASS if all(d["status"] == PASS for d in details) else FAIL
        msg = None
        if status == FAIL:
            bad = [d for d in details if d["status"] != PASS]
            msg = f"{len(bad)} of {len(details)} outside: " + ", ".join(f"{d['item']} {d['error_text']}" for d in bad)
        return Check(
            id=family, family=family, kind=tol.kind, check=label, title=tol.title, label=tol.label,
            reference=reference_text or fmt.reference(reference), pimsim=shown,
            error=worst["error"], error_text=f"{worst['error_text']} ({worst['item']})" if worst["error"] else
            worst["error_text"], tolerance=fmt.tolerance(tol.bounds, tol.error, reference), status=status,
            reason=tol.reason, source=tol.source, error_kind=tol.error, reference_value=_json_ref(reference),
            pimsim_value=[lo, hi], details=details, message=msg,
        )

    def value(self, family: str) -> Bound:
        return self.tol[family].reference_interval()


def largest_passing(fits: Callable[[int], bool]) -> int:
    """The largest n >= 1 with fits(n) (0 if fits(1) is false), fits monotone: doubling, then bisection."""
    lo, hi = 0, 1
    while fits(hi):
        lo, hi = hi, hi * 2
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def _json_ref(ref: Bound):
    lo, hi = ref
    return lo if lo is not None and lo == hi else [lo, hi]


# ---------------------------------------------------------------------------------------------- measured

# measured file -> (path from the references, device preset, dtype bytes, mode); h200-transfer is the blind
# datasheet-transfer preset (pimsim/validate/data/h200-transfer.yaml) against the same H200 rows as h200-sxm
_TRANSFER_PRESET = Path(__file__).parent / "data" / "h200-transfer.yaml"
_MEASURED = {
    "h100": (lambda refs: refs.h100_csv, "h100-sxm", 2, "graph"),
    "cpu": (lambda refs: refs.cpu_csv, "server-16vcpu", 4, None),
    "h200": (lambda refs: refs.own["h200_measured"], "h200-sxm", 2, "graph"),
    "h200-batched": (lambda refs: refs.own["h200_batched_measured"], "h200-sxm", 2, "graph"),
    "h200-large": (lambda refs: refs.own["h200_large_measured"], "h200-sxm", 2, "graph"),
    "h200-prefill": (lambda refs: refs.own["h200_prefill_measured"], "h200-sxm", 2, "graph"),
    "h100-prefill": (lambda refs: refs.own["h100_prefill_measured"], "h100-sxm", 2, "graph"),
    "h100-large": (lambda refs: refs.own["h100_large_measured"], "h100-sxm", 2, "graph"),
    "h200-transfer": (lambda refs: refs.own["h200_measured"], str(_TRANSFER_PRESET), 2, "graph"),
}


def _measured_runs(ctx: Context, which: str):
    """(Measurement, Result) per row of a measured file, through run_baseline."""
    from pimsim.baselines import read_measurements, run_baseline
    from pimsim.workloads import Phase, Workload

    def make():
        from pimsim.baselines import load_device

        path_of, device, dtype, mode = _MEASURED[which]
        preset = load_device(device)
        out = []
        for m in read_measurements(path_of(ctx.refs), dtype):
            kind = "prefill" if m.new_tokens > 1 else "decode"
            ph = Phase(kind, "policy", kind, m.model, m.batch, m.new_tokens, m.past_context, m.steps)
            wl = Workload(spec=None, phases=(ph,), generated_tokens=m.batch * m.steps)
            # the row runs the kernels of the software that measured it (its `stack` column)
            dev = preset if m.stack == preset.software_stack else preset.model_copy(update={"software_stack": m.stack})
            out.append((m, run_baseline(wl, dev, mode)))
        return out

    return ctx.cached(("measured", which), make)


def _row_label(m) -> str:
    if m.new_tokens > 1:
        return f"{m.model.name} prefill {m.new_tokens}" + (f" b{m.batch}" if m.batch != 1 else "")
    if m.steps == 1:
        return f"{m.model.name} ctx {m.past_context}" + (f" b{m.batch}" if m.batch != 1 else "")
    return f"{m.model.name} prompt {m.past_context} gen {m.steps + 1}" + (f" b{m.batch}" if m.batch != 1 else "")


def _held_out(m, which: str) -> bool:
    """Whether the preset of `which` was fitted with row `m` held out (its fit record's `held_out`)."""
    from pimsim.baselines import load_device
    from pimsim.baselines.fit import held_out

    fit = load_device(_MEASURED[which][1]).fit or {}
    return held_out(m, tuple((fit.get("held_out") or {}).get("rows_of", ())))


def _measured_family(fam: str, which: str, device_label: str, quantity: str) -> Callable[[Context], list[Check]]:
    """Per measured row of `which`: pimsim's latency or energy per token against the measured one."""

    def family(ctx: Context) -> list[Check]:
        out = []
        for m, r in _measured_runs(ctx, which):
            measured, unit, ours = ((m.latency_per_token_s, MS, r.e2e_latency_per_token_s) if quantity == "latency"
                                    else (m.energy_per_token_j, JOULE, r.energy_per_token_j))
            if measured is not None:
                label = _row_label(m)
                shown = ("held out: " if _held_out(m, which) else "") + label
                out.append(ctx.check(fam, f"{device_label} {quantity}/token {shown}", ours, (measured,) * 2, unit,
                                     item=label))
        return out

    return family


def _aim_runs(ctx: Context):
    from pimsim.dram import CommandEngine, parse_trace
    from pimsim.hardware import load_hardware

    def make():
        dram = load_hardware("aim-32ch").dram
        with (ctx.refs.aim_dir / "expected.csv").open(encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        out = []
        for row in rows:
            res = CommandEngine(dram, refresh=False).run(parse_trace(ctx.refs.aim_dir / row["trace"]))
            expected = {k: int(v) for k, v in (kv.split("=") for kv in row["dram_cmds"].split())}
            out.append((row, expected, res))
        return out

    return ctx.cached(("aim",), make)


def aim_cycles(ctx: Context) -> list[Check]:
    return [ctx.check("aim.trace.cycles", f"AiM replay cycles {row['trace']}", float(res.cycles),
                      (float(row["cycles"]),) * 2, CYC, item=row["trace"]) for row, _, res in _aim_runs(ctx)]


def aim_commands(ctx: Context) -> list[Check]:
    out = []
    for row, expected, res in _aim_runs(ctx):
        got = {k: int(v) for k, v in res.commands.items() if v}
        diffs = {k: got.get(k, 0) - expected.get(k, 0) for k in sorted(set(got) | set(expected))}
        diffs = {k: d for k, d in diffs.items() if d}
        total = float(sum(abs(d) for d in diffs.values()))
        shown = "same counts" if not diffs else " ".join(f"{k} {d:+d}" for k, d in diffs.items())
        out.append(ctx.check("aim.trace.commands", f"AiM replay commands {row['trace']}", total, (0.0, 0.0), COUNT,
                             item=row["trace"], reference_text=row["dram_cmds"], pimsim_text=shown))
    return out


# ---------------------------------------------------------------------------------------------- closed form

def _run(dram, instrs, *, refresh=False, mode="runlength", log=False):
    from pimsim.dram import CommandEngine, Instr, Program

    return CommandEngine(dram, refresh=refresh).run(Program.from_instrs(list(instrs) + [Instr("EOC")]), mode=mode,
                                                     log=log)


def peak_mac_bandwidth(ctx: Context) -> list[Check]:
    fam = "dram.peak_mac_bandwidth"
    return [ctx.check(fam, "peak MAC bandwidth, pimgpt-gddr6", ctx.hw.peak_mac_bandwidth_bytes_per_s,
                      ctx.value(fam), TBPS)]


def mac_stream_bandwidth(ctx: Context) -> list[Check]:
    from pimsim.dram import Instr

    d = ctx.hw.dram
    n, op = 200, 64
    res = _run(d, [Instr("MAC_ABK", op, (0,), row=3)] * n)
    bw = n * op * d.banks * d.column_bytes / (res.ns * 1e-9)
    peak = ctx.hw.peak_mac_bandwidth_bytes_per_s / d.channels
    return [ctx.check("dram.mac_stream_bandwidth", "MAC streaming bandwidth per channel, open row", bw,
                      (peak, peak), GBPS)]


def read_stream_bandwidth(ctx: Context) -> list[Check]:
    from pimsim.dram import Instr

    d = ctx.hw.dram
    n = 16000
    banks = [bg * d.banks_per_group + k for k in range(d.banks_per_group) for bg in range(d.bank_groups)]
    res = _run(d, [Instr("RD_SBK", 1, (0,), bank=banks[i % len(banks)], row=9) for i in range(n)])
    bw = n * d.column_bytes / (res.ns * 1e-9)
    peak = d.column_bytes / (d.timing["nBL"] * d.tck_ns * 1e-9)
    return [ctx.check("dram.read_stream_bandwidth", "read streaming bandwidth per channel, open rows", bw,
                      (peak, peak), GBPS)]


def refresh_overhead(ctx: Context) -> list[Check]:
    from pimsim.dram import Instr

    d = ctx.hw.dram
    instrs = [Instr("MAC_ABK", 64, (0,), row=1)] * 5000
    off = _run(d, instrs).cycles
    on = _run(d, instrs, refresh=True).cycles
    share = (on - off) / on
    ref = d.timing["nRFC"] / d.timing["nREFI"]
    return [ctx.check("dram.refresh_overhead", "refresh share of time, MAC stream on one row", share, (ref, ref), PCT,
                      reference_text=f"{PCT.value(ref)} (tRFC/tREFI)")]


def unit_costs(ctx: Context) -> list[Check]:
    from pimsim.dram import Instr

    d = ctx.hw.dram
    mac = lambda row: Instr("MAC_ABK", 64, (0,), row=row)  # noqa: E731
    one = _run(d, [mac(0)]).cycles
    cases = [
        ("EOC alone", _run(d, []).cycles, 2),
        ("MAC_ABK 64 from idle", one, 185),
        ("2nd MAC_ABK 64, same row (increment)", _run(d, [mac(0), mac(0)]).cycles - one, 128),
        ("2nd MAC_ABK 64, new row (increment)", _run(d, [mac(0), mac(1)]).cycles - one, 226),
        ("WR_GB 64", _run(d, [Instr("WR_GB", 64, (0,))]).cycles, 163),
        ("WR_BIAS alone", _run(d, [Instr("WR_BIAS", 1, (0,))]).cycles, 37),
        ("RD_MAC alone", _run(d, [Instr("RD_MAC", 1, (0,))]).cycles, 37),
    ]
    return [ctx.check("dram.unit_cost", name, float(got), (float(ref), float(ref)), CYC, item=name)
            for name, got, ref in cases]


def _floor_per_token_s(model) -> float:
    """pim_gpt_paper.md 'A sanity floor', last column: (12 L d^2 + 50257 d) bf16 at 4.096 TB/s x 226/128."""
    weight_bytes = (12 * model.layers * model.hidden ** 2 + 50257 * model.hidden) * 2
    return weight_bytes / (8 * 16 * 32 / 1e-9) * 226 / 128


def decode_floor(ctx: Context) -> list[Check]:
    from pimsim.models import get_model

    fam = "system.decode_floor"
    items = []
    for name in PIMGPT_MODELS:
        r = ctx.pim(name)
        decode = next(p for p in r.phases if p.name == "decode")
        items.append((name, decode.latency_s / decode.tokens / _floor_per_token_s(get_model(name))))
    # the value is pimsim / floor, so the reference is 1 (error = how far above the floor)
    return [ctx.over_items(fam, "decode time/token vs streaming floor, 8 models", items, (1.0, 1.0), X,
                           reference_text="floor (1x)")]


def energy_floor(ctx: Context) -> list[Check]:
    hw = ctx.hw
    bg_w = hw.dram.channels * hw.energy.background_w_per_channel + hw.energy.asic_static_w
    items = [(name, ctx.pim(name).energy_j / (bg_w * ctx.pim(name).latency_s)) for name in PIMGPT_MODELS]
    return [ctx.over_items("system.energy_floor", "energy vs background power x time, 8 models", items, (1.0, 1.0),
                           X, reference_text=f"{bg_w:.4g} W x time (1x)")]


# ---------------------------------------------------------------------------------------------- consistency

def fast_vs_exact(ctx: Context) -> list[Check]:
    from pimsim.engine import simulate
    from pimsim.workloads import GenerateSpec

    spec = GenerateSpec(prompt=8, generate=8)
    fast = simulate("gpt2-small", ctx.hw, PIMGPT_MAPPING, spec)
    exact = simulate("gpt2-small", ctx.hw, PIMGPT_MAPPING, spec, exact=True)
    return [ctx.check("system.fast_vs_exact", "fast vs exact mode latency, gpt2-small prompt 8 + 8", fast.latency_s,
                      (exact.latency_s,) * 2, MS)]


def fast_vs_exact_matrix(ctx: Context) -> list[Check]:
    """One row per PIM preset and refresh kind: fast / exact latency over the representative cells of the
    matrix (`pimsim.validate.fast_exact.cells`); the row's error is its worst pair."""
    from pimsim.validate import fast_exact as fx

    fam = "system.fast_vs_exact_matrix"
    out = []
    rows: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for preset, mapping, model, refresh, wl in fx.cells(full=False):
        pair = fx.run_pair(preset, mapping, model, refresh, wl)
        rows.setdefault((preset, refresh), []).append((f"{mapping} {model} {wl}",
                                                       pair.fast_latency_s / pair.exact_latency_s))
    for (preset, refresh), items in rows.items():
        row = ctx.over_items(fam, f"fast / exact latency, {preset} {refresh.replace('_', '-')} refresh, "
                             f"{len(items)} pairs", items, (1.0, 1.0), X, reference_text="exact mode (1x)")
        out.append(replace(row, id=f"{fam}[{preset} {refresh}]"))
    return out


def _token_text(hw, model: str, context: int, mapping: str = PIMGPT_MAPPING) -> str:
    """The distinct channel-0 programs of one token step (the mapper's, as the system simulation times
    them), concatenated into one trace."""
    from pimsim.mapper import Mapper, load_mapping
    from pimsim.models import get_model

    mapper = Mapper(get_model(model), hw, load_mapping(mapping))
    step = mapper.map_token(context)
    programs = {}
    for op in step.ops():
        if op.program is not None:
            programs.setdefault(op.program.text, None)
    return "".join(t.replace("AiM EOC\n", "") for t in programs) + "AiM EOC\n"


def runlength_vs_exact(ctx: Context) -> list[Check]:
    from pimsim.dram import CommandEngine, parse_trace

    prog = parse_trace(_token_text(ctx.hw, "gpt2-small", 300), source="<gpt2-small token at context 300>")
    engine = CommandEngine(ctx.hw.dram, refresh=True)
    fast = engine.run(prog, mode="runlength")
    exact = engine.run(prog, mode="exact")
    same = fast.commands == exact.commands and fast.row_hits == exact.row_hits
    msg = None if same else f"command counts or row hits differ: runlength {fast.commands} vs exact {exact.commands}"
    return [ctx.check("dram.runlength_vs_exact", "run-length vs exact engine, gpt2-small token ctx 300",
                      float(fast.cycles), (float(exact.cycles),) * 2, CYC, message=msg, fail=not same)]


# ---------------------------------------------------------------------------------------------- checker

def checker_samples() -> list[tuple[str, int, str]]:
    """(model, context, mapping) token steps whose command logs are checked: one per distinct PIM-GPT
    architecture (gpt3-small/medium are gpt2-small/medium's) at a context drawn from the validated
    workload (1..1023), plus gpt2-small under the other shipped mappings (other layouts and WR_BIAS)."""
    rng = random.Random(SAMPLE_SEED)
    out = [(m, rng.randint(1, PROMPT + GENERATE - 1), PIMGPT_MAPPING)
           for m in ("gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl", "gpt3-large", "gpt3-xl")]
    out += [("gpt2-small", rng.randint(1, PROMPT + GENERATE - 1), mp) for mp in ("naive", "cent", "attn_asic")]
    return out


def command_logs(ctx: Context) -> list[Check]:
    from pimsim.dram import CommandEngine, check_log, parse_trace

    out = []
    for model, context, mapping in checker_samples():
        item = f"{model} ctx {context} {mapping}"
        prog = parse_trace(_token_text(ctx.hw, model, context, mapping), source=f"<{item}>")
        res = CommandEngine(ctx.hw.dram, refresh=True).run(prog, log=True)
        violations = check_log(res.log, ctx.hw.dram, refresh=True, end_cycle=res.cycles)
        msg = "; ".join(str(v) for v in violations[:3]) if violations else None
        out.append(ctx.check("checker.command_logs", f"checker: {item}", float(len(violations)), (0.0, 0.0), COUNT,
                             item=item, reference_text="0 violations",
                             pimsim_text=f"{len(violations)} violations in {len(res.log):,} commands", message=msg))
    return out


# ---------------------------------------------------------------------------------------------- PIM-GPT published

def _ratio_family(family: str, label: str, device: str, mode: str | None,
                  what: str) -> Callable[[Context], list[Check]]:
    def run(ctx: Context) -> list[Check]:
        items = []
        for name in PIMGPT_MODELS:
            pim, base = ctx.pim(name), ctx.baseline(name, device, mode)
            items.append((name, base.latency_s / pim.latency_s if what == "speedup" else base.energy_j / pim.energy_j))
        return [ctx.over_items(family, label, items, ctx.value(family), X)]

    return run


def non_vmm_share(ctx: Context) -> list[Check]:
    fam = "pimgpt.non_vmm_share"
    return [ctx.check(fam, "non-VMM share of latency, gpt3-xl", ctx.pim("gpt3-xl").counters["non_vmm_share"],
                      ctx.value(fam), PCT)]


def row_hit_rate(ctx: Context) -> list[Check]:
    fam = "pimgpt.row_hit_rate"
    items = [(name, ctx.pim(name).row_hit_rate) for name in PIMGPT_MODELS]
    return [ctx.over_items(fam, "row-hit rate, 8 models", items, ctx.value(fam), PCT)]


def asic_clock(ctx: Context) -> list[Check]:
    from pimsim.hardware import load_hardware

    fam = "pimgpt.asic_clock"
    slow = load_hardware(PIMGPT_PRESET, overrides={"asic": {"clock_ghz": 0.1}})
    items = [(name, ctx.pim(name, slow, "asic-100MHz").latency_s / ctx.pim(name).latency_s - 1)
             for name in PIMGPT_MODELS]
    return [ctx.over_items(fam, "slowdown with a 100 MHz ASIC, 8 models", items, ctx.value(fam), PCT)]


def channel_scaling(ctx: Context) -> list[Check]:
    from pimsim.hardware import load_hardware

    fam = "pimgpt.channel_scaling"
    hws = {ch: load_hardware(PIMGPT_PRESET, overrides={"dram": {"channels": ch}}) for ch in (16, 32)}
    out = []
    for name in ("gpt2-medium", "gpt3-xl"):
        t = {8: ctx.pim(name).latency_s}
        for ch, hw in hws.items():
            t[ch] = ctx.pim(name, hw, f"{ch}ch").latency_s
        text = f"{X.value(t[8] / t[32])} (8->16 {X.value(t[8] / t[16])}, 16->32 {X.value(t[16] / t[32])})"
        out.append(ctx.check(fam, f"8->32 channel speedup, {name}", t[8] / t[32], ctx.value(fam), X, item=name,
                             pimsim_text=text, reference_text="4x (linear)"))
    return out


# ---------------------------------------------------------------------------------------------- registry

FAMILIES: dict[str, Callable[[Context], list[Check]]] = {
    "baseline.h100.latency": _measured_family("baseline.h100.latency", "h100", "H100", "latency"),
    "baseline.h100.energy": _measured_family("baseline.h100.energy", "h100", "H100", "energy"),
    "baseline.h100.prefill.latency": _measured_family("baseline.h100.prefill.latency", "h100-prefill",
                                                      "H100 prefill", "latency"),
    "baseline.h100.prefill.energy": _measured_family("baseline.h100.prefill.energy", "h100-prefill",
                                                     "H100 prefill", "energy"),
    "baseline.h100.large.latency": _measured_family("baseline.h100.large.latency", "h100-large", "H100 7-8B",
                                                    "latency"),
    "baseline.h100.large.energy": _measured_family("baseline.h100.large.energy", "h100-large", "H100 7-8B",
                                                   "energy"),
    "baseline.cpu.latency": _measured_family("baseline.cpu.latency", "cpu", "CPU", "latency"),
    "baseline.h200.latency": _measured_family("baseline.h200.latency", "h200", "H200", "latency"),
    "baseline.h200.energy": _measured_family("baseline.h200.energy", "h200", "H200", "energy"),
    "baseline.h200.prefill.latency": _measured_family("baseline.h200.prefill.latency", "h200-prefill",
                                                      "H200 prefill", "latency"),
    "baseline.h200.prefill.energy": _measured_family("baseline.h200.prefill.energy", "h200-prefill",
                                                     "H200 prefill", "energy"),
    "baseline.h200.batched.latency": _measured_family("baseline.h200.batched.latency", "h200-batched",
                                                      "H200 batched", "latency"),
    "baseline.h200.batched.energy": _measured_family("baseline.h200.batched.energy", "h200-batched",
                                                     "H200 batched", "energy"),
    "baseline.h200.large.latency": _measured_family("baseline.h200.large.latency", "h200-large", "H200 7-8B",
                                                    "latency"),
    "baseline.h200.large.energy": _measured_family("baseline.h200.large.energy", "h200-large", "H200 7-8B",
                                                   "energy"),
    "baseline.h200.transfer.latency": _measured_family("baseline.h200.transfer.latency", "h200-transfer",
                                                       "H200 (blind transfer)", "latency"),
    "baseline.h200.transfer.energy": _measured_family("baseline.h200.transfer.energy", "h200-transfer",
                                                      "H200 (blind transfer)", "energy"),
    "aim.trace.cycles": aim_cycles,
    "aim.trace.commands": aim_commands,
    "dram.peak_mac_bandwidth": peak_mac_bandwidth,
    "dram.mac_stream_bandwidth": mac_stream_bandwidth,
    "dram.read_stream_bandwidth": read_stream_bandwidth,
    "dram.refresh_overhead": refresh_overhead,
    "dram.unit_cost": unit_costs,
    "system.decode_floor": decode_floor,
    "system.energy_floor": energy_floor,
    "system.fast_vs_exact": fast_vs_exact,
    "system.fast_vs_exact_matrix": fast_vs_exact_matrix,
    "dram.runlength_vs_exact": runlength_vs_exact,
    "checker.command_logs": command_logs,
    "pimgpt.speedup.t4-graph": _ratio_family("pimgpt.speedup.t4-graph", "speedup vs T4 (graph), 8 models", "t4",
                                             "graph", "speedup"),
    "pimgpt.speedup.t4-eager": _ratio_family("pimgpt.speedup.t4-eager", "speedup vs T4 (eager), 8 models", "t4",
                                             "eager", "speedup"),
    "pimgpt.speedup.xeon": _ratio_family("pimgpt.speedup.xeon", "speedup vs Xeon Gold 6154, 8 models",
                                         "xeon-gold-6154", None, "speedup"),
    "pimgpt.energy_efficiency.t4-graph": _ratio_family("pimgpt.energy_efficiency.t4-graph",
                                                       "energy efficiency vs T4 (graph), 8 models", "t4", "graph",
                                                       "energy"),
    "pimgpt.energy_efficiency.t4-eager": _ratio_family("pimgpt.energy_efficiency.t4-eager",
                                                       "energy efficiency vs T4 (eager), 8 models", "t4", "eager",
                                                       "energy"),
    "pimgpt.energy_efficiency.xeon": _ratio_family("pimgpt.energy_efficiency.xeon",
                                                   "energy efficiency vs Xeon Gold 6154, 8 models", "xeon-gold-6154",
                                                   None, "energy"),
    "pimgpt.non_vmm_share": non_vmm_share,
    "pimgpt.row_hit_rate": row_hit_rate,
    "pimgpt.asic_clock": asic_clock,
    "pimgpt.channel_scaling": channel_scaling,
}


def _add_family_modules() -> None:
    """Families kept in their own modules (`pimsim/validate/checks_*.py`, each exporting FAMILIES) join the
    registry here; their tolerances live in tolerances.d/. A name defined twice is an error."""
    import importlib
    import pkgutil

    import pimsim.validate as package
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.name.startswith("checks_"):
            more = importlib.import_module(f"pimsim.validate.{info.name}").FAMILIES
            clash = sorted(set(more) & set(FAMILIES))
            if clash:
                raise RuntimeError(f"pimsim/validate/{info.name}.py redefines check families {clash}")
            FAMILIES.update(more)


_add_family_modules()
