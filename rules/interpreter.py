"""A plain tree-walking evaluator: the reference the compiler is tested against."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or, Sum, is_null
from .runtime import OPERATIONS, arithmetic, null_test, resolve, truthy


def interpret(node: Node, context: Mapping[str, Any]) -> bool:
    """Whether the condition holds for ``context``. Never raises for any context."""
    return truthy(evaluate(node, context))


def evaluate(node: Node, context: Mapping[str, Any]) -> Any:
    """The value of ``node``: a literal, a resolved name, a list, a sum, or the truth of a
    condition."""
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Name):
        return resolve(context, node.path)
    if isinstance(node, ListLiteral):
        return [evaluate(item, context) for item in node.items]
    if isinstance(node, Sum):
        return arithmetic([evaluate(item, context) for item in node.items], node.ops)
    if isinstance(node, Compare):
        if is_null(node.left):
            return null_test(node.op, evaluate(node.right, context))
        if is_null(node.right):
            return null_test(node.op, evaluate(node.left, context))
        left = evaluate(node.left, context)
        right = evaluate(node.right, context)
        return OPERATIONS[node.op](left, right)
    if isinstance(node, And):
        return all(interpret(item, context) for item in node.items)
    if isinstance(node, Or):
        return any(interpret(item, context) for item in node.items)
    if isinstance(node, Not):
        return not interpret(node.operand, context)
    raise TypeError(f"not a condition node: {node!r}")
