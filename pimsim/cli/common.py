"""Flags shared by every command that takes a model or a workload (same names everywhere)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from pimsim.errors import ConfigError
from pimsim.models import ModelConfig, load_model
from pimsim.util.config_io import read_yaml
from pimsim.workloads import KINDS, parse_workload
from pimsim.workloads.spec import BeamSearchSpec, BestOfNSpec, GenerateSpec, PrmScoreSpec, workload_adapter

_SPEC_BY_KIND = {"generate": GenerateSpec, "prm-score": PrmScoreSpec, "best-of-n": BestOfNSpec,
                 "beam-search": BeamSearchSpec}
# spec field -> CLI flag
_FLAGS = {
    "prompt": "--prompt", "generate": "--generate", "batch": "--batch", "solutions": "--solutions",
    "question_tokens": "--question-tokens", "steps": "--steps", "step_tokens": "--step-tokens",
    "scoring": "--scoring", "verify_tokens": "--verify-tokens", "policy": "--policy", "prm": "--prm",
    "n": "--n", "beam_width": "--beam-width", "expansions": "--expansions", "prefix_reuse": "--prefix-reuse",
}


def add_model_args(parser: argparse.ArgumentParser, *, multiple: bool = False, required: bool = False) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", action="append" if multiple else "store", metavar="NAME",
                   help="zoo model name (see `pimsim models list`)" + ("; repeatable" if multiple else ""))
    g.add_argument("--model-config", metavar="CONFIG_JSON", help="a Hugging Face style config.json instead")


def models_from_args(args) -> list[ModelConfig]:
    names = args.model if isinstance(args.model, list) else ([args.model] if args.model else [])
    out = [load_model(n) for n in names]
    if args.model_config:
        out.append(load_model(None, config_path=args.model_config))
    return out


def add_workload_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = parser.add_argument_group("workload (same flags for every command that takes one)")
    g.add_argument("--workload", required=required, metavar="KIND|FILE.yaml",
                   help=f"one of {', '.join(KINDS)}, or a YAML file with `kind:` and the fields below")
    g.add_argument("--prompt", type=int, help="generate: prompt tokens")
    g.add_argument("--generate", type=int, help="generate: new tokens per sequence")
    g.add_argument("--batch", type=int, help="generate: sequences decoded together (default 1)")
    g.add_argument("--solutions", type=int, help="prm-score: solutions to score")
    g.add_argument("--question-tokens", type=int, help="question length in tokens")
    g.add_argument("--steps", type=int, help="reasoning steps per solution")
    g.add_argument("--step-tokens", type=int, help="tokens per reasoning step")
    g.add_argument("--scoring", choices=["single-pass", "per-step-prefix", "implicit", "generative"],
                   help="how the PRM scores (default single-pass)")
    g.add_argument("--verify-tokens", type=int, help="generative scoring: verification tokens (default 1024)")
    g.add_argument("--policy", metavar="MODEL", help="best-of-n / beam-search: policy model")
    g.add_argument("--prm", metavar="MODEL", help="best-of-n / beam-search: reward model")
    g.add_argument("--n", type=int, help="best-of-n: samples")
    g.add_argument("--beam-width", type=int, help="beam-search: beams kept")
    g.add_argument("--expansions", type=int, help="beam-search: candidates per beam and step")
    g.add_argument("--prefix-reuse", action="store_true", default=None,
                   help="beam-search: the PRM reuses the KV cache of the kept prefix")


def workload_from_args(args):
    """The validated workload spec from `--workload KIND` + flags, or `--workload FILE.yaml`."""
    kind = args.workload
    if kind.endswith((".yaml", ".yml")) or Path(kind).is_file():
        given = [flag for field, flag in _FLAGS.items() if getattr(args, field, None) is not None]
        if given:
            raise ConfigError(f"--workload {kind}: the file defines the workload; {', '.join(given)} would be ignored")
        data = read_yaml(kind)
        return parse_workload(data.get("workload", data), source=kind)
    if kind not in _SPEC_BY_KIND:
        raise ConfigError(f"--workload: unknown kind {kind!r}; choose one of {', '.join(KINDS)} or a YAML file")
    allowed = set(_SPEC_BY_KIND[kind].model_fields) - {"kind", "model"}
    data: dict = {"kind": kind}
    for field, flag in _FLAGS.items():
        value = getattr(args, field, None)
        if value is None:
            continue
        if field not in allowed:
            raise ConfigError(f"{flag} is not a flag of --workload {kind}; its flags: "
                              + ", ".join(_FLAGS[f] for f in _FLAGS if f in allowed))
        data[field] = value
    try:
        return workload_adapter.validate_python(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][-1]) if err["loc"] else ""
            flag = _FLAGS.get(field, field)
            if err["type"] == "missing":
                lines.append(f"--workload {kind}: {flag} is required")
            else:
                lines.append(f"--workload {kind}: {flag}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("\n".join(lines)) from None
