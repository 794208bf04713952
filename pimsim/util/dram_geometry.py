"""Derived sizes of a DRAM configuration, shared by the validated schema (`pimsim.hardware.schema.DramConfig`)
and the replay's cached copy of it (`pimsim.dram.preset_cache`), which must not import pydantic."""

from __future__ import annotations


class DramGeometry:
    """Needs `ranks`, `bank_groups`, `banks_per_group`, `rows`, `columns`, `column_bytes`, `channels`, `tck_ns`."""

    __slots__ = ()

    @property
    def banks(self) -> int:
        """Banks per channel (all ranks)."""
        return self.ranks * self.bank_groups * self.banks_per_group

    @property
    def row_bytes(self) -> int:
        return self.columns * self.column_bytes

    @property
    def channel_bytes(self) -> int:
        return self.banks * self.rows * self.row_bytes

    @property
    def capacity_bytes(self) -> int:
        return self.channels * self.channel_bytes

    def ns(self, cycles: float) -> float:
        return cycles * self.tck_ns
