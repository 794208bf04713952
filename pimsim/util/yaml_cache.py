"""Exact parse cache of pimsim's own YAML data files (the DRAM standards' constraint tables), issue 17 start-up.

Parsing a standard's table with PyYAML's pure-Python loader costs ~0.05-0.15 s a run and imports PyYAML;
`pimsim replay` parses one or two tables every run. `load_yaml_cached(path)` returns exactly what
`load_yaml_text(path.read_text(encoding="utf-8"))` (pimsim.util.config_io) returns, from a cache entry when
one holds it:

- the key is the SHA-256 of the file's bytes (not its name or mtime, so an edit is always seen, even one
  within the file system's timestamp resolution) and of the source version (`source_version`: this format,
  the Python version, the bytes of config_io.py, where the YAML reader is defined, and of this module, and
  PyYAML's version file);
- an entry holds the key and the SHA-256 of its payload (marshal data); it is used only when both match,
  else the file is parsed again; an unreadable, truncated or corrupt entry is a miss, never an error;
- only plain data is stored (dict, list, str, int, float, bool, None; no container shared by two places,
  as YAML aliases make), and only when the payload read back equals the parse type-exactly (so `1` and
  `1.0` and `True` stay apart, and key order is kept), else nothing is stored and each run parses;
- parse errors propagate as without the cache (nothing is stored).
Entries live in the kernel's cache folder (`pimsim.dram.kernel.cache_dir()/yaml`, beside the preset cache's
`presets/`). `PIMSIM_YAML_CACHE=0` turns the cache off.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

FORMAT = 1
_MAGIC = b"pimsim-yaml-cache\n"
_UTIL = Path(__file__).resolve().parent
_version: str | None = None


def enabled() -> bool:
    return os.environ.get("PIMSIM_YAML_CACHE", "1") != "0"


def version_file(package: str, name: str) -> bytes:
    """The bytes of `package`/`name` (where the package keeps its version), found without importing it."""
    from importlib.util import find_spec

    try:
        spec = find_spec(package)
        return Path(spec.origin).with_name(name).read_bytes() if spec and spec.origin else b"?"
    except (ImportError, OSError, ValueError):
        return b"?"


def source_version() -> str:
    """Hash of what, besides a file's bytes, decides its parse (module docstring)."""
    global _version
    if _version is None:
        h = hashlib.sha256(f"{FORMAT} {sys.version}\0".encode())
        for f in (_UTIL / "config_io.py", _UTIL / "yaml_cache.py"):
            h.update(f.read_bytes())
            h.update(b"\0")
        h.update(version_file("yaml", "__init__.py"))
        _version = h.hexdigest()
    return _version


def _text(data: bytes) -> str:
    """`data` as `Path.read_text(encoding="utf-8")` gives it: UTF-8 with universal newlines."""
    return data.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")


def _parse(data: bytes) -> Any:
    from pimsim.util.config_io import load_yaml_text

    return load_yaml_text(_text(data))


def _plain(value: Any, seen: set[int]) -> bool:
    """True if `value` is plain data (module docstring) with no container reached twice."""
    t = type(value)
    if t in (str, int, float, bool) or value is None:
        return True
    if t not in (dict, list) or id(value) in seen:
        return False
    seen.add(id(value))
    if t is dict:
        return all(type(k) in (str, int, float, bool) or k is None for k in value) \
            and all(_plain(v, seen) for v in value.values())
    return all(_plain(v, seen) for v in value)


def _same(a: Any, b: Any) -> bool:
    """Equal and of the same types all the way down, dict keys in the same order."""
    if type(a) is not type(b):
        return False
    if type(a) is dict:
        return list(a) == list(b) and all(type(x) is type(y) for x, y in zip(a, b)) \
            and all(_same(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def _entry_path(key: str) -> Path | None:
    from pimsim.dram.kernel import cache_dir

    try:
        return cache_dir() / "yaml" / f"{key[:32]}.marshal"
    except RuntimeError:
        return None


def _lookup(path: Path, key: str) -> tuple[bool, Any]:
    try:
        blob = path.read_bytes()
    except OSError:
        return False, None
    head = _MAGIC + key.encode() + b"\n"
    if not blob.startswith(head) or len(blob) < len(head) + 65:
        return False, None
    digest, payload = blob[len(head):len(head) + 64], blob[len(head) + 65:]
    if blob[len(head) + 64:len(head) + 65] != b"\n" or hashlib.sha256(payload).hexdigest().encode() != digest:
        return False, None
    try:
        value = marshal.loads(payload)
    except (EOFError, ValueError, TypeError):
        return False, None
    return (True, value) if _plain(value, set()) else (False, None)


def _store(path: Path, key: str, value: Any) -> None:
    if not _plain(value, set()):
        return
    try:
        payload = marshal.dumps(value)
        if not _same(marshal.loads(payload), value):
            return
    except (ValueError, TypeError, EOFError, RecursionError):
        return
    blob = _MAGIC + key.encode() + b"\n" + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(blob)
        os.replace(tmp, path)                   # atomic: a concurrent reader sees the old entry or the new one
    except OSError:
        pass


def load_yaml_cached(path: Any) -> Any:
    """What `load_yaml_text(path.read_text(encoding="utf-8"))` returns, from the cache when it holds this file's
    bytes (`path`: a pathlib.Path or an importlib.resources Traversable; its read errors propagate)."""
    data = path.read_bytes()
    if not enabled():
        return _parse(data)
    key = hashlib.sha256(f"{source_version()}\0".encode() + data).hexdigest()
    entry = _entry_path(key)
    if entry is not None:
        hit, value = _lookup(entry, key)
        if hit:
            return value
    value = _parse(data)
    if entry is not None:
        _store(entry, key, value)
    return value
