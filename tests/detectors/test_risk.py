import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.detectors import CATEGORIES, detect_risk


def categories(text):
    return set(detect_risk(text).categories)


@pytest.mark.parametrize(
    "text",
    [
        "Can I speak to a human please?",
        "get me a humna",
        "transfer me to an agent pls",
        "Let me talk to your manager.",
        "operator",
        "Is a human available right now?",
        "Please have someone call me back about my account.",
        "Why can't I just talk to a person??",
        "I don't want a bot. Get me a real person.",
        "Could you route me to a member of your support team?",
    ],
)
def test_human_request_is_detected(text):
    assert "human_request" in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "No need for a human, I just need the reset link.",
        "I don't need to talk to anyone, just tell me how to change my email.",
        "The human agent I spoke to yesterday was brilliant.",
        "Are you a bot or a real person? Just curious.",
        "I'm not asking for a supervisor, I just want the opening hours.",
        "My manager asked me to update our billing address.",
        "Can someone send a technician to repair the boiler?",
        "How do I add another person to my plan?",
    ],
)
def test_human_request_negatives(text):
    assert "human_request" not in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "If I don't get my refund by Friday I'm taking you to small claims court.",
        "I'm contacting my lawyer.",
        "My attorney will be in touch.",
        "Im gonna sue ur company",
        "my laywer says you cant do this",
        "I will be reporting this to the Better Business Bureau.",
        "Don't make me get a lawyer involved.",
        "I'm considering legal action.",
        "You'll be hearing from my solicitor.",
    ],
)
def test_legal_threat_is_detected(text):
    assert "legal_threat" in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "My lawyer needs a copy of last year's invoices.",
        "I'm not going to sue, I just want the refund that was promised.",
        "I'm not threatening to sue or anything, why did the price go up?",
        "My name is Sue and I'd like to update my address.",
        "The court booking feature doesn't show tennis courts after 6pm.",
        "Please deliver to the court reception, we work there.",
        "I'm a solicitor and I'd like to open a business account.",
        "Is it legal to ship batteries to Spain?",
    ],
)
def test_legal_threat_negatives(text):
    assert "legal_threat" not in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "I want to cancel my subscription.",
        "Please close my account, I'm switching to another provider.",
        "I won't be renewing my contract next month.",
        "This is the last time I order from you.",
        "I'd like to cancel please.",
        "I don't want to stay with a company that treats customers like this.",
        "Thinking of moving to Vodafone, their coverage is better.",
        "cancel my sub, the app hasnt worked in weeks",
    ],
)
def test_churn_risk_is_detected(text):
    assert "churn_risk" in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "I don't want to cancel, I just want to pause my subscription.",
        "I'm not planning to cancel, but can I switch to the annual plan?",
        "Can I cancel just one item from my order?",
        "I need to cancel order 10042.",
        "I accidentally cancelled my subscription, can you reactivate it?",
        "How do I unsubscribe from the marketing emails?",
        "I'm leaving for holidays tomorrow, can the pickup be next week?",
        "My wife is closing her account, but I'm keeping mine.",
    ],
)
def test_churn_risk_negatives(text):
    assert "churn_risk" not in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "This is ridiculous!!!",
        "I am so fed up with this company.",
        "ARE YOU EVEN READING MY MESSAGES",
        "This is the third time I'm reporting this. STILL NOT WORKING.",
        "Where. Is. My. Order.",
        "Oh wonderful, another automated reply. Really helpful.",
        "ugh, still broken. thanks for nothing",
        "I've asked four times for a refund.",
    ],
)
def test_frustration_is_detected(text):
    assert "frustration" in categories(text)


@pytest.mark.parametrize(
    "text",
    [
        "It's still not working after the reset, what should I try next?",
        "My package hasn't arrived yet, it was due Monday.",
        "THANK YOU SO MUCH!!! You saved my day!!!",
        "URGENT: please change the delivery address for order 5512.",
        "I'm not angry, just confused about the bill.",
        "Great job team, the new update is lovely!",
    ],
)
def test_frustration_negatives(text):
    assert "frustration" not in categories(text)


def test_several_categories_are_returned_sorted():
    result = detect_risk(
        "I'm sick of this!! Cancel my account, get me a human, and expect to hear from my lawyer."
    )

    assert result.categories == ("churn_risk", "frustration", "human_request", "legal_threat")


def test_matches_explain_which_phrase_fired():
    result = detect_risk("I'm going to sue you.")

    assert result.categories == ("legal_threat",)
    (match,) = result.matches
    assert match.category == "legal_threat"
    assert match.rule == "sue"
    assert match.text == "going to sue"
    assert result.phrases("legal_threat") == ("going to sue",)


def test_case_punctuation_and_curly_apostrophes_do_not_matter():
    curly = "I DON\u2019T want to cancel!!!"
    for text in (curly, "i dont want to cancel", "I don't want to cancel."):
        assert "churn_risk" not in categories(text), text
    for text in ("SPEAK TO A HUMAN", "speak... to a HUMAN?!", "Speak to a human."):
        assert "human_request" in categories(text), text


def test_sentiment_may_be_passed_in():
    text = "Why has nothing changed since last week!!"

    assert "frustration" in detect_risk(text, sentiment=-0.8).categories
    assert "frustration" not in detect_risk(text, sentiment=0.8).categories


def test_empty_text_has_no_risk():
    assert detect_risk("").categories == ()
    assert detect_risk("   \n").matches == ()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_text_gives_sorted_known_categories(text):
    result = detect_risk(text)

    assert list(result.categories) == sorted(set(result.categories))
    assert set(result.categories) <= set(CATEGORIES)
    assert {m.category for m in result.matches} == set(result.categories)
