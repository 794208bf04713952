"""Systems of several devices (issue 12): named devices (PIM hardware presets, GPU/CPU device presets) and
the links between them, as a validated file with `kind: system`.

```yaml
kind: system
name: h100-aim
devices:
  gpu: {device: h100-sxm, mode: graph}                          # a GPU/CPU device preset (baselines)
  pim: {pim: aim-32ch, overrides: {dram: {channels: 64}}}       # a PIM hardware preset (or YAML path)
links:
  pcie: {between: [gpu, pim], bytes_per_s: 63.0e9, latency_ns: 1000, pj_per_bit: 4.4}
```

A mapping's `placement` names which device runs each phase (`pimsim.mapper.schema.Mapping.device_for`);
transfers between devices go over the link that joins them. A plain PIM hardware file is the one-device
system `{pim: that hardware}`. The names of device presets are resolved by the engine, which owns the
units (`pimsim.engine.placement`); this module checks the file's shape and its internal references.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, NonNegativeFloat, PositiveFloat, model_validator

from pimsim.errors import UnknownNameError
from pimsim.util.config_io import read_yaml, validate

_NAME = r"^[A-Za-z][A-Za-z0-9_-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Fabric(_Strict):
    """A transfer path: bandwidth per direction, a fixed latency per transfer, pins energy; optionally
    flits (`flit_bytes` on the wire carrying `flit_payload_bytes` of data, as CXL's 256-byte flits carry
    three 64-byte messages: CENT's cxl_latency.py)."""

    bytes_per_s: PositiveFloat = Field(le=1e14, description="bandwidth of one direction")
    latency_ns: NonNegativeFloat = Field(le=1e9, description="fixed cost of one transfer")
    pj_per_bit: NonNegativeFloat = Field(le=1000, description="energy per bit moved")
    flit_bytes: int | None = Field(None, ge=1, le=1 << 20, description="bytes of one flit on the wire")
    flit_payload_bytes: int | None = Field(None, ge=1, le=1 << 20, description="data bytes one flit carries")
    source: str = ""

    @model_validator(mode="after")
    def _flits(self) -> "Fabric":
        if (self.flit_bytes is None) != (self.flit_payload_bytes is None):
            raise ValueError("give both flit_bytes and flit_payload_bytes, or neither")
        if self.flit_bytes is not None and self.flit_payload_bytes > self.flit_bytes:
            raise ValueError(f"flit_payload_bytes {self.flit_payload_bytes} exceeds flit_bytes {self.flit_bytes}")
        return self

    def wire_bytes(self, nbytes: float) -> float:
        """Bytes on the wire for one transfer of `nbytes` of data (whole flits where flits are given)."""
        if self.flit_bytes is None or nbytes <= 0:
            return float(nbytes)
        return math.ceil(nbytes / self.flit_payload_bytes) * self.flit_bytes

    def transfer_s(self, nbytes: float) -> float:
        """Seconds of one transfer of `nbytes`: latency_ns + wire bytes / bytes_per_s."""
        return self.wire_bytes(nbytes) / self.bytes_per_s + self.latency_ns * 1e-9

    def energy_j(self, nbytes: float) -> float:
        """Joules of moving `nbytes` (wire bytes x 8 x pj_per_bit)."""
        return self.wire_bytes(nbytes) * 8 * self.pj_per_bit * 1e-12


class DeviceEntry(_Strict):
    """One device of a system: a PIM hardware preset (`pim:`) or a GPU/CPU device preset (`device:`).
    `count` > 1: a group of that many identical devices, tensor-parallel over the GPU preset's
    interconnect, or (PIM) tensor- or pipeline-parallel (`parallel:`) over the group's `interconnect:`
    (CXL as in CENT; `pimsim.engine.pim_group`)."""

    pim: str | None = Field(None, description="PIM hardware preset name or YAML path")
    device: str | None = Field(None, description="GPU/CPU device preset name or YAML path (pimsim baseline)")
    overrides: dict[str, Any] = Field(default_factory=dict, description="PIM only: fields merged onto the preset")
    mode: Literal["graph", "eager"] | None = Field(None, description="GPU/CPU only: execution mode")
    count: int = Field(1, ge=1, le=1024, description="a group of that many devices: GPU/CPU tensor-parallel "
                       "over the preset's interconnect (pimsim baseline --num-devices); PIM as `parallel:` says")
    parallel: Literal["tensor", "pipeline"] | None = Field(None, description="PIM groups: tensor (every device "
                                                           "holds a slice of every matmul) or pipeline (layers)")
    interconnect: Fabric | None = Field(None, description="PIM groups: the device-to-device fabric (e.g. CXL)")
    tensor_group: int = Field(1, ge=1, le=1024, description="pipeline PIM groups: devices per stage, "
                              "tensor-parallel within it (CENT's hybrid); count must be a multiple")

    @model_validator(mode="after")
    def _one_kind(self) -> "DeviceEntry":
        if (self.pim is None) == (self.device is None):
            raise ValueError("give exactly one of pim: (a PIM hardware preset) or device: (a GPU/CPU preset)")
        if self.device is not None and self.overrides:
            raise ValueError("overrides: apply to a pim: device only")
        if self.pim is not None and self.mode is not None:
            raise ValueError("mode: applies to a device: (GPU/CPU) only")
        if self.device is not None and (self.parallel is not None or self.interconnect is not None):
            raise ValueError("parallel: and interconnect: apply to a pim: group only (a GPU preset has its own "
                             "interconnect:)")
        if self.pim is not None and self.count > 1 and (self.parallel is None or self.interconnect is None):
            raise ValueError(f"count: {self.count} PIM devices need parallel: (tensor or pipeline) and "
                             "interconnect: (the fabric between them)")
        if self.tensor_group > 1 and (self.parallel != "pipeline" or self.count % self.tensor_group):
            raise ValueError(f"tensor_group: {self.tensor_group} splits a pipeline group's count into stages: "
                             f"give parallel: pipeline and a count that is a multiple (count: {self.count})")
        if self.pim is not None and self.count == 1 and (self.parallel is not None or self.interconnect is not None):
            raise ValueError("parallel: and interconnect: describe a group: give count: 2 or more")
        return self

    @property
    def kind(self) -> str:
        return "pim" if self.pim is not None else "device"


class LinkEntry(Fabric):
    """A link between two devices: bandwidth per direction, a fixed latency per transfer, pins energy."""

    between: list[str] = Field(min_length=2, max_length=2, description="the two devices it joins")


class HostEntry(_Strict):
    """The host's own time per forward token step (e.g. CPU top-K sampling of the step's logits), serial with
    the devices' work and drawing no modelled energy."""

    step_s: float = Field(gt=0, description="seconds per token step of every phase (a prefill of P tokens takes P)")
    source: str = Field(min_length=1)


class SystemConfig(_Strict):
    kind: Literal["system"]
    name: str = Field(min_length=1)
    description: str = ""
    devices: dict[str, DeviceEntry] = Field(min_length=1)
    links: dict[str, LinkEntry] = Field(default_factory=dict)
    host: HostEntry | None = None

    @model_validator(mode="after")
    def _references(self) -> "SystemConfig":
        import re

        for name in self.devices:
            if not re.match(_NAME, name):
                raise ValueError(f"devices.{name}: a device name is letters, digits, '_' and '-'")
        pairs = set()
        for lname, link in self.links.items():
            for end in link.between:
                if end not in self.devices:
                    raise ValueError(f"links.{lname}.between: {end!r} is no device of this system; devices: "
                                     f"{', '.join(self.devices)}")
            if link.between[0] == link.between[1]:
                raise ValueError(f"links.{lname}.between: a link joins two different devices")
            pair = frozenset(link.between)
            if pair in pairs:
                raise ValueError(f"links.{lname}: a second link between {' and '.join(sorted(pair))}")
            pairs.add(pair)
        return self

    def link_between(self, a: str, b: str) -> tuple[str, LinkEntry] | None:
        for name, link in self.links.items():
            if set(link.between) == {a, b}:
                return name, link
        return None


def _systems_dir():
    return resources.files("pimsim.hardware") / "systems"


def system_names() -> list[str]:
    """Names of the system presets shipped inside the package."""
    return sorted(p.name[:-5] for p in _systems_dir().iterdir() if p.name.endswith(".yaml"))


def is_system(spec) -> bool:
    """Whether `spec` (a name, a path or a mapping) describes a system rather than one PIM hardware."""
    if isinstance(spec, SystemConfig):
        return True
    if isinstance(spec, dict):
        return spec.get("kind") == "system"
    text = str(spec)
    if text in system_names():
        return True
    if text.endswith((".yaml", ".yml")) and Path(text).is_file():
        return read_yaml(text).get("kind") == "system"
    return False


def load_system(spec) -> tuple[SystemConfig, str]:
    """(validated system, its source) from a shipped name, a YAML path or a mapping."""
    if isinstance(spec, SystemConfig):
        return spec, f"<system {spec.name}>"
    if isinstance(spec, dict):
        return validate(SystemConfig, spec, "<system mapping>"), "<system mapping>"
    text = str(spec)
    if text in system_names():
        path = Path(str(_systems_dir() / f"{text}.yaml"))
    elif text.endswith((".yaml", ".yml")) or Path(text).is_file():
        path = Path(text)
    else:
        raise UnknownNameError(f"unknown system {text!r}; known systems: {', '.join(system_names())}")
    return validate(SystemConfig, read_yaml(path), str(path)), str(path)
