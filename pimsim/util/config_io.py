"""Loading YAML/JSON config files and turning validation failures into one clear `ConfigError`.

Every config file (hardware preset, mapping, experiment, workload) goes through `read_yaml` and
`validate`, so all of them report problems the same way: the file, the field path, what was given
and what is allowed.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from pimsim.errors import ConfigError
from pimsim.util.text import decode_text  # noqa: F401  (re-exported: it lived here)

M = TypeVar("M", bound=BaseModel)


def read_text(path: str | Path, error: type[Exception] = ConfigError) -> str:
    """The UTF-8 text of a user file (BOM allowed); a missing, unreadable or undecodable file is `error`
    naming it."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: file not found") from None
    except OSError as exc:
        raise error(f"{path}: cannot read ({exc.strerror or exc})") from None
    return decode_text(data, path, error)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that rejects duplicate mapping keys (PyYAML silently keeps the last one) and reads
    YAML 1.2 exponent floats such as `1e-9` as floats (YAML 1.1 wants a dot, `1.0e-9`, and reads `1e-9`
    as a string)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:
                    continue  # an unhashable key: SafeConstructor reports it
                if first is not key_node.start_mark:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first given at line {first.line + 1}); "
                        "YAML keeps only the last, so give each key once", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def load_yaml_text(text: str) -> Any:
    """`yaml.safe_load` with duplicate keys rejected and exponent floats read as floats."""
    return yaml.load(text, Loader=_StrictLoader)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Parse a YAML mapping from `path`; syntax errors and duplicate keys name the file, line and column."""
    path = Path(path)
    text = read_text(path)
    try:
        data = load_yaml_text(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: malformed YAML at {where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level, got {type(data).__name__}")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `override` applied recursively (mappings merge, everything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# a validator's message that starts with a relative field path ("timing.nCL: ...") continues the location
_LEADING_PATH = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)*): (.*)$", re.DOTALL)


def _fields_at(model: Any, loc: tuple) -> list[str] | None:
    """Field names of the model reached by following `loc` from `model` (None if not a model there).

    A discriminated union's tag in `loc` selects the member whose literal field has that value."""
    for part in loc:
        if isinstance(model, type) and issubclass(model, BaseModel) and part in model.model_fields:
            model = model.model_fields[part].annotation
            continue
        members = [m for m in get_args(model) if isinstance(m, type) and issubclass(m, BaseModel)]
        chosen = [m for m in members if any(f.default == part for f in m.model_fields.values())]
        if len(chosen) != 1:
            return None
        model = chosen[0]
    if isinstance(model, type) and issubclass(model, BaseModel):
        return list(model.model_fields)
    return None


def format_validation_error(exc: ValidationError, source: str, model: Any = None) -> str:
    """One message listing each failing field as `source: field.path: problem (got X)`."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(top level)"
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            allowed = _fields_at(model, tuple(err["loc"][:-1]))
            msg = "unknown field" + (f"; allowed fields: {', '.join(allowed)}" if allowed else "")
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
            m = _LEADING_PATH.match(msg)
            if m:
                loc = m.group(1) if loc == "(top level)" else f"{loc}.{m.group(1)}"
                msg = m.group(2)
        given = err.get("input")
        show_input = err["type"] not in ("missing", "extra_forbidden") and not isinstance(given, dict)
        lines.append(f"{source}: {loc}: {msg}" + (f" (got {given!r})" if show_input else ""))
    return "\n".join(lines)


def validate(model: type[M], data: Any, source: str) -> M:
    """Validate `data` into `model`, raising `ConfigError` that names `source` and each field path."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source, model)) from None
