"""ASIC timing and energy: vector work beside the PIM chips (PIM-GPT's 28 nm, 1 GHz controller ASIC).

Model (pim_gpt_paper.md: exp and GELU by Taylor series, division by a Newton-Raphson reciprocal,
1/sqrt by the fast inverse square root, all built from adds and multiplies): an op of F FLOPs runs on
`vector_lanes` lanes in ceil(F / lanes) cycles plus the pipeline fill of each special-function unit it
uses (`latency_cycles`), once per op. Energy: half the FLOPs are adds and half multiplies (Horowitz
figures scaled to 28 nm, per preset), plus SRAM traffic per byte of operands read and results written.
"""

from __future__ import annotations

from math import ceil

from pimsim.hardware import AsicConfig, EnergyConfig


def asic_cycles(flops: int, units: tuple[str, ...], asic: AsicConfig) -> int:
    """Cycles of one vector op: lane-parallel arithmetic plus each special unit's pipeline fill."""
    if flops <= 0:
        return 0
    fill = sum(asic.latency_cycles.get(u, asic.latency_cycles["mul"]) for u in units)
    return ceil(flops / asic.vector_lanes) + fill


def asic_seconds(flops: int, units: tuple[str, ...], asic: AsicConfig) -> float:
    return asic_cycles(flops, units, asic) / (asic.clock_ghz * 1e9)


def asic_energy_j(flops: int, sram_bytes: int, energy: EnergyConfig) -> float:
    """Dynamic energy: FLOPs split evenly between adds and multiplies, plus SRAM bytes moved."""
    arith_pj = flops * 0.5 * (energy.asic_add_pj + energy.asic_mul_pj)
    return (arith_pj + sram_bytes * energy.asic_sram_pj_per_byte) * 1e-12
