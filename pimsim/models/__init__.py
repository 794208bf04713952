"""Model box: transformer configs (`ModelConfig`), the built-in zoo, and `ModelGraph` (ops with shapes
and per-step costs). Reads model configs (zoo names or Hugging Face config.json); imports nothing
downstream."""

from pimsim.models.config import ModelConfig, load_model
from pimsim.models.graph import VECTOR_FLOPS_PER_ELEM, ModelGraph, Op, OpCost, OpKind
from pimsim.models.zoo import get_model, published_tolerance, zoo_names

__all__ = [
    "VECTOR_FLOPS_PER_ELEM",
    "ModelConfig",
    "ModelGraph",
    "Op",
    "OpCost",
    "OpKind",
    "get_model",
    "load_model",
    "published_tolerance",
    "zoo_names",
]
