"""Fitting a device preset to measured decode and prefill latencies (and energies): `pimsim baseline fit`.

Input CSV, one measured configuration per row (the files in `pimsim/baselines/data/` are examples).
Columns:
- `model` (zoo name) and `decode_ms_per_token` (required): milliseconds per generated token;
- either `context` (one step with that many tokens already cached) or `prompt` and `generated` (the
  mean over the generated-1 decode steps after a `prompt`-token prefill);
- optional `new_tokens` (tokens each sequence processes in the timed step: 1, the default, is a decode
  step; T > 1 with `context` is a T-token prefill, which yields one generated token per sequence),
  `batch` (default 1), `dtype` (fp32, fp16, bf16, fp8, int8; default the preset's),
  `energy_j_per_token` (board energy, idle included; energy is fitted only on rows that have it),
  `stack` (the software stack that ran the row, `pimsim.baselines.stacks`; default `serving`).
Per token means per generated token: a step of batch B yields B tokens.

What is fitted (everything else is kept from the `--device` preset):
- latency: `bandwidth_bytes_per_s`, `attention_stream_bandwidth_bytes_per_s` (when the preset has
  one) and `kernel_overhead_s[mode]`, by least squares on relative error. The model is linear in
  1/bandwidth, 1/stream bandwidth and the overhead once each kernel's regime (memory-, stream- or
  compute-bound) is known, so regimes and parameters are iterated to a fixed point. Bounds: bandwidth
  at most the peak and `bandwidth_cap_bytes_per_s`, stream bandwidth at most the bandwidth,
  overhead >= 0. Other modes keep their difference to the fitted mode. With prefill rows (new_tokens > 1)
  `flops_per_s` is fitted too (at most the datasheet peak): the rate sustained over whole prefills, at
  the power limit, which is lower than a short matmul benchmark's. Decode rows barely constrain it, so
  without prefill rows it is kept.
- with `--fit-floor`: `kernel_floor_s`, the least time a kernel runs (`pimsim.baselines.model`), by a scan
  (FLOOR_GRID_S) of whole fits, the one of least rms relative latency error on the fitted rows kept;
- energy: `power.active_w` and `power.energy_per_byte_j` (>= 0), by least squares on relative error
  of energy per token with the model's own time, `idle_w` and `energy_per_flop_j` held fixed; with
  prefill rows `energy_per_flop_j` is fitted as well (>= 0).
Fitted values are rounded to 4 significant digits; reported errors are those of the rounded preset.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pimsim.baselines.device import DevicePreset, load_device
from pimsim.baselines.gemm import scheduled_flops
from pimsim.baselines.kernels import KernelTable, kernel_table
from pimsim.baselines.stacks import get_stack
from pimsim.baselines.model import evaluate, kernel_bandwidth
from pimsim.util.config_io import read_text
from pimsim.errors import ConfigError, PimsimError
from pimsim.models import ModelConfig, get_model

DTYPE_BYTES = {"fp32": 4, "float32": 4, "fp16": 2, "float16": 2, "bf16": 2, "bfloat16": 2, "fp8": 1, "int8": 1}


@dataclass(frozen=True)
class Measurement:
    """One row of a measurement CSV, resolved to the decode steps it times."""

    line: int
    label: str
    model: ModelConfig
    batch: int
    past_context: int  # cache length at the first timed step
    steps: int  # decode steps the figure averages over
    dtype_bytes: int
    latency_per_token_s: float
    energy_per_token_j: float | None
    new_tokens: int = 1  # tokens per sequence in each timed step (> 1: a prefill)
    stack: str = "serving"  # the software stack that ran it (`pimsim.baselines.stacks`)

    def table(self, device: DevicePreset) -> KernelTable:
        return kernel_table(self.model, self.new_tokens, self.past_context, self.batch, self.steps,
                            self.dtype_bytes, None, device.fused_attention, self.stack)


def read_measurements(path: str | Path, default_dtype_bytes: int) -> list[Measurement]:
    """Parse a measurement CSV (columns in the module docstring); errors name the file, line and column."""
    path = Path(path)
    text = read_text(path)
    reader = csv.DictReader(text.splitlines())
    columns = [c.strip() for c in (reader.fieldnames or [])]
    if not columns:
        raise ConfigError(f"{path}: empty file; expected a header with columns model, decode_ms_per_token, "
                          "and context or prompt+generated")
    for col in ("model", "decode_ms_per_token"):
        if col not in columns:
            raise ConfigError(f"{path}: missing column {col!r} (header: {', '.join(columns)})")
    if "context" not in columns and not {"prompt", "generated"} <= set(columns):
        missing = [c for c in ("prompt", "generated") if c not in columns]
        raise ConfigError(f"{path}: missing column 'context' (or {' and '.join(repr(c) for c in missing)}): "
                          "give the cache length of the timed decode step, or prompt and generated")
    out = []
    for i, raw in enumerate(reader, start=2):
        row = {(k or "").strip(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(row.values()):
            continue
        where = f"{path} line {i}"

        def number(col: str, kind=float, low: float = 0.0, optional: bool = False):
            value = row.get(col, "")
            if value == "" and optional:
                return None
            if value == "":
                raise ConfigError(f"{where}: column {col!r} is empty")
            try:
                v = kind(value)
            except ValueError:
                raise ConfigError(f"{where}: column {col!r}: not a{'n integer' if kind is int else ' number'} "
                                  f"(got {value!r})") from None
            ok = v >= low if kind is int else (v > low and np.isfinite(v))
            if not ok:
                raise ConfigError(f"{where}: column {col!r}: must be {'>=' if kind is int else '>'} {low} (got {value!r})")
            return v

        try:
            model = get_model(row["model"])
        except PimsimError as exc:
            raise type(exc)(f"{where}: column 'model': {exc}") from None
        dtype = row.get("dtype", "")
        if dtype:
            if dtype.lower() not in DTYPE_BYTES:
                raise ConfigError(f"{where}: column 'dtype': unknown {dtype!r}; one of {', '.join(DTYPE_BYTES)}")
            dtype_bytes = DTYPE_BYTES[dtype.lower()]
        else:
            dtype_bytes = default_dtype_bytes
        batch = number("batch", int, 1, optional=True) or 1
        stack = row.get("stack", "") or "serving"
        try:
            get_stack(stack)
        except PimsimError as exc:
            raise type(exc)(f"{where}: column 'stack': {exc}") from None
        new_tokens = number("new_tokens", int, 1, optional=True) or 1
        if "context" in columns and row.get("context", "") != "":
            past, steps = number("context", int, 0), 1
            label = f"{model.name} b{batch} ctx {past}" if new_tokens == 1 else (
                f"{model.name} b{batch} prefill {new_tokens}" + (f" after {past}" if past else ""))
        else:
            if new_tokens != 1:
                raise ConfigError(f"{where}: column 'new_tokens': a prompt/generated row times decode steps "
                                  f"(1 new token each); give 'context' for a {new_tokens}-token prefill")
            prompt = number("prompt", int, 1)
            generated = number("generated", int, 2)
            past, steps = prompt, generated - 1
            label = f"{model.name} b{batch} prompt {prompt} gen {generated}"
        if past + steps * new_tokens > model.max_context:
            raise ConfigError(f"{where}: context {past + steps * new_tokens} exceeds {model.name}'s "
                              f"{model.max_context} positions")
        out.append(Measurement(
            line=i, label=label, model=model, batch=batch, past_context=past, steps=steps, dtype_bytes=dtype_bytes,
            latency_per_token_s=number("decode_ms_per_token") * 1e-3,
            energy_per_token_j=number("energy_j_per_token", optional=True) if "energy_j_per_token" in columns else None,
            new_tokens=new_tokens, stack=stack,
        ))
    if not out:
        raise ConfigError(f"{path}: no data rows")
    return out


def predict(m: Measurement, device: DevicePreset, overhead_s: float) -> tuple[float, float]:
    """Model (latency, energy) per generated token for measurement `m`."""
    cost = evaluate(m.table(device), m.steps, device, overhead_s)
    tokens = m.steps * m.batch
    t = float(cost.step_time_s.sum())
    p = device.power
    e = (p.idle_w + p.active_w) * t + p.energy_per_byte_j * cost.bytes + p.energy_per_flop_j * cost.flops
    return t / tokens, e / tokens


def compare(measurements: list[Measurement], device: DevicePreset, mode: str | None = None) -> list[dict]:
    """Per row: measured and modelled latency and energy per token, and the relative errors."""
    _, overhead = device.overhead_s(mode)
    rows = []
    for m in measurements:
        t, e = predict(m, device, overhead)
        row = {"row": m.label, "measured_latency_s": m.latency_per_token_s, "model_latency_s": t,
               "latency_error": t / m.latency_per_token_s - 1}
        if m.energy_per_token_j is not None:
            row.update(measured_energy_j=m.energy_per_token_j, model_energy_j=e,
                       energy_error=e / m.energy_per_token_j - 1)
        rows.append(row)
    return rows


def _round(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def _bounded_lsq(A: np.ndarray, y: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """min |A x - y| with x >= lower, by an active set: clamp the worst violation, re-solve the rest."""
    fixed = np.zeros(A.shape[1], dtype=bool)
    x = np.array(lower, dtype=float)
    for _ in range(A.shape[1] + 1):
        free = ~fixed
        rhs = y - A[:, fixed] @ x[fixed]
        if free.any():
            x[free] = np.linalg.lstsq(A[:, free], rhs, rcond=None)[0]
        viol = np.where(free, lower - x, 0.0)
        if viol.max() <= 0:
            return x
        worst = int(np.argmax(viol))
        fixed[worst] = True
        x[worst] = lower[worst]
    return np.maximum(x, lower)


def _design(ms: list[Measurement], dev: DevicePreset, use_stream: bool):
    """Rows of the linear latency model under the regimes `dev`'s current parameters give, and the time
    per token of the kernels the floor bounds (`kernel_floor_s`: a constant under those regimes).

    Columns: bytes at device bandwidth, bytes per stream at stream bandwidth, kernel launches, FLOPs of
    compute-bound kernels (at 1/flops_per_s). All per generated token.
    """
    A = np.zeros((len(ms), 4))
    floor_s = np.zeros(len(ms))
    for r, m in enumerate(ms):
        table = m.table(dev)
        flops, moved = table.at(m.steps)
        bw = kernel_bandwidth(table, dev)
        streamed = (table.streams > 0) & (bw < dev.bandwidth_bytes_per_s) if use_stream else np.zeros(len(bw), bool)
        flops = scheduled_flops(table, flops, dev.gemm_tiling)  # as the SMs schedule them (tiles, waves)
        t_cmp = flops / dev.flops_per_s
        t_mem = moved / bw[:, None]
        floored = np.maximum(t_cmp, t_mem) < dev.kernel_floor_s
        compute_bound = (t_cmp > t_mem) & ~floored
        count = table.count[:, None]
        mem = np.where(compute_bound | floored, 0.0, moved) * count
        per_stream = np.where(table.streams > 0, table.streams, 1.0)[:, None]
        tokens = m.steps * m.batch
        A[r, 0] = mem[~streamed].sum() / tokens
        A[r, 1] = (mem[streamed] / per_stream[streamed]).sum() / tokens
        A[r, 2] = table.kernels_per_step * m.steps / tokens
        A[r, 3] = (np.where(compute_bound, flops, 0.0) * count).sum() / tokens
        floor_s[r] = (floored * count).sum() * dev.kernel_floor_s / tokens
    return A, floor_s


def held_out(m: Measurement, hold_out: tuple[str, ...]) -> bool:
    """Whether row `m` is held out by any entry: MODEL (all its rows), MODEL:prefill or MODEL:decode."""
    kind = "prefill" if m.new_tokens > 1 else "decode"
    return any(e == m.model.name or e == f"{m.model.name}:{kind}" for e in hold_out)


@dataclass(frozen=True)
class FitResult:
    preset: DevicePreset
    mode: str
    rows: list[dict]
    energy_fitted: bool


FLOOR_GRID_S = tuple(round(i * 1e-7, 9) for i in range(41))  # kernel_floor_s candidates: 0 .. 4 us by 0.1 us


def fit_device(measurements: list[Measurement], device: str | Path | DevicePreset, mode: str | None = None,
               source: str = "measurements.csv", hold_out: tuple[str, ...] = (), fit_floor: bool = False
               ) -> FitResult:
    """Fit `device`'s bandwidths, per-kernel overhead and power terms to `measurements` (module docstring).

    `hold_out`: model names whose rows are not fitted on, only compared (the fit record names them and
    reports their error apart). `fit_floor`: `kernel_floor_s` too, the candidate of FLOOR_GRID_S whose fit
    (everything else refitted under it) has the least root-mean-square relative latency error over the rows
    fitted on (held-out rows take no part)."""
    if fit_floor:
        dev = load_device(device)
        best = None
        for floor in FLOOR_GRID_S:
            res = fit_device(measurements, dev.model_copy(update={"kernel_floor_s": floor}), mode, source, hold_out)
            fitted_rows = res.rows[:res.preset.fit["rows"]]
            rms = float(np.sqrt(np.mean([r["latency_error"] ** 2 for r in fitted_rows])))
            if best is None or rms < best[0]:
                best = (rms, floor, res)
        rms, floor, res = best
        p = res.preset
        how = (f"fitted with --fit-floor: of 0 .. {FLOOR_GRID_S[-1] * 1e6:g} us in 0.1 us steps, the floor whose fit "
               f"has the least rms relative latency error over the {p.fit['rows']} rows fitted on ({rms:.4f}; "
               "held-out rows take no part); every other fitted field refitted under it")
        fit_meta = dict(p.fit, fitted=list(p.fit["fitted"]) + ["kernel_floor_s"], floor_rms_latency_error=_round(rms, 3))
        data = p.model_dump(mode="json")
        data.update(fit=fit_meta, notes=dict(p.notes, kernel_floor_s=how))
        return FitResult(preset=DevicePreset.model_validate(data), mode=res.mode, rows=res.rows,
                         energy_fitted=res.energy_fitted)
    dev = load_device(device)
    unknown = [name for name in hold_out if not any(held_out(m, (name,)) for m in measurements)]
    if unknown:
        raise ConfigError(f"{source}: hold-out entr{'ies' if len(unknown) > 1 else 'y'} {', '.join(unknown)} match no "
                          f"row (MODEL, MODEL:prefill or MODEL:decode); models measured: "
                          f"{', '.join(sorted({m.model.name for m in measurements}))}")
    everything = measurements
    measurements = [m for m in measurements if not held_out(m, hold_out)]
    if not measurements:
        raise ConfigError(f"{source}: every row is held out; nothing is left to fit on")
    mode, _ = dev.overhead_s(mode)
    if mode == "framework":
        raise ConfigError(f"{source}: framework mode is not fitted by `baseline fit` (its step is the slower of "
                          "device and host); its host dispatch per kernel comes from fit_host_dispatch on "
                          "host-bound eager records (docs/baselines.md, Framework-bound mode)")
    dtypes = {m.dtype_bytes for m in measurements}
    if len(dtypes) > 1:
        raise ConfigError(f"{source}: rows mix dtypes of {sorted(dtypes)} bytes; fit one dtype at a time")
    dev = dev.model_copy(update={"dtype_bytes": dtypes.pop()})
    decode_rows = [m for m in measurements if m.new_tokens == 1]
    prefill_rows = [m for m in measurements if m.new_tokens > 1]
    if not decode_rows:
        raise ConfigError(f"{source}: only prefill rows; the bandwidth and per-kernel overhead need decode rows "
                          "(new_tokens 1) beside them")
    fit_flops = bool(prefill_rows)
    y = np.array([m.latency_per_token_s for m in decode_rows])
    w = 1.0 / y
    cap = min(dev.peak_bandwidth_bytes_per_s, dev.bandwidth_cap_bytes_per_s or np.inf)
    use_stream = dev.fused_attention and dev.attention_stream_bandwidth_bytes_per_s is not None
    old_overhead = dev.kernel_overhead_s[mode]

    def with_params(d: DevicePreset, bw: float, stream: float | None, overhead: float, flops: float) -> DevicePreset:
        shift = overhead - old_overhead
        # other device-side modes keep their difference to the fitted one; framework (host dispatch) is kept
        modes = {k: overhead if k == mode else v if k == "framework" else max(0.0, _round(v + shift))
                 for k, v in dev.kernel_overhead_s.items()}
        upd = {"bandwidth_bytes_per_s": bw, "kernel_overhead_s": modes, "flops_per_s": flops}
        if use_stream:
            upd["attention_stream_bandwidth_bytes_per_s"] = stream
        return d.model_copy(update=upd)

    # stage 1, decode rows: bandwidth, stream bandwidth, overhead (compute-bound time at the kept rate)
    current = dev
    for _ in range(30):
        A, floor_s = _design(decode_rows, current, use_stream)
        c = A[:, 3] / current.flops_per_s + floor_s
        lower = np.array([1.0 / cap, 0.0, 0.0])
        if not use_stream or not A[:, 1].any():
            keep = [0, 2]  # no stream-limited kernels in the data: the stream bandwidth stays as it is
        else:
            keep = [0, 1, 2]
        x = np.zeros(3)
        x[keep] = _bounded_lsq(A[:, keep] * w[:, None], (y - c) * w, lower[keep])
        if use_stream and 1 in keep and x[1] < x[0]:
            # a stream faster than the device is no limit: merge the column into the bandwidth term
            merged = A[:, [0, 2]].copy()
            merged[:, 0] += A[:, 1]
            x[[0, 2]] = _bounded_lsq(merged * w[:, None], (y - c) * w, lower[[0, 2]])
            x[1] = x[0]
        bw = _round(1.0 / x[0])
        stream = _round(1.0 / x[1]) if use_stream and 1 in keep else dev.attention_stream_bandwidth_bytes_per_s
        if stream is not None and stream > bw:
            stream = bw
        new = with_params(current, min(bw, cap), stream, _round(max(x[2], 0.0)), current.flops_per_s)
        if new == current:
            break
        current = new

    # stage 2, prefill rows: the sustained compute rate, everything else as stage 1 left it
    if fit_flops:
        yp = np.array([m.latency_per_token_s for m in prefill_rows])
        for _ in range(30):
            A, floor_s = _design(prefill_rows, current, use_stream)
            _, overhead = current.overhead_s(mode)
            stream_bw = current.attention_stream_bandwidth_bytes_per_s or np.inf
            c = A[:, 0] / current.bandwidth_bytes_per_s + A[:, 1] / stream_bw + A[:, 2] * overhead + floor_s
            if not A[:, 3].any():
                break  # no prefill kernel is compute-bound: the rate stays
            (x3,) = _bounded_lsq(A[:, [3]] / yp[:, None], (yp - c) / yp, np.array([1.0 / current.peak_flops_per_s]))
            new = with_params(current, current.bandwidth_bytes_per_s, current.attention_stream_bandwidth_bytes_per_s,
                              current.kernel_overhead_s[mode], _round(1.0 / x3))
            if new == current:
                break
            current = new

    # energy: active_w and energy_per_byte_j on the decode rows with energy; energy_per_flop_j on the
    # prefill rows with energy (the decode rows' compute energy is negligible)
    with_energy = [m for m in decode_rows if m.energy_per_token_j is not None]
    prefill_energy = [m for m in prefill_rows if m.energy_per_token_j is not None]
    if with_energy:
        _, overhead = current.overhead_s(mode)

        def energy_terms(rows):
            B, E = [], []
            for m in rows:
                cost = evaluate(m.table(current), m.steps, current, overhead)
                tokens = m.steps * m.batch
                B.append([float(cost.step_time_s.sum()) / tokens, cost.bytes / tokens, cost.flops / tokens])
                E.append(m.energy_per_token_j)
            return np.array(B), np.array(E)

        p = current.power
        Bd, Ed = energy_terms(with_energy)
        Bp, Ep = energy_terms(prefill_energy) if prefill_energy else (None, None)
        per_flop = p.energy_per_flop_j
        for _ in range(50):  # the two stages share terms: alternate them to a fixed point
            rhs = Ed - p.idle_w * Bd[:, 0] - per_flop * Bd[:, 2]
            active, per_byte = (_round(v) for v in _bounded_lsq(Bd[:, :2] / Ed[:, None], rhs / Ed, np.zeros(2)))
            if Bp is None:
                break
            rhs = Ep - (p.idle_w + active) * Bp[:, 0] - per_byte * Bp[:, 1]
            (new_flop,) = _bounded_lsq(Bp[:, [2]] / Ep[:, None], rhs / Ep, np.zeros(1))
            if _round(new_flop) == per_flop:
                break
            per_flop = _round(new_flop)
        power = p.model_copy(update={"active_w": active, "energy_per_byte_j": per_byte, "energy_per_flop_j": per_flop})
        current = current.model_copy(update={"power": power})

    rows = compare(measurements, current, mode)
    held_rows = compare([m for m in everything if held_out(m, hold_out)], current, mode)
    fitted = ["bandwidth_bytes_per_s", f"kernel_overhead_s.{mode}"]
    if use_stream:
        fitted.append("attention_stream_bandwidth_bytes_per_s")
    if fit_flops:
        fitted.append("flops_per_s")
    if with_energy:
        fitted += ["power.active_w", "power.energy_per_byte_j"] + (["power.energy_per_flop_j"] if prefill_energy else [])
    held = f" --hold-out {','.join(hold_out)}" if hold_out else ""
    how = (f"fitted by `pimsim baseline fit {source} --device {dev.name} --mode {mode}{held}` on {len(measurements)} rows "
           "(least squares on relative error" + (f"; flops_per_s and energy_per_flop_j on the {len(prefill_rows)} "
                                                 f"prefill rows, the rest on the {len(decode_rows)} decode rows"
                                                 if fit_flops else "") + ")"
           + (f"; rows of {', '.join(hold_out)} held out" if hold_out else ""))
    notes = dict(current.notes)
    for field in fitted:
        notes[field] = how
    other = [k for k in current.kernel_overhead_s if k not in (mode, "framework")]
    for k in other:
        kept = f"(kept at its difference to {mode} by the fit)"
        note = notes.get(f"kernel_overhead_s.{k}", "")
        if kept not in note:
            notes[f"kernel_overhead_s.{k}"] = f"{note} {kept}".strip()
    fit_meta = {
        "source": source,
        "mode": mode,
        "rows": len(measurements),
        "fitted": fitted,
        "max_abs_latency_error": _round(max(abs(r["latency_error"]) for r in rows), 3),
    }
    if with_energy:
        fit_meta["max_abs_energy_error"] = _round(max(abs(r["energy_error"]) for r in rows if "energy_error" in r), 3)
    if hold_out:
        fit_meta["held_out"] = {"rows_of": list(hold_out), "rows": len(held_rows),
                                "max_abs_latency_error": _round(max(abs(r["latency_error"]) for r in held_rows), 3)}
    data = current.model_dump(mode="json")
    data.update(fit=fit_meta, notes=notes)
    preset = DevicePreset.model_validate(data)  # re-check every rule on the fitted values
    return FitResult(preset=preset, mode=mode, rows=rows + held_rows, energy_fitted=bool(with_energy))


class _Dumper(yaml.SafeDumper):
    """Floats in short scientific form (2.607e+12), always with a dot so YAML reads them back as floats."""


def _float(dumper: yaml.SafeDumper, value: float):
    text = f"{value:.6g}"
    mantissa, _, exp = text.partition("e")
    if "." not in mantissa and mantissa.lstrip("-").isdigit():
        text = mantissa + ".0" + ("e" + exp if exp else "")
    return dumper.represent_scalar("tag:yaml.org,2002:float", text)


def _list(dumper: yaml.SafeDumper, value: list):
    """Lists of numbers (and of number pairs, as gemm_tiling's tiles) on one line; others as blocks."""
    flat = all(isinstance(v, (int, float)) or (isinstance(v, (list, tuple)) and all(isinstance(x, (int, float))
                                                                                  for x in v)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=bool(value) and flat)


_Dumper.add_representer(float, _float)
_Dumper.add_representer(list, _list)


def preset_yaml(preset: DevicePreset, command: str) -> str:
    """The preset as YAML, headed by the command that wrote it."""
    data = preset.model_dump(mode="json", exclude_none=True)
    header = (f"# {preset.name}: written by `{command}`.\n"
              "# Fitted fields and their provenance are listed under `fit` and `notes`; refit rather than edit.\n")
    return header + yaml.dump(data, Dumper=_Dumper, sort_keys=False, width=1000)


# ------------------------------------------------------------------------------------------ framework mode

# The fit set of `kernel_overhead_s.framework`: the eager records of pimsim/baselines/data, kind
# gpu-prefill-eager of h200_gpu_regimes_raw.jsonl (tools/measure_gpu_regimes.py: the measuring tool's decoder
# run eagerly by PyTorch, batch 1, one forward per prompt) at the prompts where the step time does not grow
# with the prompt (128 and 512 tokens: host-bound). The 2048-token records are left out: they are
# device-bound (attention on the unfused path; docs/baselines.md, H200 item 6).
FRAMEWORK_FIT_FILE = "h200_gpu_regimes_raw.jsonl"
FRAMEWORK_FIT_KIND = "gpu-prefill-eager"
FRAMEWORK_FIT_PROMPTS = (128, 512)


@dataclass(frozen=True)
class HostRecord:
    """One host-bound eager forward: model, prompt tokens, pimsim's kernel count for it, measured seconds."""

    model: ModelConfig
    prompt: int
    kernels: int
    measured_s: float


def read_host_records(path: str | Path, prompts: tuple[int, ...] = FRAMEWORK_FIT_PROMPTS,
                      kind: str = FRAMEWORK_FIT_KIND) -> list[HostRecord]:
    """The records of `kind` at `prompts` in a raw measurement log (JSON lines); the kernel count is that of
    pimsim's kernel list for a batch-1 prefill with the head on the last position (as the tool computes)."""
    import json

    path = Path(path)
    out = []
    for i, line in enumerate(read_text(path).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            raise ConfigError(f"{path} line {i}: not a JSON record") from None
        if rec.get("kind") != kind or rec.get("prompt") not in prompts:
            continue
        try:
            model = get_model(rec["model"])
            batch, prompt, ms = int(rec["batch"]), int(rec["prompt"]), float(rec["prefill_ms"])
        except PimsimError as exc:
            raise type(exc)(f"{path} line {i}: {exc}") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"{path} line {i}: record {kind} needs model, batch, prompt, prefill_ms ({exc})") from None
        if batch != 1 or not ms > 0:
            raise ConfigError(f"{path} line {i}: expected batch 1 and prefill_ms > 0")
        table = kernel_table(model, prompt, 0, 1, 1, 2, 1, True)
        out.append(HostRecord(model, prompt, table.kernels_per_step, ms * 1e-3))
    if not out:
        raise ConfigError(f"{path}: no {kind} records at prompts {', '.join(map(str, prompts))}")
    return out


def fit_host_dispatch(records: list[HostRecord]) -> float:
    """Host dispatch seconds per kernel h minimising the relative error of kernels x h against the measured
    times: h = sum(k / y) / sum((k / y)^2) (least squares on relative error, closed form), rounded to 4 digits."""
    k = np.array([r.kernels for r in records], dtype=np.float64)
    y = np.array([r.measured_s for r in records])
    return _round(float((k / y).sum() / ((k / y) ** 2).sum()))
