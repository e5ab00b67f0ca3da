"""The guardrail engine: a policy document compiled once, evaluated on every AI reply.

``compile_policy(document)`` builds the regular expressions of a policy once per distinct
document (an LRU cache keyed by its canonical JSON, so a new configuration version compiles
once and an unchanged one never again). ``evaluate(policy, text, done_actions=...)`` is a pure
function: no database, never raises on any text.

Checks, in order, each with its own action (``policy`` module): blocked topics and phrases,
claims of actions that have not run, personal data (cards, national ids, e-mail, phone), and
the maximum length. The strongest action of the rules that fired decides: ``block`` (no reply,
hand over) over ``fallback`` (the fallback text) over ``redact`` (the reply with what fired cut
out). Each rule that fired is listed with its name (``pii.card``, ``topic.competitors``,
``phrase``, ``claim.issue_refund``, ``max_length``), its action and how often it matched.

A claim is a reply saying an action is done ("I've refunded you", "your refund has been
issued") while no execution of that action has succeeded in the conversation
(``done_actions``): it does not exist, waits for approval, or was denied or failed.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agents.guardrails import detectors
from agents.guardrails.policy import BLOCK, FALLBACK, REDACT, is_pattern

PASS, REDACTED = "pass", "redacted"
RANK = {REDACT: 1, FALLBACK: 2, BLOCK: 3}
OUTCOME = {REDACT: REDACTED, FALLBACK: "fallback", BLOCK: "blocked"}
REMOVED = "[removed]"
PLACEHOLDERS = {
    "pii.card": "[card number removed]",
    "pii.email": "[e-mail removed]",
    "pii.phone": "[phone number removed]",
}
ID_PLACEHOLDER = "[id number removed]"

# "I've refunded you", "we have issued your refund", "your refund has been processed"
_DONE = r"(?:i|we)(?:'ve|\s+have|\s+just|\s+already|'ve\s+just|\s+have\s+(?:just|already))?\s+"
CLAIMS: dict[str, str] = {
    "issue_refund": (
        rf"\b{_DONE}(?:refunded|issued\s+(?:you\s+)?(?:a|the|your|an?\s+full)\s+refund|"
        r"processed\s+(?:a|the|your)\s+refund|sent\s+(?:you\s+)?(?:a|the|your)\s+refund)"
        r"|\byour\s+refund\s+(?:has\s+been|was|is)\s+(?:issued|processed|sent|completed|done|approved)"
        r"|\b(?:has|have)\s+been\s+refunded\b"
    ),
    "modify_account": (
        rf"\b{_DONE}(?:updated|changed|modified|closed|deleted)\s+(?:your|the)\s+account"
        r"|\byour\s+account\s+(?:has\s+been|was|is\s+now)\s+(?:updated|changed|modified|closed|deleted)"
    ),
    "access_sensitive_data": (
        rf"\b{_DONE}(?:accessed|retrieved|pulled\s+up|looked\s+up)\s+your\s+"
        r"(?:personal\s+|sensitive\s+|account\s+)?(?:data|details|information|records)"
    ),
}


@dataclass(frozen=True)
class Fired:
    rule: str
    action: str
    count: int = 1
    detail: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"rule": self.rule, "action": self.action, "count": self.count, **self.detail}


@dataclass(frozen=True)
class Verdict:
    """``outcome``: ``pass``, ``redacted``, ``fallback`` or ``blocked``; ``text`` what may be
    sent (None when blocked)."""

    outcome: str
    text: str | None
    fired: tuple[Fired, ...] = ()

    @property
    def blocked(self) -> bool:
        return self.outcome == "blocked"


@dataclass(frozen=True)
class CompiledPolicy:
    document: Mapping[str, Any]
    blocked: tuple[tuple[str, re.Pattern], ...]  # (rule name, pattern)
    claims: tuple[tuple[str, re.Pattern], ...]  # (action, pattern)
    personal: tuple[tuple[str, Callable[[str], list[tuple[int, int]]], str], ...]
    max_length: int | None


def _alternatives(phrases: list[str]) -> re.Pattern:
    """One pattern for a list: literal phrases as whole words (any spacing, any case) under a
    single pair of word-boundary checks, ``/regex/`` ones as written."""
    literal = [r"\s+".join(re.escape(w) for w in p.split()) for p in phrases if not is_pattern(p)]
    parts = [f"(?:{p[1:-1]})" for p in phrases if is_pattern(p)]
    if literal:
        literal.sort(key=len, reverse=True)  # the longest phrase first at a position
        parts.insert(0, rf"(?<!\w)(?:{'|'.join(literal)})(?!\w)")
    return re.compile("|".join(parts), re.IGNORECASE)


def _build(document: Mapping[str, Any]) -> CompiledPolicy:
    blocked = []
    for topic in document.get("topics") or []:
        blocked.append((f"topic.{topic['name']}", _alternatives(topic["keywords"])))
    phrases = document.get("phrases") or []
    if phrases:
        blocked.append(("phrase", _alternatives(phrases)))
    claims = ()
    if document.get("claims"):
        claims = tuple((a, re.compile(p, re.IGNORECASE)) for a, p in CLAIMS.items())
    personal: list[tuple[str, Callable, str]] = []
    if document.get("cards"):
        personal.append(("pii.card", detectors.find_cards, PLACEHOLDERS["pii.card"]))
    if document.get("nationalIds"):
        for name, finder in detectors.NATIONAL_IDS.items():
            personal.append((f"pii.national_id.{name}", finder, ID_PLACEHOLDER))
    if document.get("emails"):
        personal.append(("pii.email", detectors.find_emails, PLACEHOLDERS["pii.email"]))
    if document.get("phones"):
        personal.append(("pii.phone", detectors.find_phones, PLACEHOLDERS["pii.phone"]))
    return CompiledPolicy(
        document=document,
        blocked=tuple(blocked),
        claims=claims,
        personal=tuple(personal),
        max_length=document.get("maxLength"),
    )


@functools.lru_cache(maxsize=512)
def _compiled(key: str) -> CompiledPolicy:
    return _build(json.loads(key))


def compile_policy(document: Mapping[str, Any]) -> CompiledPolicy:
    """The compiled policy of an effective document; compiled once per distinct document."""
    return _compiled(json.dumps(document, sort_keys=True))


_SENTENCE = re.compile(r"[^.!?\n]*[.!?]*\s*")


def _cut_sentences(text: str, spans: list[tuple[int, int]]) -> str:
    """``text`` without the sentences that hold a span."""
    out, position = [], 0
    for match in _SENTENCE.finditer(text):
        start, end = match.span()
        if start == end:
            continue
        if not any(s < end and e > start for s, e in spans):
            out.append(text[start:end])
        position = end
    out.append(text[position:])
    return "".join(out).strip()


def _replace(text: str, spans: list[tuple[int, int]], placeholder: str) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + placeholder + text[end:]
    return text


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip() + "…"


def evaluate(
    policy: CompiledPolicy,
    text: str,
    *,
    done_actions: Iterable[str] | Callable[[], Iterable[str]] = (),
) -> Verdict:
    """What the policy does to ``text``. ``done_actions``: the actions with a succeeded
    execution in the conversation, or a callable giving them, called only when the reply
    claims an action (so a reply without a claim costs no lookup)."""
    document = policy.document
    fired: list[Fired] = []
    result = text or ""
    done: frozenset[str] | None = None

    action = document.get("blockedAction") or FALLBACK
    for rule, pattern in policy.blocked:
        spans = [m.span() for m in pattern.finditer(result)]
        if spans:
            fired.append(Fired(rule, action, len(spans)))
            if action == REDACT:
                result = _replace(result, spans, REMOVED)

    action = document.get("claimsAction") or FALLBACK
    for name, pattern in policy.claims:
        spans = [m.span() for m in pattern.finditer(result)]
        if spans and done is None:
            done = frozenset(done_actions() if callable(done_actions) else done_actions)
        if spans and name not in done:
            fired.append(Fired(f"claim.{name}", action, len(spans), {"claimed": name}))
            if action == REDACT:
                result = _cut_sentences(result, spans)

    action = document.get("personalDataAction") or REDACT
    for rule, finder, placeholder in policy.personal:
        spans = finder(result)
        if spans:
            fired.append(Fired(rule, action, len(spans)))
            if action == REDACT:
                result = _replace(result, spans, placeholder)

    limit = policy.max_length
    if limit and len(result) > limit:
        action = document.get("lengthAction") or REDACT
        fired.append(Fired("max_length", action, 1, {"length": len(result), "limit": limit}))
        if action == REDACT:
            result = _shorten(result, limit)

    if not fired:
        return Verdict(PASS, text)
    strongest = max((f.action for f in fired), key=RANK.__getitem__)
    if strongest == BLOCK:
        return Verdict("blocked", None, tuple(fired))
    if strongest == FALLBACK:
        return Verdict("fallback", document.get("fallbackText") or "", tuple(fired))
    if not result.strip():  # everything was cut out: say something safe instead
        return Verdict("fallback", document.get("fallbackText") or "", tuple(fired))
    return Verdict(REDACTED, result, tuple(fired))
