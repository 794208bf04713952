"""Typed hardware description: DRAM organisation and timing, PIM units, ASIC, link, energy.

Units: timing parameters are integer cycles of the DRAM command clock (`tck_ns`); energies are in
picojoules (`_pj`), powers in watts (`_w`), sizes in bytes. A column is one access of
`column_bytes` per bank (AiM: 32 B = 16 bf16), so a row holds `columns * column_bytes` bytes.
Every model is frozen and rejects unknown fields; cross-field rules (e.g. nRAS >= nRCDRD) are checked
here so the simulator core can trust a validated `Hardware`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

NonNegInt = int  # annotated per field with ge=0 below

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "int8": 1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# Pairs (longer, shorter): the first must be >= the second when both are given. Each is a
# physical ordering of DRAM timing (JEDEC definitions): a row stays open at least until it can be read,
# a row cycle covers activation and precharge, a refresh interval must exceed the refresh itself.
TIMING_ORDER_RULES: tuple[tuple[str, str, str], ...] = (
    ("nRAS", "nRCDRD", "a row must stay open (tRAS) at least until it can be read (tRCD)"),
    ("nRAS", "nRCDWR", "a row must stay open (tRAS) at least until it can be written (tRCDWR)"),
    ("nRAS", "nRCD", "a row must stay open (tRAS) at least until it can be accessed (tRCD)"),
    ("nREFI", "nRFC", "the refresh interval (tREFI) must be longer than one refresh (tRFC)"),
    ("nCCDL", "nCCDS", "same-bank-group column spacing (tCCD_L) cannot be shorter than tCCD_S"),
    ("nRRDL", "nRRDS", "same-bank-group ACT spacing (tRRD_L) cannot be shorter than tRRD_S"),
    ("nWTRL", "nWTRS", "same-bank-group write-to-read (tWTR_L) cannot be shorter than tWTR_S"),
    ("nRFC", "nRFCpb", "an all-bank refresh cannot be shorter than a per-bank one"),
)


class DramConfig(_Strict):
    """DRAM organisation and timing of one PIM device type, replicated over `channels`."""

    standard: str = Field(description="timing-constraint table (pimsim/hardware/standards/NAME.yaml)")
    channels: PositiveInt
    ranks: PositiveInt = 1
    bank_groups: PositiveInt
    banks_per_group: PositiveInt
    rows: PositiveInt = Field(description="rows per bank")
    columns: PositiveInt = Field(description="column accesses per row")
    column_bytes: PositiveInt = Field(description="bytes per column access per bank")
    tck_ns: PositiveFloat = Field(description="command clock period in ns")
    timing: dict[str, int] = Field(description="timing parameters in tCK cycles (nRCDRD, nRP, ...)")
    refresh: Literal["all_bank", "per_bank"] = "all_bank"
    disabled_constraints: tuple[str, ...] = Field(
        default=(), description="timing parameters whose constraints are not enforced (e.g. nFAW)"
    )

    @model_validator(mode="after")
    def _check_timing(self) -> "DramConfig":
        for name, value in self.timing.items():
            if not name.startswith("n"):
                raise ValueError(f"timing.{name}: timing parameters are cycle counts named nXXX")
            if value < 0:
                raise ValueError(f"timing.{name}: must be >= 0 cycles, got {value}")
        t = self.timing
        for longer, shorter, why in TIMING_ORDER_RULES:
            if longer in t and shorter in t and t[longer] < t[shorter]:
                raise ValueError(
                    f"timing: {longer}={t[longer]} < {shorter}={t[shorter]} is inconsistent: {why}"
                )
        if "nRC" in t and "nRAS" in t and "nRP" in t and t["nRC"] < t["nRAS"] + t["nRP"]:
            raise ValueError(
                f"timing: nRC={t['nRC']} < nRAS+nRP={t['nRAS'] + t['nRP']}: a row cycle covers "
                "activation (tRAS) and precharge (tRP)"
            )
        for name in self.disabled_constraints:
            if name not in t:
                raise ValueError(f"disabled_constraints: {name} is not a timing parameter of this preset")
        from pimsim.hardware.standards import check_standard_timing

        check_standard_timing(self.standard, t)
        return self

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


class PimConfig(_Strict):
    """The processing unit beside the banks (AiM: 16 bf16 MACs + adder tree per bank)."""

    mac_lanes: PositiveInt = Field(description="multipliers per PIM unit")
    dtype: Literal["bf16", "fp16", "fp32", "int8"] = "bf16"
    banks_per_unit: PositiveInt = Field(1, description="banks sharing one PIM unit (HBM-PIM: 2)")
    global_buffer_bytes: PositiveInt = Field(description="per-channel input buffer broadcast to banks")
    result_registers: PositiveInt = Field(1, description="MAC result registers per unit")
    unit_clock_ghz: PositiveFloat = Field(description="clock of the PIM units")

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]


class AsicConfig(_Strict):
    """The controller/vector ASIC beside the PIM chips (PIM-GPT: 28 nm, 1 GHz)."""

    clock_ghz: PositiveFloat
    vector_lanes: PositiveInt = Field(description="elements processed per cycle by the vector unit")
    sram_bytes: PositiveInt
    latency_cycles: dict[str, PositiveInt] = Field(
        description="pipeline latency per function unit: add, mul, exp, reciprocal, rsqrt, ..."
    )

    @model_validator(mode="after")
    def _units(self) -> "AsicConfig":
        missing = {"add", "mul", "exp", "reciprocal", "rsqrt"} - set(self.latency_cycles)
        if missing:
            raise ValueError(f"latency_cycles: missing function units {sorted(missing)}")
        return self


class LinkConfig(_Strict):
    """ASIC <-> PIM interface, per channel (GDDR6 x16 at 16 Gb/s/pin = 32 GB/s = 16 B per 0.5 ns)."""

    bytes_per_cycle: PositiveFloat = Field(description="bytes per DRAM tCK per channel")
    latency_ns: float = Field(0.0, ge=0, description="fixed latency of one transfer")


class EnergyConfig(_Strict):
    """Per-command energies (pJ), I/O energy per bit, background power; sources in each preset."""

    act_pre_pj_per_bank: float = Field(ge=0)
    rd_pj: float = Field(ge=0, description="array read of one column access, one bank")
    wr_pj: float = Field(ge=0, description="array write of one column access, one bank")
    mac_pj_per_bank: float = Field(ge=0, description="one column of MAC in one bank")
    wr_gb_pj: float = Field(ge=0, description="one global-buffer write (array side)")
    rd_mac_pj: float = Field(ge=0, description="one MAC-result read (array side)")
    refresh_pj: float = Field(ge=0, description="one all-bank refresh of one channel")
    io_pj_per_bit: float = Field(ge=0, description="DQ pin energy for data crossing the chip boundary")
    background_w_per_channel: float = Field(ge=0, description="standby power with rows open")
    asic_add_pj: float = Field(ge=0)
    asic_mul_pj: float = Field(ge=0)
    asic_sram_pj_per_byte: float = Field(ge=0)
    asic_static_w: float = Field(ge=0)


class Hardware(_Strict):
    """A whole PIM system: `name`, DRAM, PIM units, ASIC, link and energy."""

    name: str
    description: str = ""
    dram: DramConfig
    pim: PimConfig
    asic: AsicConfig
    link: LinkConfig
    energy: EnergyConfig

    @model_validator(mode="after")
    def _units_cover_banks(self) -> "Hardware":
        if self.dram.banks % self.pim.banks_per_unit:
            raise ValueError(f"pim.banks_per_unit: {self.pim.banks_per_unit} does not divide the "
                             f"{self.dram.banks} banks per channel")
        if self.pim.global_buffer_bytes < self.dram.column_bytes:
            raise ValueError(f"pim.global_buffer_bytes: {self.pim.global_buffer_bytes} is smaller than one column "
                             f"access (dram.column_bytes = {self.dram.column_bytes}); the buffer must hold at least "
                             "one column of the input vector")
        if self.dram.column_bytes % self.pim.dtype_bytes:
            raise ValueError(f"dram.column_bytes: {self.dram.column_bytes} is not a whole number of "
                             f"{self.pim.dtype} elements ({self.pim.dtype_bytes} bytes)")
        return self

    @property
    def capacity_bytes(self) -> int:
        return self.dram.capacity_bytes

    @property
    def peak_mac_bandwidth_bytes_per_s(self) -> float:
        """All PIM units streaming one column per tCCD_L: the internal MAC bandwidth."""
        d = self.dram
        ccd = d.timing.get("nCCDL", 1)
        units = d.banks // self.pim.banks_per_unit
        return d.channels * units * d.column_bytes / (ccd * d.tck_ns * 1e-9)
