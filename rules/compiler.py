"""Compile a validated node tree once into a Python callable built from closures.

No eval/exec/compile of user text: every node becomes a small closure over pre-computed data
(name paths split into tuples, literal values, frozensets for literal lists). Common shapes --
``name op literal``, ``name in [literals]``, ``name contains "literal"``, bare ``name`` -- get
specialised closures that resolve a one- or two-part name inline. Everything else falls back to
the shared operators in ``runtime``; the interpreter uses the same ones, and property tests check
that both agree.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

from .explain import Explanation, explain
from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or, Sum, is_null, names_used
from .parser import parse
from .runtime import (
    OPERATIONS,
    arithmetic,
    is_number,
    op_contains,
    op_eq,
    op_in,
    op_ne,
    op_not_in,
    resolve,
    truthy,
    values_equal,
)
from .schema import Schema
from .validation import check_shape, validate

Predicate = Callable[[Mapping[str, Any]], bool]
Getter = Callable[[Mapping[str, Any]], Any]

_ORDERING = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<="}


class CompiledCondition:
    """A condition ready to run: ``condition(context) -> bool``; never raises.

    ``source`` is the text it was compiled from, ``node`` its tree and ``names`` the dotted names
    it reads (in order of first use).
    """

    __slots__ = ("_predicate", "names", "node", "source")

    def __init__(self, source: str, node: Node, predicate: Predicate) -> None:
        self.source = source
        self.node = node
        self.names = names_used(node)
        self._predicate = predicate

    def __call__(self, context: Mapping[str, Any]) -> bool:
        if type(context) is not dict and not isinstance(context, Mapping):
            context = {}
        try:
            return self._predicate(context)
        except Exception:  # pragma: no cover - the closures already catch everything
            return False

    def explain(self, context: Mapping[str, Any]) -> Explanation:
        """Why the condition is true or false for ``context`` (see ``explain``)."""
        return explain(self.node, context)

    def __repr__(self) -> str:
        return f"CompiledCondition({self.source!r})"


def compile_condition(text: str, schema: Schema) -> CompiledCondition:
    """Parse, validate against ``schema`` and compile ``text``. Raises ConditionError."""
    node = parse(text)
    validate(node, schema)
    return CompiledCondition(text, node, _predicate(node))


def compile_node(node: Node) -> Predicate:
    """The predicate for an (already validated) tree: ``fn(context: Mapping) -> bool``.

    The context must be a Mapping (CompiledCondition ensures that). Raises ConditionError only
    for trees that are not made of our nodes or are too deeply nested.
    """
    check_shape(node)
    return _predicate(node)


# -- conditions (return bool) -----------------------------------------------------------------


def _true(context: Mapping[str, Any]) -> bool:
    return True


def _false(context: Mapping[str, Any]) -> bool:
    return False


def _predicate(node: Node) -> Predicate:
    if isinstance(node, Compare):
        return _compare(node)
    if isinstance(node, And):
        return _all([_predicate(item) for item in node.items])
    if isinstance(node, Or):
        return _any([_predicate(item) for item in node.items])
    if isinstance(node, Not):
        inner = _predicate(node.operand)

        def negation(context: Mapping[str, Any]) -> bool:
            return not inner(context)

        return negation
    if isinstance(node, Name):
        return _truthiness(node.path)
    if isinstance(node, Literal):
        return _true if truthy(node.value) else _false
    getter = _getter(node)

    def test(context: Mapping[str, Any]) -> bool:
        return truthy(getter(context))

    return test


def _all(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        a, b = parts

        def all2(context: Mapping[str, Any]) -> bool:
            return a(context) and b(context)

        return all2
    if len(parts) == 3:
        a, b, c = parts

        def all3(context: Mapping[str, Any]) -> bool:
            return a(context) and b(context) and c(context)

        return all3
    items = tuple(parts)

    def all_n(context: Mapping[str, Any]) -> bool:
        for part in items:  # noqa: SIM110 - a plain loop is faster than all(<generator>)
            if not part(context):
                return False
        return True

    return all_n


def _any(parts: list[Predicate]) -> Predicate:
    if len(parts) == 2:
        a, b = parts

        def any2(context: Mapping[str, Any]) -> bool:
            return a(context) or b(context)

        return any2
    if len(parts) == 3:
        a, b, c = parts

        def any3(context: Mapping[str, Any]) -> bool:
            return a(context) or b(context) or c(context)

        return any3
    items = tuple(parts)

    def any_n(context: Mapping[str, Any]) -> bool:
        for part in items:  # noqa: SIM110 - a plain loop is faster than any(<generator>)
            if part(context):
                return True
        return False

    return any_n


def _truthiness(path: tuple[str, ...]) -> Predicate:
    if len(path) == 1:
        (key,) = path

        def test1(context: Mapping[str, Any]) -> bool:
            try:
                value = context.get(key)
            except Exception:
                return False
            if value is True:
                return True
            if value is False or value is None:
                return False
            return truthy(value)

        return test1
    getter = _name_getter(path)

    def test(context: Mapping[str, Any]) -> bool:
        return truthy(getter(context))

    return test


# -- values -----------------------------------------------------------------------------------


def _name_getter(path: tuple[str, ...]) -> Getter:
    if len(path) == 1:
        (key,) = path

        def get1(context: Mapping[str, Any]) -> Any:
            try:
                return context.get(key)
            except Exception:
                return None

        return get1
    if len(path) == 2:
        first, second = path
        rest: tuple[str, ...] = (second,)

        def get2(context: Mapping[str, Any]) -> Any:
            try:
                inner = context.get(first)
            except Exception:
                return None
            if type(inner) is dict:
                return inner.get(second)
            return resolve(inner, rest)

        return get2
    first, rest = path[0], path[1:]

    def get_n(context: Mapping[str, Any]) -> Any:
        try:
            inner = context.get(first)
        except Exception:
            return None
        return resolve(inner, rest)

    return get_n


def _getter(node: Node) -> Getter:
    if isinstance(node, Literal):
        value = node.value
        return lambda context: value
    if isinstance(node, Name):
        return _name_getter(node.path)
    if isinstance(node, ListLiteral):
        if all(isinstance(item, Literal) for item in node.items):
            constant = [item.value for item in node.items]  # type: ignore[union-attr]
            return lambda context: constant
        getters = tuple(_getter(item) for item in node.items)
        return lambda context: [get(context) for get in getters]
    if isinstance(node, Sum):
        return _sum(node)
    return _predicate(node)


def _sum(node: Sum) -> Getter:
    getters = tuple(_getter(item) for item in node.items)
    ops = node.ops
    if len(getters) == 2 and ops == ("+",):
        first, second = getters

        def add2(context: Mapping[str, Any]) -> Any:
            a, b = first(context), second(context)
            kind = type(a)
            if kind is type(b) and (kind is float or kind is int):
                return a + b  # two ints or two floats: cannot raise
            return arithmetic((a, b), ops)

        return add2

    def total(context: Mapping[str, Any]) -> Any:
        return arithmetic([get(context) for get in getters], ops)

    return total


# -- comparisons ------------------------------------------------------------------------------


def _compare(node: Compare) -> Predicate:
    op, left, right = node.op, node.left, node.right
    if is_null(left) or is_null(right):
        other = _getter(right if is_null(left) else left)
        if op == "==":
            return lambda context: other(context) is None
        if op == "!=":
            return lambda context: other(context) is not None
        return _false
    if isinstance(left, Name) and isinstance(right, Literal):
        special = _name_op_literal(left.path, op, right.value)
        if special is not None:
            return special
    if isinstance(left, Literal) and isinstance(right, Name):
        if op in _FLIPPED and is_number(left.value):
            special = _name_op_literal(right.path, _FLIPPED[op], left.value)
            if special is not None:
                return special
        if op == "in" and type(left.value) is str:
            return _name_contains_string(right.path, left.value)
    if (
        isinstance(left, Name)
        and isinstance(right, ListLiteral)
        and op in ("in", "not in")
        and right.items
        and all(isinstance(item, Literal) for item in right.items)
    ):
        special = _name_in_constants(
            left.path,
            op,
            tuple(item.value for item in right.items),  # type: ignore[union-attr]
        )
        if special is not None:
            return special
    operation = OPERATIONS[op]
    get_left = _getter(left)
    get_right = _getter(right)

    def compare(context: Mapping[str, Any]) -> bool:
        return operation(get_left(context), get_right(context))

    return compare


def _name_op_literal(path: tuple[str, ...], op: str, literal: Any) -> Predicate | None:
    """``name op literal`` for a non-null string, number or boolean literal."""
    literal_type = type(literal)
    if op == "contains" and literal_type is str:
        return _name_contains_string(path, literal)
    if op in _ORDERING:
        if literal_type is bool or literal_type is str:
            return _false  # ordering only holds between numbers
        return _ordering(path, _ORDERING[op], literal)
    if op not in ("==", "!="):
        return None
    if literal_type is bool:
        wanted = literal if op == "==" else not literal
        get = _name_getter(path)
        return lambda context: get(context) is wanted
    if literal_type is str:
        return _string_equality(path, literal, negate=op == "!=")
    if literal_type is int or literal_type is float:
        return _number_equality(path, literal, negate=op == "!=")
    return None


def _string_equality(path: tuple[str, ...], literal: str, *, negate: bool) -> Predicate:
    slow = op_ne if negate else op_eq
    if len(path) == 1:
        (key,) = path
        if negate:

            def ne1(context: Mapping[str, Any]) -> bool:
                try:
                    value = context.get(key)
                except Exception:
                    return False
                if type(value) is str:
                    return value != literal
                return slow(value, literal)

            return ne1

        def eq1(context: Mapping[str, Any]) -> bool:
            try:
                value = context.get(key)
            except Exception:
                return False
            if type(value) is str:
                return value == literal
            return slow(value, literal)

        return eq1
    get = _name_getter(path)

    def eq_n(context: Mapping[str, Any]) -> bool:
        value = get(context)
        if type(value) is str:
            return (value != literal) if negate else (value == literal)
        return slow(value, literal)

    return eq_n


def _number_equality(path: tuple[str, ...], literal: float, *, negate: bool) -> Predicate:
    slow = op_ne if negate else op_eq
    get = _name_getter(path)

    def number_eq(context: Mapping[str, Any]) -> bool:
        value = get(context)
        cls = type(value)
        if cls is int or cls is float:
            return (value != literal) if negate else (value == literal)
        return slow(value, literal)

    return number_eq


def _ordering(path: tuple[str, ...], compare: Callable[[Any, Any], Any], literal: Any) -> Predicate:
    def slow(value: Any) -> bool:
        try:
            return is_number(value) and bool(compare(value, literal))
        except Exception:
            return False

    if len(path) == 1:
        (key,) = path

        def ordering1(context: Mapping[str, Any]) -> bool:
            try:
                value = context.get(key)
            except Exception:
                return False
            cls = type(value)
            if cls is int or cls is float:
                return compare(value, literal)
            return slow(value)

        return ordering1
    get = _name_getter(path)

    def ordering_n(context: Mapping[str, Any]) -> bool:
        value = get(context)
        cls = type(value)
        if cls is int or cls is float:
            return compare(value, literal)
        return slow(value)

    return ordering_n


def _name_contains_string(path: tuple[str, ...], literal: str) -> Predicate:
    """``name contains "x"`` (and ``"x" in name``): a list holding "x" or a string holding it."""
    get = _name_getter(path)

    def contains(context: Mapping[str, Any]) -> bool:
        value = get(context)
        if type(value) is list:
            try:
                for element in value:
                    if type(element) is str:
                        if element == literal:
                            return True
                    elif element is not None and values_equal(element, literal):
                        return True
            except Exception:
                return False
            return False
        if type(value) is str:
            return literal in value
        return op_contains(value, literal)

    return contains


def _name_in_constants(path: tuple[str, ...], op: str, items: tuple[Any, ...]) -> Predicate | None:
    """``name in ["a", "b"]`` with literals all of one kind: a frozenset lookup."""
    kinds = {_constant_kind(item) for item in items}
    if len(kinds) != 1 or None in kinds:
        return None
    (kind,) = kinds
    members = frozenset(items)
    slow = op_in if op == "in" else op_not_in
    negate = op == "not in"
    get = _name_getter(path)

    if kind is str:

        def string_in(context: Mapping[str, Any]) -> bool:
            value = get(context)
            if type(value) is str:
                return (value not in members) if negate else (value in members)
            return slow(value, items)

        return string_in
    if kind is float:

        def number_in(context: Mapping[str, Any]) -> bool:
            value = get(context)
            cls = type(value)
            if (cls is int or cls is float) and value == value:  # NaN takes the slow road
                return (value not in members) if negate else (value in members)
            return slow(value, items)

        return number_in
    return None


def _constant_kind(value: Any) -> type | None:
    cls = type(value)
    if cls is str:
        return str
    if cls is int or cls is float:
        return float
    return None
