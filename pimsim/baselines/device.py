"""Baseline device presets (GPU / CPU): roofline rates, per-kernel overheads per mode, power figures.

A preset is a YAML file under `pimsim/baselines/presets/` (or any path) validated into `DevicePreset`.
Rates are what a kernel can achieve (datasheet peak times a measured fraction, or fitted to
measurements by `pimsim baseline fit`); the datasheet peaks are kept beside them so validation can
refuse an achieved rate above its peak. `notes` says, per field, where its value came from.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, model_validator

from pimsim.errors import UnknownNameError
from pimsim.util.config_io import read_yaml, validate

Mode = Literal["graph", "eager", "framework"]
MODES: tuple[str, ...] = ("graph", "eager", "framework")


class HostBound(float):
    """The per-kernel overhead of `framework` mode: the float is the device-side gap per kernel (the preset's
    `graph` figure), `host_s_per_kernel` the host's dispatch time per kernel (`kernel_overhead_s.framework`).
    A step then takes max(device time, kernels x host_s_per_kernel): eager PyTorch launches asynchronously,
    so the GPU waits for the host whenever dispatch is slower than the kernels (`pimsim.baselines.model`)."""

    host_s_per_kernel: float

    def __new__(cls, device_gap_s: float, host_s_per_kernel: float) -> "HostBound":
        obj = super().__new__(cls, device_gap_s)
        obj.host_s_per_kernel = float(host_s_per_kernel)
        return obj


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerModel(_Strict):
    """Energy = (idle_w + active_w) x time + energy_per_byte_j x bytes moved + energy_per_flop_j x FLOPs.

    `idle_w`: board/package power doing nothing. `active_w`: extra power while kernels run (clocks up),
    independent of the work. The per-byte and per-FLOP terms are the dynamic energy of the work.
    `tdp_w`: the board (package) limit that per-FLOP energies of uncalibrated presets are derived from.
    `cap_at_tdp` (default true): a step whose modelled power would exceed `tdp_w` is stretched until it
    draws exactly `tdp_w` (the board's power limiter lowers clocks; `pimsim.baselines.model.power_capped`).
    """

    idle_w: float = Field(ge=0)
    active_w: float = Field(ge=0)
    energy_per_byte_j: float = Field(ge=0)
    energy_per_flop_j: float = Field(ge=0)
    tdp_w: PositiveFloat
    cap_at_tdp: bool = True

    @model_validator(mode="after")
    def _check(self) -> PowerModel:
        if self.idle_w + self.active_w >= self.tdp_w:
            raise ValueError(f"idle_w + active_w ({self.idle_w + self.active_w}) must be below tdp_w ({self.tdp_w})")
        return self


class NpuConfig(_Strict):
    """An NPU's compute units and on-chip memory (`pimsim.baselines.npu` times kernels on them).

    `systolic_arrays` weight-stationary arrays of `array_rows` x `array_cols` MACs and `vector_cores`
    vector units of `vector_width` lanes (one FLOP per lane per cycle), all at `clock_hz`; `sram_bytes`
    of on-chip SRAM hold a weight matmul's input activations when they fit (else they are re-read from
    memory for every wave of weight tiles).
    """

    systolic_arrays: PositiveInt = Field(le=4096)
    array_rows: PositiveInt = Field(le=4096)
    array_cols: PositiveInt = Field(le=4096)
    clock_hz: PositiveFloat = Field(le=1e10)
    vector_cores: PositiveInt = Field(le=4096)
    vector_width: PositiveInt = Field(le=65536)
    sram_bytes: PositiveInt

    @property
    def peak_flops_per_s(self) -> float:
        """2 FLOP per MAC per cycle over every array."""
        return 2.0 * self.systolic_arrays * self.array_rows * self.array_cols * self.clock_hz

    @property
    def vector_flops_per_s(self) -> float:
        return float(self.vector_cores * self.vector_width) * self.clock_hz


class GemmTiling(_Strict):
    """A GPU's GEMM schedule (`pimsim.baselines.gemm`): `sm_count` SMs, the output tiles (tm, tn) and split-K
    factors its GEMM library chooses from; `source` cites the SM count."""

    sm_count: PositiveInt = Field(le=4096)
    tiles: list[tuple[PositiveInt, PositiveInt]] = Field(min_length=1)
    split_k: list[PositiveInt] = Field(default_factory=lambda: [1], min_length=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> GemmTiling:
        if 1 not in self.split_k:
            raise ValueError("split_k: must include 1 (no split)")
        for tm, tn in self.tiles:
            if tm > 1024 or tn > 1024:
                raise ValueError(f"tiles: ({tm}, {tn}) exceeds 1024 rows or columns")
        if max(self.split_k) > 64:
            raise ValueError("split_k: at most 64")
        return self


class Interconnect(_Strict):
    """The device-to-device link of tensor-parallel groups (NVLink): one direction's bandwidth per device, a
    latency per ring hop, and the energy per bit moved."""

    name: str = Field(min_length=1)
    bytes_per_s: PositiveFloat = Field(le=1e14, description="per device, one direction")
    hop_latency_s: float = Field(ge=0, le=1e-3, description="latency of one ring step")
    pj_per_bit: float = Field(ge=0, le=100)
    source: str = Field(min_length=1)


class DevicePreset(_Strict):
    """One GPU, CPU or NPU as a roofline per kernel plus a per-kernel overhead (see `pimsim.baselines.model`;
    an NPU's matmuls are timed by its systolic arrays, `npu:`, see `pimsim.baselines.npu`)."""

    name: str = Field(min_length=1)
    kind: Literal["gpu", "cpu", "npu"]
    description: str
    sources: list[str] = Field(min_length=1)
    dtype_bytes: Literal[1, 2, 4] = Field(description="bytes per weight / KV / activation element")
    peak_flops_per_s: PositiveFloat = Field(description="datasheet peak at dtype_bytes")
    peak_bandwidth_bytes_per_s: PositiveFloat = Field(description="datasheet memory bandwidth")
    memory_bytes: PositiveInt = Field(
        description="device memory (datasheet GB as 10^9 bytes; a CPU's assumed DRAM): weights + KV cache must "
                    "fit it (`pimsim.baselines.model.check_capacity`); `notes.memory_bytes` gives its source")
    flops_per_s: PositiveFloat = Field(description="achievable compute rate of a large matmul")
    bandwidth_bytes_per_s: PositiveFloat = Field(description="achievable memory bandwidth of a kernel")
    bandwidth_cap_bytes_per_s: PositiveFloat | None = Field(
        None, description="measured ceiling (e.g. copy rate) that a fitted bandwidth may not exceed")
    attention_stream_bandwidth_bytes_per_s: PositiveFloat | None = Field(
        None, description="bandwidth one (sequence, head, query block) stream of fused attention reaches; "
                          "None: attention spreads over the whole device")
    fused_attention: bool = Field(True, description="one attention kernel (SDPA / FlashAttention)")
    kernel_overhead_s: dict[Mode, float] = Field(description="time added per kernel launch, per mode")
    kernel_floor_s: float = Field(
        0.0, ge=0.0, lt=1e-3,
        description="least time a kernel runs, its overhead aside: t = max(compute, memory, floor) + overhead "
                    "(a kernel's launch-to-drain time, which a small kernel's work hides in; 0: none)")
    default_mode: Mode
    power: PowerModel
    interconnect: Interconnect | None = Field(None, description="device-to-device link for tensor parallelism")
    npu: NpuConfig | None = Field(None, description="kind npu: its systolic arrays, vector cores and SRAM")
    gemm_tiling: GemmTiling | None = Field(
        None, description="kind gpu: GEMM compute time by tiles and waves over the SMs (pimsim.baselines.gemm); "
                          "None: FLOPs / flops_per_s for every shape")
    software_stack: str = Field("serving", description="the kernels its predictions launch (pimsim.baselines.stacks)")
    fit: dict[str, Any] | None = Field(None, description="what `pimsim baseline fit` fitted this preset on")
    notes: dict[str, str] = Field(default_factory=dict, description="field -> where its value came from")

    @model_validator(mode="after")
    def _check(self) -> DevicePreset:
        if not self.kernel_overhead_s:
            raise ValueError("kernel_overhead_s: give at least one mode (graph, eager)")
        for mode, value in self.kernel_overhead_s.items():
            if not 0 <= value < 1e-3:
                raise ValueError(f"kernel_overhead_s.{mode}: must be in [0, 1 ms), got {value}")
        if self.default_mode == "framework":
            raise ValueError("default_mode: framework is a mode to ask for (host-bound eager), not a default")
        if "framework" in self.kernel_overhead_s and self.kind == "cpu":
            raise ValueError("kernel_overhead_s.framework: host-bound dispatch to an accelerator; a CPU's eager "
                             "overhead is already its host time (use eager)")
        if self.default_mode not in self.kernel_overhead_s:
            raise ValueError(f"default_mode {self.default_mode!r} has no kernel_overhead_s entry")
        if self.flops_per_s > self.peak_flops_per_s:
            raise ValueError(f"flops_per_s ({self.flops_per_s:.4g}) exceeds peak_flops_per_s ({self.peak_flops_per_s:.4g})")
        cap = min(self.peak_bandwidth_bytes_per_s, self.bandwidth_cap_bytes_per_s or float("inf"))
        if self.bandwidth_bytes_per_s > cap * (1 + 1e-9):
            raise ValueError(f"bandwidth_bytes_per_s ({self.bandwidth_bytes_per_s:.4g}) exceeds the peak or the "
                             f"measured cap ({cap:.4g})")
        stream = self.attention_stream_bandwidth_bytes_per_s
        if stream is not None and stream > self.bandwidth_bytes_per_s * (1 + 1e-9):
            raise ValueError("attention_stream_bandwidth_bytes_per_s exceeds bandwidth_bytes_per_s")
        if (self.kind == "npu") != (self.npu is not None):
            raise ValueError("kind npu needs an npu: block (systolic arrays, vector cores, SRAM), and only it"
                             if self.kind == "npu" else f"npu: applies to kind npu only (this preset is kind {self.kind})")
        if self.npu is not None:
            arrays = self.npu.peak_flops_per_s
            for field in ("peak_flops_per_s", "flops_per_s"):
                if abs(getattr(self, field) / arrays - 1) > 1e-3:
                    raise ValueError(f"{field} ({getattr(self, field):.4g}) must be the arrays' peak, 2 x "
                                     f"{self.npu.systolic_arrays} x {self.npu.array_rows} x {self.npu.array_cols} "
                                     f"x {self.npu.clock_hz:.4g} Hz = {arrays:.4g} (the array model sets the "
                                     "utilisation)")
            if stream is not None:
                raise ValueError("attention_stream_bandwidth_bytes_per_s: a GPU thread-block figure; an NPU's "
                                 "attention runs on its arrays (leave it out)")
            if self.interconnect is not None:
                raise ValueError("interconnect: tensor parallelism over NPUs is not modelled (leave it out)")
        if self.gemm_tiling is not None and self.kind != "gpu":
            raise ValueError(f"gemm_tiling: applies to kind gpu only (this preset is kind {self.kind})")
        from pimsim.baselines.stacks import STACKS

        if self.software_stack not in STACKS:
            raise ValueError(f"software_stack: unknown {self.software_stack!r}; known: {', '.join(STACKS)}")
        return self

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(m for m in MODES if m in self.kernel_overhead_s)

    def overhead_s(self, mode: str | None) -> tuple[str, float]:
        """(mode, per-kernel overhead); `None` picks `default_mode`. Unknown modes: ConfigError. `framework`
        gives a `HostBound` (device gap = the `graph` figure, or 0 without one; host dispatch per kernel)."""
        from pimsim.errors import ConfigError

        mode = mode or self.default_mode
        if mode not in self.kernel_overhead_s:
            raise ConfigError(f"device {self.name}: mode {mode!r} not available; modes: {', '.join(self.modes)}")
        if mode == "framework":
            return mode, HostBound(self.kernel_overhead_s.get("graph", 0.0), self.kernel_overhead_s[mode])
        return mode, self.kernel_overhead_s[mode]


def _presets_dir():
    return resources.files("pimsim.baselines") / "presets"


def device_names() -> list[str]:
    """Names of the device presets shipped with pimsim."""
    return sorted(p.name[:-5] for p in _presets_dir().iterdir() if p.name.endswith(".yaml"))


def device_path(name: str) -> Path:
    """Path of a shipped preset; UnknownNameError listing the known ones."""
    path = _presets_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError(f"unknown baseline device {name!r}; known devices: {', '.join(device_names())}")
    return Path(str(path))


def load_device(spec: str | Path | DevicePreset | dict[str, Any]) -> DevicePreset:
    """A validated `DevicePreset` from a shipped name, a YAML path, a mapping, or a preset (returned as is)."""
    if isinstance(spec, DevicePreset):
        return spec
    if isinstance(spec, dict):
        return validate(DevicePreset, spec, "<device mapping>")
    text = str(spec)
    path = Path(text) if text.endswith((".yaml", ".yml")) or Path(text).is_file() else device_path(text)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError:
        stamp = None  # read_yaml reports the missing file
    return _load_file(str(path), stamp)


@lru_cache(maxsize=64)
def _load_file(path: str, stamp: int | None) -> DevicePreset:
    """Validated preset of `path`, cached per modification time (sweeps load the same device many times)."""
    return validate(DevicePreset, read_yaml(path), path)
