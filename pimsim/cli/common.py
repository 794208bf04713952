"""Flags shared by every command that takes a model or a workload (same names everywhere)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pydantic import ValidationError

from pimsim.errors import ConfigError
from pimsim.models import ModelConfig, load_model
from pimsim.util.config_io import read_yaml
from pimsim.workloads import KINDS, parse_workload
from pimsim.workloads.spec import (BeamSearchSpec, BestOfNSpec, DvtsSpec, GenerateSpec, LookaheadSpec,
                                    McAnnotateSpec, OmegaAnnotateSpec, PrmScoreSpec, RlRolloutSpec,
                                    workload_adapter)

_SPEC_BY_KIND = {"generate": GenerateSpec, "prm-score": PrmScoreSpec, "best-of-n": BestOfNSpec,
                 "mc-annotate": McAnnotateSpec,
                 "beam-search": BeamSearchSpec, "lookahead": LookaheadSpec, "dvts": DvtsSpec,
                 "omega-annotate": OmegaAnnotateSpec, "rl-rollout": RlRolloutSpec}
# spec field -> CLI flag
_FLAGS = {
    "prompt": "--prompt", "generate": "--generate", "batch": "--batch", "solutions": "--solutions",
    "question_tokens": "--question-tokens", "steps": "--steps", "step_tokens": "--step-tokens",
    "scoring": "--scoring", "verify_tokens": "--verify-tokens", "policy": "--policy", "prm": "--prm",
    "n": "--n", "rollouts": "--rollouts", "beam_width": "--beam-width", "expansions": "--expansions",
    "prefix_reuse": "--prefix-reuse", "critique_tokens": "--critique-tokens", "verify_chains": "--verify-chains",
    "reference": "--reference", "lookahead": "--lookahead", "searches": "--searches",
    "first_error": "--first-error", "prompts": "--prompts", "group": "--group",
    "prefix_sharing": "--no-prefix-sharing", "streaming": "--streaming", "prune_fraction": "--prune-fraction",
    "prune_after_steps": "--prune-after-steps",
}


def add_model_args(parser: argparse.ArgumentParser, *, multiple: bool = False, required: bool = False) -> None:
    g = parser.add_argument_group("model")
    g.add_argument("--model", action="append" if multiple else "store", metavar="NAME",
                   help="zoo model name (see `pimsim models list`)" + ("; repeatable" if multiple else ""))
    g.add_argument("--model-config", metavar="CONFIG_JSON", help="a Hugging Face style config.json instead")
    parser.set_defaults(model_repeatable=multiple)


def models_from_args(args) -> list[ModelConfig]:
    names = args.model if isinstance(args.model, list) else ([args.model] if args.model else [])
    out = [load_model(n) for n in names]
    if args.model_config:
        out.append(load_model(None, config_path=args.model_config))
    return out


def token_count_arg(text: str):
    """A token-count flag: a whole number, or a distribution as an inline YAML mapping
    ('{dist: lognormal, mean: 400, sigma: 0.6, seed: 1}' or '{dist: empirical, file: lengths.csv}');
    anything else is passed on for the spec to refuse with its message."""
    try:
        return int(text)
    except ValueError:
        pass
    from pimsim.util.config_io import load_yaml_text

    try:
        value = load_yaml_text(text)
    except Exception:  # noqa: BLE001 - not YAML: the spec's validator names the flag and what it accepts
        return text
    return value if isinstance(value, dict) else text


_DIST_HELP = "; or a distribution '{dist: lognormal, mean: M, sigma: S, seed: K}' / '{dist: empirical, file: F.csv}'"


def add_workload_args(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    g = parser.add_argument_group("workload (same flags for every command that takes one)")
    g.add_argument("--workload", required=required, metavar="KIND|FILE.yaml",
                   help=f"one of {', '.join(KINDS)}, or a YAML file with `kind:` and the fields below")
    g.add_argument("--prompt", type=int, help="generate: prompt tokens")
    g.add_argument("--generate", type=token_count_arg, help="generate: new tokens per sequence" + _DIST_HELP)
    g.add_argument("--batch", type=int, help="generate: sequences decoded together (default 1)")
    g.add_argument("--solutions", type=int, help="prm-score: solutions to score")
    g.add_argument("--question-tokens", type=int, help="question length in tokens")
    g.add_argument("--steps", type=int, help="reasoning steps per solution")
    g.add_argument("--step-tokens", type=token_count_arg,
                   help="tokens per reasoning step (best-of-n, mc-annotate, rl-rollout also" + _DIST_HELP + ")")
    g.add_argument("--scoring", choices=["single-pass", "per-step-prefix", "implicit", "generative"],
                   help="how the PRM scores (default single-pass)")
    g.add_argument("--verify-tokens", type=int, help="generative scoring: verification tokens (default 1024)")
    g.add_argument("--critique-tokens", type=int,
                   help="generative scoring: prompt tokens of the critique instruction (default 0)")
    g.add_argument("--verify-chains", type=int,
                   help="generative scoring: parallel verification chains per solution (ThinkPRM; default 1)")
    g.add_argument("--reference", metavar="MODEL",
                   help="implicit scoring: reference model of the log-likelihood ratio (default the PRM's config)")
    g.add_argument("--policy", metavar="MODEL",
                   help="best-of-n / beam-search / mc-annotate / lookahead / dvts / omega-annotate / rl-rollout: "
                        "policy model (the last four default to --model)")
    g.add_argument("--prm", metavar="MODEL",
                   help="best-of-n / beam-search / lookahead / dvts / rl-rollout: reward model")
    g.add_argument("--n", type=int, help="best-of-n: samples; dvts: candidates per step (N)")
    g.add_argument("--beam-width", type=int,
                   help="beam-search / lookahead: beams kept; dvts: expansions per subtree (M)")
    g.add_argument("--expansions", type=int, help="beam-search / lookahead: candidates per beam and step")
    g.add_argument("--lookahead", type=int, help="lookahead: steps rolled out past each candidate before scoring")
    g.add_argument("--prefix-reuse", action="store_true", default=None,
                   help="beam-search / lookahead / dvts: the PRM reuses the KV cache of the kept prefix; "
                        "best-of-n / rl-rollout: of the question")
    g.add_argument("--rollouts", type=int,
                   help="mc-annotate: completions from each step boundary; omega-annotate: per probe")
    g.add_argument("--searches", type=int, help="omega-annotate: binary searches per question (default 1)")
    g.add_argument("--first-error", type=int,
                   help="omega-annotate: first wrong step of each searched solution (default --steps)")
    g.add_argument("--prompts", type=int, help="rl-rollout: prompts in the RL batch")
    g.add_argument("--group", type=int, help="rl-rollout: rollouts per prompt (G)")
    g.add_argument("--no-prefix-sharing", dest="prefix_sharing", action="store_const", const=False, default=None,
                   help="sequences sharing a prefix hold their own copies of its KV cache (for comparison)")
    g.add_argument("--streaming", action="store_true", default=None,
                   help="best-of-n: the PRM scores each step as the policy emits it (overlapping the policy's "
                        "next step when placed on another device)")
    g.add_argument("--prune-fraction", type=float,
                   help="best-of-n --streaming: fraction of samples (lowest scores) stopped after --prune-after-steps")
    g.add_argument("--prune-after-steps", type=int, help="best-of-n --streaming: steps scored before pruning")


# model fields a workload file may name, and the flags that name the same thing
_MODEL_FLAGS = {"model": "--model", "policy": "--policy", "prm": "--prm"}


def _file_workload(path: str, args):
    """The spec of a workload file. Its model fields (model, policy, prm) say what runs: a flag naming
    the same model is fine, one naming another is a ConfigError naming both and the file; a flag fills a
    model field the file leaves out; `--model-config` beside the file's `model:` is two models (refused).
    The file's `model:` is then set as `args.model`, so `models_from_args` loads it for every command."""
    given = [flag for field, flag in _FLAGS.items()
             if field not in _MODEL_FLAGS and getattr(args, field, None) is not None]
    if given:
        raise ConfigError(f"--workload {path}: the file defines the workload; {', '.join(given)} would be ignored")
    raw = read_yaml(path)
    data = raw.get("workload", raw)
    if isinstance(data, dict):
        data = dict(data)
        file_kind = data.get("kind")
        cls = _SPEC_BY_KIND.get(file_kind) if isinstance(file_kind, str) else None
        for field, flag in _MODEL_FLAGS.items():
            names = getattr(args, field, None)
            if names is None or cls is None:
                continue  # no flag given, or an unknown kind: parse_workload reports it
            if field not in cls.model_fields:
                if field == "model":
                    continue  # each command says --model is not a flag of a two-model kind
                raise ConfigError(f"--workload {path}: {flag} is not a flag of a {file_kind} workload "
                                  f"(it runs model:); drop {flag}")
            names = names if isinstance(names, list) else [names]
            if data.get(field) is None:
                if field != "model" and len(names) == 1:  # --model stays a flag; models_from_args loads it
                    data[field] = names[0]
                continue
            for name in names:
                if name != data[field]:
                    raise ConfigError(f"--workload {path}: the file's {field}: {data[field]} and {flag} {name} "
                                      f"name different models; give one of them")
        if data.get("model") and getattr(args, "model_config", None):
            raise ConfigError(f"--workload {path}: the file's model: {data['model']} and --model-config "
                              f"{args.model_config} name two models; give one of them")
    spec = parse_workload(data, source=path)
    if getattr(spec, "model", None) and not getattr(args, "model", None):
        args.model = [spec.model] if getattr(args, "model_repeatable", False) else spec.model
    return spec


