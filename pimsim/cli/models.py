"""`pimsim models list` and `pimsim models show NAME [--json]` (or `--model-config FILE`)."""

from __future__ import annotations

from pimsim.cli.output import format_table, print_json
from pimsim.errors import ConfigError
from pimsim.models import ModelConfig, load_model
from pimsim.models.zoo import get_model, zoo_names


def add_parser(sub) -> None:
    p = sub.add_parser("models", help="the model zoo")
    psub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = psub.add_parser("list", help="list zoo models")
    ls.set_defaults(func=_list)
    show = psub.add_parser("show", help="one model's architecture and parameter count")
    show.add_argument("name", nargs="?", help="zoo name")
    show.add_argument("--model-config", metavar="CONFIG_JSON", help="a Hugging Face style config.json instead")
    show.add_argument("--json", action="store_true")
    show.set_defaults(func=_show)


def model_summary(m: ModelConfig) -> dict:
    """The architecture fields users compare, plus the exact parameter count."""
    return {
        "name": m.name, "family": m.family, "params": m.params, "published_params": m.published_params,
        "layers": m.layers, "hidden": m.hidden, "heads": m.heads, "kv_heads": m.kv_heads,
        "head_dim": m.head_dim, "ffn": m.ffn, "vocab": m.vocab, "max_context": m.max_context,
        "norm": m.norm, "mlp": m.mlp, "position": m.position, "tied_embeddings": m.tied_embeddings,
        "head": m.head, "source": m.source,
    }


def _list(args) -> int:
    rows = []
    for name in zoo_names():
        m = get_model(name)
        rows.append((name, m.params / 1e9, m.layers, m.hidden, f"{m.heads}/{m.kv_heads}", m.ffn, m.vocab, m.head))
    print(format_table(["name", "params_B", "layers", "hidden", "heads/kv", "ffn", "vocab", "head"], rows))
    return 0


def _show(args) -> int:
    if bool(args.name) == bool(args.model_config):
        raise ConfigError("models show: give a zoo NAME or --model-config FILE (one of them)")
    m = load_model(args.name, config_path=args.model_config)
    data = model_summary(m)
    if args.json:
        print_json(data)
    else:
        width = max(len(k) for k in data)
        for k, v in data.items():
            print(f"{k.ljust(width)}  {v:,}" if isinstance(v, int) and not isinstance(v, bool) else f"{k.ljust(width)}  {v}")
    return 0
