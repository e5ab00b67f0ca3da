"""The condition language of handoff rules, approval thresholds and workflow steps (SPEC 5).

Pure Python, no Django. Text is parsed into a small tree of nodes, validated against a schema of
known names and types, and compiled once into a callable that never raises::

    from rules import compile_condition, handoff_schema

    rule = compile_condition('intent == "billing" and sentiment < -0.5', handoff_schema())
    rule({"intent": "billing", "sentiment": -0.8})   # True
    rule.explain({"intent": "billing"})              # why it is false

Every failure to parse, validate or compile raises ``ConditionError`` (a ValueError) with
``.position`` (1-based column) and ``.message``.

At run time a missing value is null; ``x == null`` / ``x != null`` test for it, and every other
comparison with null is false, as is any comparison between values of different kinds
(``"5" == 5``). ``+`` and ``-`` add and subtract numbers
(``params.amount + totals.refunded_24h > 100``); a sum with a part that is not a number is
null. ``and``/``or``/``not`` are plain two-valued logic on those results, so
``not (customer.tier == "gold")`` is true for a customer without a tier. Details in
``rules.runtime``.
"""

from .compiler import CompiledCondition, compile_condition, compile_node
from .context import rule_context
from .errors import ConditionError
from .explain import Explanation, explain
from .interpreter import evaluate, interpret
from .limits import MAX_DEPTH, MAX_LENGTH
from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or, Sum, names_used
from .parser import parse
from .render import render, render_value
from .schema import (
    ANY,
    BOOLEAN,
    CONVERSATION_NAMES,
    LIST,
    LIST_OF_NUMBER,
    LIST_OF_STRING,
    NULL,
    NUMBER,
    STRING,
    Schema,
    Type,
    approval_schema,
    as_type,
    handoff_schema,
    list_of,
    totals_names,
    type_from_json_schema,
    workflow_schema,
)
from .validation import validate


def check_condition(text: str, schema: Schema) -> Node:
    """Parse and validate ``text`` (for form and serializer validation). Raises ConditionError."""
    node = parse(text)
    validate(node, schema)
    return node


__all__ = [
    "ANY",
    "BOOLEAN",
    "CONVERSATION_NAMES",
    "LIST",
    "LIST_OF_NUMBER",
    "LIST_OF_STRING",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "NULL",
    "NUMBER",
    "STRING",
    "And",
    "Compare",
    "CompiledCondition",
    "ConditionError",
    "Explanation",
    "ListLiteral",
    "Literal",
    "Name",
    "Node",
    "Not",
    "Or",
    "Schema",
    "Sum",
    "Type",
    "approval_schema",
    "as_type",
    "check_condition",
    "compile_condition",
    "compile_node",
    "evaluate",
    "explain",
    "handoff_schema",
    "interpret",
    "list_of",
    "names_used",
    "parse",
    "render",
    "render_value",
    "rule_context",
    "totals_names",
    "type_from_json_schema",
    "validate",
    "workflow_schema",
]
