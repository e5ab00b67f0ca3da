"""Intent detection from a tenant-configurable list of intents.

An intent is a name, keywords (single words) and phrases (several words). Text, keywords and
phrases are normalised the same way (``text.normalise``) and each word is stemmed
(``text.stem``: "refunds", "refunded" and "refunding" all match "refund"). A keyword scores 1, a
phrase scores 1 plus 0.5 for each word after the first; a keyword inside a matched phrase of the
same intent is not counted again. The intent's ``weight`` multiplies its score (the default
``greeting`` has 0.5 so "hi, my refund..." is about the refund).

Words under a negated wish or request do not count ("no need for an agent", "no plans to
cancel", "don't put me through to an agent"); a negated event does ("I didn't get my refund").

The best intent wins; ties are broken by more phrase matches, then by the order of the intents in
the configuration (earlier first), then by name, so the result never depends on dict or set
order. Confidence is ``(1 - e^-score) * score / (score + runner_up)``: one keyword alone gives
0.63, two give 0.86, an even tie halves it.

Specialists' domains act as intents: ``with_domains(intents, ["billing", "vision"])`` adds the
domain name as a keyword of the intent with that name, or a new intent whose only keyword is the
domain name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from types import MappingProxyType
from typing import Any

from .text import clauses, negated, normalise, stem

__all__ = [
    "DEFAULT_INTENTS",
    "IntentResult",
    "IntentSpec",
    "coerce_intents",
    "detect_intent",
    "with_domains",
]


@dataclass(frozen=True)
class IntentSpec:
    """One intent of a tenant, e.g.
    ``IntentSpec("refund", keywords=["refund"], phrases=["money back"])``.

    Lists are accepted and stored as tuples, so a spec is hashable.
    """

    name: str
    keywords: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()
    weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("an intent needs a non-empty name")
        for attr in ("keywords", "phrases"):
            value = getattr(self, attr)
            if isinstance(value, str):
                value = (value,)
            object.__setattr__(self, attr, tuple(str(v) for v in value))
        if not (isinstance(self.weight, int | float) and self.weight > 0):
            raise ValueError("an intent's weight must be a positive number")
        object.__setattr__(self, "weight", float(self.weight))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IntentSpec:
        return cls(
            name=data["name"],
            keywords=tuple(data.get("keywords") or ()),
            phrases=tuple(data.get("phrases") or ()),
            weight=data.get("weight", 1.0),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "keywords": list(self.keywords),
            "phrases": list(self.phrases),
            "weight": self.weight,
        }


@dataclass(frozen=True)
class IntentResult:
    intent: str | None
    confidence: float
    terms: tuple[str, ...] = ()
    # every intent that matched, best first, with its score
    ranking: tuple[tuple[str, float], ...] = field(default=())


def _spec(name: str, keywords: str, phrases: Sequence[str] = (), weight: float = 1.0) -> IntentSpec:
    return IntentSpec(name, tuple(keywords.split()), tuple(phrases), weight)


DEFAULT_INTENTS: tuple[IntentSpec, ...] = (
    _spec(
        "refund",
        "refund reimburse reimbursement",
        (
            "money back",
            "the difference back",
            "deposit back",
            "pay me back",
            "refund status",
            "send back my money",
        ),
    ),
    _spec(
        "returns",
        "return returns exchange swap replacement damaged faulty defective",
        (
            "send back",
            "send it back",
            "send something back",
            "return label",
            "return policy",
            "wrong size",
            "too small",
            "too big",
            "doesnt fit",
            "does not fit",
            "arrived damaged",
            "arrived broken",
            "was broken when",
        ),
    ),
    _spec(
        "billing",
        "bill billing billed invoice invoicing charge charged payment pay price pricing fee fees "
        "statement vat tax discount instalment instalments installment installments overcharged "
        "receipt cost costs paid declined paypal",
        (
            "payment method",
            "direct debit",
            "credit card",
            "debit card",
            "promo code",
            "discount code",
            "late fee",
            "next payment",
            "went up",
            "price hike",
            "business plan",
            "pro plan",
            "family plan",
            "annual plan",
        ),
    ),
    _spec(
        "shipping",
        "delivery deliver delivered shipping ship shipped parcel package tracking track courier "
        "dispatch dispatched arrive arrived postage",
        (
            "where is my order",
            "order status",
            "delivery address",
            "express delivery",
            "pick up",
            "not arrived",
            "has not arrived",
            "has not shipped",
            "still not here",
        ),
    ),
    _spec(
        "technical",
        "app website site error crash crashes bug firmware install wifi bluetooth router "
        "connection device printer camera speaker headphones browser update battery screen "
        "sync syncing freeze freezing pair software laptop signal glitch outage "
        "performance broken",
        (
            "not working",
            "does not work",
            "stopped working",
            "stopped responding",
            "not responding",
            "keeps disconnecting",
            "factory reset",
            "dark mode",
            "wi fi",
            "error code",
            "wont load",
            "will not load",
            "will not print",
        ),
    ),
    _spec(
        "cancellation",
        "cancel cancellation terminate termination unsubscribe",
        (
            "close my account",
            "end my subscription",
            "cancel my subscription",
            "cancel my membership",
            "cancel my order",
            "cancel my account",
            "notice period",
            "do not renew",
            "auto renewal",
            "terminate my contract",
            "delete my account",
            "close my membership",
            "end my contract",
            "end our contract",
            "stop my subscription",
            "stop my membership",
            "end my plan",
            "end my membership",
            "auto renew",
        ),
    ),
    _spec(
        "account",
        "account password login username profile verification verify 2fa privacy admin unsubscribe",
        (
            "log in",
            "sign in",
            "locked out",
            "email address",
            "phone number",
            "two factor",
            "two factor authentication",
            "my details",
            "personal details",
            "my data",
            "delete my data",
            "marketing emails",
            "business account",
            "second admin",
            "reactivate",
            "pause my subscription",
            "access to my account",
        ),
    ),
    _spec(
        "human_agent",
        "human agent representative operator supervisor employee escalate",
        (
            "real person",
            "a person",
            "a manager",
            "your manager",
            "the manager",
            "an advisor",
            "live agent",
            "human agent",
            "speak to someone",
            "talk to someone",
            "speak to a person",
            "talk to a person",
            "speak to a human",
            "talk to a human",
            "customer service representative",
            "member of staff",
            "team lead",
            "call me",
            "call me back",
            "callback",
            "give me a ring",
            "give me a call",
            "customer care",
            "complaints team",
            "someone in charge",
        ),
        # a message that names its topic ("a person about my refund") is about the topic
        weight=0.6,
    ),
    _spec(
        "thanks",
        "thanks thank cheers appreciate appreciated",
        (
            "thank you",
            "that fixed it",
            "problem solved",
            "all i needed",
            "have a nice day",
            "have a great day",
            "works now",
            "you saved",
        ),
        # thanks are often appended to a request: "I want a human. thanks"
        weight=0.6,
    ),
    _spec(
        "greeting",
        "hi hello hey hiya bonjour hola",
        ("good morning", "good afternoon", "good evening"),
        weight=0.5,
    ),
)


@dataclass(frozen=True)
class _Compiled:
    name: str
    index: int
    weight: float
    keywords: Mapping[str, str]  # stem -> original
    # first stem -> ((stems, original), ...), longest first
    phrases: Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]


def _stems(text: str) -> tuple[str, ...]:
    return tuple(stem(w) for w in normalise(text).split())


def _by_first_word(
    phrases: Mapping[tuple[str, ...], str],
) -> Mapping[str, tuple[tuple[tuple[str, ...], str], ...]]:
    index: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for stems, original in sorted(phrases.items(), key=lambda p: (-len(p[0]), p[0])):
        index.setdefault(stems[0], []).append((stems, original))
    return MappingProxyType({first: tuple(items) for first, items in index.items()})


@lru_cache(maxsize=256)
def _compile(intents: tuple[IntentSpec, ...]) -> tuple[_Compiled, ...]:
    compiled = []
    for index, spec in enumerate(intents):
        keywords: dict[str, str] = {}
        phrases: dict[tuple[str, ...], str] = {}
        for term in spec.keywords + spec.phrases:
            stems = _stems(term)
            if len(stems) == 1:
                keywords.setdefault(stems[0], term)
            elif stems:
                phrases.setdefault(stems, term)
        compiled.append(
            _Compiled(
                spec.name,
                index,
                spec.weight,
                MappingProxyType(keywords),
                _by_first_word(phrases),
            )
        )
    return tuple(compiled)


def coerce_intents(
    intents: Iterable[IntentSpec | Mapping[str, Any]] | None,
) -> tuple[IntentSpec, ...]:
    """Accept ``IntentSpec`` objects or plain mappings (``{"name", "keywords", "phrases"}``).

    ``None`` means :data:`DEFAULT_INTENTS`. Later duplicates of a name are merged into the first.
    """
    if intents is None:
        return DEFAULT_INTENTS
    specs: dict[str, IntentSpec] = {}
    for item in intents:
        spec = item if isinstance(item, IntentSpec) else IntentSpec.from_dict(item)
        if spec.name in specs:
            first = specs[spec.name]
            spec = IntentSpec(
                first.name,
                first.keywords + spec.keywords,
                first.phrases + spec.phrases,
                first.weight,
            )
        specs[spec.name] = spec
    return tuple(specs.values())


def with_domains(
    intents: Iterable[IntentSpec | Mapping[str, Any]] | None, domains: Iterable[str]
) -> tuple[IntentSpec, ...]:
    """The intents plus the specialists' domains, each also an intent named after itself.

    A domain that names an existing intent adds itself to that intent's keywords; another domain
    becomes a new intent (after the configured ones) with its name as keyword: "order_status"
    matches the phrase "order status".
    """
    specs = list(coerce_intents(intents))
    by_name = {spec.name: i for i, spec in enumerate(specs)}
    for raw in domains:
        domain = str(raw).strip()
        if not domain:
            continue
        term = domain.replace("_", " ").replace("-", " ")
        if domain in by_name:
            spec = specs[by_name[domain]]
            if term not in spec.keywords and term not in spec.phrases:
                if " " in term:
                    spec = IntentSpec(spec.name, spec.keywords, (*spec.phrases, term), spec.weight)
                else:
                    spec = IntentSpec(spec.name, (*spec.keywords, term), spec.phrases, spec.weight)
                specs[by_name[domain]] = spec
        else:
            by_name[domain] = len(specs)
            specs.append(
                IntentSpec(domain, () if " " in term else (term,), (term,) if " " in term else ())
            )
    return tuple(specs)


def _words(text: str) -> tuple[tuple[str, ...], tuple[bool, ...]]:
    """The stemmed words of ``text`` and, for each, whether a negated wish governs it.

    Negation is decided within each clause; phrases may span clauses ("Where... is my order?").
    """
    stems: list[str] = []
    negations: list[bool] = []
    for clause in clauses(text):
        words = clause.split()
        stems.extend(stem(w) for w in words)
        negations.extend(negated(words[:i], desire_only=True) for i in range(len(words)))
    return tuple(stems), tuple(negations)


def detect_intent(
    text: str,
    intents: Iterable[IntentSpec | Mapping[str, Any]] | None = None,
    *,
    domains: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> IntentResult:
    """The best intent of ``text`` among ``intents`` (default :data:`DEFAULT_INTENTS`) and
    ``domains``, with its confidence in [0, 1] and the terms that matched; ``None`` and 0.0
    when nothing matches.

    Terms under a negated wish do not count ("no need for an agent", "no plans to cancel").
    Intents named in ``exclude`` are not considered.
    """
    specs = with_domains(intents, domains) if domains else coerce_intents(intents)
    excluded = set(exclude)
    words, negations = _words(text or "")
    if not words:
        return IntentResult(None, 0.0)
    scored: list[tuple[float, int, int, str, tuple[str, ...]]] = []
    for intent in _compile(specs):
        if intent.name in excluded:
            continue
        terms: list[str] = []
        score = 0.0
        phrase_hits = 0
        seen_keywords: set[str] = set()
        seen_phrases: set[tuple[str, ...]] = set()
        covered = [False] * len(words)
        # left to right, longest phrase first, so "does not work" is not counted again as
        # "not work"
        for i, first in enumerate(words):
            if negations[i]:
                continue
            for stems, original in intent.phrases.get(first, ()):
                n = len(stems)
                if words[i : i + n] != stems or all(covered[i : i + n]):
                    continue
                for j in range(i, i + n):
                    covered[j] = True
                if stems not in seen_phrases:
                    seen_phrases.add(stems)
                    score += 1.0 + 0.5 * (n - 1)
                    phrase_hits += 1
                    terms.append(original)
        for i, word in enumerate(words):
            if covered[i] or negations[i] or word in seen_keywords:
                continue
            original = intent.keywords.get(word)
            if original is not None:
                seen_keywords.add(word)
                score += 1.0
                terms.append(original)
        if score > 0:
            scored.append(
                (score * intent.weight, phrase_hits, intent.index, intent.name, tuple(terms))
            )
    if not scored:
        return IntentResult(None, 0.0)
    scored.sort(key=lambda s: (-s[0], -s[1], s[2], s[3]))
    best = scored[0]
    runner_up = scored[1][0] if len(scored) > 1 else 0.0
    confidence = (1.0 - math.exp(-best[0])) * best[0] / (best[0] + runner_up)
    return IntentResult(
        intent=best[3],
        confidence=round(confidence, 3),
        terms=best[4],
        ranking=tuple((s[3], round(s[0], 3)) for s in scored),
    )
