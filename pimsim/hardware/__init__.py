"""Hardware box: typed, validated description of a PIM system (DRAM, PIM units, ASIC, link, energy).

`load_hardware("pimgpt-gddr6")` or `load_hardware("my.yaml")` (which may say `base: pimgpt-gddr6`).
"""

from pimsim.hardware.loader import load_hardware, preset_names
from pimsim.hardware.schema import AsicConfig, DramConfig, EnergyConfig, Hardware, LinkConfig, PimConfig

__all__ = [
    "AsicConfig",
    "DramConfig",
    "EnergyConfig",
    "Hardware",
    "LinkConfig",
    "PimConfig",
    "load_hardware",
    "preset_names",
]
