"""The built-in runtime: answers from the agent's knowledge entries; deterministic, no network.

Each entry is scored against the customer's message:

- every keyword or phrase found in the message scores :data:`KEYWORD_POINTS` (a phrase of n
  words :data:`PHRASE_BONUS` more per extra word). Message and keywords are normalised and
  stemmed alike ("refunds" finds "refund", "charged twice" finds "I was charged twice!"), and a
  phrase also matches with small words left out or changed ("close my account" finds "close the
  account");
- plus the similarity of the message to the entry's question (0..1, :func:`similarity`);
- plus :data:`INTENT_BONUS` when the detected intent is one of the agent's domains.

The best entry scoring at least :data:`MATCH_THRESHOLD` answers (the earlier entry on a tie):
a single keyword is enough, a question alone must be close. Its action, if any, is proposed
when its parameters pass the registry's schema, and its ``outputs`` (``{"priority":
"critical"}``) are the workflow outputs it sets, over the defaults. Without a match the agent
says it cannot answer (``answered`` False), which the orchestrator counts as a failed attempt.

A sequential supervisor given ``ctx.consultation`` folds its specialists' answers into its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agents.action_registry import (
    ParamsError,
    get_action,
)
from agents.detectors.text import STOPWORDS, normalise, similarity, stem
from agents.runtimes.base import (
    CANNOT_ANSWER,
    AgentReply,
    ProposedAction,
    TurnContext,
    default_outputs,
    signal,
)

KEYWORD_POINTS = 0.6
PHRASE_BONUS = 0.2
INTENT_BONUS = 0.1
MATCH_THRESHOLD = 0.6
MAX_MESSAGE_CHARS = 5000  # matching looks at the start of a very long message


@dataclass(frozen=True)
class _Words:
    stems: tuple[str, ...]
    content: tuple[str, ...]  # stems of the words that are not stopwords

    @classmethod
    def of(cls, text: str) -> _Words:
        words = normalise(text).split()
        return cls(
            stems=tuple(stem(w) for w in words),
            content=tuple(stem(w) for w in words if w not in STOPWORDS),
        )


def _contains(haystack: tuple[str, ...], needle: tuple[str, ...]) -> bool:
    if not needle or len(needle) > len(haystack):
        return False
    n = len(needle)
    return any(haystack[i : i + n] == needle for i in range(len(haystack) - n + 1))


def _keyword_found(keyword: _Words, message: _Words) -> bool:
    if _contains(message.stems, keyword.stems):
        return True
    # a phrase with its small words left out: "close my account" ~ "close the account"
    return len(keyword.content) > 1 and _contains(message.content, keyword.content)


@dataclass(frozen=True)
class Match:
    index: int
    score: float
    keywords: tuple[str, ...]
    similarity: float

    def as_dict(self, question: str) -> dict[str, Any]:
        return {
            "index": self.index,
            "question": question,
            "score": round(self.score, 4),
            "keywords": list(self.keywords),
            "similarity": self.similarity,
        }


def score_entries(ctx: TurnContext) -> list[Match]:
    """Every knowledge entry's score for ``ctx.message``, best first (earlier entry on a tie)."""
    text = (ctx.message or "")[:MAX_MESSAGE_CHARS]
    message = _Words.of(text)
    intent = signal(ctx, "intent")
    bonus = INTENT_BONUS if isinstance(intent, str) and intent in ctx.agent.domains else 0.0
    matches = []
    for index, item in enumerate(ctx.agent.knowledge):
        hits = []
        points = 0.0
        for keyword in item.keywords:
            words = _Words.of(keyword) if isinstance(keyword, str) else None
            if words and words.stems and _keyword_found(words, message):
                hits.append(keyword)
                points += KEYWORD_POINTS + PHRASE_BONUS * (len(words.stems) - 1)
        sim = similarity(text, item.question) if message.stems and item.question else 0.0
        matches.append(Match(index, points + sim + bonus, tuple(hits), sim))
    matches.sort(key=lambda m: (-m.score, m.index))
    return matches


def _proposed_action(name: str, params: Any) -> tuple[ProposedAction | None, dict | None]:
    """The entry's action if its parameters are valid, else a note on why it was dropped."""
    spec = get_action(name)
    if spec is None:
        return None, {"action": name, "errors": {"action": "is not a registered action"}}
    try:
        checked = spec.validate_params(dict(params) if isinstance(params, Mapping) else params)
    except ParamsError as exc:
        return None, {"action": name, "errors": exc.errors}
    return ProposedAction(name=name, params=checked), None


def _fold(ctx: TurnContext) -> AgentReply:
    """A sequential supervisor's reply: the answers of the specialists it consulted."""
    answers, consulted = [], []
    for item in ctx.consultation:
        if not isinstance(item, Mapping):
            continue
        text = item.get("text")
        text = text.strip() if isinstance(text, str) else ""
        answered = item.get("answered")
        answered = bool(text) if not isinstance(answered, bool) else answered and bool(text)
        consulted.append({"agent": item.get("agent"), "answered": answered})
        if answered and text not in answers:
            answers.append(text)
    answered = bool(answers)
    text = "\n\n".join(answers) if answered else CANNOT_ANSWER
    return AgentReply(
        text=text,
        answered=answered,
        proposed_actions=[],
        outputs=default_outputs(ctx, text, answered),
        detail={"runtime": "builtin", "folded": consulted},
    )


def run(ctx: TurnContext) -> AgentReply:
    if ctx.consultation:
        return _fold(ctx)
    knowledge = ctx.agent.knowledge
    matches = score_entries(ctx)
    best = matches[0] if matches else None
    detail: dict[str, Any] = {"runtime": "builtin", "threshold": MATCH_THRESHOLD}
    if best is None or best.score < MATCH_THRESHOLD:
        detail["match"] = None
        if best is not None:
            detail["closest"] = best.as_dict(knowledge[best.index].question)
        return AgentReply(
            text=CANNOT_ANSWER,
            answered=False,
            proposed_actions=[],
            outputs=default_outputs(ctx, None, False),
            detail=detail,
        )
    item = knowledge[best.index]
    detail["match"] = best.as_dict(item.question)
    actions = []
    if item.action:
        action, dropped = _proposed_action(item.action, item.action_params)
        if action is not None:
            actions.append(action)
        else:
            detail["droppedAction"] = dropped
    text = item.answer.strip() if isinstance(item.answer, str) else ""
    answered = bool(text) or bool(actions)
    if not text:
        text = None if actions else CANNOT_ANSWER
    return AgentReply(
        text=text,
        answered=answered,
        proposed_actions=actions,
        # the entry's own workflow outputs win over the defaults ("priority": "critical")
        outputs={**default_outputs(ctx, text, answered), **dict(item.outputs or {})},
        detail=detail,
    )
