"""Typed hardware description: DRAM organisation and timing, PIM units, ASIC, link, energy.

Units: timing parameters are integer cycles of the DRAM command clock (`tck_ns`); energies are in
picojoules (`_pj`), powers in watts (`_w`), sizes in bytes. A column is one access of
`column_bytes` per bank (AiM: 32 B = 16 bf16), so a row holds `columns * column_bytes` bytes.
Every model is frozen, rejects unknown fields and is strict about types (no `true` for a count, no
`"8"` for a number; an int is fine where a float is meant); cross-field rules (e.g. nRAS >= nRCDRD) and
physical bounds on every field (each with its reason below) are checked here, so the simulator core can
trust a validated `Hardware`: no count of zero it divides by, no value whose products overflow.
"""

from __future__ import annotations

from pimsim.util.dram_geometry import DramGeometry

import math
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

DTYPE_BYTES = {"bf16": 2, "fp16": 2, "fp32": 4, "int8": 1}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


# ---- physical bounds. Each is far outside every real part, so it only catches typos and nonsense, and
# keeps products (capacity, cycles x tCK, energy x counts) finite and meaningful.
MAX_CHANNELS = 4096          # 128 HBM3 stacks of 32 pseudo-channels; shipped presets have 8-32
MAX_RANKS = 16               # JEDEC 3DS: 8-high stacks, 2 package ranks
MAX_BANK_GROUPS = 64         # JEDEC parts have at most 8 (DDR5); room for research organisations
MAX_BANKS_PER_GROUP = 64     # JEDEC parts have at most 4 a group
MAX_ROWS = 2**24             # JEDEC row addresses are at most 18 bits (256 Ki rows)
MAX_COLUMNS = 2**24          # column accesses per row (AiM: 64)
MAX_COLUMN_BYTES = 4096      # one bank's access is a 32-64 B burst in JEDEC parts; 4 KiB is a whole row
TCK_NS_RANGE = (0.05, 100.0) # a DRAM command clock between 20 GHz and 10 MHz (shipped: 0.5-1.25 ns)
CLOCK_GHZ_RANGE = (0.001, 20.0)  # a logic clock between 1 MHz and 20 GHz (shipped: 0.3-1 GHz)
MAX_TIMING_CYCLES = 10**7    # 1 s at the slowest tCK; the longest JEDEC timing (tREFI, 3.9-7.8 us) is ~10^4
MAX_LANES = 2**20            # MAC or vector lanes per unit (shipped: 16-256)
MAX_BUFFER_BYTES = 2**40     # an SRAM beside the banks or in the ASIC is KiB-MiB sized
MAX_LATENCY_CYCLES = 10**6   # pipeline depth of one ASIC function unit (shipped: 1-16)
MAX_LINK_BYTES_PER_CYCLE = 2**20  # bytes per tCK per channel (shipped: 16)
MAX_LINK_LATENCY_NS = 1e9    # 1 s per transfer
MAX_COMMAND_PJ = 1e6         # 1 uJ per DRAM command or ASIC op: over 20x the largest shipped (refresh, 42.5 nJ)
MAX_IO_PJ_PER_BIT = 100.0    # DRAM I/O is 1-20 pJ/bit; 100 covers any off-package link
MAX_POWER_W = 1e4            # background or static power of one channel or the ASIC

# Timing parameters that may be 0 cycles, and why; every other one is a JEDEC spacing or latency of at
# least one command-clock cycle (and the engine divides by some: tCCD_L per column slot, tREFI per refresh).
TIMING_MAY_BE_ZERO: dict[str, str] = {
    "nCLREG": "AiM result-register read latency: 0 in the AiM simulator's presets (aim_gddr6.md)",
    "nCWLREG": "AiM register write latency: a register may take data at once",
    "nCWLGB": "AiM global-buffer write latency: a buffer may take data at once",
    "nWPRE": "write preamble term of the read-to-write turnaround: 0 when no preamble is modelled",
    "nRREFD": "per-bank refresh to another bank's ACT: 0 where a part sets no such spacing",
    "nMODCH": "AiM register/compute mode switch: 0 models a free switch",
}


def _within(value: float, bounds: tuple[float, float], unit: str, why: str) -> float:
    """`value` if it lies in `bounds` (inclusive), else ValueError stating the bounds and `why`."""
    lo, hi = bounds
    if not lo <= value <= hi:
        raise ValueError(f"must be between {lo:g} and {hi:g} {unit} ({why})")  # the caller shows the value
    return value


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


