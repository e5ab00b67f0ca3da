"""Every failure is a ConditionError naming the column and what was expected."""

import pickle

import pytest

from rules import (
    MAX_DEPTH,
    MAX_LENGTH,
    ConditionError,
    compile_condition,
    handoff_schema,
    parse,
)


def error_for(text):
    with pytest.raises(ConditionError) as caught:
        compile_condition(text, handoff_schema())
    return caught.value


def test_error_carries_position_message_and_column_text():
    error = error_for("intent == ")

    assert error.position == 11
    assert error.message == "expected a value after '=='"
    assert str(error) == "column 11: expected a value after '=='"
    assert isinstance(error, ValueError)


def test_error_survives_pickling():
    error = error_for("intent == ")
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.position, copy.message, str(copy)) == (11, error.message, str(error))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "column 1: expected a condition, found an empty text"),
        ("   ", "column 1: expected a condition, found an empty text"),
        ("intent == ", "column 11: expected a value after '=='"),
        ("intent != )", "column 11: expected a value after '!=', found ')'"),
        ("risk contains", "column 14: expected a value after 'contains'"),
        ("intent not in", "column 14: expected a value after 'not in'"),
        ("intent in and", "column 11: expected a value after 'in', found 'and'"),
        ("turns > 1 and", "column 14: expected a condition after 'and'"),
        ("turns > 1 or or", "column 14: expected a condition after 'or', found 'or'"),
        ("not", "column 4: expected a condition after 'not'"),
        ("(", "column 2: expected a condition after '(' at column 1"),
        ("((turns > 1)", "column 13: expected ')' to close '(' opened at column 1"),
        ("x and (turns > 1", "column 17: expected ')' to close '(' opened at column 7"),
        (
            "(turns > 1 channel",
            "column 12: expected ')' to close '(' opened at column 1, found name 'channel'",
        ),
        ("turns > 1)", "column 10: unexpected ')' without a matching '('"),
        (
            "turns > 1 channel",
            "column 11: expected 'and', 'or' or the end of the condition, found name 'channel'",
        ),
        (
            "1 < turns < 5",
            "column 11: unexpected '<': comparisons cannot be chained; join them with 'and'",
        ),
        (
            "intent in risk in risk",
            "column 16: unexpected 'in': comparisons cannot be chained; join them with 'and'",
        ),
        ("intent not risk", "column 12: expected 'in' after 'not', found name 'risk'"),
        ("intent not", "column 11: expected 'in' after 'not'"),
        ("intent in [", "column 12: expected a value in the list opened at column 11"),
        ("intent in [1,", "column 14: expected a value after ','"),
        ("intent in [1,]", "column 14: expected a value after ',', found ']'"),
        (
            "intent in [1 2]",
            "column 14: expected ',' or ']' to close the list opened at column 11, found number 2",
        ),
        ("customer.", "column 10: expected an attribute name after '.' at column 9"),
        (
            "customer.1",
            "column 10: expected an attribute name after '.' at column 9, found number 1",
        ),
        (
            'intent == "billing',
            'column 19: unterminated string: expected a closing " '
            "for the string opened at column 11",
        ),
        (
            "intent == 'x\\'",
            "column 15: unterminated string: expected a closing ' "
            "for the string opened at column 11",
        ),
        (
            'intent == "\\q"',
            "column 12: unknown escape '\\q' in a string "
            "(use \\\\, \\', \\\", \\n, \\t, \\r, \\0 or \\uXXXX)",
        ),
        ('intent == "\\u12"', "column 14: expected four hex digits after '\\u'"),
        ('intent == "\\', "column 13: expected an escaped character after '\\'"),
        ('intent = "x"', "column 8: unexpected '='; use '==' to compare"),
        ("! customer.vip", "column 1: unexpected '!'; use '!=' or 'not'"),
        ("turns > 1 && x", "column 11: unexpected '&&'; use 'and'"),
        ("turns > 1 || x", "column 11: unexpected '||'; use 'or'"),
        ("turns > -", "column 10: expected a digit after '-'"),
        ("turns > 1.", "column 11: expected a digit after '.' in a number"),
        ("turns > 1e", "column 11: expected digits in the exponent of a number"),
        (
            "turns > 3x",
            "column 10: unexpected character 'x' in a number; names cannot start with a digit",
        ),
        ("turns > 1e999", "column 9: number 1e999 is too large"),
        ("intent == 'x' ; drop", "column 15: unexpected character ';'"),
        ("intent\x00", "column 7: unexpected character U+0000"),
        ("AND", "column 1: unknown name 'AND'; keywords are lowercase: did you mean 'and'?"),
        (
            "turns > 1 OR x",
            "column 11: expected 'and', 'or' or the end of the condition, found name 'OR'",
        ),
    ],
)
def test_syntax_errors_name_the_column_and_what_was_expected(text, expected):
    assert str(error_for(text)) == expected


def test_non_text_input_is_a_condition_error():
    with pytest.raises(ConditionError, match="must be text"):
        parse(None)
    with pytest.raises(ConditionError, match="must be text"):
        parse(b"intent")


def test_over_long_input_is_rejected():
    text = "intent == 'x' or " * 200 + "turns > 1"
    error = error_for(text)
    assert error.position == MAX_LENGTH + 1
    assert f"the limit is {MAX_LENGTH}" in error.message
    assert str(len(text)) in error.message


def test_input_at_the_length_limit_is_fine():
    text = "turns > 1" + " " * (MAX_LENGTH - 9)
    assert len(text) == MAX_LENGTH
    assert compile_condition(text, handoff_schema())({"turns": 2})


@pytest.mark.parametrize(
    "text",
    [
        "(" * 500 + "turns > 1" + ")" * 500,
        "not " * 300 + "customer.vip",
        "intent in " + "[" * 600 + "]" * 600,
        "turns == " + "(" * 40 + "1" + ")" * 40,
    ],
)
def test_deep_nesting_is_rejected_with_a_condition_error(text):
    error = error_for(text)
    assert f"nesting is deeper than {MAX_DEPTH} levels" in error.message


def test_nesting_up_to_the_limit_is_fine():
    text = "(" * MAX_DEPTH + "turns > 1" + ")" * MAX_DEPTH
    assert compile_condition(text, handoff_schema())({"turns": 2})
    text = "not " * MAX_DEPTH + "customer.vip"  # an even number of 'not's
    assert compile_condition(text, handoff_schema())({"customer": {"vip": True}}) is True


def test_nesting_column_points_at_the_first_token_too_deep():
    error = error_for("(" * (MAX_DEPTH + 1) + "turns > 1" + ")" * (MAX_DEPTH + 1))
    assert error.position == MAX_DEPTH + 1


def test_huge_flat_input_within_the_limit_does_not_overflow_anything():
    text = " or ".join(["turns > 1"] * 150)
    assert len(text) < MAX_LENGTH
    assert compile_condition(text, handoff_schema())({"turns": 0}) is False
