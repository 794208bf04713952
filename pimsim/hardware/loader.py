"""Load hardware from a shipped preset name or a user YAML that may derive from one (`base: NAME`).

A user file is merged field by field onto its base (mappings merge, values replace), then validated as
a whole; every error names the file and the field path.

Names: a user file without `name:` is named by its file stem (`one_channel.yaml` -> `one_channel`),
never by its base preset, so results and messages say which file they came from. Overrides (an
experiment's `overrides:` and grid values) merge last; an error they cause names `overrides_source`
(the experiment file and point), not the preset file.
"""

from __future__ import annotations

from contextvars import ContextVar
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pimsim.errors import ConfigError, PimsimError, UnknownNameError
from pimsim.hardware.schema import Hardware
from pimsim.hardware.standards import timing_for_child
from pimsim.util.config_io import deep_merge, read_yaml, validate

_MAX_BASE_DEPTH = 8
_READS: ContextVar[list[str] | None] = ContextVar("pimsim_hardware_reads", default=None)


def _read(path: str | Path) -> dict[str, Any]:
    """`read_yaml`, noting the file when `load_hardware_with_sources` asks which files a load read."""
    reads = _READS.get()
    if reads is not None:
        reads.append(str(path))
    return read_yaml(path)


def _presets_dir():
    return resources.files("pimsim.hardware") / "presets"


def preset_names() -> list[str]:
    """Names of the presets shipped inside the package."""
    return sorted(p.name[:-5] for p in _presets_dir().iterdir() if p.name.endswith(".yaml"))


def _preset_path(name: str) -> Path:
    path = _presets_dir() / f"{name}.yaml"
    if not path.is_file():
        raise UnknownNameError(f"unknown hardware preset {name!r}; known presets: {', '.join(preset_names())}")
    return Path(str(path))


def _resolve(data: dict[str, Any], source: str, depth: int = 0) -> dict[str, Any]:
    """Apply `base:` inheritance recursively and return the merged raw mapping."""
    base = data.get("base")
    if base is None:
        return data
    if depth >= _MAX_BASE_DEPTH:
        raise ConfigError(f"{source}: base: chain of more than {_MAX_BASE_DEPTH} presets (a cycle?)")
    if not isinstance(base, str):
        raise ConfigError(f"{source}: base: must be a preset name or a YAML path, got {base!r}")
    if base.endswith((".yaml", ".yml")):
        base_path = (Path(source).parent / base) if not Path(base).is_absolute() else Path(base)
    else:
        try:
            base_path = _preset_path(base)
        except UnknownNameError as exc:
            raise UnknownNameError(f"{source}: base: {exc}") from None
    try:
        base_data = _read(base_path)
    except ConfigError as exc:
        raise ConfigError(f"{source}: base: {exc}") from None
    parent = _resolve(base_data, str(base_path), depth + 1)
    child = {k: v for k, v in data.items() if k != "base"}
    return deep_merge(timing_for_child(parent, child), child)  # a switched standard sheds the old keys


def load_hardware(spec: str | Path | dict[str, Any], overrides: dict[str, Any] | None = None,
                  overrides_source: str | None = None) -> Hardware:
    """A validated `Hardware` from a preset name, a YAML path, or a raw mapping; `overrides` merge last.

    `overrides_source`: where the overrides come from, named by an error they cause (module docstring)."""
    if isinstance(spec, dict):
        source, data = "<hardware mapping>", spec
    else:
        text = str(spec)
        if text.endswith((".yaml", ".yml")) or Path(text).is_file():
            source, data = text, _read(text)
            if "name" not in data:
                data = {**data, "name": Path(text).stem}
        else:
            path = _preset_path(text)
            source, data = str(path), _read(path)
    merged = _resolve(data, source)
    if not overrides:
        return validate(Hardware, merged, source)
    full = deep_merge(merged, overrides)
    try:
        return Hardware.model_validate(full)
    except (ValidationError, PimsimError):
        pass
    validate(Hardware, merged, source)  # the file alone is invalid: the error names the file
    return validate(Hardware, full, overrides_source or f"overrides of {source}")


def load_hardware_with_sources(spec: str | Path) -> tuple[Hardware, tuple[str, ...]]:
    """`load_hardware(spec)` and the YAML files it read (the spec's file or preset, then its `base:` chain),
    as the paths it opened: what pimsim.dram.preset_cache hashes to know when a cached validation is stale."""
    reads: list[str] = []
    token = _READS.set(reads)
    try:
        hw = load_hardware(spec)
    finally:
        _READS.reset(token)
    return hw, tuple(dict.fromkeys(reads))
