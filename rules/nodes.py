"""The tree a condition parses into: small frozen dataclasses.

Positions (1-based columns) ride along for error messages but take no part in equality, so a
tree parsed from ``a==1`` equals one parsed from ``a == 1`` or built by hand.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

OPERATORS: Final = ("==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains")
ORDERING_OPERATORS: Final = frozenset({"<", "<=", ">", ">="})
ARITHMETIC_OPERATORS: Final = ("+", "-")

LiteralValue = str | int | float | bool | None


@dataclass(frozen=True, slots=True)
class Literal:
    """A number, string, true, false or null."""

    value: LiteralValue
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Name:
    """A dotted name such as ``intent`` or ``customer.vip``, stored as its parts."""

    path: tuple[str, ...]
    position: int = field(default=0, compare=False, repr=False)

    @property
    def dotted(self) -> str:
        return ".".join(self.path)


@dataclass(frozen=True, slots=True)
class ListLiteral:
    """``[value, ...]``"""

    items: tuple[Node, ...]
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Compare:
    """``left op right``; ``position`` is the column of the operator."""

    op: str
    left: Node
    right: Node
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Sum:
    """``a + b - c``: numbers added and subtracted left to right, flat like And/Or (so a long
    sum is a wide node, not a deep one). ``ops[i]`` joins ``items[i]`` and ``items[i + 1]``;
    ``position`` is where the first item starts."""

    items: tuple[Node, ...]
    ops: tuple[str, ...]
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class And:
    """Two or more conditions joined by 'and' at one level (parenthesised ones stay nested)."""

    items: tuple[Node, ...]
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Or:
    """Two or more conditions joined by 'or' at one level."""

    items: tuple[Node, ...]
    position: int = field(default=0, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Not:
    operand: Node
    position: int = field(default=0, compare=False, repr=False)


Node = Literal | Name | ListLiteral | Sum | Compare | And | Or | Not
NODE_TYPES: Final = (Literal, Name, ListLiteral, Sum, Compare, And, Or, Not)


def start_position(node: Node) -> int:
    """Column where the text of ``node`` starts (a comparison's own position is its operator)."""
    while True:
        if isinstance(node, Compare):
            node = node.left
        elif isinstance(node, And | Or | Sum):
            node = node.items[0]
        else:
            return node.position


def children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Compare):
        return (node.left, node.right)
    if isinstance(node, And | Or | Sum | ListLiteral):
        return node.items
    if isinstance(node, Not):
        return (node.operand,)
    return ()


def walk(node: Node) -> Iterator[Node]:
    """All nodes, parents before children, left to right (iterative: safe for any depth)."""
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(children(current)))


def names_used(node: Node) -> tuple[str, ...]:
    """Dotted names the condition reads, in order of first appearance."""
    seen: dict[str, None] = {}
    for current in walk(node):
        if isinstance(current, Name):
            seen.setdefault(current.dotted, None)
    return tuple(seen)


def is_null(node: Node) -> bool:
    return isinstance(node, Literal) and node.value is None
