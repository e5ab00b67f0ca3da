"""Validation against schemas: known names, their types, and the ready-made schemas."""

import pytest

from rules import (
    ANY,
    LIST_OF_STRING,
    NUMBER,
    STRING,
    ConditionError,
    Literal,
    Name,
    Not,
    Schema,
    approval_schema,
    as_type,
    check_condition,
    compile_condition,
    handoff_schema,
    list_of,
    parse,
    validate,
    workflow_schema,
)


def error_for(text, schema=None):
    with pytest.raises(ConditionError) as caught:
        compile_condition(text, schema or handoff_schema())
    return caught.value


def test_unknown_name_lists_the_known_names_and_suggests_the_closest():
    error = error_for('intnt == "billing"')

    assert error.position == 1
    assert error.message == (
        "unknown name 'intnt', did you mean 'intent'? (known: intent, sentiment, risk, channel, "
        "attempts, turns, language, verified, customer.<attribute>)"
    )


def test_unknown_name_position_points_at_the_name():
    assert error_for("turns > 1 and mood == 'sad'").position == 15


def test_unknown_name_without_a_close_match_just_lists_the_known_names():
    assert error_for("zzz").message.startswith("unknown name 'zzz' (known: intent, ")


def test_a_prefix_on_its_own_needs_an_attribute():
    assert error_for("customer").message == "'customer' needs an attribute: customer.<attribute>"


def test_attributes_of_plain_names_are_unknown():
    assert error_for("intent.code == 1").message.startswith("unknown name 'intent.code'")


def test_customer_attributes_of_any_depth_are_allowed():
    check_condition("customer.vip and customer.address.country == 'NL'", handoff_schema())


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ('sentiment == "high"', "cannot compare number with string using '=='", 11),
        ('"high" != sentiment', "cannot compare string with number using '!='", 8),
        ("intent == 3", "cannot compare string with number using '=='", 8),
        ("intent == true", "cannot compare string with boolean using '=='", 8),
        ('risk == "fraud"', "cannot compare list of string with string using '=='", 6),
        ("risk == [1, 2]", "cannot compare list of string with list of number using '=='", 6),
        (
            'sentiment < "x"',
            "cannot compare number with string using '<' (it compares numbers)",
            11,
        ),
        ("intent > 1", "cannot compare string with number using '>' (it compares numbers)", 8),
        (
            "risk >= 1",
            "cannot compare list of string with number using '>=' (it compares numbers)",
            6,
        ),
        ("true <= 1", "cannot compare boolean with number using '<=' (it compares numbers)", 6),
        (
            "sentiment contains 1",
            "'contains' needs a list or string on the left, found a number",
            11,
        ),
        ("turns in 3", "'in' needs a list or string on the right, found a number", 7),
        ("turns not in true", "'not in' needs a list or string on the right, found a boolean", 7),
        (
            "turns in intent",
            "'in' with a string on the right needs a string on the left, found a number",
            7,
        ),
        (
            "intent contains 1",
            "'contains' with a string on the left needs a string on the right, found a number",
            8,
        ),
        ("risk contains 1", "'contains' cannot find a number in a list of string", 6),
        ("turns in ['a', 'b']", "'in' cannot find a number in a list of string", 7),
        ("intent in [1, 2]", "'in' cannot find a string in a list of number", 8),
        (
            "turns < null",
            "'<' with null on the right is never true; "
            "use '== null' or '!= null' to test for a missing value",
            9,
        ),
        (
            "null in risk",
            "'in' with null on the left is never true; "
            "use '== null' or '!= null' to test for a missing value",
            1,
        ),
        (
            "(turns > 1) > 0",
            "cannot compare boolean with number using '>' (it compares numbers)",
            13,
        ),
    ],
)
def test_type_mismatches_are_rejected_at_the_operator(text, message, column):
    error = error_for(text)
    assert (error.message, error.position) == (message, column)


@pytest.mark.parametrize(
    ("text", "message", "column"),
    [
        ("5", "expected a condition, found a number on its own (compare it with something)", 1),
        (
            "turns > 1 and 'x'",
            "expected a condition, found a string on its own (compare it with something)",
            15,
        ),
        ("not null", "expected a condition, found null on its own (compare it with something)", 5),
        (
            "[1] or turns > 1",
            "expected a condition, found a list on its own (use 'in' or 'contains')",
            1,
        ),
    ],
)
def test_plain_values_are_not_conditions(text, message, column):
    error = error_for(text)
    assert (error.message, error.position) == (message, column)


@pytest.mark.parametrize(
    "text",
    [
        "true",
        "false or turns > 1",
        "intent",  # any name is a truthiness test
        "risk and customer.vip",
        "intent == null",
        "null != customer.tier",
        "customer.tier == 'gold'",
        "customer.score > 3",
        "customer.tags contains 'x'",
        "'x' in customer.tags",
        "customer.tier in ['gold', 'silver']",
        "intent in ['a', null]",
        "intent in []",
        "intent in [channel, language]",
        "risk == []",
        "risk == ['a']",
        "risk contains customer.flag",
        'intent contains "bill"',
        '"bill" in intent',
        "attempts >= turns",
        "(turns > 1) == true",
        "(turns > 1) == customer.vip",
        "x in [1, 'mixed']".replace("x", "customer.x"),
    ],
)
def test_valid_conditions_pass(text):
    check_condition(text, handoff_schema())


