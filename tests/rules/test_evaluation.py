"""Evaluation: null semantics, membership, nested names; compiled and interpreted agree."""

from collections import OrderedDict
from decimal import Decimal

import pytest

from rules import (
    Schema,
    approval_schema,
    compile_condition,
    handoff_schema,
    interpret,
    workflow_schema,
)

MESSAGE = {
    "intent": "billing",
    "sentiment": -0.7,
    "risk": ["frustration", "churn"],
    "channel": "email",
    "attempts": 2,
    "turns": 5,
    "language": "en",
    "customer": {"vip": True, "tier": "gold", "address": {"country": "NL"}, "tags": ["b2b"]},
}


def run(text, context, schema=None):
    """Evaluate compiled and interpreted; they must agree."""
    condition = compile_condition(text, schema or Schema.anything())
    compiled = condition(context)
    assert type(compiled) is bool
    assert interpret(condition.node, context) is compiled, text
    assert condition.explain(context).result is compiled, text
    return compiled


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('intent == "billing"', True),
        ('intent != "billing"', False),
        ('intent == "refund"', False),
        ("sentiment < -0.5", True),
        ("sentiment <= -0.7", True),
        ("sentiment > -0.7", False),
        ("attempts >= 2", True),
        ("2 <= attempts", True),
        ("3 < turns", True),
        ("attempts == 2", True),
        ("attempts == 2.0", True),
        ("attempts != 3", True),
        ('risk contains "frustration"', True),
        ('risk contains "fraud"', False),
        ('"churn" in risk', True),
        ('"fraud" not in risk', True),
        ('intent in ["billing", "refund"]', True),
        ('intent not in ["billing", "refund"]', False),
        ("turns in [1, 5, 9]", True),
        ("turns not in [1, 9]", True),
        ('intent contains "bill"', True),
        ('"ill" in intent', True),
        ('"x" not in intent', True),
        ('intent in "billing-and-refund"', True),
        ("customer.vip", True),
        ("not customer.vip", False),
        ('customer.tier == "gold"', True),
        ('customer.address.country == "NL"', True),
        ('customer.tags contains "b2b"', True),
        ("customer.vip == true", True),
        ("customer.vip != false", True),
        ('intent == "billing" and sentiment < -0.5 or customer.vip', True),
        ('intent == "x" or turns > 4 and attempts < 3', True),
        ('(intent == "x" or turns > 4) and attempts > 3', False),
        ('not (intent == "x")', True),
        ("(turns > 1) == true", True),
        ("risk", True),
        ("intent", True),
        ("true", True),
        ("false", False),
        ("intent in [channel, language, 'billing']", True),
        ("risk == ['frustration', 'churn']", True),
        ("risk == ['churn', 'frustration']", False),
        ("risk != ['churn']", True),
        ("attempts < turns", True),
    ],
)
def test_typical_conditions(text, expected):
    assert run(text, MESSAGE, handoff_schema()) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("customer.tier == null", True),
        ("customer.tier != null", False),
        ("null == customer.tier", True),
        ("intent == null", True),
        ('customer.tier == "gold"', False),
        ('customer.tier != "gold"', False),  # a comparison with null is false ...
        ('not (customer.tier == "gold")', True),  # ... and 'not' simply negates it
        ("sentiment < 0", False),
        ("sentiment >= 0", False),
        ('risk contains "fraud"', False),
        ('"fraud" in risk', False),
        ('"fraud" not in risk', False),
        ("intent in ['a', null]", False),
        ("customer.a == customer.b", False),  # two missing values are not equal
        ("customer.a != customer.b", False),
        ("customer.vip", False),
        ("not customer.vip", True),
        ("risk", False),
        ("null == null", True),
    ],
)
def test_missing_values_are_null_and_comparisons_with_null_are_false(text, expected):
    assert run(text, {}, handoff_schema()) is expected


def test_explicit_null_values_behave_like_missing_ones():
    context = {"intent": None, "customer": {"tier": None}}
    assert run("intent == null and customer.tier == null", context) is True
    assert run("intent != 'x'", context) is False


def test_a_missing_parent_gives_null():
    assert run("customer.address.country == null", {"customer": {}}) is True
    assert run("customer.address.country == null", {"customer": None}) is True
    assert run("customer.address.country == null", {"customer": "not a dict"}) is True
    assert run("customer.address.country == 'NL'", {"customer": ["NL"]}) is False


@pytest.mark.parametrize(
    ("text", "context"),
    [
        ('intent == "5"', {"intent": 5}),
        ('intent != "5"', {"intent": 5}),
        ("attempts == 1", {"attempts": True}),
        ("attempts != 1", {"attempts": True}),
        ("customer.vip == true", {"customer": {"vip": 1}}),
        ("customer.vip != false", {"customer": {"vip": 1}}),
        ("sentiment < 1", {"sentiment": "0.5"}),
        ("sentiment > 0", {"sentiment": True}),
        ("turns in [1, 2]", {"turns": "1"}),
        ("turns in [1, 2]", {"turns": True}),
        ('"a" in intent', {"intent": 5}),
        ('intent contains "a"', {"intent": 7}),
        ('risk contains "a"', {"risk": {"a": 1}}),
        ('"1" in risk', {"risk": [1]}),
        ("risk == ['a']", {"risk": "a"}),
        ("customer.x < customer.y", {"customer": {"x": "a", "y": "b"}}),
    ],
)
def test_mismatched_runtime_types_are_false_and_never_raise(text, context):
    assert run(text, context) is False


