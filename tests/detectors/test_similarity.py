import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.detectors import REPEAT_SIMILARITY, normalise, similarity

PARAPHRASES = [
    ("Where is my order?", "where's my order??"),
    ("Where is my order?", "My order, where is it?"),
    ("I still haven't received my refund", "still havent recieved my refund!!"),
    ("How do I reset my password?", "how can i reset my password"),
    ("My package hasn't arrived yet", "my package still hasn't arrived"),
    ("When will my refund be processed?", "When is my refund going to be processed?"),
    ("The app keeps crashing when I log in", "app keeps crashing when i try to log in"),
    ("Why was I charged twice?", "why have I been charged twice"),
    ("I still havent got my refund", "i still haven't gotten my refnud"),
    ("can you tell me when my refund will arrive", "When will my refund arrive?"),
    ("I can't log into my account", "i cant log in to my account!!"),
    ("please cancel my order 4471", "cancel order 4471 please"),
]

DIFFERENT_QUESTIONS = [
    ("Where is my order?", "How do I reset my password?"),
    ("I want a refund", "I want to cancel my subscription"),
    ("My package hasn't arrived yet", "My refund hasn't arrived yet"),
    ("How do I reset my password?", "How do I reset my router?"),
    ("What is your return policy?", "What is your privacy policy?"),
    ("I was charged twice", "I was not charged at all"),
    ("Has my parcel been dispatched?", "Has my refund been processed?"),
    ("I need to change my delivery address", "I need to change my email address"),
    ("Is the blue jacket in stock?", "Is the blue jacket waterproof?"),
    ("please cancel my order 4471", "please track my order 4471"),
]


@pytest.mark.parametrize(("a", "b"), PARAPHRASES)
def test_paraphrases_score_above_the_repeat_threshold(a, b):
    assert similarity(a, b) >= REPEAT_SIMILARITY


@pytest.mark.parametrize(("a", "b"), DIFFERENT_QUESTIONS)
def test_different_questions_score_below_the_repeat_threshold(a, b):
    assert similarity(a, b) < REPEAT_SIMILARITY


def test_identical_after_normalisation_is_one():
    assert similarity("Where is my ORDER?!", "where is my order") == 1.0
    assert similarity("", "") == 1.0


def test_empty_against_text_is_zero():
    assert similarity("", "hello") == 0.0
    assert similarity("?!", "hello") == 0.0


def test_normalise_lowercases_expands_contractions_and_strips_punctuation():
    assert normalise("I DON\u2019T want   2 talk to a bot!!!") == "i do not want 2 talk to a bot"
    assert normalise("Where's my order? Can't find it") == "where is my order can not find it"
    assert normalise("") == ""


def test_long_texts_are_compared_quickly():
    a = "where is my order " * 2000
    b = "where is my parcel " * 2000

    assert 0 <= similarity(a, b) <= 1


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.text(max_size=120))
def test_similarity_is_bounded_and_symmetric(a, b):
    score = similarity(a, b)

    assert 0.0 <= score <= 1.0
    assert score == similarity(b, a)
    assert similarity(a, a) == 1.0
