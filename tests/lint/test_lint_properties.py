"""The lint is sound, checked against the interpreter: a condition it says never holds is false
in every context, and a rule it says is shadowed never holds where every earlier rule is false.
Contexts cover every state the analysis tells apart (each mentioned value, another string,
null, another kind; a list with any of the values, or no list)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from rules import interpret, parse
from rules.lint import SHADOWED, Enumerated, Vocabulary, lint_first_match, never_holds
from tests.rules.strategies import PROPERTY_SETTINGS

VOCABULARY = Vocabulary(
    {
        "intent": Enumerated("intent", frozenset({"a", "b", "c"})),
        "risk": Enumerated("risk category", frozenset({"x", "y"}), is_list=True),
    }
)
ATOMS = [
    'intent == "a"',
    'intent == "b"',
    'intent != "a"',
    'intent != "c"',
    'intent in ["a", "c"]',
    'intent not in ["b"]',
    "intent == null",
    "intent != null",
    '"x" in risk',
    '"y" not in risk',
    'risk contains "y"',
    "sentiment < 0",
    "sentiment > 0.5",
    "true",
    "false",
]
CONTEXTS = [
    {"intent": intent, "risk": risk, "sentiment": sentiment}
    for intent, risk, sentiment in itertools.product(
        ["a", "b", "c", "d", None, 5],
        [None, 7, [], ["x"], ["y"], ["x", "y"], ["z"]],
        [-1, 0.2, 0.8, None],
    )
]


def _conditions():
    atom = st.sampled_from(ATOMS)

    def extend(inner):
        return st.one_of(
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) and ({p[1]})"),
            st.tuples(inner, inner).map(lambda p: f"({p[0]}) or ({p[1]})"),
            inner.map(lambda p: f"not ({p})"),
        )

    return st.recursive(atom, extend, max_leaves=5)


@PROPERTY_SETTINGS
@given(_conditions())
def test_a_condition_said_never_to_hold_is_false_everywhere(text):
    node = parse(text)
    if never_holds(node, VOCABULARY):
        assert not any(interpret(node, context) for context in CONTEXTS), text


@PROPERTY_SETTINGS
@given(st.lists(_conditions(), min_size=2, max_size=4))
def test_a_rule_said_to_be_shadowed_never_fires(texts):
    nodes = [parse(text) for text in texts]
    findings = lint_first_match([(str(i), n) for i, n in enumerate(nodes)], VOCABULARY)
    for finding in findings:
        if finding.code != SHADOWED:
            continue
        index = int(finding.path)
        for context in CONTEXTS:
            if interpret(nodes[index], context):
                assert any(interpret(n, context) for n in nodes[:index]), (texts, context)


def test_the_properties_can_see_shadowing():
    """The generator reaches the cases the properties are about."""
    texts = ['intent in ["a", "c"]', 'intent == "a" and "x" in risk']
    findings = lint_first_match([(str(i), parse(t)) for i, t in enumerate(texts)], VOCABULARY)
    assert [f.code for f in findings] == [SHADOWED]
    assert never_holds(parse("intent != null and intent == null"), VOCABULARY)
