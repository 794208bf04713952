"""Design points: an `Experiment` expanded into plain JSON-able dicts, each keyed by a config hash.

A point is what one evaluation needs and nothing else:

    {"key", "experiment", "target": "pim" | "baseline" | "mixed" | "system", "placement" (display label),
     "hardware": {"preset", "label", "overrides", "system"?, "device"?} | None, "grid": {path: value}, "mapping" | None,
     "model" (zoo name; "policy+prm" for two-model workloads), "workload": spec dict, "workload_label",
     "device" | None, "mode" | None, "pim_roles" | None, "evaluator" | None}

Its `key` is `config_hash` of the fully resolved configuration: the validated hardware (after
overrides), the mapping, the model configs, the workload spec, the device preset and mode, the PIM roles
of a mixed placement, the evaluator, the pimsim version and the row format (`ROW_FORMAT`). Labels
are not part of it, so renaming a point never re-simulates it, and a baseline point shared by every
hardware variant of a sweep is run once. Every name (preset, mapping, model, device) and every
workload is checked here, before anything is simulated; errors name the experiment file and the field.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from pimsim import __version__
from pimsim.errors import ConfigError, PimsimError
from pimsim.experiments.spec import Experiment
from pimsim.hardware.system import is_system, load_system
from pimsim.result import config_hash
from pimsim.util.config_io import deep_merge, format_validation_error
from pimsim.workloads import MODEL_DEFAULT_KINDS, expand
from pimsim.workloads.spec import workload_adapter

_SINGLE_MODEL_KINDS = ("generate", "prm-score")
# kinds whose model fields (policy, prm) default to the command's model (`workloads.MODEL_DEFAULT_KINDS`): a
# workload that leaves one out runs on each of the experiment's `models:` (or its own `model:`), as with
# `pimsim simulate --model M --workload dvts ...`; one that names all of them runs on those alone
_MODEL_FIELDS = ("policy", "prm")


def _takes_a_model(spec: dict[str, Any]) -> bool:
    """True where the workload runs on a model given beside it (`models:`): a single-model kind, or a
    MODEL_DEFAULT_KINDS kind with a model field (policy, prm) left out."""
    if spec["kind"] in _SINGLE_MODEL_KINDS:
        return True
    if spec["kind"] not in MODEL_DEFAULT_KINDS:
        return False
    fields = type(workload_adapter.validate_python(spec)).model_fields
    return any(f in fields and not spec.get(f) for f in _MODEL_FIELDS)
# version of the result row's columns, part of every key: a point stored with an older row (before
# ttft_s / tpot_s, with latency_per_token_s) is re-run rather than mixed with new rows
ROW_FORMAT = 2


def _set_path(tree: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    node: dict[str, Any] = {}
    root = node
    parts = path.strip().split(".")
    for p in parts[:-1]:
        node[p] = {}
        node = node[p]
    node[parts[-1]] = value
    return deep_merge(tree, root)


def grid_combinations(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """Cartesian product of the grid axes, in file order: [{key: value, ...}, ...]."""
    keys = list(grid)
    return [dict(zip(keys, values)) for values in itertools.product(*(grid[k] for k in keys))] or [{}]


def grid_overrides(combo: dict[str, Any]) -> dict[str, Any]:
    """Override tree of one grid combination (a key with several comma-separated paths sets them all)."""
    tree: dict[str, Any] = {}
    for key, value in combo.items():
        for path in key.split(","):
            tree = _set_path(tree, path, value)
    return tree


def workload_variants(entry: dict[str, Any], index: int, source: str) -> list[tuple[str, dict[str, Any]]]:
    """(label, validated spec dict) of one `workloads:` entry; a list-valued field gives one per value."""
    if not isinstance(entry, dict):
        raise ConfigError(f"{source}: workloads.{index}: expected a mapping with kind: and its fields")
    entry = dict(entry)
    label = entry.pop("label", None)
    lists = [k for k, v in entry.items() if isinstance(v, list)]
    out = []
    for values in itertools.product(*(entry[k] for k in lists)):
        data = {**entry, **dict(zip(lists, values))}
        try:
            spec = workload_adapter.validate_python(data)
        except ValidationError as exc:
            raise ConfigError(format_validation_error(exc, f"{source}: workloads.{index}")) from None
        base = label or spec.kind
        name = base + "".join(f" {k}={v}" for k, v in zip(lists, values))
        out.append((name, spec.model_dump(mode="json")))
    if not out:
        raise ConfigError(f"{source}: workloads.{index}: a list-valued field is empty")
    return out


@lru_cache(maxsize=None)
def _model_dump(name: str) -> tuple[Any, str]:
    from pimsim.models import load_model

    m = load_model(name)
    return m, m.model_dump_json()


def _workload_models(spec: dict[str, Any], models: list[str], source: str, index: int) -> list[str | None]:
    """The models a workload runs on: its own `model:` pins it (a PRM-scoring entry beside generate entries
    that sweep `models:`), else the experiment's `models:`; two-model kinds name theirs in the workload."""
    if _takes_a_model(spec):
        if spec.get("model"):
            return [spec["model"]]
        if not models:
            missing = "" if spec["kind"] in _SINGLE_MODEL_KINDS else " (for its " + ", ".join(
                f for f in _MODEL_FIELDS if f in spec and not spec.get(f)) + ")"
            raise ConfigError(f"{source}: workloads.{index}: a {spec['kind']} workload needs a model{missing}: give "
                              f"`models:` or `model:` in the workload" + (
                                  "" if spec["kind"] in _SINGLE_MODEL_KINDS else ", or name policy and prm"))
        return list(models)
    return [None]


