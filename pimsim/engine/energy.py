"""PIM energy from DRAM command counts, background power and link I/O (sources in each preset).

Per command: the energy expression and class its standard's table gives it (`energy:` of each command in
pimsim/hardware/standards/NAME.yaml, read by pimsim.dram.accounting), evaluated against the preset's
`energy:` fields and organisation. For the AiM tables (command names as the AiM simulator counts them,
aim_gddr6.md): an all-bank command (ACT16, MAC16, WRA16, EWMUL16, AF16) costs the per-bank energy times
the banks (or PIM units) it drives; ACT energy is the ACT+PRE pair (CENT power calculator), so PRE/PREA
add nothing; register-path commands (WRGB, WRMAC16, RDMAC16, RDAF16) and plain WR/RD cross the DQ pins
with one column (column_bits, 256 bits) at `io_pj_per_bit`; TMOD (mode switch) costs nothing of its own; a
refresh costs `refresh_pj` per channel (all-bank) or that over the banks (per-bank). A count named
`CMD.<what>` (units.py's extra-vector MACs of multi-vector units) costs what CMD costs. Background:
standby power per channel times time (energy.md: CENT's active standby 263.75 mW per channel).
"""

from __future__ import annotations

from pimsim.dram.accounting import accounting
from pimsim.hardware import Hardware

_CACHE: dict[int, tuple[Hardware, dict, dict]] = {}


def _tables(hw: Hardware) -> tuple[dict, dict]:
    """(energy per command, counts per kind) of `hw`, evaluated once per Hardware object."""
    hit = _CACHE.get(id(hw))
    if hit is None or hit[0] is not hw:
        acc = accounting(hw.dram.standard)
        energy = acc.energy_pj(hw.dram, hw.pim.banks_per_unit, hw.energy)
        counts: dict = {}
        if len(_CACHE) > 256:
            _CACHE.clear()
        hit = _CACHE[id(hw)] = (hw, energy, counts)
    return hit[1], hit[2]


def command_energy_pj(hw: Hardware) -> dict[str, tuple[str, float]]:
    """Energy in pJ per command type, with the breakdown category it is booked under."""
    return _tables(hw)[0]


def command_counts(hw: Hardware, kind: str) -> dict[str, float]:
    """Per command, what one issue counts of `kind` (pimsim.dram.accounting.COUNTS: mac_columns, the
    weight-GEMV column MACs; unit_columns, the columns the PIM units read); commands without one left out."""
    counts = _tables(hw)[1]
    if kind not in counts:
        counts[kind] = accounting(hw.dram.standard).counts(kind, hw.dram, hw.pim.banks_per_unit)
    return counts[kind]


def pim_command_energy_j(commands: dict[str, float], hw: Hardware) -> dict[str, float]:
    """Energy (J) by category for `commands` (counts by type, summed over channels)."""
    table = command_energy_pj(hw)
    out: dict[str, float] = {}
    for name, count in commands.items():
        if not count:
            continue
        base = name if name in table else name.split(".", 1)[0]
        if base not in table:
            raise AssertionError(f"no energy for DRAM command {name!r} in standard {hw.dram.standard}'s table")
        cat, pj = table[base]
        out[cat] = out.get(cat, 0.0) + count * pj * 1e-12
    return out


def link_energy_j(nbytes: float, hw: Hardware) -> float:
    """Bytes crossing the ASIC-PIM pins (DQ energy per bit)."""
    return nbytes * 8 * hw.energy.io_pj_per_bit * 1e-12


def background_energy_j(seconds: float, hw: Hardware) -> float:
    """Standby power of every channel plus the ASIC's static power, over `seconds`."""
    return seconds * (hw.dram.channels * hw.energy.background_w_per_channel + hw.energy.asic_static_w)


def system_energy_j(hw: Hardware, tally, wall_s: float) -> dict[str, float]:
    """Energy (J) by category of the ops in `tally` (an `engine.tally.Tally`) over `wall_s` of wall time:
    DRAM commands, ASIC arithmetic and SRAM, link pins plus the array read behind each column sent, and
    background power for the whole time."""
    from pimsim.engine.asic import asic_energy_j

    e: dict[str, float] = {}
    for k, v in pim_command_energy_j(tally.commands, hw).items():
        e[k] = e.get(k, 0.0) + v
    e["asic"] = e.get("asic", 0.0) + asic_energy_j(int(tally.asic_flops), int(tally.asic_sram_bytes), hw.energy)
    e["link"] = e.get("link", 0.0) + link_energy_j(tally.link_bytes, hw) + \
        tally.link_bytes / hw.dram.column_bytes * hw.energy.rd_pj * 1e-12
    e["background"] = e.get("background", 0.0) + background_energy_j(wall_s, hw)
    return e
