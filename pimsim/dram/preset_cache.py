"""Exact cache of validated hardware for `pimsim replay` (issue 17, start-up).

A replay needs a preset's name and its DRAM configuration. Loading them the full way reads the preset's YAML
chain (`base:`) and validates the whole `Hardware` with its schema, which parses the DRAM standard's table
too. This cache keeps, per hardware spec (a preset name or a YAML path, as `pimsim replay --hardware` takes
it), what that validation produced, as JSON in the kernel's cache folder (`kernel.cache_dir()/presets`, beside
the compiled kernel library), and rebuilds the replay's configuration from it without validating again.

Exact by construction:
- an entry is only used when every input of the validation is byte-for-byte what it was: the key covers
  pimsim's version and the bytes of the sources that decide a validation (`source_digest`: the hardware
  package's modules, its shipped presets and standards' tables, the YAML reader, its text decoding and its
  parse cache (util/text.py, util/yaml_cache.py), this module, and the pydantic and PyYAML versions), the
  current folder and the spec's text; the entry lists every file the
  load read (the spec's file and its `base:` chain) with its SHA-256, and each is hashed again on use;
- on store, the configuration rebuilt from the JSON must equal the validated one field by field and type by
  type (`CachedDram` mirrors every field and property of `DramConfig`), else nothing is stored;
- a spec that is not in the cache, or whose files changed, goes the full way (`load_hardware`), so bad input
  fails with the same message and exit code 2 as without the cache (nothing is stored for it).
`PIMSIM_PRESET_CACHE=0` turns the cache off (the full way every time). tests/test_preset_cache.py replays
the AiM reference traces with and without it.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pimsim.util.dram_geometry import DramGeometry
from pimsim.util.yaml_cache import version_file

FORMAT = 1
_PIMSIM = Path(__file__).resolve().parent.parent
_HARDWARE = _PIMSIM / "hardware"
_SUFFIXES = (".yaml", ".yml")
_digest: str | None = None


@dataclass(frozen=True)
class CachedDram(DramGeometry):
    """A validated `DramConfig`'s fields and properties, rebuilt from the cache without pydantic."""

    standard: str
    channels: int
    ranks: int
    bank_groups: int
    banks_per_group: int
    rows: int
    columns: int
    column_bytes: int
    tck_ns: float
    timing: dict[str, int]
    refresh: str
    disabled_constraints: tuple[str, ...]

    # DramConfig's properties come from DramGeometry (tests/test_preset_cache.py compares every one)


@dataclass(frozen=True)
class CachedHardware:
    """What a replay uses of a validated `Hardware`: its name and DRAM."""

    name: str
    dram: CachedDram


def enabled() -> bool:
    return os.environ.get("PIMSIM_PRESET_CACHE", "1") != "0"


def _is_file_spec(text: str) -> bool:
    """`load_hardware`'s rule: a spec ending in .yaml/.yml or naming an existing file is a file, else a preset."""
    return text.endswith(_SUFFIXES) or Path(text).is_file()


def _sha256(path: str | Path) -> str | None:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def source_digest() -> str:
    """Hash of everything besides the spec's own files that decides what a validation gives (module docstring)."""
    global _digest
    if _digest is None:
        h = hashlib.sha256(f"{FORMAT} {sys.version}".encode())
        files = [_PIMSIM / "__init__.py", _PIMSIM / "errors.py", _PIMSIM / "util" / "config_io.py",
                 _PIMSIM / "util" / "text.py", _PIMSIM / "util" / "yaml_cache.py", _PIMSIM / "dram" / "preset_cache.py"]
        for sub in ("", "presets", "standards"):
            d = _HARDWARE / sub
            files += sorted(p for p in d.iterdir() if p.suffix in (".py", ".yaml"))
        for f in files:
            h.update(f"{f.relative_to(_PIMSIM)}\0".encode())
            h.update(f.read_bytes())
        h.update(version_file("pydantic", "version.py"))
        h.update(version_file("yaml", "__init__.py"))
        _digest = h.hexdigest()
    return _digest


def _entry_path(spec: str) -> Path | None:
    from pimsim.dram.kernel import cache_dir

    try:
        base = cache_dir()
    except RuntimeError:
        return None
    key = hashlib.sha256(f"{source_digest()}\0{os.getcwd()}\0{spec}".encode()).hexdigest()[:32]
    return base / "presets" / f"{key}.json"


def _rebuild(entry: dict[str, Any]) -> CachedHardware:
    d = dict(entry["dram"])
    d["timing"] = dict(d["timing"])
    d["disabled_constraints"] = tuple(d["disabled_constraints"])
    return CachedHardware(name=entry["name"], dram=CachedDram(**d))


def _lookup(spec: str) -> CachedHardware | None:
    path = _entry_path(spec)
    if path is None:
        return None
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(entry, dict) or entry.get("format") != FORMAT or entry.get("source") != source_digest() \
            or entry.get("spec") != spec or entry.get("cwd") != os.getcwd() \
            or entry.get("file_spec") != _is_file_spec(spec):   # e.g. a file named like the preset appeared
        return None
    for name, digest in entry.get("files", {}).items():
        if _sha256(name) != digest:
            return None
    try:
        return _rebuild(entry)
    except (KeyError, TypeError, ValueError):
        return None


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down (1 == 1.0 == True would not do)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def matches(cached: CachedDram, dram) -> bool:
    """True if `cached` has every field and property of the validated `dram` (a DramConfig), type-exact."""
    names = [f.name for f in fields(CachedDram)]
    if set(names) != set(type(dram).model_fields):
        return False
    props = ("banks", "row_bytes", "channel_bytes", "capacity_bytes")
    return all(_same(getattr(cached, n), getattr(dram, n)) for n in (*names, *props)) \
        and _same(cached.ns(12345), dram.ns(12345))


def _store(spec: str, hw, files: tuple[str, ...]) -> CachedHardware | None:
    path = _entry_path(spec)
    digests = {f: _sha256(f) for f in files}
    if path is None or None in digests.values():
        return None
    entry = {"format": FORMAT, "source": source_digest(), "spec": spec, "cwd": os.getcwd(),
             "file_spec": _is_file_spec(spec), "files": digests,
             "name": hw.name, "dram": hw.dram.model_dump()}
    text = json.dumps(entry, indent=1)
    light = _rebuild(json.loads(text))
    if not (_same(light.name, hw.name) and matches(light.dram, hw.dram)):
        return None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)                  # atomic: a concurrent reader sees the old entry or the new one
    except OSError:
        return None
    return light


def load_replay_hardware(spec: str) -> CachedHardware:
    """The name and DRAM of hardware `spec` (preset name or YAML path): from the cache when every input is
    unchanged, else validated the full way (`load_hardware`, whose errors propagate) and stored."""
    spec = str(spec)
    if enabled():
        hit = _lookup(spec)
        if hit is not None:
            return hit
    from pimsim.hardware.loader import load_hardware_with_sources

    hw, files = load_hardware_with_sources(spec)
    stored = _store(spec, hw, files) if enabled() else None
    return stored if stored is not None else CachedHardware(name=hw.name, dram=hw.dram)