def load_point_workload(point: dict[str, Any]):
    """The expanded `Workload` of a point (models resolved from the zoo or config paths)."""
    spec = workload_adapter.validate_python(point["workload"])
    model = _model_dump(point["model"])[0] if _takes_a_model(point["workload"]) else None
    return expand(spec, model, resolve=lambda n: _model_dump(n)[0])


def _resolve_path(name: str, base: Path) -> str:
    """A YAML path given relative to the experiment file, made absolute; a preset name is kept."""
    if name.endswith((".yaml", ".yml")) and not Path(name).is_absolute():
        return str((base / name).resolve())
    return name


def expand_points(exp: Experiment, source: str = "<experiment>", evaluator: str | None = None) -> list[dict[str, Any]]:
    """All design points of `exp`, deduplicated by key, in a stable order (see module docstring).

    `evaluator`: identity of a custom evaluator ("module:function"); it is part of every key."""
    from pimsim.baselines import load_device
    from pimsim.hardware import load_hardware
    from pimsim.mapper import load_mapping

    base = Path(source).parent if source and not source.startswith("<") else Path.cwd()
    evaluator = evaluator or exp.evaluator
    common = {"pimsim": __version__, "evaluator": evaluator, "row_format": ROW_FORMAT}

    for i, name in enumerate(exp.models):
        try:
            _model_dump(name)
        except PimsimError as exc:
            raise ConfigError(f"{source}: models.{i}: {exc}") from None

    # workloads x models, each expanded once (context limits and model names are checked here)
    workloads: list[tuple] = []  # (label, spec, model, shown model, roles, context, model dumps)
    skipped = 0
    for wi, entry in enumerate(exp.workloads):
        for label, spec in workload_variants(entry, wi, source):
            for model in _workload_models(spec, exp.models, source, wi):
                probe = {"workload": spec, "model": model}
                try:
                    wl = load_point_workload(probe)
                except PimsimError as exc:
                    if exp.skip_beyond_context and "supports at most" in str(exc):
                        skipped += 1
                        continue
                    raise ConfigError(f"{source}: workloads.{wi}: {exc}") from None
                names = sorted({p.model.name for p in wl.phases})
                if model is None:
                    dumps = [_model_dump(n)[1] for n in names]
                elif spec["kind"] in _SINGLE_MODEL_KINDS:
                    dumps = [_model_dump(model)[1]]
                else:  # the given model, then the workload's own (a MODEL_DEFAULT kind's named policy or prm)
                    own = _model_dump(model)[0].name
                    dumps = [_model_dump(model)[1]] + [_model_dump(n)[1] for n in names if n != own]
                shown = model if model is not None else "+".join(spec[r] for r in ("policy", "prm") if spec.get(r))
                roles = sorted({p.role for p in wl.phases})
                ctx = max(p.end_context for p in wl.phases)
                workloads.append((label, spec, model, shown, roles, ctx, dumps))

    hardware: list[tuple[dict[str, Any], dict[str, Any], str]] = []  # (entry, grid combo, hw dump json)
    hardware_models: list[tuple] = []  # per hardware row: the only (models, workload labels) it runs (None: all)
    for hi, h in enumerate(exp.hardware):
        for mi, name in enumerate(h.models or ()):
            try:
                _model_dump(name)
            except PimsimError as exc:
                raise ConfigError(f"{source}: hardware.{hi}.models.{mi}: {exc}") from None
        preset = _resolve_path(h.preset, base)
        if is_system(preset):  # a system of devices: placements come from the mappings (docs/systems.md)
            if h.overrides or exp.grid:
                raise ConfigError(f"{source}: hardware.{hi}: {h.preset} is a system of devices; overrides: and "
                                  "grid: apply to PIM hardware only (give each variant its own system file)")
            try:
                system, _ = load_system(preset)
            except PimsimError as exc:
                raise ConfigError(f"{source}: hardware.{hi}: {exc}") from None
            gpu = next((e.device for e in system.devices.values() if e.device is not None), None)
            entry = {"preset": preset, "label": h.label or h.preset, "overrides": {}, "system": True,
                     "device": gpu}
            hardware.append((entry, {}, system.model_dump_json()))
            hardware_models.append((h.models, h.workloads, h.mappings))
            continue
        for combo in grid_combinations(exp.grid):
            overrides = deep_merge(h.overrides, grid_overrides(combo))
            where = f"{source}: hardware.{hi}" + (
                " overrides at grid point " + ", ".join(f"{k}={v}" for k, v in combo.items()) if combo
                else ".overrides")
            try:
                hw = load_hardware(preset, overrides=overrides or None, overrides_source=where)
            except PimsimError as exc:
                if str(exc).startswith(where):
                    raise  # the overrides are wrong: the message names the experiment file and point
                raise ConfigError(f"{source}: hardware.{hi}: {exc}") from None
            label = h.label or h.preset
            if combo:
                label += "".join(f" {k.split(',')[0].split('.')[-1]}={v}" for k, v in combo.items())
            entry = {"preset": preset, "label": label, "overrides": overrides}
            hardware.append((entry, combo, hw.model_dump_json()))
            hardware_models.append((h.models, h.workloads, h.mappings))

    mappings = []
    for mi, name in enumerate(exp.mappings):
        try:
            loaded = load_mapping(_resolve_path(name, base))
        except PimsimError as exc:
            raise ConfigError(f"{source}: mappings.{mi}: {exc}") from None
        if not loaded.pim_only and any(not e.get("system") for e, _, _ in hardware):
            raise ConfigError(f"{source}: mappings.{mi}: {name} places phases on devices other than `pim`; it "
                              "runs on systems of devices only, and this experiment's hardware includes a PIM "
                              "preset (give only systems, or a PIM-only mapping)")
        mappings.append((name, loaded.model_dump_json()))
    for hi, h in enumerate(exp.hardware):
        for mi, name in enumerate(h.mappings or ()):
            if name not in exp.mappings:
                raise ConfigError(f"{source}: hardware.{hi}.mappings.{mi}: {name!r} is not one of the experiment's "
                                  f"mappings ({', '.join(exp.mappings)})")

    def device(where: str, name: str, mode: str | None) -> tuple[str, str, str]:
        try:
            dev = load_device(_resolve_path(name, base))
            resolved, _ = dev.overhead_s(mode)
        except PimsimError as exc:
            raise ConfigError(f"{source}: {where}: {exc}") from None
        return dev.name, resolved, dev.model_dump_json()

    baselines = [(b, *device(f"baselines.{i}", b.device, b.mode)) for i, b in enumerate(exp.baselines)]
    for i, b in enumerate(exp.baselines):
        if b.num_devices > 1 and load_device(_resolve_path(b.device, base)).interconnect is None:
            raise ConfigError(f"{source}: baselines.{i}.num_devices: {b.num_devices} devices of {b.device} need an "
                              "`interconnect:` in its preset (bandwidth, hop latency, pJ/bit); it has none")
        for mi, name in enumerate(b.models or ()):
            try:
                _model_dump(name)
            except PimsimError as exc:
                raise ConfigError(f"{source}: baselines.{i}.models.{mi}: {exc}") from None
    placements = [(p, *device(f"placements.{i}", p.device, p.mode)) for i, p in enumerate(exp.placements)]

    points: list[dict[str, Any]] = []
    seen: set[str] = set()

    def add(point: dict[str, Any], config: dict[str, Any]) -> None:
        point["key"] = config_hash({**config, **common})
        if point["key"] not in seen:
            seen.add(point["key"])
            points.append(point)

    labels = {w[0] for w in workloads}
    for where, entries in (("hardware", exp.hardware), ("baselines", exp.baselines)):
        for i, e in enumerate(entries):
            for li, want in enumerate(e.workloads or ()):
                if want not in labels:
                    raise ConfigError(f"{source}: {where}.{i}.workloads.{li}: no workload is labelled {want!r}; "
                                      f"labels: {', '.join(sorted(labels))}")

    def runs_here(only: tuple, shown: str, label: str) -> bool:
        models, labels = only
        return (models is None or shown in models) and (labels is None or label in labels)

    for label, spec, model, shown, roles, ctx, dumps in workloads:
        wl_part = {"experiment": exp.name, "model": shown, "workload": spec, "workload_label": label,
                   "context": ctx, "evaluator": evaluator}
        wl_cfg = {"workload": spec, "models": dumps}
        for (entry, combo, hw_dump), (*only, only_mappings) in zip(hardware, hardware_models):
            if not runs_here(tuple(only), shown, label):
                continue
            for mname, m_dump in mappings:
                if only_mappings is not None and mname not in only_mappings:
                    continue
                pim_cfg = {**wl_cfg, "hardware": hw_dump, "mapping": m_dump}
                hw_part = {"hardware": entry, "grid": combo, "mapping": mname}
                if entry.get("system"):  # the mapping's placement over the system's devices
                    add({**wl_part, **hw_part, "target": "system", "placement": mname,
                         "device": entry["device"], "mode": None, "pim_roles": None}, pim_cfg)
                    continue
                if exp.pim:
                    add({**wl_part, **hw_part, "target": "pim", "placement": "all-pim", "device": None,
                         "mode": None, "pim_roles": None}, pim_cfg)
                for pl, dev_name, mode, dev_dump in placements:
                    on_pim = [r for r in roles if r in pl.pim_roles]
                    if not on_pim or len(on_pim) == len(roles):
                        continue  # the same as the all-PIM or the all-device point
                    add({**wl_part, **hw_part, "target": "mixed", "placement": pl.label, "device": dev_name,
                         "mode": mode, "pim_roles": list(pl.pim_roles)},
                        {**pim_cfg, "device": dev_dump, "mode": mode, "pim_roles": list(pl.pim_roles)})
        for b, dev_name, mode, dev_dump in baselines:
            if not runs_here((b.models, b.workloads), shown, label):
                continue
            many = b.num_devices > 1  # a group of tensor-parallel devices; keys of single devices unchanged
            shown_dev = f"{dev_name} x{b.num_devices}" if many else dev_name
            add({**wl_part, "target": "baseline", "placement": b.label or f"{shown_dev} ({mode})",
                 "hardware": None, "grid": {}, "mapping": None, "device": dev_name, "mode": mode,
                 "pim_roles": None, **({"num_devices": b.num_devices} if many else {})},
                {**wl_cfg, "device": dev_dump, "mode": mode, **({"num_devices": b.num_devices} if many else {})})
    if not points:
        raise ConfigError(f"{source}: no design points" + (f" ({skipped} beyond the models' context limits)"
                                                           if skipped else ""))
    from pimsim.experiments.tables import check_distinct_labels  # before any point runs (issue 11)

    check_distinct_labels(points, source)
    return points


def cost_order(points: list[dict[str, Any]]) -> list[int]:
    """Indices of `points`, the likely slowest first (PIM and mixed points before baselines, then by
    forward work = tokens x layers x hidden^2), so a pool does not finish on one long straggler."""
    def cost(p: dict[str, Any]) -> float:
        try:
            wl = load_point_workload(p)
            work = sum(ph.tokens * ph.model.layers * ph.model.hidden ** 2 for ph in wl.phases)
        except Exception:  # noqa: BLE001 - ordering only
            work = 0.0
        return (p["target"] != "baseline") * 1e30 + work
    return sorted(range(len(points)), key=lambda i: -cost(points[i]))
