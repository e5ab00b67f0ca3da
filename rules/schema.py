"""Value types and schemas: which names a condition may use, and their types.

A ``Schema`` maps dotted names to types, plus prefixes such as ``customer.*`` under which any
attribute is allowed (type ``any``). Ready-made builders cover the three places conditions are
used: handoff rules, approval thresholds and workflow steps.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


@dataclass(frozen=True, slots=True)
class Type:
    """A value type: string, number, boolean, null, any, or a list of an item type."""

    kind: str
    item: Type | None = None

    def __str__(self) -> str:
        if self.kind == "list":
            if self.item is None or self.item.kind == "any":
                return "list"
            return f"list of {self.item}"
        return self.kind

    @property
    def is_any(self) -> bool:
        return self.kind == "any"


STRING = Type("string")
NUMBER = Type("number")
BOOLEAN = Type("boolean")
NULL = Type("null")
ANY = Type("any")
LIST = Type("list", ANY)
LIST_OF_STRING = Type("list", STRING)
LIST_OF_NUMBER = Type("list", NUMBER)

_TYPE_NAMES: dict[str, Type] = {
    "string": STRING,
    "str": STRING,
    "number": NUMBER,
    "int": NUMBER,
    "integer": NUMBER,
    "float": NUMBER,
    "decimal": NUMBER,
    "boolean": BOOLEAN,
    "bool": BOOLEAN,
    "any": ANY,
    "list": LIST,
    "array": LIST,
}


def list_of(item: Type | str) -> Type:
    return Type("list", as_type(item))


def as_type(spec: Type | str) -> Type:
    """A Type from a Type or a name: 'string', 'number', 'boolean', 'any', 'list',
    'list[string]' / 'list of string'. Raises ValueError for anything else."""
    if isinstance(spec, Type):
        return spec
    if isinstance(spec, str):
        text = spec.strip().lower()
        if text in _TYPE_NAMES:
            return _TYPE_NAMES[text]
        for prefix, suffix in (("list[", "]"), ("list of ", "")):
            if text.startswith(prefix) and text.endswith(suffix):
                inner = text[len(prefix) : len(text) - len(suffix)]
                return list_of(as_type(inner))
    raise ValueError(f"unknown type {spec!r} (use string, number, boolean, any, list[...])")


def type_from_json_schema(schema: Mapping[str, Any] | None) -> Type:
    """Our type for a JSON Schema fragment, e.g. an action's parameter description."""
    if not isinstance(schema, Mapping):
        return ANY
    kind = schema.get("type")
    if isinstance(kind, list):  # ["number", "null"] -> number (null is always allowed)
        kinds = [k for k in kind if k != "null"]
        kind = kinds[0] if len(kinds) == 1 else None
    if kind in ("number", "integer"):
        return NUMBER
    if kind == "string":
        return STRING
    if kind == "boolean":
        return BOOLEAN
    if kind == "array":
        return list_of(type_from_json_schema(schema.get("items")))
    return ANY


def compatible(a: Type, b: Type) -> bool:
    """Whether values of the two types can sensibly be compared with '==' / '!='."""
    if a.kind in ("any", "null") or b.kind in ("any", "null"):
        return True
    if a.kind != b.kind:
        return False
    if a.kind == "list":
        return compatible(a.item or ANY, b.item or ANY)
    return True


class Schema:
    """The names a condition may use in one context, with their types.

    ``names`` maps dotted names to types (a Type or a type name). A key ending in ``.*``
    (``"customer.*"``) allows every attribute below that prefix, at any depth, with that type
    (normally ``any``). Schemas are immutable; ``extend`` returns a new one.
    """

    __slots__ = ("_exact", "_prefixes")

    def __init__(self, names: Mapping[str, Type | str] | None = None) -> None:
        exact: dict[tuple[str, ...], Type] = {}
        prefixes: dict[tuple[str, ...], Type] = {}
        for key, spec in (names or {}).items():
            if not isinstance(key, str):
                raise ValueError(f"schema names must be text, not {key!r}")
            target = exact
            name = key
            if key.endswith(".*"):
                target, name = prefixes, key[:-2]
            if not _NAME_RE.fullmatch(name):
                raise ValueError(f"invalid name {key!r} in a condition schema")
            target[tuple(name.split("."))] = as_type(spec)
        self._exact = exact
        self._prefixes = prefixes

    @classmethod
    def anything(cls) -> Schema:
        """A schema that accepts every name with type ``any`` (tests, previews)."""
        schema = cls()
        schema._prefixes = {(): ANY}
        return schema

    def extend(self, names: Mapping[str, Type | str]) -> Schema:
        """A new schema with ``names`` added (replacing entries of the same name)."""
        merged = Schema(names)
        new = Schema()
        new._exact = {**self._exact, **merged._exact}
        new._prefixes = {**self._prefixes, **merged._prefixes}
        return new

    def lookup(self, path: tuple[str, ...]) -> Type | None:
        """The type of a name, or None when the schema does not know it."""
        found = self._exact.get(path)
        if found is not None:
            return found
        for size in range(len(path) - 1, -1, -1):
            found = self._prefixes.get(path[:size])
            if found is not None:
                return found
        return None

    def known(self) -> list[str]:
        """Names for error messages, in declaration order (prefixes as 'customer.<attribute>')."""
        known = [".".join(path) for path in self._exact]
        known += [".".join(path) + ".<attribute>" for path in self._prefixes if path]
        return known

    def unknown_name_message(self, path: tuple[str, ...]) -> str:
        dotted = ".".join(path)
        if path in self._prefixes:
            return f"'{dotted}' needs an attribute: {dotted}.<attribute>"
        known = self.known()
        candidates = [name for name in known if not name.endswith("<attribute>")]
        close = difflib.get_close_matches(dotted, candidates, n=1, cutoff=0.7)
        hint = f", did you mean '{close[0]}'?" if close else ""
        shown = ", ".join(known[:15]) + (", ..." if len(known) > 15 else "")
        listing = f" (known: {shown})" if known else " (no names are available here)"
        return f"unknown name '{dotted}'{hint}{listing}"

    def as_dict(self) -> dict[str, str]:
        """Names and type names, e.g. for the admin's help text."""
        described = {".".join(path): str(kind) for path, kind in self._exact.items()}
        for path, kind in self._prefixes.items():
            described[".".join((*path, "*")) if path else "*"] = str(kind)
        return described

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Schema):
            return NotImplemented
        return self._exact == other._exact and self._prefixes == other._prefixes

    def __hash__(self) -> int:
        return hash((frozenset(self._exact.items()), frozenset(self._prefixes.items())))

    def __repr__(self) -> str:
        return f"Schema({self.as_dict()!r})"