def test_handoff_schema_types():
    schema = handoff_schema()
    assert schema.lookup(("intent",)) == STRING
    assert schema.lookup(("sentiment",)) == NUMBER
    assert schema.lookup(("risk",)) == LIST_OF_STRING
    assert schema.lookup(("customer", "vip")) == ANY
    assert schema.lookup(("customer", "a", "b")) == ANY
    assert schema.lookup(("customer",)) is None
    assert schema.lookup(("params", "amount")) is None


def test_approval_schema_types_params_from_a_mapping():
    schema = approval_schema({"amount": "number", "currency": "string"})

    check_condition("params.amount > 100 and params.currency == 'EUR'", schema)
    assert error_for("params.amount > 'big'", schema).message.startswith("cannot compare number")
    assert error_for("params.amont > 100", schema).message.startswith(
        "unknown name 'params.amont', did you mean 'params.amount'? (known: params.amount, "
        "params.currency, intent,"
    )


def test_approval_schema_types_params_from_a_json_schema():
    schema = approval_schema(
        json_schema={
            "type": "object",
            "properties": {
                "amount": {"type": "number"},
                "count": {"type": "integer"},
                "note": {"type": ["string", "null"]},
                "tags": {"type": "array", "items": {"type": "string"}},
                "notify": {"type": "boolean"},
                "extra": {},
            },
        }
    )

    assert schema.lookup(("params", "count")) == NUMBER
    assert schema.lookup(("params", "note")) == STRING
    assert schema.lookup(("params", "tags")) == LIST_OF_STRING
    assert schema.lookup(("params", "extra")) == ANY
    check_condition("params.amount > 100 or params.tags contains 'urgent'", schema)
    assert "cannot compare boolean with number" in error_for("params.notify > 1", schema).message


def test_approval_schema_without_types_allows_any_param():
    schema = approval_schema()
    check_condition("params.amount > 100 and params.anything == 'x'", schema)


def test_approval_schema_can_leave_out_the_conversation():
    schema = approval_schema({"amount": "number"}, include_conversation=False)
    assert error_for("intent == 'x'", schema).message == (
        "unknown name 'intent' (known: params.amount)"
    )


def test_workflow_schema_adds_earlier_outputs_as_any():
    schema = workflow_schema(["category", "order.status"])

    check_condition('category == "technical" and order.status == 3', schema)
    check_condition("category > 3", schema)  # type any: checked at run time
    assert error_for("categry == 'x'", schema).message.startswith(
        "unknown name 'categry', did you mean 'category'?"
    )


def test_workflow_schema_accepts_typed_outputs():
    schema = workflow_schema({"score": "number"})
    assert "cannot compare number with string" in error_for("score == 'x'", schema).message


def test_schema_prefixes_and_exact_names():
    schema = Schema({"a": "number", "b.*": "any", "c.d": "list[string]"})

    assert schema.lookup(("a",)) == NUMBER
    assert schema.lookup(("b", "x", "y")) == ANY
    assert schema.lookup(("c", "d")) == LIST_OF_STRING
    assert schema.lookup(("c",)) is None
    assert schema.known() == ["a", "c.d", "b.<attribute>"]
    assert schema.as_dict() == {"a": "number", "c.d": "list of string", "b.*": "any"}


def test_schema_extend_returns_a_new_schema():
    base = Schema({"a": "number"})
    extended = base.extend({"a": "string", "b": "boolean"})

    assert base.lookup(("a",)) == NUMBER
    assert extended.lookup(("a",)) == STRING
    assert extended != base
    assert Schema({"a": "number"}) == base
    assert hash(Schema({"a": "number"})) == hash(base)


def test_schema_anything_accepts_every_name():
    check_condition("whatever.deep.name > 1 and x", Schema.anything())


def test_type_names():
    assert as_type("list[string]") == LIST_OF_STRING
    assert as_type("list of string") == LIST_OF_STRING
    assert as_type("integer") == NUMBER
    assert list_of("number") == as_type("list[number]")
    assert str(as_type("list")) == "list"
    with pytest.raises(ValueError, match="unknown type"):
        as_type("date")


def test_invalid_schema_names_are_rejected():
    with pytest.raises(ValueError, match="invalid name"):
        Schema({"bad name": "any"})
    with pytest.raises(ValueError, match="invalid name"):
        workflow_schema(["1st"])


def test_validate_checks_hand_built_trees():
    validate(Not(Name(("customer", "vip"))), handoff_schema())
    with pytest.raises(ConditionError, match="not a condition node"):
        validate("intent", handoff_schema())
    with pytest.raises(ConditionError, match="literal must be"):
        validate(Literal(object()), handoff_schema())
    with pytest.raises(ConditionError, match="nested too deeply"):
        node = Name(("customer", "vip"))
        for _ in range(500):
            node = Not(node)
        validate(node, handoff_schema())


def test_check_condition_returns_the_tree():
    assert check_condition("turns > 1", handoff_schema()) == parse("turns > 1")
