"""Hypothesis strategies for the condition language: trees, contexts and token soup."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import settings
from hypothesis import strategies as st

from rules import (
    And,
    Compare,
    ListLiteral,
    Literal,
    Name,
    Not,
    Or,
    Sum,
)
from rules.nodes import (
    ARITHMETIC_OPERATORS,
    OPERATORS,
    children,
)
from rules.tokens import KEYWORDS

# No example database: these tests write nothing to the working tree.
PROPERTY_SETTINGS = settings(max_examples=250, deadline=None, database=None)

CONTEXT_KEYS = ["intent", "risk", "n", "customer", "params", "vip", "tier", "amount", "a"]

known_paths = st.sampled_from(
    [
        ("intent",),
        ("risk",),
        ("n",),
        ("a",),
        ("customer", "vip"),
        ("customer", "tier"),
        ("customer", "in"),
        ("params", "amount"),
        ("a", "b", "c"),
    ]
)
identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
random_paths = st.lists(identifiers, min_size=1, max_size=3).filter(
    lambda parts: parts[0] not in KEYWORDS
)
names = st.one_of(known_paths, random_paths.map(tuple)).map(Name)

short_strings = st.one_of(
    st.sampled_from(["", "a", "ab", "billing", "frustration"]), st.text(max_size=6)
)
literal_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    short_strings,
)
literals = literal_values.map(Literal)
constant_lists = st.lists(literals, max_size=4).map(lambda items: ListLiteral(tuple(items)))
homogeneous_lists = st.one_of(
    st.lists(short_strings.map(Literal), min_size=1, max_size=4),
    st.lists(st.integers(-5, 5).map(Literal), min_size=1, max_size=4),
).map(lambda items: ListLiteral(tuple(items)))
operators = st.sampled_from(OPERATORS)


def _sum(items: list, ops: list) -> Sum:
    return Sum(tuple(items), tuple(ops[: len(items) - 1]))


sums = st.builds(
    _sum,
    st.lists(st.one_of(names, st.integers(-5, 5).map(Literal)), min_size=2, max_size=3),
    st.lists(st.sampled_from(ARITHMETIC_OPERATORS), min_size=2, max_size=2),
)


# The shapes rules mostly have (and the compiler specialises).
typical_comparisons = st.one_of(
    st.builds(Compare, operators, names, literals),
    st.builds(Compare, operators, literals, names),
    st.builds(Compare, st.sampled_from(["in", "not in"]), names, homogeneous_lists),
    st.builds(Compare, operators, names, constant_lists),
    st.builds(Compare, operators, sums, literals),
    st.builds(Compare, operators, names, sums),
)


def _extend(inner):
    items = st.lists(inner, min_size=2, max_size=3).map(tuple)
    return st.one_of(
        st.builds(
            _sum,
            st.lists(inner, min_size=2, max_size=3),
            st.lists(st.sampled_from(ARITHMETIC_OPERATORS), min_size=2, max_size=2),
        ),
        st.builds(Compare, operators, inner, inner),
        items.map(And),
        items.map(Or),
        inner.map(Not),
        st.lists(inner, max_size=3).map(lambda parts: ListLiteral(tuple(parts))),
    )


def height(node) -> int:
    return 1 + max((height(child) for child in children(node)), default=0)


trees = st.recursive(
    st.one_of(literals, names, typical_comparisons), _extend, max_leaves=10
).filter(lambda node: height(node) <= 12)

# Run-time values, deliberately including the wrong types, NaN, Decimals and tuples.
scalar_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.floats(),
    st.decimals(places=2, max_value=Decimal(1000), min_value=Decimal(-1000)),
    st.just(Decimal("NaN")),
    short_strings,
)
values = st.recursive(
    scalar_values,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(st.sampled_from([*CONTEXT_KEYS, "b", "c"]), inner, max_size=3),
    ),
    max_leaves=8,
)
contexts = st.dictionaries(st.sampled_from(CONTEXT_KEYS), values, max_size=6)

LANGUAGE_TOKENS = [
    "intent", "sentiment", "risk", "customer", "params", "amount", "vip", "x", "AND",
    ".", ",", "(", ")", "[", "]",
    "==", "!=", "<", "<=", ">", ">=", "=", "!", "&&", "||", "-",
    "in", "not", "contains", "and", "or", "true", "false", "null", "+", "-",
    "0", "1", "-1", "1.5", "1e3", "1e999", "1.", "007",
    '"billing"', "'b'", '"', "'", "\\", '"\\q"', '"\\u12"', "é", "\n", "\t", " ", "\x00",
]  # fmt: skip
token_soup = st.lists(st.sampled_from(LANGUAGE_TOKENS), max_size=25).flatmap(
    lambda parts: st.sampled_from([" ".join(parts), "".join(parts)])
)


@st.composite
def mutated_texts(draw):
    """Valid condition text with one slice replaced by a token: errors near valid input."""
    from rules import render

    text = render(draw(trees))
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + 6)))
    insert = draw(st.one_of(st.just(""), st.sampled_from(LANGUAGE_TOKENS)))
    return text[:start] + insert + text[end:]