def _flag_errors(exc: ValidationError, kind: str) -> str:
    """A spec's validation errors in flag names (`--verify-tokens`, not `verify_tokens`)."""
    lines = []
    for err in exc.errors():
        field = str(err["loc"][-1]) if err["loc"] else ""
        msg = err["msg"]
        if msg.startswith("Value error, ") and len(err["loc"]) > 1:  # a field's own rule (a token count)
            lines.append(f"--workload {kind}: {_FLAGS.get(field, field)}: {msg[len('Value error, '):]}")
        elif msg.startswith("Value error, "):  # a rule across fields: its message starts with the field
            msg = msg[len("Value error, "):]
            field, _, msg = msg.partition(": ") if ": " in msg else ("", "", msg)
            lines.append(f"--workload {kind}: {_FLAGS.get(field, field)}: {msg}")
        elif err["type"] == "missing":
            lines.append(f"--workload {kind}: {_FLAGS.get(field, field)} is required")
        else:
            lines.append(f"--workload {kind}: {_FLAGS.get(field, field)}: {msg} (got {err.get('input')!r})")
    return "\n".join(lines)


def workload_from_args(args):
    """The validated workload spec from `--workload KIND` + flags, or `--workload FILE.yaml`."""
    kind = args.workload
    if kind.endswith((".yaml", ".yml")) or Path(kind).is_file():
        return _file_workload(kind, args)
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
        raise ConfigError(_flag_errors(exc, kind)) from None
