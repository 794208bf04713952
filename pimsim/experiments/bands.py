"""Error bands of results: how far the real figure may lie from pimsim's, by where the figure came from.

The one place that turns a row's origin into a relative band (every table and plot reads it from here).
Each band comes from a family of `pimsim validate`'s tolerance file (pimsim/validate/tolerances.yaml),
whose error is `pimsim / reference - 1` within [lo, hi]; so the reference (the real machine) lies within
[figure / (1 + hi), figure / (1 + lo)], and the relative band is [1 / (1 + hi) - 1, 1 / (1 + lo) - 1]
(a +/-10% tolerance gives -9.1% / +11.1%).

Which family, per quantity (`latency` or `energy`):
- GPU/CPU baseline on a measured device (`MEASURED_DEVICES`): its calibrated decode family
  (`baseline.h100.latency`, ...) for models of at most `CALIBRATED_MAX_PARAMS` parameters (the fits used
  0.1-1.6B models); the held-out 7-8B family (`baseline.h100.large.*`) when every model on the device
  has 6.5-9B parameters. Any other size, or a quantity with no family (the CPU's energy), is a regime
  nothing measured: the blind-transfer bounds (below), and the source says so.
- GPU/CPU baseline on a device transferred by rule (t4, a100-80gb, xeon-gold-6154, a user's device file):
  no measurement of the card; the bounds of the blind transfer test (`baseline.h200.transfer.*`, the rule
  these presets rest on, tested on a Hopper card only), widened for a CPU to the calibrated CPU family
  where that is wider. The source says "transferred by rule".
- PIM (all-PIM rows): the fast/exact tolerance (`system.fast_vs_exact`) as its model error, for latency
  and energy. PIM has no measured hardware to bound it against, so this band is only a lower bound on its
  real uncertainty (it says how far fast mode may be from pimsim's own exact mode, not from a chip).
- A system of devices (target `system`, pimsim/engine/placement.py): as a mixed placement, with the parts
  its PIM devices and its GPU/CPU devices spent (`system_*_busy_s`, `system_*_energy_j`); link transfers are
  closed forms and carry no band.
- Mixed placement (policy on PIM, PRM on the GPU): latency and energy are sums of a PIM part and a device
  part (pimsim/experiments/evaluate.py), so its band is the share-weighted sum of the parts' bands,
  lo = sum_i w_i lo_i, hi = sum_i w_i hi_i, with w_i = part_i / total (the worst case: both parts' errors
  in the same direction). Energy parts: PIM = its energy + PIM standby while the device works; device =
  its energy + device idle while PIM works. A mixed row without those counters (a custom evaluator) gets
  the widest of both bands.
Prefill-dominated device work has a wider measured family (`baseline.*.prefill.latency`, +/-25%) that this
rule does not select: the PRM studies are decode-dominated. Metrics that are neither a latency nor an
energy (row-hit rate, non-VMM share) have no validated tolerance: their band is zero width ("none").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from pimsim.validate.tolerances import Tolerance, load_tolerances

QUANTITIES = ("latency", "energy")
# device preset -> tolerance-family prefix of its calibrated model and of its held-out 7-8B regime
MEASURED_DEVICES: dict[str, dict[str, str]] = {
    "h100-sxm": {"calibrated": "baseline.h100", "7-8b": "baseline.h100.large"},
    "h200-sxm": {"calibrated": "baseline.h200", "7-8b": "baseline.h200.large"},
    "server-16vcpu": {"calibrated": "baseline.cpu"},
}
CPU_FAMILY = "baseline.cpu"
TRANSFER_FAMILY = "baseline.h200.transfer"
PIM_FAMILY = "system.fast_vs_exact"
CALIBRATED_MAX_PARAMS = 2.0e9      # the decode fits used 0.1-1.6B models (tolerances.yaml, *.large reasons)
LARGE_PARAMS = (6.5e9, 9.0e9)      # the held-out 7-8B rows: qwen2.5-math-7b-instruct, rlhflow-8b-prm
# metric column -> quantity whose band it carries (anything else: no band)
METRIC_QUANTITY = {
    "latency_s": "latency", "ttft_s": "latency", "tpot_s": "latency", "e2e_latency_per_token_s": "latency",
    "latency_per_problem_s": "latency", "energy_j": "energy", "energy_per_token_j": "energy",
    "energy_per_problem_j": "energy", "decode_energy_per_token_j": "energy",
}
# metrics that are a quotient of the banded quantities: (numerator quantity, denominator quantity), None for 1
RATIO_METRIC_QUANTITIES = {"tokens_per_second": (None, "latency"), "power_w": ("energy", "latency")}
NO_BAND = "none (no validated tolerance)"


@dataclass(frozen=True)
class Band:
    """Relative band of the real figure around pimsim's: real in [v (1 + lo), v (1 + hi)], lo <= 0 <= hi."""

    lo: float
    hi: float
    source: str

    def bounds(self, value: float) -> tuple[float, float]:
        return value * (1.0 + self.lo), value * (1.0 + self.hi)


@lru_cache(maxsize=1)
def _tolerances() -> dict[str, Tolerance]:
    return load_tolerances()