def test_not_in_is_true_for_a_list_without_a_matching_kind():
    assert run('"1" not in risk', {"risk": [1, 2]}) is True


def test_numbers_of_different_python_types_compare():
    assert run("params.amount > 100", {"params": {"amount": Decimal("150.50")}}) is True
    assert run("params.amount == 150", {"params": {"amount": 150.0}}) is True
    assert run("params.amount in [150, 200]", {"params": {"amount": Decimal(150)}}) is True


def test_nan_never_compares():
    for text in ["sentiment < 0", "sentiment >= 0", "sentiment == 0", "sentiment in [0, 1]"]:
        assert run(text, {"sentiment": float("nan")}) is False
    assert run("sentiment < 0", {"sentiment": Decimal("NaN")}) is False
    assert run("sentiment < 0", {"sentiment": Decimal("sNaN")}) is False


def test_str_subclasses_and_tuples_count_as_strings_and_lists():
    class Channel(str):
        pass

    assert run('channel == "email"', {"channel": Channel("email")}) is True
    assert run('channel in ["email", "chat"]', {"channel": Channel("chat")}) is True
    assert run('risk contains "x"', {"risk": ("x", "y")}) is True


def test_any_mapping_works_as_context():
    context = OrderedDict(intent="billing", customer=OrderedDict(vip=True))
    assert run('intent == "billing" and customer.vip', context) is True


def test_params_thresholds():
    schema = approval_schema({"amount": "number", "currency": "string"})
    rule = compile_condition("params.amount > 100 and params.currency == 'EUR'", schema)

    assert rule({"params": {"amount": 150, "currency": "EUR"}}) is True
    assert rule({"params": {"amount": 50, "currency": "EUR"}}) is False
    assert rule({"params": {"currency": "EUR"}}) is False
    assert rule({}) is False


def test_workflow_outputs():
    rule = compile_condition('category == "technical"', workflow_schema(["category"]))

    assert rule({"category": "technical"}) is True
    assert rule({"category": "billing"}) is False
    assert rule({}) is False


class Explosive:
    """A value whose every operation raises."""

    def __eq__(self, other):
        raise RuntimeError("boom")

    def __lt__(self, other):
        raise RuntimeError("boom")

    def __bool__(self):
        raise RuntimeError("boom")

    def __hash__(self):
        raise RuntimeError("boom")

    def __contains__(self, item):
        raise RuntimeError("boom")

    def __iter__(self):
        raise RuntimeError("boom")

    def __len__(self):
        raise RuntimeError("boom")


class ExplosiveMapping(dict):
    def get(self, key, default=None):
        raise RuntimeError("boom")

    def __getitem__(self, key):
        raise RuntimeError("boom")


class ExplosiveString(str):
    def __eq__(self, other):
        raise RuntimeError("boom")

    __hash__ = str.__hash__

    def __contains__(self, item):
        raise RuntimeError("boom")


@pytest.mark.parametrize(
    "context",
    [
        {"intent": Explosive(), "risk": Explosive(), "customer": Explosive(), "turns": Explosive()},
        {"intent": ExplosiveString("x"), "risk": [Explosive(), "a"], "turns": ExplosiveString()},
        {"customer": ExplosiveMapping(vip=True)},
        ExplosiveMapping(intent="x"),
        {"risk": [[[[]]]], "customer": {"vip": [Explosive()]}},
        None,
        [],
        "intent",
    ],
)
@pytest.mark.parametrize(
    "text",
    [
        'intent == "x"',
        'intent != "x"',
        "intent == null",
        "turns > 1",
        "turns == 1",
        "risk contains 'a'",
        "'a' in risk",
        "intent in ['x', 'y']",
        "intent not in ['x', 'y']",
        "customer.vip",
        "not customer.vip",
        "risk == risk",
        "intent in risk",
        "customer.vip contains 1",
        "risk == [1, [2]]",
    ],
)
def test_evaluation_never_raises_for_any_context(text, context):
    condition = compile_condition(text, Schema.anything())
    result = condition(context)
    assert type(result) is bool
    assert interpret(condition.node, context if isinstance(context, dict) else {}) is result
    str(condition.explain(context))
    condition.explain(context).as_dict()


def test_self_referencing_values_do_not_break_evaluation():
    loop = []
    loop.append(loop)
    assert run("risk == risk", {"risk": loop}) is False
    assert run("risk contains 'x'", {"risk": loop}) is False


def test_compiled_condition_reports_source_and_names():
    rule = compile_condition(
        "customer.vip or intent == 'x' and customer.vip != null", handoff_schema()
    )

    assert rule.source == "customer.vip or intent == 'x' and customer.vip != null"
    assert rule.names == ("customer.vip", "intent")
    assert (
        repr(rule)
        == "CompiledCondition(\"customer.vip or intent == 'x' and customer.vip != null\")"
    )
