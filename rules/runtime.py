"""Run-time semantics shared by the interpreter, the compiler and ``explain``.

The rules (SPEC section 5: a missing value is null, a comparison with null is false, evaluation
never raises):

* A name resolves through nested mappings; anything missing, or a step through a value that is
  not a mapping, gives ``None`` (null).
* Values have a kind: null, boolean, number (int, float, Decimal, Fraction; never bool), string,
  list (list or tuple), mapping, other.
* ``x == null`` is true when x is null (missing) and ``x != null`` when it is not. These are the
  only comparisons that can be true with a null operand: any other comparison where either side
  is null is false (two missing names are not "equal").
* Values of different kinds are never equal, and ``==``, ``!=``, ``<`` ... are all false between
  them: ``"5" == 5``, ``"5" != 5`` and ``true == 1`` are all false.
* ``<``, ``<=``, ``>``, ``>=`` compare numbers only; anything else is false.
* ``a in b`` / ``b contains a``: b a list -> some item equals a; b a string -> a is a string and
  a substring of b; otherwise false. ``a not in b`` is the negation only when the test is
  meaningful (b a list, or both strings), so it is false when either side is null.
* ``and``, ``or`` and ``not`` work on truth values and are two-valued: a bare value is true when
  Python would call it true (null, false, 0, "" and [] are false). So
  ``not (customer.tier == "gold")`` is true for a customer without a tier.
* ``a + b`` and ``a - b`` add and subtract numbers (left to right); when any operand is not a
  number (null, a string, a boolean...) the sum is null, so a comparison with it is false. A
  Decimal meets a float as floats; anything that still cannot be computed is null.
* Any exception raised by an odd value inside a comparison makes that comparison false.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from decimal import Decimal
from numbers import Real
from typing import Any

NULL, BOOLEAN, NUMBER, STRING, LIST, MAPPING, OTHER = range(7)
KIND_NAMES = ("null", "boolean", "number", "string", "list", "mapping", "other")


def resolve(context: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` in nested mappings, or None."""
    current = context
    for key in path:
        if type(current) is dict:
            current = current.get(key)
        elif isinstance(current, Mapping):
            try:
                current = current.get(key)
            except Exception:
                return None
        else:
            return None
    return current


def kind_of(value: Any) -> int:
    cls = type(value)
    if cls is str:
        return STRING
    if cls is int or cls is float:
        return NUMBER
    if cls is bool:
        return BOOLEAN
    if value is None:
        return NULL
    if cls is list or cls is tuple:
        return LIST
    if cls is dict:
        return MAPPING
    if isinstance(value, str):
        return STRING
    if isinstance(value, Real | Decimal):
        return NUMBER
    if isinstance(value, list | tuple):
        return LIST
    if isinstance(value, Mapping):
        return MAPPING
    return OTHER


def is_number(value: Any) -> bool:
    cls = type(value)
    if cls is int or cls is float:
        return True
    if cls is bool or value is None:
        return False
    return kind_of(value) == NUMBER


def truthy(value: Any) -> bool:
    if value is True:
        return True
    if value is False or value is None:
        return False
    try:
        return bool(value)
    except Exception:
        return False


def values_equal(a: Any, b: Any) -> bool:
    """Equality of two values of the same kind (lists item by item); may raise."""
    kind = kind_of(a)
    if kind != kind_of(b):
        return False
    if kind == LIST:
        if len(a) != len(b):
            return False
        return all(values_equal(x, y) for x, y in zip(a, b, strict=True))
    if kind == NULL:
        return True
    return bool(a == b)


def _has_item(container: Any, item: Any) -> bool | None:
    """True/False for a meaningful membership test, None when it is meaningless."""
    kind = kind_of(container)
    if kind == LIST:
        return any(values_equal(element, item) for element in container)
    if kind == STRING and kind_of(item) == STRING:
        return bool(item in container)
    return None


# -- the operators, on resolved values; none of them raises ------------------------------------


def op_eq(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return values_equal(a, b)
    except Exception:
        return False


def op_ne(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return kind_of(a) == kind_of(b) and not values_equal(a, b)
    except Exception:
        return False


def _ordering(compare: Callable[[Any, Any], Any]) -> Callable[[Any, Any], bool]:
    def op(a: Any, b: Any) -> bool:
        try:
            return is_number(a) and is_number(b) and bool(compare(a, b))
        except Exception:
            return False

    return op


op_lt = _ordering(operator.lt)
op_le = _ordering(operator.le)
op_gt = _ordering(operator.gt)
op_ge = _ordering(operator.ge)


def op_in(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return _has_item(b, a) is True
    except Exception:
        return False


def op_not_in(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    try:
        return _has_item(b, a) is False
    except Exception:
        return False


def op_contains(a: Any, b: Any) -> bool:
    return op_in(b, a)


OPERATIONS: dict[str, Callable[[Any, Any], bool]] = {
    "==": op_eq,
    "!=": op_ne,
    "<": op_lt,
    "<=": op_le,
    ">": op_gt,
    ">=": op_ge,
    "in": op_in,
    "not in": op_not_in,
    "contains": op_contains,
}


def arithmetic(values: list[Any] | tuple[Any, ...], ops: tuple[str, ...]) -> Any:
    """``values[0] ops[0] values[1] ...``, or None when a value is not a number (or the result
    cannot be computed)."""
    try:
        total = values[0]
        if not is_number(total):
            return None
        for op, value in zip(ops, values[1:], strict=True):
            if not is_number(value):
                return None
            try:
                total = total + value if op == "+" else total - value
            except TypeError:  # Decimal and float
                total = float(total) + float(value) if op == "+" else float(total) - float(value)
        return total
    except Exception:
        return None


def null_test(op: str, value: Any) -> bool:
    """A comparison where one side is the literal ``null``."""
    if op == "==":
        return value is None
    if op == "!=":
        return value is not None
    return False
