"""Validation of a parsed condition against a schema: known names and compatible types."""

from __future__ import annotations

import math

from .errors import ConditionError
from .limits import MAX_TREE_HEIGHT
from .nodes import (
    ARITHMETIC_OPERATORS,
    NODE_TYPES,
    OPERATORS,
    ORDERING_OPERATORS,
    And,
    Compare,
    ListLiteral,
    Literal,
    Name,
    Node,
    Not,
    Or,
    Sum,
    children,
    start_position,
)
from .schema import ANY, BOOLEAN, NULL, NUMBER, STRING, Schema, Type, compatible, list_of
from .tokens import KEYWORDS


def validate(node: Node, schema: Schema) -> None:
    """Check that ``node`` only uses names ``schema`` knows, with compatible types.

    Raises ConditionError pointing at the offending column.
    """
    if not isinstance(schema, Schema):
        raise TypeError(f"validate() needs a Schema, not {type(schema).__name__}")
    check_shape(node)
    _Validator(schema).condition(node)


def check_shape(node: object) -> None:
    """Reject trees that are not made of our nodes or are too tall (hand-built trees only;
    parsed ones always pass). Iterative, so it cannot overflow the stack itself."""
    stack: list[tuple[object, int]] = [(node, 1)]
    while stack:
        current, height = stack.pop()
        if not isinstance(current, NODE_TYPES):
            raise ConditionError(f"not a condition node: {type(current).__name__}", 1)
        if height > MAX_TREE_HEIGHT:
            raise ConditionError(
                f"condition is nested too deeply (more than {MAX_TREE_HEIGHT} levels)",
                getattr(current, "position", 0) or 1,
            )
        problem = _shape_problem(current)
        if problem:
            raise ConditionError(problem, getattr(current, "position", 0) or 1)
        if isinstance(current, And | Or) and len(current.items) < 2:
            raise ConditionError("'and' / 'or' need at least two conditions", current.position or 1)
        if isinstance(current, Sum) and (
            len(current.items) < 2 or len(current.ops) != len(current.items) - 1
        ):
            raise ConditionError(
                "'+' / '-' need a value on each side", getattr(current, "position", 0) or 1
            )
        stack.extend((child, height + 1) for child in children(current))


def _shape_problem(node: object) -> str:
    if isinstance(node, Literal):
        if node.value is not None and type(node.value) not in (bool, int, float, str):
            return f"a literal must be a string, number, boolean or null, not {node.value!r}"
        if type(node.value) is float and not math.isfinite(node.value):
            return "a number literal must be finite"
    elif isinstance(node, Name):
        path = node.path
        if (
            not isinstance(path, tuple)
            or not path
            or not all(isinstance(part, str) and part.isidentifier() for part in path)
        ):
            return f"invalid name {path!r}"
    elif isinstance(node, Compare) and node.op not in OPERATORS:
        return f"unknown operator {node.op!r}"
    elif isinstance(node, Sum) and (
        not isinstance(node.items, tuple)
        or not isinstance(node.ops, tuple)
        or any(op not in ARITHMETIC_OPERATORS for op in node.ops)
    ):
        return f"unknown arithmetic operators {node.ops!r}"
    return ""


def _literal_type(value: object) -> Type:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int | float):
        return NUMBER
    if isinstance(value, str):
        return STRING
    return ANY