class DramConfig(DramGeometry, _Strict):
    """DRAM organisation and timing of one PIM device type, replicated over `channels`."""

    standard: str = Field(description="timing-constraint table (pimsim/hardware/standards/NAME.yaml)")
    channels: int = Field(gt=0, le=MAX_CHANNELS)
    ranks: int = Field(1, gt=0, le=MAX_RANKS)
    bank_groups: int = Field(gt=0, le=MAX_BANK_GROUPS)
    banks_per_group: int = Field(gt=0, le=MAX_BANKS_PER_GROUP)
    rows: int = Field(gt=0, le=MAX_ROWS, description="rows per bank")
    columns: int = Field(gt=0, le=MAX_COLUMNS, description="column accesses per row")
    column_bytes: int = Field(gt=0, le=MAX_COLUMN_BYTES, description="bytes per column access per bank")
    tck_ns: float = Field(gt=0, description="command clock period in ns")
    timing: dict[str, int] = Field(description="timing parameters in tCK cycles (nRCDRD, nRP, ...); exactly "
                                               "the `parameters:` of the standard's table")
    refresh: Literal["all_bank", "per_bank"] = "all_bank"
    disabled_constraints: tuple[str, ...] = Field(
        default=(), strict=False,  # a YAML list
        description="timing parameters whose constraints are not enforced (e.g. nFAW)",
    )

    @field_validator("tck_ns")
    @classmethod
    def _tck(cls, v: float) -> float:
        return _within(v, TCK_NS_RANGE, "ns", "a DRAM command clock between 20 GHz and 10 MHz")

    @model_validator(mode="after")
    def _check_timing(self) -> "DramConfig":
        from pimsim.hardware.standards import check_standard_timing

        check_standard_timing(self.standard, self.timing)  # names known to the standard, all of them given
        for name, value in self.timing.items():
            if value < 0:
                raise ValueError(f"timing.{name}: must be >= 0 cycles, got {value}")
            if value == 0 and name not in TIMING_MAY_BE_ZERO:
                raise ValueError(f"timing.{name}: must be >= 1 cycle (a DRAM spacing or latency lasts at least "
                                 f"one command clock; only {', '.join(TIMING_MAY_BE_ZERO)} may be 0), got 0")
            if value > MAX_TIMING_CYCLES:
                raise ValueError(f"timing.{name}: must be <= {MAX_TIMING_CYCLES} cycles ({MAX_TIMING_CYCLES} "
                                 f"tCK is 1 s at the slowest clock), got {value}")
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
        return self


class PimConfig(_Strict):
    """The processing unit beside the banks (AiM: 16 bf16 MACs + adder tree per bank)."""

    mac_lanes: int = Field(gt=0, le=MAX_LANES, description="multipliers per PIM unit")
    dtype: Literal["bf16", "fp16", "fp32", "int8"] = "bf16"
    banks_per_unit: int = Field(1, gt=0, le=MAX_BANK_GROUPS * MAX_BANKS_PER_GROUP,
                                description="banks sharing one PIM unit (HBM-PIM: 2)")
    global_buffer_bytes: int = Field(gt=0, le=MAX_BUFFER_BYTES,
                                     description="per-channel input buffer broadcast to banks")
    result_registers: int = Field(1, gt=0, le=MAX_LANES, description="MAC result registers per unit")
    unit_clock_ghz: float = Field(gt=0, description="clock of the PIM units")
    vectors_per_pass: int = Field(
        1, gt=0, le=64, description="input vectors one opened row serves: a global-buffer slot of "
        "global_buffer_bytes and a set of result registers per vector, so one column read feeds that many "
        "MACs (1: AiM; more: a batched-PIM design, e.g. NeuPIMs-style [assumption])")

    @field_validator("unit_clock_ghz")
    @classmethod
    def _clock(cls, v: float) -> float:
        return _within(v, CLOCK_GHZ_RANGE, "GHz", "a logic clock between 1 MHz and 20 GHz")

    @property
    def dtype_bytes(self) -> int:
        return DTYPE_BYTES[self.dtype]


