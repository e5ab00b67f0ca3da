import dataclasses

import pytest

from agents.detectors import IntentSpec, Signals, detect


def test_detect_returns_all_signals():
    signals = detect("I've been charged twice, this is ridiculous. Get me a human!!")

    assert isinstance(signals, Signals)
    assert signals.intent == "billing"
    assert 0 < signals.intent_confidence <= 1
    assert signals.sentiment < 0
    assert signals.risk == ("frustration", "human_request")
    assert "charged twice" in signals.intent_terms or "charge" in signals.intent_terms


def test_signals_are_frozen():
    signals = detect("hello")

    with pytest.raises(dataclasses.FrozenInstanceError):
        signals.intent = "billing"


def test_as_dict_has_the_api_shape():
    signals = detect("Please cancel my subscription, I'm switching to another provider.")

    assert signals.as_dict() == {
        "intent": "cancellation",
        "sentiment": signals.sentiment,
        "risk": ["churn_risk"],
    }


def test_explanations_name_the_terms_and_rules():
    signals = detect("I'm going to sue you over this refund.")

    explanations = signals.explanations()

    assert explanations["intent"] == {
        "name": "refund",
        "confidence": signals.intent_confidence,
        "terms": ["refund"],
    }
    assert explanations["sentiment"]["polarity"] == "negative"
    assert {
        "category": "legal_threat",
        "rule": "sue",
        "text": "going to sue",
        "weight": 0.9,
    } in explanations["risk"]
    assert {"category": "legal_threat", "score": 0.9, "threshold": 0.5} in explanations[
        "riskScores"
    ]


def test_tenant_intents_and_domains_are_used():
    intents = [IntentSpec("vision", keywords=["glasses"])]

    assert detect("my glasses are scratched", intents).intent == "vision"
    assert detect("question about billing", intents, domains=["billing"]).intent == "billing"


def test_thanks_is_not_the_intent_of_a_negative_message():
    assert detect("Thanks a lot, really appreciate it").intent == "thanks"
    assert detect("Thanks for nothing, the parcel never arrived").intent == "shipping"


def test_empty_message():
    signals = detect("")

    assert signals == Signals(intent=None, intent_confidence=0.0, sentiment=0.0, risk=())


def test_same_text_gives_same_signals():
    text = "Where's my refund??? I want to talk to a manager or I'll see you in court."

    assert len({detect(text) for _ in range(3)}) == 1