# -- ready-made schemas -----------------------------------------------------------------------

CONVERSATION_NAMES: dict[str, Type | str] = {
    "intent": STRING,
    "sentiment": NUMBER,
    "risk": LIST_OF_STRING,
    "channel": STRING,
    "attempts": NUMBER,
    "turns": NUMBER,
    "language": STRING,
    "customer.*": ANY,
    "verified": BOOLEAN,
}
"""What every condition can read about the conversation (SPEC section 5)."""


def handoff_schema() -> Schema:
    """Names available to handoff rules: intent, sentiment, risk, channel, attempts, turns,
    language, customer.<attribute> and verified (the customer signed in on the tenant's
    website, which signed who they are)."""
    return Schema(CONVERSATION_NAMES)


def approval_schema(
    params: Mapping[str, Type | str] | None = None,
    *,
    json_schema: Mapping[str, Any] | None = None,
    include_conversation: bool = True,
    totals: Mapping[str, Type | str] | None = None,
) -> Schema:
    """Names available to an approval threshold: ``params.<name>`` of the proposed action.

    Give the parameter types either as ``params={"amount": "number"}`` or as the action's JSON
    Schema (``{"type": "object", "properties": {...}}``). With neither, any ``params.*`` is
    allowed as ``any``. The conversation names are included unless
    ``include_conversation=False``; ``totals`` adds the running totals (``totals_names``).
    """
    names: dict[str, Type | str] = {}
    if params is None and json_schema is None:
        names["params.*"] = ANY
    for name, spec in (params or {}).items():
        names[f"params.{name}"] = spec
    if json_schema is not None:
        properties = json_schema.get("properties") if isinstance(json_schema, Mapping) else None
        for name, fragment in (properties or {}).items():
            names.setdefault(f"params.{name}", type_from_json_schema(fragment))
    if include_conversation:
        names.update((k, v) for k, v in CONVERSATION_NAMES.items() if k not in names)
    names.update(totals or {})
    return Schema(names)


WINDOW = "_24h"


def totals_names(*, money: Iterable[str], actions: Iterable[str]) -> dict[str, Type]:
    """The running totals an approval threshold can read, all numbers, computed when the
    action is proposed (from what came before it, not counting it):

    - ``totals.<money>`` for each money total (``totals.refunded``: the amounts of this
      conversation's refunds, in the tenant's currency) and ``totals.<money>_24h`` (the same
      customer's, over the last 24 hours, across their conversations);
    - ``totals.actions`` and ``totals.actions_24h``: how many actions;
    - ``totals.count.<action>`` and ``totals.count_24h.<action>``: how many of one action.

    What counts: actions that ran or are running, and requests waiting for approval or
    approved; denied, expired and failed ones do not.
    """
    names: dict[str, Type] = {}
    for total in money:
        names[f"totals.{total}"] = NUMBER
        names[f"totals.{total}{WINDOW}"] = NUMBER
    names["totals.actions"] = NUMBER
    names[f"totals.actions{WINDOW}"] = NUMBER
    for action in actions:
        names[f"totals.count.{action}"] = NUMBER
        names[f"totals.count{WINDOW}.{action}"] = NUMBER
    return names


def workflow_schema(outputs: Iterable[str] | Mapping[str, Type | str] = ()) -> Schema:
    """Names available to a workflow step: the conversation names plus the declared outputs of
    earlier steps (type ``any`` unless a mapping of output name to type is given). An output
    named like a conversation name replaces it."""
    declared = dict(outputs) if isinstance(outputs, Mapping) else dict.fromkeys(outputs, ANY)
    return Schema(CONVERSATION_NAMES).extend(declared)
