"""Infrastructure agents: deterministic, offline detectors of intent, sentiment and risk.

Pure Python, no Django: the orchestrator calls :func:`detect` with the message text and the
tenant's intents (plain :class:`IntentSpec` objects or mappings) and gets :class:`Signals` back.
:func:`similarity` compares two messages for the stall detector ("the customer repeats the same
question").

    >>> s = detect("I've asked three times, get me a human!!")
    >>> s.risk
    ('frustration', 'human_request')
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .intent import (
    DEFAULT_INTENTS,
    IntentResult,
    IntentSpec,
    coerce_intents,
    detect_intent,
    with_domains,
)
from .risk import (
    BUILTIN_RULES,
    CATEGORIES,
    DEFAULT_THRESHOLD,
    RiskMatch,
    RiskResult,
    RiskSettings,
    detect_risk,
)
from .sentiment import NEGATIVE_THRESHOLD, polarity, sentiment_score
from .text import normalise, similarity

__all__ = [
    "BUILTIN_RULES",
    "CATEGORIES",
    "DEFAULT_INTENTS",
    "DEFAULT_THRESHOLD",
    "REPEAT_SIMILARITY",
    "IntentResult",
    "IntentSpec",
    "RiskMatch",
    "RiskResult",
    "RiskSettings",
    "Signals",
    "coerce_intents",
    "detect",
    "detect_intent",
    "detect_risk",
    "normalise",
    "polarity",
    "sentiment_score",
    "similarity",
    "with_domains",
]

# A message with one of these risks is negative whatever its words' valence: a polite legal
# threat or a sarcastic "Really helpful." is not neutral or positive.
NEGATIVE_RISKS = frozenset({"frustration", "legal_threat"})
RISK_SENTIMENT_CEILING = -0.3
# Intents that only make sense in a message that is not negative.
GRATITUDE_INTENTS = ("thanks",)

# Suggested threshold for "the customer repeats the same question" (see
# tests/detectors/test_similarity.py): paraphrases of one question score above it, different
# questions on the same subject below.
REPEAT_SIMILARITY = 0.7


@dataclass(frozen=True)
class Signals:
    """What the infrastructure agents detected in one customer message.

    ``risk`` is sorted. ``intent_terms`` are the keywords and phrases that chose the intent;
    ``risk_matches`` the rules that fired (category, rule name, matched text).
    """

    intent: str | None
    intent_confidence: float
    sentiment: float
    risk: tuple[str, ...]
    intent_terms: tuple[str, ...] = ()
    risk_matches: tuple[RiskMatch, ...] = ()
    # each category that matched: its score, and the threshold it had to reach
    risk_scores: tuple[tuple[str, float, float], ...] = ()

    @property
    def polarity(self) -> str:
        return polarity(self.sentiment)

    def as_dict(self) -> dict[str, Any]:
        """The message's ``signals`` as the API shows them: ``{intent, sentiment, risk}``."""
        return {"intent": self.intent, "sentiment": self.sentiment, "risk": list(self.risk)}

    def explanations(self) -> dict[str, Any]:
        """JSON-ready details for a ``message.classified`` decision event."""
        return {
            "intent": {
                "name": self.intent,
                "confidence": self.intent_confidence,
                "terms": list(self.intent_terms),
            },
            "sentiment": {"score": self.sentiment, "polarity": self.polarity},
            "risk": [
                {"category": m.category, "rule": m.rule, "text": m.text, "weight": m.weight}
                for m in self.risk_matches
            ],
            "riskScores": [
                {"category": category, "score": score, "threshold": threshold}
                for category, score, threshold in self.risk_scores
            ],
        }


def detect(
    text: str,
    intents: Iterable[IntentSpec | Mapping[str, Any]] | None = None,
    *,
    domains: Iterable[str] = (),
    risk_settings: RiskSettings | None = None,
) -> Signals:
    """Detect intent, sentiment and risk categories of a customer message.

    ``intents`` defaults to :data:`DEFAULT_INTENTS`; ``domains`` are the specialists' domains,
    each of which also acts as an intent named after itself; ``risk_settings`` the stack's
    risk-detection settings (built-in when not given).

    The sentiment is VADER's adjusted score (:func:`sentiment_score`), capped at
    ``RISK_SENTIMENT_CEILING`` when frustration or a legal threat is detected. The ``thanks``
    intent is not chosen for a negative message.
    """
    text = text or ""
    sentiment = sentiment_score(text)
    risk = detect_risk(text, sentiment=sentiment, settings=risk_settings)
    if NEGATIVE_RISKS.intersection(risk.categories):
        sentiment = min(sentiment, RISK_SENTIMENT_CEILING)
    # gratitude in a negative message is politeness or sarcasm ("thanks for nothing")
    exclude = GRATITUDE_INTENTS if sentiment <= NEGATIVE_THRESHOLD else ()
    intent = detect_intent(text, intents, domains=domains, exclude=exclude)
    return Signals(
        intent=intent.intent,
        intent_confidence=intent.confidence,
        sentiment=sentiment,
        risk=risk.categories,
        intent_terms=intent.terms,
        risk_matches=risk.matches,
        risk_scores=tuple(
            (category, score, (risk_settings or RiskSettings()).threshold(category))
            for category, score in risk.scores
        ),
    )