def band_of_family(family: str, note: str = "") -> Band:
    """The band of the real figure implied by tolerance family `family` (rule: module docstring)."""
    lo, hi = _tolerances()[family].bounds
    assert lo is not None and hi is not None and lo > -1.0, family
    return Band(1.0 / (1.0 + hi) - 1.0, 1.0 / (1.0 + lo) - 1.0, family + (f" ({note})" if note else ""))


def _widest(*bands: Band) -> Band:
    lo = min(bands, key=lambda b: b.lo)
    hi = max(bands, key=lambda b: b.hi)
    source = lo.source if lo is hi else f"{lo.source} / {hi.source}"
    return Band(lo.lo, hi.hi, source)


def device_band(device: str, quantity: str, model_params: Iterable[float] = (), kind: str = "gpu") -> Band:
    """Band of a GPU/CPU baseline figure of `quantity` on preset `device` for models of `model_params`."""
    assert quantity in QUANTITIES, quantity
    params = [float(p) for p in model_params]
    transfer = band_of_family(f"{TRANSFER_FAMILY}.{quantity}", "blind-transfer bounds")
    families = MEASURED_DEVICES.get(device)
    if families is None:
        band, source = transfer, transfer.source
        if kind == "cpu" and f"{CPU_FAMILY}.{quantity}" in _tolerances():
            cpu = band_of_family(f"{CPU_FAMILY}.{quantity}")
            band, source = _widest(transfer, cpu), f"widest of {transfer.source} and {cpu.source}"
        return Band(band.lo, band.hi, f"{device} transferred by rule, no measured family: {source}")
    if params and all(p <= CALIBRATED_MAX_PARAMS for p in params):
        regime = "calibrated"
    elif params and "7-8b" in families and all(LARGE_PARAMS[0] <= p <= LARGE_PARAMS[1] for p in params):
        regime = "7-8b"
    else:
        return Band(transfer.lo, transfer.hi, f"{device}: no measured family for models of "
                    f"{', '.join(f'{p / 1e9:.1f}B' for p in params) or 'unknown size'}: {transfer.source}")
    family = f"{families[regime]}.{quantity}"
    if family not in _tolerances():
        return Band(transfer.lo, transfer.hi, f"{device}: no measured {quantity} family: {transfer.source}")
    return band_of_family(family)


def pim_band(quantity: str) -> Band:
    """Band of a PIM figure: fast/exact model error only (no PIM hardware measured; a lower bound)."""
    assert quantity in QUANTITIES, quantity
    return band_of_family(PIM_FAMILY, "model error only: no PIM hardware measured, a lower bound")


def mixed_band(pim: Band, device: Band, pim_part: float | None, device_part: float | None) -> Band:
    """Share-weighted band of a sum of a PIM part and a device part (rule: module docstring)."""
    total = (pim_part or 0.0) + (device_part or 0.0)
    if pim_part is None or device_part is None or not math.isfinite(total) or total <= 0:
        wide = _widest(pim, device)
        return Band(wide.lo, wide.hi, f"widest of PIM and device (no part split): {wide.source}")
    w_pim, w_dev = pim_part / total, device_part / total
    return Band(w_pim * pim.lo + w_dev * device.lo, w_pim * pim.hi + w_dev * device.hi,
                f"{w_pim:.0%} PIM [{pim.source}] + {w_dev:.0%} device [{device.source}]")


def _num(row: dict[str, Any], *cols: str) -> float | None:
    total = 0.0
    for c in cols:
        v = row.get(c)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            if c == cols[0]:
                return None
            continue
        total += float(v)
    return total


def row_band(row: dict[str, Any], quantity: str, device_params: Iterable[float] = (),
             device_kind: str = "gpu") -> Band | None:
    """Band of `quantity` of one result row (target pim, baseline or mixed); None for an error row.

    `device_params`: parameter counts of the models that run on the device (baseline: all; mixed: the
    roles not on PIM)."""
    if row.get("error") is not None and not (isinstance(row.get("error"), float) and math.isnan(row["error"])):
        return None
    target = row.get("target")
    if target == "pim":
        return pim_band(quantity)
    if target == "baseline":
        return device_band(str(row.get("device")), quantity, device_params, device_kind)
    if target == "mixed":
        dev = device_band(str(row.get("device")), quantity, device_params, device_kind)
        if quantity == "latency":
            parts = _num(row, "counters.pim_latency_s"), _num(row, "counters.device_latency_s")
        else:
            parts = (_num(row, "counters.pim_energy_j", "breakdown_j.pim_idle_during_device"),
                     _num(row, "counters.device_energy_j", "breakdown_j.device_idle_during_pim"))
        return mixed_band(pim_band(quantity), dev, *parts)
    if target == "system":  # a system of devices: PIM and GPU parts weighted like a mixed placement
        dev = device_band(str(row.get("device")), quantity, device_params, device_kind)
        parts = ((_num(row, "system_pim_busy_s"), _num(row, "system_device_busy_s")) if quantity == "latency"
                 else (_num(row, "system_pim_energy_j"), _num(row, "system_device_energy_j")))
        return mixed_band(pim_band(quantity), dev, *parts)
    raise ValueError(f"row band: unknown target {target!r}")
