"""Explanations for the rule tester: which parts are true or false, with the values seen."""

from rules import (
    compile_condition,
    explain,
    handoff_schema,
    parse,
)


def test_explanation_shows_every_part_with_its_values():
    rule = compile_condition('intent == "billing" and sentiment < -0.5', handoff_schema())

    explanation = rule.explain({"intent": "billing", "sentiment": 0.2})

    assert explanation.result is False
    assert str(explanation) == (
        'false  intent == "billing" and sentiment < -0.5\n'
        '  true   intent == "billing"  (intent is "billing")\n'
        "  false  sentiment < -0.5  (sentiment is 0.2)"
    )


def test_explanation_says_when_a_value_is_missing():
    explanation = explain(parse('customer.tier == "gold"'), {"customer": {}})

    assert explanation.result is False
    assert explanation.detail == "customer.tier is missing (null); a comparison with null is false"


def test_explanation_says_when_types_differ():
    explanation = explain(parse('intent == "5"'), {"intent": 5})
    assert explanation.detail == "intent is 5; a number and a string never compare"

    explanation = explain(parse("sentiment < 1"), {"sentiment": "low"})
    assert explanation.detail == "sentiment is \"low\"; '<' only compares numbers, found a string"

    explanation = explain(parse("risk contains 'x'"), {"risk": 3})
    assert explanation.detail == "risk is 3; 'contains' needs a list or string, found a number"


def test_explanation_of_or_and_not_keeps_the_structure():
    explanation = explain(parse("not customer.vip or turns > 3"), {"turns": 5})

    assert explanation.kind == "or"
    assert [part.kind for part in explanation.children] == ["not", "compare"]
    assert explanation.children[0].children[0].detail == "customer.vip is missing (null)"
    assert explanation.result is True


def test_explanation_as_dict_is_json_safe():
    import json

    explanation = explain(
        parse("risk contains 'x' and sentiment < 0"), {"risk": ("x",), "sentiment": float("nan")}
    )

    data = explanation.as_dict()

    json.dumps(data, allow_nan=False)
    assert data["children"][0] == {
        "source": 'risk contains "x"',
        "result": True,
        "kind": "compare",
        "op": "contains",
        "left": ["x"],
        "right": "x",
        "detail": 'risk is ["x"]',
        "children": [],
    }
    assert data["children"][1]["left"] == "nan"


def test_long_values_are_shortened_in_details():
    explanation = explain(parse("intent == 'x'"), {"intent": "y" * 500})
    assert len(explanation.detail) < 120
    assert explanation.detail.endswith("...")
