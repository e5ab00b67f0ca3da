"""Guardrail policies as documents: the built-in defaults, what managers type, and the merge.

A policy document is plain JSON (it travels in the tenant's cached configuration and in stack
templates)::

    {"cards": true, "nationalIds": true, "emails": false, "phones": false,
     "personalDataAction": "redact",
     "topics": [{"name": "competitors", "keywords": ["ShopNova", "BrightCart"]}],
     "phrases": ["guaranteed returns", "/free\\s+money/"],
     "blockedAction": "fallback",
     "claims": true, "claimsAction": "fallback",
     "maxLength": 4000, "lengthAction": "redact",
     "fallbackText": "..."}

Levels: the built-in defaults (:data:`DEFAULT_POLICY`, the "full default set"), then the
tenant's policy, then the agent's. For switches, actions, the maximum length and the fallback
text the most specific level that sets a value wins (an agent may turn e-mail redaction on, or
a check off, for itself); blocked topics and phrases add up (an agent extends its tenant's
lists, it cannot drop them).

Each guardrail's action: ``redact`` (cut out what fired and send the rest; for the length,
shorten the reply), ``fallback`` (send the fallback text instead) or ``block`` (send nothing
and hand the conversation to a human).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

REDACT, FALLBACK, BLOCK = "redact", "fallback", "block"
ACTIONS = (REDACT, FALLBACK, BLOCK)
MAX_REPLY_LENGTH = 20_000
MAX_PHRASES = 200
MAX_PATTERN_LENGTH = 500

FALLBACK_TEXT = (
    "I'm sorry, I can't help with that here. Let me check with a colleague, "
    "or you can ask me something else."
)

DEFAULT_POLICY: dict[str, Any] = {
    "cards": True,
    "nationalIds": True,
    "emails": False,
    "phones": False,
    "personalDataAction": REDACT,
    "topics": [],
    "phrases": [],
    "blockedAction": FALLBACK,
    "claims": True,
    "claimsAction": FALLBACK,
    "maxLength": 4000,
    "lengthAction": REDACT,
    "fallbackText": FALLBACK_TEXT,
}
SCALARS = tuple(k for k in DEFAULT_POLICY if k not in ("topics", "phrases"))
SWITCHES = ("cards", "nationalIds", "emails", "phones", "claims")
ACTION_KEYS = ("personalDataAction", "blockedAction", "claimsAction", "lengthAction")


def effective_policy(*levels: Mapping[str, Any] | None) -> dict[str, Any]:
    """The defaults overlaid with each level in turn (tenant, then agent): a set scalar wins,
    topics and phrases add up (a topic named twice merges its keywords)."""
    policy = {**DEFAULT_POLICY, "topics": [], "phrases": []}
    topics: dict[str, list[str]] = {}
    phrases: list[str] = []
    for level in levels:
        if not level:
            continue
        for key in SCALARS:
            if level.get(key) is not None:
                policy[key] = level[key]
        for topic in level.get("topics") or []:
            words = topics.setdefault(topic["name"], [])
            words.extend(k for k in topic["keywords"] if k not in words)
        phrases.extend(p for p in level.get("phrases") or [] if p not in phrases)
    policy["topics"] = [{"name": n, "keywords": k} for n, k in topics.items()]
    policy["phrases"] = phrases
    return policy


# --- what managers type ------------------------------------------------------------------------

_TOPIC_NAME = re.compile(r"^[a-z0-9]+(?:[_-][a-z0-9]+)*$")


def is_pattern(phrase: str) -> bool:
    """A phrase written ``/.../`` is a regular expression."""
    return len(phrase) > 2 and phrase.startswith("/") and phrase.endswith("/")


def parse_phrases(text: str) -> tuple[list[str], list[str]]:
    """``(phrases, problems)`` from one phrase per line; ``/regex/`` lines are compiled to
    check them. Each problem names its line."""
    phrases, problems = [], []
    for number, line in enumerate((text or "").splitlines(), start=1):
        phrase = line.strip()
        if not phrase:
            continue
        if is_pattern(phrase):
            body = phrase[1:-1]
            if len(body) > MAX_PATTERN_LENGTH:
                problems.append(f"line {number}: the pattern is longer than {MAX_PATTERN_LENGTH}")
                continue
            try:
                re.compile(body)
            except re.error as exc:
                problems.append(
                    f"line {number}: {phrase} is not a valid regular expression ({exc})"
                )
                continue
            if re.fullmatch(body, "") is not None:
                problems.append(f"line {number}: {phrase} matches empty text")
                continue
        if phrase not in phrases:
            phrases.append(phrase)
    if len(phrases) > MAX_PHRASES:
        problems.append(f"at most {MAX_PHRASES} phrases")
    return phrases, problems


def parse_topics(text: str) -> tuple[list[dict[str, Any]], list[str]]:
    """``(topics, problems)`` from lines ``name: keyword, another keyword``."""
    topics: dict[str, list[str]] = {}
    problems = []
    for number, line in enumerate((text or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        name, sep, rest = line.partition(":")
        name = name.strip().lower()
        if not sep:
            problems.append(f"line {number}: write 'topic: keyword, another keyword'")
            continue
        if not _TOPIC_NAME.match(name):
            problems.append(
                f"line {number}: '{name}' is not a topic name (lowercase letters, digits, - or _)"
            )
            continue
        keywords = [k.strip() for k in rest.split(",") if k.strip()]
        if not keywords:
            problems.append(f"line {number}: the topic '{name}' has no keywords")
            continue
        words = topics.setdefault(name, [])
        words.extend(k for k in keywords if k not in words)
    return [{"name": n, "keywords": k} for n, k in topics.items()], problems


def topics_text(topics: list[Mapping[str, Any]]) -> str:
    return "\n".join(f"{t['name']}: {', '.join(t['keywords'])}" for t in topics or [])


def policy_problems(document: Any) -> dict[str, str]:
    """What is wrong with a policy document (a level: every key optional), by key."""
    if not isinstance(document, Mapping):
        return {"": "must be an object"}
    problems: dict[str, str] = {}
    for key in document:
        if key not in DEFAULT_POLICY:
            problems[str(key)] = "unknown guardrail setting"
    for key in SWITCHES:
        if document.get(key) is not None and not isinstance(document[key], bool):
            problems[key] = "must be true, false or null"
    for key in ACTION_KEYS:
        if document.get(key) is not None and document[key] not in ACTIONS:
            problems[key] = f"must be one of {', '.join(ACTIONS)}"
    length = document.get("maxLength")
    if length is not None and (
        isinstance(length, bool)
        or not isinstance(length, int)
        or not 1 <= length <= MAX_REPLY_LENGTH
    ):
        problems["maxLength"] = f"must be a whole number from 1 to {MAX_REPLY_LENGTH}"
    fallback = document.get("fallbackText")
    if fallback is not None and (not isinstance(fallback, str) or not fallback.strip()):
        problems["fallbackText"] = "must be a non-empty text"
    phrases = document.get("phrases")
    if phrases is not None:
        if not isinstance(phrases, list) or not all(isinstance(p, str) for p in phrases):
            problems["phrases"] = "must be a list of phrases"
        else:
            found = parse_phrases("\n".join(phrases))[1]
            if found:
                problems["phrases"] = "; ".join(found)
    topics = document.get("topics")
    if topics is not None:
        if not isinstance(topics, list) or not all(
            isinstance(t, Mapping)
            and isinstance(t.get("name"), str)
            and isinstance(t.get("keywords"), list)
            and all(isinstance(k, str) for k in t["keywords"])
            for t in topics
        ):
            problems["topics"] = 'must be a list of {"name", "keywords": [...]}'
        else:
            found = parse_topics(topics_text(topics))[1]
            if found:
                problems["topics"] = "; ".join(found)
    return problems