class AsicConfig(_Strict):
    """The controller/vector ASIC beside the PIM chips (PIM-GPT: 28 nm, 1 GHz)."""

    clock_ghz: float = Field(gt=0)
    vector_lanes: int = Field(gt=0, le=MAX_LANES, description="elements processed per cycle by the vector unit")
    sram_bytes: int = Field(gt=0, le=MAX_BUFFER_BYTES)
    latency_cycles: dict[str, Annotated[int, Field(gt=0, le=MAX_LATENCY_CYCLES)]] = Field(
        description="pipeline latency per function unit: add, mul, exp, reciprocal, rsqrt, ..."
    )
    device_channels: int | None = Field(
        None, gt=0, le=MAX_CHANNELS, description="channels of the one device this ASIC sits beside (CENT's "
        "accelerator spreads its work over them); default: dram.channels. A device group timed as one device "
        "with every device's channels sets it to one device's (pimsim.engine.placement)")
    timing_model: Literal["lanes", "cent"] = Field(
        "lanes", description="how a vector op's cycles are counted (pimsim.engine.asic.ASIC_TIMING): lanes, "
        "FLOPs over vector_lanes plus each special unit's fill (pimsim's own); cent, CENT's accelerator model "
        "for norms, softmax and rotary (its run_sim.py calculate_acc_latency), lanes for the other ops")

    @field_validator("clock_ghz")
    @classmethod
    def _clock(cls, v: float) -> float:
        return _within(v, CLOCK_GHZ_RANGE, "GHz", "a logic clock between 1 MHz and 20 GHz")

    @model_validator(mode="after")
    def _units(self) -> "AsicConfig":
        missing = {"add", "mul", "exp", "reciprocal", "rsqrt"} - set(self.latency_cycles)
        if missing:
            raise ValueError(f"latency_cycles: missing function units {sorted(missing)}")
        return self


class LinkConfig(_Strict):
    """ASIC <-> PIM interface, per channel (GDDR6 x16 at 16 Gb/s/pin = 32 GB/s = 16 B per 0.5 ns)."""

    bytes_per_cycle: float = Field(gt=0, le=MAX_LINK_BYTES_PER_CYCLE,
                                   description="bytes per DRAM tCK per channel")
    latency_ns: float = Field(0.0, ge=0, le=MAX_LINK_LATENCY_NS, description="fixed latency of one transfer")


class EnergyConfig(_Strict):
    """Per-command energies (pJ, each <= MAX_COMMAND_PJ), I/O energy per bit (<= MAX_IO_PJ_PER_BIT), background
    and static power (W, <= MAX_POWER_W); sources in each preset."""

    act_pre_pj_per_bank: float = Field(ge=0, le=MAX_COMMAND_PJ)
    rd_pj: float = Field(ge=0, le=MAX_COMMAND_PJ, description="array read of one column access, one bank")
    wr_pj: float = Field(ge=0, le=MAX_COMMAND_PJ, description="array write of one column access, one bank")
    mac_pj_per_bank: float = Field(ge=0, le=MAX_COMMAND_PJ, description="one column of MAC in one bank")
    wr_gb_pj: float = Field(ge=0, le=MAX_COMMAND_PJ, description="one global-buffer write (array side)")
    rd_mac_pj: float = Field(ge=0, le=MAX_COMMAND_PJ, description="one MAC-result read (array side)")
    refresh_pj: float = Field(ge=0, le=MAX_COMMAND_PJ, description="one all-bank refresh of one channel")
    io_pj_per_bit: float = Field(ge=0, le=MAX_IO_PJ_PER_BIT,
                                 description="DQ pin energy for data crossing the chip boundary")
    background_w_per_channel: float = Field(ge=0, le=MAX_POWER_W, description="standby power with rows open")
    asic_add_pj: float = Field(ge=0, le=MAX_COMMAND_PJ)
    asic_mul_pj: float = Field(ge=0, le=MAX_COMMAND_PJ)
    asic_sram_pj_per_byte: float = Field(ge=0, le=MAX_COMMAND_PJ)
    asic_static_w: float = Field(ge=0, le=MAX_POWER_W)


UNIT_MAC_PARAMETER = "nUNITMAC"


