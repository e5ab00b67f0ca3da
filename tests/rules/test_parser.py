"""Parsing: every construct of the grammar, precedence and positions."""

import pytest

from rules import (
    And,
    Compare,
    ListLiteral,
    Literal,
    Name,
    Not,
    Or,
    parse,
    render,
)


def test_parses_a_name_op_string_comparison():
    assert parse('intent == "billing"') == Compare("==", Name(("intent",)), Literal("billing"))


@pytest.mark.parametrize("op", ["==", "!=", "<", "<=", ">", ">=", "in", "not in", "contains"])
def test_parses_every_comparison_operator(op):
    assert parse(f"a {op} b") == Compare(op, Name(("a",)), Name(("b",)))


def test_parses_operators_without_spaces():
    assert parse("attempts>=3") == Compare(">=", Name(("attempts",)), Literal(3))
    assert parse("sentiment<-0.5") == Compare("<", Name(("sentiment",)), Literal(-0.5))


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("1.25", 1.25),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("2.5E-2", 0.025),
        ("true", True),
        ("false", False),
        ("null", None),
        ('"double"', "double"),
        ("'single'", "single"),
        ('"it\'s"', "it's"),
        ("'say \"hi\"'", 'say "hi"'),
        (r'"a\\b"', "a\\b"),
        (r'"line\nbreak\ttab\rcr"', "line\nbreak\ttab\rcr"),
        (r"'quote\' inside'", "quote' inside"),
        (r'"\u00e9t\u00E9"', "été"),
        ('""', ""),
        ('"héllo ünïcode"', "héllo ünïcode"),
    ],
)
def test_parses_literals(text, value):
    node = parse(f"x == {text}")
    assert node.right == Literal(value)
    assert type(node.right.value) is type(value)


def test_integers_and_floats_keep_their_type():
    assert type(parse("x == 3").right.value) is int
    assert type(parse("x == 3.0").right.value) is float


def test_parses_lists():
    assert parse('intent in ["billing", "refund"]').right == ListLiteral(
        (Literal("billing"), Literal("refund"))
    )
    assert parse("x in []").right == ListLiteral(())
    assert parse("x in [1, [2, null], (a)]").right == ListLiteral(
        (Literal(1), ListLiteral((Literal(2), Literal(None))), Name(("a",)))
    )


def test_parses_dotted_names_into_path_tuples():
    assert parse("customer.vip") == Name(("customer", "vip"))
    assert parse("customer.address.country == 'NL'").left == Name(
        ("customer", "address", "country")
    )


def test_reserved_words_are_allowed_as_attributes():
    assert parse("customer.in and params.not").items == (
        Name(("customer", "in")),
        Name(("params", "not")),
    )


def test_keywords_are_case_sensitive():
    assert parse("AND") == Name(("AND",))
    assert parse("True") == Name(("True",))


def test_a_bare_name_is_a_truthiness_test():
    assert parse("customer.vip") == Name(("customer", "vip"))
    assert parse("not customer.vip") == Not(Name(("customer", "vip")))


def test_not_in_is_one_operator():
    assert parse('"x" not in risk') == Compare("not in", Literal("x"), Name(("risk",)))
    assert parse("a not  in b").op == "not in"


def test_and_binds_tighter_than_or():
    assert parse("a or b and c") == Or((Name(("a",)), And((Name(("b",)), Name(("c",))))))
    assert parse("a and b or c") == Or((And((Name(("a",)), Name(("b",)))), Name(("c",))))


def test_not_binds_tighter_than_and():
    assert parse("not a and b") == And((Not(Name(("a",))), Name(("b",))))


def test_not_applies_to_a_whole_comparison():
    assert parse("not intent == 'x'") == Not(Compare("==", Name(("intent",)), Literal("x")))


def test_chains_of_the_same_operator_are_one_flat_node():
    assert parse("a or b or c") == Or((Name(("a",)), Name(("b",)), Name(("c",))))
    assert parse("a and b and c and d").items == tuple(Name((n,)) for n in "abcd")


def test_parentheses_group_and_stay_nested():
    assert parse("(a or b) and c") == And((Or((Name(("a",)), Name(("b",)))), Name(("c",))))
    assert parse("(a and b) and c") == And((And((Name(("a",)), Name(("b",)))), Name(("c",))))
    assert parse("((((a))))") == Name(("a",))


def test_double_not_nests():
    assert parse("not not a") == Not(Not(Name(("a",))))


def test_a_comparison_can_compare_conditions():
    assert parse("(a == 1) == true") == Compare(
        "==", Compare("==", Name(("a",)), Literal(1)), Literal(True)
    )


def test_whitespace_and_newlines_are_ignored():
    assert parse("\n  intent ==\t'x'\r\n  and turns > 3 ") == parse("intent == 'x' and turns > 3")


def test_positions_are_one_based_columns_and_not_part_of_equality():
    node = parse('  intent == "billing"')
    assert node.left.position == 3
    assert node.position == 10  # the operator
    assert node.right.position == 13
    assert parse("a==1") == parse("a  ==  1")


@pytest.mark.parametrize(
    "text",
    [
        'intent == "billing"',
        "a or b and c",
        "(a or b) and c",
        "not (a and b)",
        "not not a",
        "(a and b) and c",
        'x in [1, "two", null, true, [3]]',
        "(a == 1) == (b != 2)",
        'customer.vip and not risk contains "fraud"',
        '"line\\nbreak \\"q\\" \\\\"',
        "sentiment < -0.5 or attempts >= 3",
        "x == 1e+16",
    ],
)
def test_render_gives_text_that_parses_to_the_same_tree(text):
    node = parse(text)
    assert parse(render(node)) == node


def test_render_is_canonical():
    assert render(parse("( a )or(b and(c))")) == "a or b and c"
    assert render(parse("x=='it\\'s'")) == 'x == "it\'s"'
