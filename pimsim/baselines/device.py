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

Mode = Literal["graph", "eager"]
MODES: tuple[str, ...] = ("graph", "eager")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PowerModel(_Strict):
    """Energy = (idle_w + active_w) x time + energy_per_byte_j x bytes moved + energy_per_flop_j x FLOPs.

    `idle_w`: board/package power doing nothing. `active_w`: extra power while kernels run (clocks up),
    independent of the work. The per-byte and per-FLOP terms are the dynamic energy of the work.
    `tdp_w`: the board (package) limit that per-FLOP energies of uncalibrated presets are derived from;
    the model does not clip power at it.
    """

    idle_w: float = Field(ge=0)
    active_w: float = Field(ge=0)
    energy_per_byte_j: float = Field(ge=0)
    energy_per_flop_j: float = Field(ge=0)
    tdp_w: PositiveFloat

    @model_validator(mode="after")
    def _check(self) -> PowerModel:
        if self.idle_w + self.active_w >= self.tdp_w:
            raise ValueError(f"idle_w + active_w ({self.idle_w + self.active_w}) must be below tdp_w ({self.tdp_w})")
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
    """One GPU or CPU as a roofline per kernel plus a per-kernel overhead (see `pimsim.baselines.model`)."""

    name: str = Field(min_length=1)
    kind: Literal["gpu", "cpu"]
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
    default_mode: Mode
    power: PowerModel
    interconnect: Interconnect | None = Field(None, description="device-to-device link for tensor parallelism")
    fit: dict[str, Any] | None = Field(None, description="what `pimsim baseline fit` fitted this preset on")
    notes: dict[str, str] = Field(default_factory=dict, description="field -> where its value came from")

    @model_validator(mode="after")
    def _check(self) -> DevicePreset:
        if not self.kernel_overhead_s:
            raise ValueError("kernel_overhead_s: give at least one mode (graph, eager)")
        for mode, value in self.kernel_overhead_s.items():
            if not 0 <= value < 1e-3:
                raise ValueError(f"kernel_overhead_s.{mode}: must be in [0, 1 ms), got {value}")
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
        return self

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(m for m in MODES if m in self.kernel_overhead_s)

    def overhead_s(self, mode: str | None) -> tuple[str, float]:
        """(mode, per-kernel overhead); `None` picks `default_mode`. Unknown modes: ConfigError."""
        from pimsim.errors import ConfigError

        mode = mode or self.default_mode
        if mode not in self.kernel_overhead_s:
            raise ConfigError(f"device {self.name}: mode {mode!r} not available; modes: {', '.join(self.modes)}")
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
