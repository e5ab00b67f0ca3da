"""Lint for conditions: what a valid condition may still get wrong (SPEC 5, issue 20).

Validation (``rules.validation``) refuses what cannot run: unknown names, wrong types. The lint
warns about what runs but cannot be what the author meant, without refusing it:

- a value that is not one of a name's known values (``intent == "biling"``: no such intent,
  with the closest known one), for names whose values are enumerated (``Vocabulary``);
- a condition that can never hold (``intent == "billing" and intent == "refund"``);
- in an ordered list where the first match wins, a condition that can only hold when an
  earlier one already does, so it never fires (``intent == "billing"`` then
  ``intent == "billing" and sentiment < 0``; or anything after ``... or true``).

Both are decided exactly for the comparisons on enumerated names (``name == "v"``,
``name != "v"``, ``name in [...]``, ``name not in [...]``, and for list-valued names
``"v" in name`` / ``name contains "v"``): a scalar name holds at most one value, a list may
hold any. Every other comparison (``sentiment < -0.5``) is an opaque atom, the same atom
wherever the same text appears, independent of the others. Treating atoms as independent
only adds cases, so "never holds" and "shadowed" are never claimed wrongly; a case the
analysis cannot see (two different thresholds on one number) is left unreported. Conditions
with more atoms than ``MAX_CASES`` allows, or a rule whose check would evaluate more than
``MAX_WORK`` conditions, are not analysed (so a save stays fast with 100 rules).

Pure Python, no Django; the agent-aware part (which intents, agents, domains exist) is
``agents.rule_lint``.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .nodes import And, Compare, ListLiteral, Literal, Name, Node, Not, Or
from .render import render, render_value

MAX_CASES = 4096  # assignments enumerated for one question, at most
MAX_WORK = 200_000  # and conditions evaluated over them to decide one rule's shadowing

# codes
UNKNOWN_VALUE = "unknown_value"
NEVER_HOLDS = "never_holds"
SHADOWED = "shadowed"


@dataclass(frozen=True)
class Finding:
    """One warning: where (``handoffs[1].condition``), a stable code, and a sentence."""

    path: str
    code: str
    message: str
    value: Any = field(default=None, compare=False)  # the value it is about, if any

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class Enumerated:
    """A name whose values are enumerated. ``values`` None: any value (still analysed for
    shadowing); ``label`` names the kind of value in messages (``intent``); ``code`` is the
    finding's code for an unknown value (``unknown_intent``)."""

    label: str
    values: frozenset[str] | None = None
    is_list: bool = False
    code: str = UNKNOWN_VALUE
    hint: str = ""  # what the known values are, for the message ("the tenant's intents")


@dataclass(frozen=True)
class Vocabulary:
    """The enumerated names of one context, by dotted name (``intent``, ``risk``)."""

    names: Mapping[str, Enumerated] = field(default_factory=dict)

    def get(self, node: Node) -> Enumerated | None:
        return self.names.get(node.dotted) if isinstance(node, Name) else None


# --- atoms -----------------------------------------------------------------------------------
#
# What a context can hold, as ``rules.runtime`` reads it: a scalar enumerated name is one of the
# strings mentioned, another string, null, or a value of another kind (a caller's override);
# a list-valued one is not a list (null, or another kind) or a list holding any subset of the
# values mentioned. ``!=`` and ``not in`` are false when a side is null or of another kind, so
# they are not the negation of ``==`` and ``in``: the atoms below keep that apart.

_OTHER_STRING = "\x00other string"  # a string none of the conditions mentions
_NULL = "\x00null"
_OTHER_KIND = "\x00other kind"  # a number, a boolean, a list ...
_NOT_A_LIST = "\x00not a list"


@dataclass(frozen=True)
class _Is:
    """A scalar enumerated name holds the string ``value``."""

    name: str
    value: str


@dataclass(frozen=True)
class _IsString:
    """A scalar enumerated name holds a string (any)."""

    name: str


@dataclass(frozen=True)
class _IsNull:
    name: str


@dataclass(frozen=True)
class _Has:
    """A list-valued enumerated name is a list holding ``value``."""

    name: str
    value: Any


@dataclass(frozen=True)
class _IsList:
    name: str


@dataclass(frozen=True)
class _Opaque:
    """Any other comparison, by its text: the same text is the same atom."""

    text: str


def _string_items(node: Node) -> list[str] | None:
    """The items of a list literal of strings, else None."""
    if not isinstance(node, ListLiteral):
        return None
    if not all(isinstance(item, Literal) and isinstance(item.value, str) for item in node.items):
        return None
    return [
        item.value
        for item in node.items
        if isinstance(item, Literal) and isinstance(item.value, str)
    ]


