"""ASIC timing and energy: vector work beside the PIM chips (PIM-GPT's 28 nm, 1 GHz controller ASIC).

Timing models (`AsicConfig.timing_model`, registry `ASIC_TIMING`; each gives the cycles of one op):
- `lanes` (pimsim's own; pim_gpt_paper.md: exp and GELU by Taylor series, division by a Newton-Raphson
  reciprocal, 1/sqrt by the fast inverse square root, all built from adds and multiplies): an op of F FLOPs
  runs on `vector_lanes` lanes in ceil(F / lanes) cycles plus the pipeline fill of each special-function unit
  it uses (`latency_cycles`), once per op.
- `cent`: CENT's accelerator (Yufeng98/CENT at 8c79786, cent_simulation/run_sim.py calculate_acc_latency, its
  constants from cent_power_calculator.py), with C the channels of the device beside the accelerator (`device_channels`; CENT:
  CH_PER_DV = num_channels = 32),
  EXP = C x SB_RD + EXP_LANE + SB_WR and VEC = 2 C x SB_RD + 1 + SB_WR cycles:
    norm (E elements)        E / 16 / 16 / C x VEC + SB_RD + SB_WR + 1 + RV_RMSNorm
    softmax (H rows, E = H x context elements)   E / 16 / C x (EXP + VEC) + H x (SB_RD + RV_SFT_PIPELINE)
    rotary (E elements of q and k)               E x RV_ROTEmbed
  (CENT charges its two norms per block as 2 x the first line; pimsim has one op per norm.) CENT's
  accelerator timing covers only those three; every other vector op (residual adds, activations, partial-sum
  reductions: CENT runs them on PIM, EWADD / AF) keeps the `lanes` cycles.
Energy (every model): half the FLOPs are adds and half multiplies (Horowitz figures scaled to 28 nm, per
preset), plus SRAM traffic per byte of operands read and results written.
"""

from __future__ import annotations

from math import ceil
from typing import Callable, Protocol

from pimsim.hardware import AsicConfig, EnergyConfig, Hardware


class AsicWork(Protocol):
    """What a timing model reads of an op (pimsim.mapper.mapper.MappedOp)."""

    asic_flops: int
    asic_units: tuple[str, ...]
    asic_fn: str
    asic_elements: int
    asic_rows: int


ASIC_TIMING: dict[str, Callable[[AsicWork, Hardware], float]] = {}


def register_asic_timing(name: str):
    def deco(fn):
        ASIC_TIMING[name] = fn
        return fn
    return deco


def asic_cycles(flops: int, units: tuple[str, ...], asic: AsicConfig) -> int:
    """Cycles of one vector op: lane-parallel arithmetic plus each special unit's pipeline fill."""
    if flops <= 0:
        return 0
    fill = sum(asic.latency_cycles.get(u, asic.latency_cycles["mul"]) for u in units)
    return ceil(flops / asic.vector_lanes) + fill


@register_asic_timing("lanes")
def lanes_cycles(op: AsicWork, hw: Hardware) -> float:
    return asic_cycles(op.asic_flops, op.asic_units, hw.asic)


# CENT cent_power_calculator.py (8c79786): scratchpad read/write, exponent lane, RISC-V cycles
CENT_SB_RD, CENT_SB_WR, CENT_EXP_LANE = 1.0, 1.0, 11.0
CENT_RV_COUNT = 8
CENT_RV_RMSNORM = 26.0
CENT_RV_ROTEMBED = 3.0 / CENT_RV_COUNT
CENT_RV_SFT_PIPELINE = 16.0 * CENT_SB_WR + 2.0 / CENT_RV_COUNT + 1.0 * CENT_SB_RD
CENT_NORMS = ("rmsnorm", "layernorm")


@register_asic_timing("cent")
def cent_cycles(op: AsicWork, hw: Hardware) -> float:
    """CENT's accelerator cycles for norms, softmax and rotary (module docstring); lanes for the rest."""
    c = hw.asic.device_channels or hw.dram.channels
    exp = c * CENT_SB_RD + CENT_EXP_LANE + CENT_SB_WR
    vec = c * 2.0 * CENT_SB_RD + 1.0 + CENT_SB_WR
    e = op.asic_elements
    if op.asic_fn in CENT_NORMS:
        return e / 16.0 / 16.0 / c * vec + CENT_SB_RD + CENT_SB_WR + 1.0 + CENT_RV_RMSNORM
    if op.asic_fn == "softmax":
        return e / 16.0 / c * (exp + vec) + op.asic_rows * (CENT_SB_RD + CENT_RV_SFT_PIPELINE)
    if op.asic_fn == "rotary":
        return e * CENT_RV_ROTEMBED
    return lanes_cycles(op, hw)


def asic_seconds(op: AsicWork, hw: Hardware) -> float:
    """Seconds of one vector op under the preset's timing model."""
    if op.asic_flops <= 0:
        return 0.0
    return ASIC_TIMING[hw.asic.timing_model](op, hw) / (hw.asic.clock_ghz * 1e9)


def asic_energy_j(flops: int, sram_bytes: int, energy: EnergyConfig) -> float:
    """Dynamic energy: FLOPs split evenly between adds and multiplies, plus SRAM bytes moved."""
    arith_pj = flops * 0.5 * (energy.asic_add_pj + energy.asic_mul_pj)
    return (arith_pj + sram_bytes * energy.asic_sram_pj_per_byte) * 1e-12
