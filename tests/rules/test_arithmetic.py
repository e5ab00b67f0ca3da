"""Sums in conditions: ``params.amount + totals.refunded_24h > 100`` parses, validates against
number types only, evaluates left to right with null for anything that is not a number, and
explains the parts it added."""

from decimal import Decimal

import pytest

from rules import (
    ConditionError,
    Literal,
    Name,
    Schema,
    Sum,
    approval_schema,
    compile_condition,
    interpret,
    parse,
    render,
)
from rules.nodes import Compare

SCHEMA = approval_schema({"amount": "number", "orderId": "string"}).extend(
    {"totals.refunded_24h": "number", "totals.refunded": "number"}
)


def run(text, context):
    condition = compile_condition(text, SCHEMA)
    compiled = condition(context)
    assert interpret(condition.node, context) is compiled, text
    assert condition.explain(context).result is compiled, text
    return compiled


def test_a_sum_binds_tighter_than_a_comparison_and_runs_left_to_right():
    tree = parse("a - b + 1 > c")

    assert tree == Compare(
        ">", Sum((Name(("a",)), Name(("b",)), Literal(1)), ("-", "+")), Name(("c",))
    )
    assert render(tree) == "a - b + 1 > c"


def test_a_minus_after_a_value_subtracts_and_elsewhere_starts_a_negative_number():
    assert parse("a-1 > 0") == parse("a - 1 > 0")
    assert parse("(a)-1 > 0") == parse("a - 1 > 0")
    assert parse("a > -1") == Compare(">", Name(("a",)), Literal(-1))
    assert parse("a - -1 > 0") == Compare(">", Sum((Name(("a",)), Literal(-1)), ("-",)), Literal(0))
    assert parse("customer.in - 1 > 0").left == Sum((Name(("customer", "in")), Literal(1)), ("-",))


def test_parentheses_group_a_sum_and_survive_rendering():
    text = "a - (b + c) > 0"

    assert render(parse(text)) == text
    assert parse(text).left.items[1] == Sum((Name(("b",)), Name(("c",))), ("+",))


@pytest.mark.parametrize(
    ("context", "expected"),
    [
        ({"params": {"amount": 90}, "totals": {"refunded_24h": 0}}, False),
        ({"params": {"amount": 90}, "totals": {"refunded_24h": 10}}, False),
        ({"params": {"amount": 90}, "totals": {"refunded_24h": 10.01}}, True),
        ({"params": {"amount": 90.5}, "totals": {"refunded_24h": Decimal("90")}}, True),
        ({"params": {"amount": 90}}, False),  # a missing total: the sum is null
        ({"params": {"amount": "90"}, "totals": {"refunded_24h": 90}}, False),
        ({"params": {"amount": True}, "totals": {"refunded_24h": 200}}, False),
    ],
)
def test_a_running_total_adds_to_the_amount(context, expected):
    assert run("params.amount + totals.refunded_24h > 100", context) is expected


def test_subtraction_and_sums_on_both_sides():
    context = {"params": {"amount": 30}, "totals": {"refunded": 100, "refunded_24h": 150}}

    assert run("totals.refunded_24h - totals.refunded == 50", context) is True
    assert run("params.amount + totals.refunded == totals.refunded_24h - 20", context) is True
    assert run("params.amount - 40 - 10 < -19", context) is True


def test_a_number_that_cannot_be_added_makes_the_sum_null_and_never_raises():
    context = {"params": {"amount": 10**400}, "totals": {"refunded_24h": 1.5}}

    assert run("params.amount + totals.refunded_24h > 0", context) is False
    assert run("params.amount + totals.refunded_24h == null", context) is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "params.orderId + 1 > 2",
            "column 1: '+' adds and subtracts numbers, found a string",
        ),
        (
            "params.amount + true > 2",
            "column 17: '+' adds and subtracts numbers, found a boolean",
        ),
        (
            "params.amount - null > 2",
            "column 17: '-' with null is never a number; test a missing value with '== null'",
        ),
        (
            "params.amount + totals.refunded_24h",
            "column 1: expected a condition, found a number on its own (compare it with "
            "something, as in a + b > 100)",
        ),
        ("params.amount + > 1", "column 17: expected a value after '+', found '>'"),
        ("+ params.amount > 1", "column 1: unexpected '+': it adds two values, as in a + b"),
        (
            "params.amount + totals.refunded_2h > 1",
            "column 17: unknown name 'totals.refunded_2h', did you mean 'totals.refunded_24h'?",
        ),
    ],
)
def test_sums_are_checked_on_save(text, message):
    with pytest.raises(ConditionError) as caught:
        compile_condition(text, SCHEMA)

    assert str(caught.value).startswith(message)


def test_the_explanation_shows_each_part_and_what_the_sum_came_to():
    condition = compile_condition("params.amount + totals.refunded_24h > 100", SCHEMA)

    explanation = condition.explain({"params": {"amount": 90}, "totals": {"refunded_24h": 90}})

    assert explanation.result is True
    assert explanation.detail == (
        "params.amount is 90; totals.refunded_24h is 90; params.amount + totals.refunded_24h is 180"
    )


def test_a_long_sum_is_a_wide_node_not_a_deep_one():
    text = " + ".join(["a"] * 400) + " > 1"

    condition = compile_condition(text, Schema.anything())

    assert len(condition.node.left.items) == 400
    assert condition({"a": 1}) is True