def _formula(node: Node, vocabulary: Vocabulary) -> Any:
    """The condition as a formula over atoms: ("and", [...]), ("or", [...]), ("not", f),
    a bool constant, or an atom."""
    if isinstance(node, And):
        return ("and", [_formula(item, vocabulary) for item in node.items])
    if isinstance(node, Or):
        return ("or", [_formula(item, vocabulary) for item in node.items])
    if isinstance(node, Not):
        return ("not", _formula(node.operand, vocabulary))
    if isinstance(node, Literal):
        return bool(node.value)  # a bare value is true when Python would call it true
    if isinstance(node, ListLiteral):
        return bool(node.items)
    if isinstance(node, Compare):
        atom = _compare_formula(node, vocabulary)
        if atom is not None:
            return atom
    return _Opaque(render(node))


def _compare_formula(node: Compare, vocabulary: Vocabulary) -> Any:
    left, right, op = node.left, node.right, node.op
    if (
        isinstance(left, Literal)
        and isinstance(right, Literal)
        and None in (left.value, right.value)
    ):
        both = left.value is None and right.value is None
        return both if op == "==" else (not both if op == "!=" else False)
    for name_node, value_node, flipped in ((left, right, False), (right, left, True)):
        spec = vocabulary.get(name_node)
        if spec is None or not isinstance(name_node, Name):
            continue
        name = name_node.dotted
        value = value_node.value if isinstance(value_node, Literal) else _OTHER_KIND
        if not spec.is_list:
            if op in ("==", "!=") and value is None:
                return _IsNull(name) if op == "==" else ("not", _IsNull(name))
            if op == "==" and isinstance(value, str):
                return _Is(name, value)
            if op == "!=" and isinstance(value, str):
                return ("and", [_IsString(name), ("not", _Is(name, value))])
            items = _string_items(value_node) if not flipped else None
            if op == "in" and items is not None:
                return ("or", [_Is(name, v) for v in items])
            if op == "not in" and items is not None:
                return (
                    "and",
                    [("not", _IsNull(name)), ("not", ("or", [_Is(name, v) for v in items]))],
                )
        else:
            membership = (op in ("in", "not in") and flipped) or (op == "contains" and not flipped)
            if membership and isinstance(value, str):
                if op == "not in":
                    return ("and", [_IsList(name), ("not", _Has(name, value))])
                return _Has(name, value)
    return None


def _atoms(formula: Any, into: dict[Any, None]) -> None:
    if isinstance(formula, tuple):
        _, parts = formula
        for part in parts if isinstance(parts, list) else [parts]:
            _atoms(part, into)
    elif not isinstance(formula, bool):
        into.setdefault(formula, None)


def _compiled(formula: Any, index: Mapping[Any, int]) -> Callable[[tuple[bool, ...]], bool]:
    """The formula as a function of a case (a tuple of the atoms' truth, in ``index``'s
    order): built once per check, evaluated for every case."""
    if isinstance(formula, bool):
        return lambda case: formula
    if isinstance(formula, tuple):
        kind, parts = formula
        if kind == "not":
            inner = _compiled(parts, index)
            return lambda case: not inner(case)
        each = [_compiled(part, index) for part in parts]
        if kind == "and":
            return lambda case: all(f(case) for f in each)
        return lambda case: any(f(case) for f in each)
    position = index[formula]
    return lambda case: case[position]


def _cases(
    formulas: Iterable[Any],
) -> tuple[int, dict[Any, int], Iterator[tuple[bool, ...]]]:
    """How many assignments of the atoms of ``formulas`` a real context could give, where each
    atom sits in a case, and an iterator over the cases (lazy: a check that finds its answer
    early stops early)."""
    atoms: dict[Any, None] = {}
    for formula in formulas:
        _atoms(formula, atoms)
    scalars: dict[str, list[str]] = {}
    lists: dict[str, list[Any]] = {}
    free: list[Any] = []
    for atom in atoms:
        if isinstance(atom, _Is):
            scalars.setdefault(atom.name, [])
            if atom.value not in scalars[atom.name]:
                scalars[atom.name].append(atom.value)
        elif isinstance(atom, _IsString | _IsNull):
            scalars.setdefault(atom.name, [])
        elif isinstance(atom, _Has):
            lists.setdefault(atom.name, [])
            if atom.value not in lists[atom.name]:
                lists[atom.name].append(atom.value)
        elif isinstance(atom, _IsList):
            lists.setdefault(atom.name, [])
        else:
            free.append(atom)
    # each name's states (a scalar's value; a list's members, or not a list), as the truth of
    # that name's atoms; a case is one state of every name, its atoms' truth side by side
    dimensions: list[tuple[list[Any], list[tuple[bool, ...]]]] = []
    for name, values in scalars.items():
        names = [*(_Is(name, v) for v in values), _IsString(name), _IsNull(name)]
        states = [
            (*(state == v for v in values), state not in (_NULL, _OTHER_KIND), state == _NULL)
            for state in [*values, _OTHER_STRING, _NULL, _OTHER_KIND]
        ]
        dimensions.append((names, states))
    for name, values in lists.items():
        names = [_IsList(name), *(_Has(name, v) for v in values)]
        states = [(False, *(False for _ in values))]
        states += [(True, *bits) for bits in itertools.product((False, True), repeat=len(values))]
        dimensions.append((names, states))
    dimensions.extend(([atom], [(False,), (True,)]) for atom in free)
    index = {atom: i for i, atom in enumerate(a for names, _ in dimensions for a in names)}
    size = 1
    for _, states in dimensions:
        size *= len(states)
        if size > MAX_CASES:
            break

    def each() -> Iterator[tuple[bool, ...]]:
        chain = itertools.chain.from_iterable
        for picked in itertools.product(*(states for _, states in dimensions)):
            yield tuple(chain(picked))

    return size, index, each()