class _Validator:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def condition(self, node: Node) -> None:
        """``node`` is used as a condition: the whole text, or an operand of and/or/not."""
        if isinstance(node, Literal) and not isinstance(node.value, bool):
            found = "null" if node.value is None else _describe_type(_literal_type(node.value))
            raise ConditionError(
                f"expected a condition, found {found} on its own (compare it with something)",
                node.position,
            )
        if isinstance(node, ListLiteral):
            raise ConditionError(
                "expected a condition, found a list on its own (use 'in' or 'contains')",
                node.position,
            )
        if isinstance(node, Sum):
            self.type_of(node)
            raise ConditionError(
                "expected a condition, found a number on its own (compare it with something, "
                "as in a + b > 100)",
                start_position(node),
            )
        self.type_of(node)

    def type_of(self, node: Node) -> Type:
        if isinstance(node, Literal):
            return _literal_type(node.value)
        if isinstance(node, Name):
            found = self.schema.lookup(node.path)
            if found is None:
                raise ConditionError(_unknown_name(self.schema, node.path), node.position)
            return found
        if isinstance(node, ListLiteral):
            item_types = {self.type_of(item) for item in node.items} - {NULL}
            return list_of(item_types.pop() if len(item_types) == 1 else ANY)
        if isinstance(node, And | Or):
            for item in node.items:
                self.condition(item)
            return BOOLEAN
        if isinstance(node, Not):
            self.condition(node.operand)
            return BOOLEAN
        if isinstance(node, Compare):
            self.compare(node)
            return BOOLEAN
        if isinstance(node, Sum):
            self.arithmetic(node)
            return NUMBER
        raise ConditionError(f"not a condition node: {type(node).__name__}", 1)

    def compare(self, node: Compare) -> None:
        op = node.op
        left = self.type_of(node.left)
        right = self.type_of(node.right)
        where = node.position
        if op in ("==", "!="):
            if not compatible(left, right):
                raise ConditionError(f"cannot compare {left} with {right} using '{op}'", where)
            return
        if NULL in (left, right):
            side = "left" if left == NULL else "right"
            raise ConditionError(
                f"'{op}' with null on the {side} is never true; use '== null' or '!= null' "
                "to test for a missing value",
                start_position(node.left if side == "left" else node.right),
            )
        if op in ORDERING_OPERATORS:
            if left not in (NUMBER, ANY) or right not in (NUMBER, ANY):
                raise ConditionError(
                    f"cannot compare {left} with {right} using '{op}' (it compares numbers)",
                    where,
                )
            return
        if op == "contains":
            self.membership(op, container=left, item=right, where=where, container_side="left")
        else:
            self.membership(op, container=right, item=left, where=where, container_side="right")

    def arithmetic(self, node: Sum) -> None:
        for index, item in enumerate(node.items):
            kind = self.type_of(item)
            if kind in (NUMBER, ANY):
                continue
            op = node.ops[max(0, index - 1)]
            if kind == NULL:
                problem = f"'{op}' with null is never a number; test a missing value with '== null'"
            else:
                problem = f"'{op}' adds and subtracts numbers, found {_describe_type(kind)}"
            raise ConditionError(problem, start_position(item))

    def membership(
        self, op: str, *, container: Type, item: Type, where: int, container_side: str
    ) -> None:
        item_side = "right" if container_side == "left" else "left"
        if container.kind == "any":
            return
        if container.kind == "string":
            if item.kind not in ("string", "any"):
                raise ConditionError(
                    f"'{op}' with a string on the {container_side} needs a string on the "
                    f"{item_side}, found {_describe_type(item)}",
                    where,
                )
            return
        if container.kind == "list":
            element = container.item or ANY
            if not compatible(element, item):
                raise ConditionError(
                    f"'{op}' cannot find {_describe_type(item)} in {_describe_type(container)}",
                    where,
                )
            return
        raise ConditionError(
            f"'{op}' needs a list or string on the {container_side}, "
            f"found {_describe_type(container)}",
            where,
        )


def _unknown_name(schema: Schema, path: tuple[str, ...]) -> str:
    if len(path) == 1 and path[0].lower() in KEYWORDS:
        return (
            f"unknown name '{path[0]}'; keywords are lowercase: did you mean '{path[0].lower()}'?"
        )
    return schema.unknown_name_message(path)


def _describe_type(kind: Type) -> str:
    text = str(kind)
    if kind.kind == "null":
        return "null"
    return ("an " if text[0] in "aeiou" else "a ") + text