def unit_mac_cycles(column_bytes: int, dtype_bytes: int, mac_lanes: int, unit_clock_ghz: float, tck_ns: float) -> int:
    """MAC-to-MAC spacing (tCK) a PIM unit allows: one column of column_bytes / dtype_bytes elements takes
    ceil(elements / mac_lanes) unit cycles of 1 / unit_clock_ghz ns, rounded up to whole DRAM clocks (a
    command issues on a clock edge; an excess under 0.1% is rounding of a quoted clock, e.g. 1.3 GHz units
    at tCK 0.769 ns, and does not cost a clock). hbm2-pim (32 B fp16 columns, 16 lanes at 0.3 GHz, tCK 1 ns): one unit
    cycle, 3.33 ns, 4 tCK; AiM (16 bf16, 16 lanes at 1 GHz, tCK 0.5 ns): 2 tCK = its tCCD_L."""
    unit_cycles = -(-(column_bytes // dtype_bytes) // mac_lanes)
    return max(1, math.ceil(unit_cycles / unit_clock_ghz / tck_ns - 1e-3))  # a clock quoted to 3 digits: 0.1% slack


def _derive_unit_timing(data):
    """Raw Hardware data with dram.timing.nUNITMAC derived from the PIM unit (when the standard's table has
    that parameter): the unit's rate as a timing constraint of the table, data not kernel code. A value
    given in the file must equal the derived one (it is not a free parameter)."""
    if not isinstance(data, dict):
        return data
    dram, pim = data.get("dram"), data.get("pim")
    dram = dram.model_dump() if isinstance(dram, BaseModel) else dram
    pim = pim.model_dump() if isinstance(pim, BaseModel) else pim
    if not (isinstance(dram, dict) and isinstance(pim, dict) and isinstance(dram.get("timing"), dict)):
        return data
    from pimsim.hardware.standards import standard_parameters

    try:
        if UNIT_MAC_PARAMETER not in standard_parameters(str(dram.get("standard"))):
            return data
        derived = unit_mac_cycles(int(dram["column_bytes"]), DTYPE_BYTES[pim.get("dtype", "bf16")],
                                  int(pim["mac_lanes"]), float(pim["unit_clock_ghz"]), float(dram["tck_ns"]))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, OverflowError):
        return data  # missing or malformed fields: the field validators report them
    given = dram["timing"].get(UNIT_MAC_PARAMETER)
    if given is not None and given != derived:
        raise ValueError(
            f"dram.timing.{UNIT_MAC_PARAMETER}: {given} given, but it is derived from the PIM unit: "
            f"ceil(column_bytes / dtype bytes / pim.mac_lanes) unit cycles at pim.unit_clock_ghz, in tCK = {derived}; "
            "leave it out (set pim.mac_lanes / pim.unit_clock_ghz instead)")
    return {**data, "dram": {**dram, "timing": {**dram["timing"], UNIT_MAC_PARAMETER: derived}}}


class Hardware(_Strict):
    """A whole PIM system: `name`, DRAM, PIM units, ASIC, link and energy."""

    name: str
    description: str = ""
    dram: DramConfig
    pim: PimConfig
    asic: AsicConfig
    link: LinkConfig
    energy: EnergyConfig

    @model_validator(mode="before")
    @classmethod
    def _unit_timing(cls, data):
        return _derive_unit_timing(data)

    @model_validator(mode="after")
    def _units_cover_banks(self) -> "Hardware":
        if self.dram.banks % self.pim.banks_per_unit:
            raise ValueError(f"pim.banks_per_unit: {self.pim.banks_per_unit} does not divide the "
                             f"{self.dram.banks} banks per channel")
        if self.pim.global_buffer_bytes < self.dram.column_bytes:
            raise ValueError(f"pim.global_buffer_bytes: {self.pim.global_buffer_bytes} is smaller than one column "
                             f"access (dram.column_bytes = {self.dram.column_bytes}); the buffer must hold at least "
                             "one column of the input vector")
        d, p = self.dram, self.pim
        buffers = p.global_buffer_bytes * p.vectors_per_pass
        # the least the ASIC must hold to run a PIM pass: the input it broadcasts into the global buffers and
        # one channel's result read (it can reduce channel by channel); the mapper keeps its other buffers
        results = (d.banks // p.banks_per_unit) * p.result_registers * p.vectors_per_pass * p.dtype_bytes
        if self.asic.sram_bytes < buffers + results:
            raise ValueError(
                f"asic.sram_bytes: {self.asic.sram_bytes} is smaller than what the ASIC stages for one PIM pass, "
                f"{buffers + results} bytes: the input it writes to the global buffers (pim.global_buffer_bytes x "
                f"pim.vectors_per_pass = {buffers}) and one channel's result read (units x pim.result_registers x "
                f"vectors x {p.dtype} bytes = {results})")
        if self.dram.column_bytes % self.pim.dtype_bytes:
            raise ValueError(f"dram.column_bytes: {self.dram.column_bytes} is not a whole number of "
                             f"{self.pim.dtype} elements ({self.pim.dtype_bytes} bytes)")
        return self

    @property
    def capacity_bytes(self) -> int:
        return self.dram.capacity_bytes

    @property
    def peak_mac_bandwidth_bytes_per_s(self) -> float:
        """All PIM units streaming one column per tCCD_L: the internal MAC bandwidth of
        the arrays (units slower than the column rate, nUNITMAC > nCCDL, reach less: `unit_mac_cycles`)."""
        d = self.dram
        ccd = d.timing.get("nCCDL", 1)
        units = d.banks // self.pim.banks_per_unit
        return d.channels * units * d.column_bytes / (ccd * d.tck_ns * 1e-9)
