"""Property tests: no input raises anything but ConditionError; trees round-trip through text;
compiled evaluation agrees with the reference interpreter."""

from hypothesis import given
from hypothesis import strategies as st

from rules import (
    ConditionError,
    Schema,
    approval_schema,
    compile_condition,
    compile_node,
    explain,
    handoff_schema,
    interpret,
    parse,
    render,
    validate,
    workflow_schema,
)
from rules.compiler import CompiledCondition

from .strategies import PROPERTY_SETTINGS, contexts, mutated_texts, token_soup, trees

SCHEMAS = [
    handoff_schema(),
    approval_schema({"amount": "number"}),
    workflow_schema(["category"]),
    Schema.anything(),
]


def _only_condition_errors(text, context):
    for schema in SCHEMAS:
        try:
            condition = compile_condition(text, schema)
        except ConditionError as error:
            assert isinstance(error.position, int)
            assert 1 <= error.position <= max(len(text), 2000) + 1
            assert str(error).startswith(f"column {error.position}: ")
            continue
        assert type(condition(context)) is bool


@PROPERTY_SETTINGS
@given(st.text(max_size=60), contexts)
def test_arbitrary_text_raises_nothing_but_condition_error(text, context):
    _only_condition_errors(text, context)


@PROPERTY_SETTINGS
@given(token_soup, contexts)
def test_token_soup_raises_nothing_but_condition_error(text, context):
    _only_condition_errors(text, context)


@PROPERTY_SETTINGS
@given(mutated_texts(), contexts)
def test_damaged_conditions_raise_nothing_but_condition_error(text, context):
    _only_condition_errors(text, context)


@PROPERTY_SETTINGS
@given(trees)
def test_rendered_trees_parse_back_to_the_same_tree(tree):
    text = render(tree)

    parsed = parse(text)

    assert parsed == tree
    assert render(parsed) == text


@PROPERTY_SETTINGS
@given(trees, st.lists(contexts, min_size=1, max_size=4))
def test_compiled_and_interpreted_evaluation_agree(tree, context_list):
    predicate = compile_node(tree)
    condition = CompiledCondition(render(tree), tree, predicate)
    for context in context_list:
        expected = interpret(tree, context)
        assert type(expected) is bool
        assert predicate(context) is expected
        assert condition(context) is expected
        assert explain(tree, context).result is expected


@PROPERTY_SETTINGS
@given(trees, contexts)
def test_validation_of_random_trees_raises_only_condition_error(tree, context):
    for schema in SCHEMAS:
        try:
            validate(tree, schema)
        except ConditionError:
            continue
        assert compile_condition(render(tree), schema)(context) is interpret(tree, context)
