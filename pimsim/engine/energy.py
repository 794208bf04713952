"""PIM energy from DRAM command counts, background power and link I/O (sources in each preset).

Per command (command names as the AiM simulator counts them, aim_gddr6.md): an all-bank command
(ACT16, MAC16, WRA16, EWMUL16, AF16) costs the per-bank energy times the banks (or PIM units) it drives;
ACT energy is the ACT+PRE pair (CENT power calculator), so PRE/PREA add nothing; register-path commands
(WRGB, WRMAC16, RDMAC16, RDAF16) and plain WR/RD cross the DQ pins with 256 bits each at
`io_pj_per_bit`; TMOD (mode switch) and SYNC/EOC cost nothing of their own; a refresh costs
`refresh_pj` per channel (all-bank) or that over the banks (per-bank). Background: standby power per
channel times time (energy.md: CENT's active standby 263.75 mW per channel).
"""

from __future__ import annotations

from pimsim.hardware import Hardware

IO_BITS = 256  # one AiM register / column transfer (aim_gddr6.md)


def command_energy_pj(hw: Hardware) -> dict[str, tuple[str, float]]:
    """Energy in pJ per command type, with the breakdown category it is booked under."""
    e, d, p = hw.energy, hw.dram, hw.pim
    io = IO_BITS * e.io_pj_per_bit
    units = d.banks // p.banks_per_unit
    return {
        "ACT16": ("pim_act", d.banks * e.act_pre_pj_per_bank),
        "ACT": ("pim_act", e.act_pre_pj_per_bank),
        "PREA": ("pim_act", 0.0),
        "PRE": ("pim_act", 0.0),
        "MAC16": ("pim_mac", units * e.mac_pj_per_bank),
        "MAC16.extra_vectors": ("pim_mac", units * e.mac_pj_per_bank),  # multi-vector units' other MACs
        "MAC": ("pim_mac", e.mac_pj_per_bank),
        "EWMUL16": ("pim_mac", units * e.mac_pj_per_bank),
        "AF16": ("pim_mac", units * e.mac_pj_per_bank),
        "WRGB": ("pim_io", e.wr_gb_pj + io),
        "WRMAC16": ("pim_io", e.wr_gb_pj + io),
        "RDMAC16": ("pim_io", e.rd_mac_pj + io),
        "RDAF16": ("pim_io", e.rd_mac_pj + io),
        "RDCP": ("pim_io", e.rd_pj),
        "WRCP": ("pim_io", e.wr_pj),
        "WR": ("kv_write", e.wr_pj + io),
        "WRA16": ("kv_write", d.banks * e.wr_pj + io),
        "RD": ("pim_io", e.rd_pj + io),
        "TMOD": ("pim_io", 0.0),
        "REF": ("refresh", e.refresh_pj),
        "REFab": ("refresh", e.refresh_pj),
        "REFpb": ("refresh", e.refresh_pj / d.banks),
    }


def pim_command_energy_j(commands: dict[str, float], hw: Hardware) -> dict[str, float]:
    """Energy (J) by category for `commands` (counts by type, summed over channels)."""
    table = command_energy_pj(hw)
    out: dict[str, float] = {}
    for name, count in commands.items():
        if not count:
            continue
        if name not in table:
            raise AssertionError(f"no energy model for DRAM command {name!r}; add it to command_energy_pj")
        cat, pj = table[name]
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