# --- the checks ------------------------------------------------------------------------------


def _close(value: str, known: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(value, sorted(known), n=1, cutoff=0.6)
    return found[0] if found else None


def unknown_value_message(value: str, spec: Enumerated) -> str:
    close = _close(value, spec.values or ())
    hint = f", did you mean {render_value(close)}?" if close else ""
    known = ", ".join(sorted(spec.values or ())) or "none"
    where = f" {spec.hint}" if spec.hint else ""
    return f"{render_value(value)} is not a known {spec.label}{hint} (known{where}: {known})"


def unknown_values(node: Node, vocabulary: Vocabulary, path: str) -> list[Finding]:
    """A value compared with an enumerated name that is not one of its known values."""
    findings: list[Finding] = []
    seen: set[tuple[str, Any]] = set()

    def check(spec: Enumerated, name: str, value: Any) -> None:
        if spec.values is None or not isinstance(value, str) or value in spec.values:
            return
        if (name, value) in seen:
            return
        seen.add((name, value))
        findings.append(Finding(path, spec.code, unknown_value_message(value, spec), value))

    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, And | Or):
            stack.extend(reversed(current.items))
        elif isinstance(current, Not):
            stack.append(current.operand)
        elif isinstance(current, Compare):
            for name_node, other in ((current.left, current.right), (current.right, current.left)):
                spec = vocabulary.get(name_node)
                if spec is None or not isinstance(name_node, Name):
                    continue
                if isinstance(other, Literal):
                    check(spec, name_node.dotted, other.value)
                for value in _string_items(other) or ():
                    check(spec, name_node.dotted, value)
    return findings


def never_holds(node: Node, vocabulary: Vocabulary) -> bool:
    """Whether the condition is false in every context the analysis can tell apart."""
    formula = _formula(node, vocabulary)
    size, index, cases = _cases([formula])
    if size > MAX_CASES:
        return False
    holds = _compiled(formula, index)
    return not any(holds(case) for case in cases)


def lint_condition(node: Node, vocabulary: Vocabulary, path: str) -> list[Finding]:
    """Unknown values, and a condition that can never hold."""
    findings = unknown_values(node, vocabulary, path)
    if never_holds(node, vocabulary):
        findings.append(
            Finding(path, NEVER_HOLDS, f"'{render(node)}' can never hold: it never fires")
        )
    return findings


def lint_first_match(
    rules: Sequence[tuple[str, Node | None]], vocabulary: Vocabulary, *, what: str = "rule"
) -> list[Finding]:
    """``rules`` are ``(path, condition)`` in order, the first that holds wins (a None
    condition: unparseable, skipped). Each rule's own findings, and each rule that can only
    hold when an earlier one does (shadowed: it never fires), naming the earlier ones."""
    findings: list[Finding] = []
    earlier: list[tuple[int, Any]] = []
    for index, (path, node) in enumerate(rules):
        if node is None:
            continue
        own = lint_condition(node, vocabulary, path)
        findings.extend(own)
        formula = _formula(node, vocabulary)
        if earlier and not any(f.code == NEVER_HOLDS for f in own):
            by = _shadowed_by(formula, earlier)
            if by:
                names = " and ".join(f"{what} {i + 1}" for i in by)
                findings.append(
                    Finding(
                        path,
                        SHADOWED,
                        f"{what} {index + 1} ('{render(node)}') never fires: whenever it holds, "
                        f"{names} before it already matches",
                    )
                )
        earlier.append((index, formula))
    return findings


def _shadowed_by(formula: Any, earlier: list[tuple[int, Any]]) -> list[int] | None:
    """The earlier rules that together cover every case of ``formula``, or None when one of
    its cases is left to it (or there are too many cases to tell)."""
    size, index, cases = _cases([formula, *(f for _, f in earlier)])
    if size > MAX_CASES or size * (len(earlier) + 1) > MAX_WORK:
        return None
    holds = _compiled(formula, index)
    before = [(i, _compiled(f, index)) for i, f in earlier]
    holding: list[tuple[bool, ...]] = []
    used: dict[int, None] = {}
    for case in cases:
        if not holds(case):
            continue
        first = next((i for i, f in before if f(case)), None)
        if first is None:
            return None  # a case only this rule takes: not shadowed (most rules stop here)
        used.setdefault(first, None)
        holding.append(case)
    if not holding:
        return None
    for i, other in before:  # one earlier rule that covers it alone, when there is one
        if all(other(case) for case in holding):
            return [i]
    return sorted(used)
