"""Explain a condition's result for one context: every part, its truth and the values it saw.

The admin's rule tester shows which rules fire and why::

    false  intent == "billing" and sentiment < -0.5
      true   intent == "billing"  (intent is "billing")
      false  sentiment < -0.5  (sentiment is 0.2)

Unlike evaluation, explaining does not short-circuit: every part is shown. The overall result
always equals ``interpret(node, context)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .interpreter import evaluate
from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or, Sum, is_null, walk
from .render import render, render_value
from .runtime import KIND_NAMES, OPERATIONS, kind_of, null_test, truthy

_MAX_SHOWN = 80


@dataclass(frozen=True, slots=True)
class Explanation:
    """One part of a condition and why it came out true or false.

    ``kind`` is "or", "and", "not", "compare", "test" (a bare value used as a condition) or
    "constant"; ``left``/``right`` hold the resolved values of a comparison (``left`` the tested
    value for "test"); ``detail`` says in words what the values were and, when it matters, why
    the comparison could not hold.
    """

    source: str
    result: bool
    kind: str
    children: tuple[Explanation, ...] = ()
    op: str | None = None
    left: Any = None
    right: Any = None
    detail: str = ""

    def lines(self, indent: int = 0) -> list[str]:
        label = "true " if self.result else "false"
        line = f"{'  ' * indent}{label}  {self.source}"
        if self.detail:
            line += f"  ({self.detail})"
        out = [line]
        for child in self.children:
            out.extend(child.lines(indent + 1))
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def as_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (values that JSON cannot hold are shown as text)."""
        return {
            "source": self.source,
            "result": self.result,
            "kind": self.kind,
            "op": self.op,
            "left": _json_safe(self.left),
            "right": _json_safe(self.right),
            "detail": self.detail,
            "children": [child.as_dict() for child in self.children],
        }


def explain(node: Node, context: Mapping[str, Any]) -> Explanation:
    """Explain how ``node`` evaluates for ``context``. Never raises for any context."""
    if not isinstance(context, Mapping):
        context = {}
    return _explain(node, context)


def _explain(node: Node, context: Mapping[str, Any]) -> Explanation:
    source = render(node)
    if isinstance(node, And | Or):
        parts = tuple(_explain(item, context) for item in node.items)
        results = [part.result for part in parts]
        result = all(results) if isinstance(node, And) else any(results)
        return Explanation(source, result, "and" if isinstance(node, And) else "or", parts)
    if isinstance(node, Not):
        inner = _explain(node.operand, context)
        return Explanation(source, not inner.result, "not", (inner,))
    if isinstance(node, Compare):
        return _explain_compare(node, source, context)
    if isinstance(node, Literal):
        return Explanation(source, truthy(node.value), "constant", left=node.value)
    value = evaluate(node, context)
    detail = _describe_operand(node, value) if isinstance(node, Name) else ""
    return Explanation(source, truthy(value), "test", left=value, detail=detail)


def _explain_compare(node: Compare, source: str, context: Mapping[str, Any]) -> Explanation:
    op = node.op
    left = evaluate(node.left, context)
    right = evaluate(node.right, context)
    if is_null(node.left) or is_null(node.right):
        other = right if is_null(node.left) else left
        result = null_test(op, other)
    else:
        result = OPERATIONS[op](left, right)
    children = tuple(
        _explain(operand, context)
        for operand in (node.left, node.right)
        if isinstance(operand, Compare | And | Or | Not)
    )
    notes = []
    for operand, value in ((node.left, left), (node.right, right)):
        if isinstance(operand, Sum):
            # the names a sum reads, then what it came to
            for part in _names_in(operand):
                notes.append(_describe_operand(part, evaluate(part, context)))
            notes.append(_describe_operand(operand, value))
        elif isinstance(operand, Name | ListLiteral) and not _is_constant(operand):
            notes.append(_describe_operand(operand, value))
    if not result:
        reason = _why_false(node, left, right)
        if reason:
            notes.append(reason)
    return Explanation(
        source, result, "compare", children, op=op, left=left, right=right, detail="; ".join(notes)
    )


def _names_in(node: Sum) -> list[Name]:
    """The names a sum reads, once each, in order (not inside nested conditions)."""
    found: dict[tuple[str, ...], Name] = {}
    for part in walk(node):
        if isinstance(part, Name):
            found.setdefault(part.path, part)
    return list(found.values())


def _is_constant(node: Node) -> bool:
    if isinstance(node, Literal):
        return True
    if isinstance(node, ListLiteral):
        return all(_is_constant(item) for item in node.items)
    return False


def _describe_operand(node: Node, value: Any) -> str:
    name = render(node)
    if value is None and isinstance(node, Sum):
        return f"{name} is null (a part of it is not a number)"
    if value is None:
        return f"{name} is missing (null)"
    return f"{name} is {_show(value)}"


def _why_false(node: Compare, left: Any, right: Any) -> str:
    op = node.op
    if is_null(node.left) or is_null(node.right):
        return ""
    if left is None or right is None:
        return "a comparison with null is false"
    left_kind, right_kind = kind_of(left), kind_of(right)
    if op in ("==", "!=") and left_kind != right_kind:
        return f"a {KIND_NAMES[left_kind]} and a {KIND_NAMES[right_kind]} never compare"
    if op in ("<", "<=", ">", ">="):
        for kind in (left_kind, right_kind):
            if KIND_NAMES[kind] != "number":
                return f"'{op}' only compares numbers, found a {KIND_NAMES[kind]}"
    if op in ("in", "not in", "contains"):
        container = left if op == "contains" else right
        if KIND_NAMES[kind_of(container)] not in ("list", "string"):
            return f"'{op}' needs a list or string, found a {KIND_NAMES[kind_of(container)]}"
    return ""


def _show(value: Any) -> str:
    try:
        text = render_value(value)
    except Exception:  # odd objects, self-referencing lists
        try:
            text = repr(value)
        except Exception:
            text = f"<{type(value).__name__}>"
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _json_safe(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if depth < 8:
        try:
            if isinstance(value, list | tuple):
                return [_json_safe(item, depth + 1) for item in value]
            if isinstance(value, Mapping):
                return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
        except Exception:
            return _show(value)
    return _show(value)
