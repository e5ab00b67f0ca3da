from hypothesis import given, settings
from hypothesis import strategies as st

from agents.detectors import detect, polarity, sentiment_score
from agents.detectors import sentiment as sentiment_module


def test_empty_text_is_neutral():
    assert sentiment_score("") == 0.0
    assert sentiment_score("   ") == 0.0
    assert polarity(0.0) == "neutral"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_score_is_within_bounds_for_any_text(text):
    score = sentiment_score(text)
    assert -1.0 <= score <= 1.0
    assert -1.0 <= detect(text).sentiment <= 1.0


def test_clearly_negative_below_neutral_below_clearly_positive():
    negative = sentiment_score("This is terrible, the worst service I have ever had. I'm furious.")
    neutral = sentiment_score("What time does the store open on Saturday?")
    positive = sentiment_score("Thank you so much, you were brilliant and it works perfectly now!")

    assert negative < neutral < positive
    assert polarity(negative) == "negative"
    assert polarity(neutral) == "neutral"
    assert polarity(positive) == "positive"


def test_problem_reports_are_negative():
    for text in (
        "It's still not working.",
        "My package hasn't arrived.",
        "I was charged twice for the same order.",
        "The app crashes every time I open it.",
    ):
        assert sentiment_score(text) < 0, text
        assert sentiment_score(text, adjusted=False) >= sentiment_score(text), text


def test_requests_and_politeness_formulas_are_neutral():
    for text in ("I'd like to cancel please.", "Can you help me with my customer support ticket?"):
        assert polarity(sentiment_score(text)) == "neutral", text
        assert polarity(sentiment_score(text, adjusted=False)) == "positive", text


def test_polite_complaint_is_negative():
    text = "Hi, hope you're well! Sadly the kettle stopped working after a week. Thanks!"

    assert polarity(sentiment_score(text)) == "negative"


def test_resolution_is_positive():
    assert (
        sentiment_score("Thanks! Problem solved.") > sentiment_score("Thanks!", adjusted=False) - 1
    )
    assert polarity(sentiment_score("It works now")) == "positive"


def test_capitalised_request_word_is_not_negative():
    # VADER turns a 0-valued lexicon word in capitals negative; request words are removed instead
    assert polarity(sentiment_score("URGENT: please change my delivery address.")) == "neutral"


def test_analyzer_is_built_once():
    first = sentiment_module._tuned_analyzer()
    sentiment_score("hello")
    assert sentiment_module._tuned_analyzer() is first


def test_adjustments_do_not_change_the_plain_vader_lexicon():
    plain = sentiment_module._plain_analyzer()
    assert plain.lexicon["please"] == 1.3
    assert "please" not in sentiment_module._tuned_analyzer().lexicon


def test_legal_threat_makes_detected_sentiment_negative():
    text = "My attorney will be in touch."
    assert sentiment_score(text) == 0.0

    signals = detect(text)

    assert signals.sentiment <= -0.3
    assert signals.polarity == "negative"
