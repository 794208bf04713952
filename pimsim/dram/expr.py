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
def _parse(text: str, real: bool = False) -> ast.Expression:
    """The checked tree of a latency expression (`real`: an energy expression, numbers and / allowed)."""
    try:
        tree = ast.parse(str(text).strip(), mode="eval")
    except SyntaxError as exc:
        what = "expression" if real else "latency expression"
        raise ExprError(f"cannot parse {what} {text!r}: {exc.msg}") from None
    _check(tree.body, text, real)
    return tree


def _check(node: ast.AST, text: str, real: bool = False) -> None:
    """Allow only numbers (integers unless `real`), names, + - * (and / if `real`), unary signs, max/min."""
    ops = _REAL_BINOPS if real else _BINOPS
    if isinstance(node, ast.Constant):
        kinds = (int, float) if real else (int,)
        if not isinstance(node.value, kinds) or isinstance(node.value, bool):
            what = "number" if real else "integer"
            raise ExprError(f"{text!r}: only {what} constants are allowed, got {node.value!r}")
    elif isinstance(node, ast.Name):
        pass
    elif isinstance(node, ast.BinOp):
        if type(node.op) not in ops:
            raise ExprError(f"{text!r}: operator {type(node.op).__name__} is not allowed "
                            f"(use {'+ - * /' if real else '+ - *'})")
        _check(node.left, text, real)
        _check(node.right, text, real)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand, text, real)
    elif isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _CALLS or node.keywords or not node.args:
            raise ExprError(f"{text!r}: only max(...) and min(...) calls are allowed")
        for arg in node.args:
            _check(arg, text, real)
    else:
        where = "an expression" if real else "a latency expression"
        raise ExprError(f"{text!r}: {type(node).__name__} is not allowed in {where}")


def names(text: str | int) -> set[str]:
    """Timing-parameter names an expression references."""
    if isinstance(text, int):
        return set()
    tree = _parse(str(text))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not _is_call_name(tree, n)}


def _is_call_name(tree: ast.AST, name: ast.Name) -> bool:
    return any(isinstance(c, ast.Call) and c.func is name for c in ast.walk(tree))


def _value(tree: ast.Expression, text, values: Mapping, cast, unknown: str):
    """Evaluate a checked tree: names from `values` through `cast` (int for latencies, as given for real
    expressions), the whitelisted operators and calls."""
    def ev(node: ast.AST):
        if isinstance(node, ast.Constant):
            return cast(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ExprError(f"{text!r}: unknown {unknown} {node.id}")
            return cast(values[node.id])
        if isinstance(node, ast.BinOp):
            return _REAL_BINOPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp):
            v = ev(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call):
            return _CALLS[node.func.id](*(ev(a) for a in node.args))
        raise ExprError(f"{text!r}: unsupported node")  # unreachable after _check

    return ev(tree.body)


def evaluate(text: str | int, timing: Mapping[str, int]) -> int:
    """Integer value of `text` with names looked up in `timing` (cycles)."""
    if isinstance(text, int):
        return text
    return _value(_parse(str(text)), text, timing, int, "timing parameter")


# ------------------------------------------------------------------ real-valued (energy) expressions
# Energy expressions of the standard tables (a command's `energy.pj`, its column counts) are evaluated like
# latencies against the preset's energy fields and organisation counts; they may also use number constants
# (0.5) and `/`. The same ast whitelist, widened by exactly those two.
_REAL_BINOPS = {**_BINOPS, ast.Div: lambda a, b: a / b}


def _parse_real(text: str) -> ast.Expression:
    return _parse(text, True)


def real_names(text: str | int | float) -> set[str]:
    """Names a real-valued expression references."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return set()
    tree = _parse_real(str(text))
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not _is_call_name(tree, n)}


def evaluate_real(text: str | int | float, values: Mapping[str, float]) -> float | int:
    """Value of `text` with names looked up in `values`; Python arithmetic on the values as given (an
    integer expression of integers stays an integer, `/` is true division), so `units * mac_pj_per_bank`
    is the same float as the product written in code."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return text
    return _value(_parse_real(str(text)), text, values, lambda v: v, "name")
