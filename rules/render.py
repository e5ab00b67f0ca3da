"""Render a node tree (or a runtime value) back to condition text.

``parse(render(node)) == node`` for every tree the parser can produce: parentheses are written
exactly where the tree nests against precedence, and nowhere else.
"""

from __future__ import annotations

import math
from typing import Any

from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or, Sum

_OR, _AND, _NOT, _CMP, _SUM, _VALUE = range(6)

_STRING_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def render(node: Node) -> str:
    """Canonical condition text for ``node``."""
    if isinstance(node, Literal):
        return render_value(node.value)
    if isinstance(node, Name):
        return node.dotted
    if isinstance(node, ListLiteral):
        return "[" + ", ".join(_operand(item, _VALUE) for item in node.items) + "]"
    if isinstance(node, Sum):
        parts = [_operand(node.items[0], _VALUE)]
        for op, item in zip(node.ops, node.items[1:], strict=True):
            parts.append(f"{op} {_operand(item, _VALUE)}")
        return " ".join(parts)
    if isinstance(node, Compare):
        return f"{_operand(node.left, _SUM)} {node.op} {_operand(node.right, _SUM)}"
    if isinstance(node, And):
        return " and ".join(_operand(item, _AND + 1) for item in node.items)
    if isinstance(node, Or):
        return " or ".join(_operand(item, _OR + 1) for item in node.items)
    if isinstance(node, Not):
        return "not " + _operand(node.operand, _NOT)
    raise TypeError(f"not a condition node: {node!r}")


def _precedence(node: Node) -> int:
    if isinstance(node, Or):
        return _OR
    if isinstance(node, And):
        return _AND
    if isinstance(node, Not):
        return _NOT
    if isinstance(node, Compare):
        return _CMP
    if isinstance(node, Sum):
        return _SUM
    return _VALUE


def _operand(node: Node, minimum: int) -> str:
    text = render(node)
    return f"({text})" if _precedence(node) < minimum else text


def render_string(text: str) -> str:
    out = ['"']
    for char in text:
        escaped = _STRING_ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " " or char == "\x7f":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def render_value(value: Any) -> str:
    """Show a literal or a runtime value the way the condition language writes it."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return render_string(value)
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value)) if math.isfinite(value) else str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(render_value(item) for item in value) + "]"
    return repr(value)
