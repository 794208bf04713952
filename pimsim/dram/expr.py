"""Safe evaluation of timing-latency expressions from the standard tables.

An expression is integers, timing-parameter names (`nRCDRD`), `+ - *`, parentheses and the calls
`max(a, b, ...)` / `min(a, b, ...)`. It is parsed with `ast` and only those node types are accepted, so
nothing in a YAML table is ever executed.
"""

from __future__ import annotations

import ast
from functools import lru_cache
from typing import Mapping

_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b}
_CALLS = {"max": max, "min": min}


class ExprError(ValueError):
    """An expression uses syntax or a name that is not allowed."""


@lru_cache(maxsize=None)
def _parse(text: str) -> ast.Expression:
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"cannot parse latency expression {text!r}: {exc.msg}") from None
    _check(tree.body, text)
    return tree


def _check(node: ast.AST, text: str) -> None:
    if isinstance(node, ast.Constant):
        if not isinstance(node.value, int) or isinstance(node.value, bool):
            raise ExprError(f"{text!r}: only integer constants are allowed, got {node.value!r}")
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS:
            raise ExprError(f"{text!r}: operator {type(node.op).__name__} is not allowed (use + - *)")
        _check(node.left, text)
        _check(node.right, text)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, text)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS or node.keywords or not node.args:
            raise ExprError(f"{text!r}: only max(...) and min(...) calls are allowed")
        for arg in node.args:
            _check(arg, text)
    else:
        raise ExprError(f"{text!r}: {type(node).__name__} is not allowed in a latency expression")


def names(text: str | int) -> set[str]:
    """Timing-parameter names an expression references."""
    if isinstance(text, int):
        return set()
    tree = _parse(str(text))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not _is_call_name(tree, n)}


def _is_call_name(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(c, ast.Call) and c.func is name for c in ast.walk(tree))


def evaluate(text: str | int, timing: Mapping[str, int]) -> int:
    """Integer value of `text` with names looked up in `timing` (cycles)."""
    if isinstance(text, int):
        return text
    tree = _parse(str(text))

    def ev(node: ast.AST) -> int:
        if isinstance(node, ast.Constant):
            return int(node.value)
        if isinstance(node, ast.Name):
            if node.id not in timing:
                raise ExprError(f"{text!r}: unknown timing parameter {node.id}")
            return int(timing[node.id])
        if isinstance(node, ast.BinOp):
            return _BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            return _CALLS[node.func.id](*(ev(a) for a in node.args))
        raise ExprError(f"{text!r}: unsupported node")  # unreachable after _check

    return ev(tree.body)
