"""Hardware box: typed, validated description of a PIM system (DRAM, PIM units, ASIC, link, energy).

`load_hardware("pimgpt-gddr6")` or `load_hardware("my.yaml")` (which may say `base: pimgpt-gddr6`).

The public names are imported from their submodules on first use (pimsim.util.lazy): the schema imports
pydantic (~0.1-0.2 s), which `pimsim replay` with a cached preset never needs (issue 17, start-up), yet
importing any submodule (pimsim.hardware.standards) runs this file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pimsim.util.lazy import lazy_exports

# public name -> defining module
_EXPORTS = {
    "AsicConfig": "pimsim.hardware.schema",
    "DramConfig": "pimsim.hardware.schema",
    "EnergyConfig": "pimsim.hardware.schema",
    "Hardware": "pimsim.hardware.schema",
    "LinkConfig": "pimsim.hardware.schema",
    "PimConfig": "pimsim.hardware.schema",
    "load_hardware": "pimsim.hardware.loader",
    "preset_names": "pimsim.hardware.loader",
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:  # pragma: no cover
    from pimsim.hardware.loader import load_hardware, preset_names  # noqa: F401
    from pimsim.hardware.schema import (  # noqa: F401
        AsicConfig, DramConfig, EnergyConfig, Hardware, LinkConfig, PimConfig)
