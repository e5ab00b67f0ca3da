"""The built-in runtime: answers from knowledge entries, offline and deterministic."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agents.runtimes import CANNOT_ANSWER, AgentReply, KnowledgeItem, ProposedAction, run_agent
from agents.runtimes.builtin import MATCH_THRESHOLD
from tests.runtimes.support import make_agent, make_context


def answer(message: str, **changes) -> AgentReply:
    return run_agent(make_context(message, **changes))


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("Where is my invoice?", "Your invoices are under"),  # keyword
        ("I never got the receipts for March", "Your invoices are under"),  # plural -> stem
        ("Can I get my money refunded?", "Late deliveries are refunded"),  # "refunded" ~ "refund"
        ("you CHARGED me TWICE!!", "I'm sorry about the double charge"),  # phrase, any case
        ("there's a double-charge on my card", "I'm sorry about the double charge"),  # hyphen
        ("please close the account", "You can close your account"),  # phrase, small word changed
    ],
)
def test_a_keyword_or_phrase_in_the_message_picks_its_entry(message, expected):
    reply = answer(message)

    assert reply.answered is True
    assert reply.error is None
    assert reply.text.startswith(expected)
    assert reply.detail["match"]["keywords"]


def test_a_close_question_matches_without_any_keyword():
    knowledge = (
        KnowledgeItem(question="How do I reset my password?", keywords=(), answer="Use 'Forgot'."),
    )
    reply = answer("how can i reset my password", agent=make_agent(knowledge=knowledge))

    assert reply.answered is True
    assert reply.text == "Use 'Forgot'."
    assert reply.detail["match"]["keywords"] == []
    assert reply.detail["match"]["similarity"] >= MATCH_THRESHOLD


def test_a_question_on_the_same_subject_is_not_close_enough():
    knowledge = (
        KnowledgeItem(question="How do I return an item?", keywords=(), answer="Orders > Return."),
    )
    reply = answer("How do I track an item?", agent=make_agent(knowledge=knowledge))

    assert reply.answered is False


def test_no_match_is_a_polite_cannot_answer():
    reply = answer("What's the weather like in Lisbon?")

    assert reply.answered is False
    assert reply.text == CANNOT_ANSWER
    assert reply.error is None
    assert reply.proposed_actions == []
    assert reply.detail["match"] is None
    assert reply.detail["closest"]["score"] < MATCH_THRESHOLD
    assert reply.outputs == {"category": None, "resolution": None, "answered": False}


def test_an_agent_without_knowledge_cannot_answer():
    reply = answer("Where is my invoice?", agent=make_agent(knowledge=()))

    assert reply.answered is False
    assert reply.text == CANNOT_ANSWER
    assert "closest" not in reply.detail


def test_the_intent_bonus_tips_a_borderline_question_over_the_threshold():
    knowledge = (
        KnowledgeItem(
            question="When is my bill due each month?", keywords=(), answer="On the 1st."
        ),
    )
    agent = make_agent(knowledge=knowledge)
    message = "when is the bill due"  # similarity 0.55: just under the threshold

    without = answer(message, agent=agent, signals={"intent": "shipping"})
    with_intent = answer(message, agent=agent, signals={"intent": "billing"})

    assert without.answered is False
    assert with_intent.answered is True
    assert with_intent.detail["match"]["score"] - without.detail["closest"]["score"] == (
        pytest.approx(0.1)
    )


def test_the_best_entry_wins_and_the_earlier_one_on_a_tie():
    knowledge = (
        KnowledgeItem(question="a", keywords=("parcel",), answer="first"),
        KnowledgeItem(question="b", keywords=("parcel",), answer="second"),
        KnowledgeItem(question="c", keywords=("parcel", "lost"), answer="most specific"),
    )
    agent = make_agent(knowledge=knowledge)

    assert answer("my parcel", agent=agent).text == "first"
    assert answer("my parcel is lost", agent=agent).text == "most specific"


def test_the_matched_entry_proposes_its_action_with_its_params():
    reply = answer("Why was I charged twice?", signals={"intent": "billing"})

    assert reply.answered is True
    assert reply.proposed_actions == [
        ProposedAction(
            name="issue_refund", params={"orderId": "ORDER-1001", "amount": 49.0, "currency": "EUR"}
        )
    ]
    assert reply.outputs == {
        "category": "billing",
        "resolution": reply.text,
        "answered": True,
    }
    assert reply.detail["match"]["question"] == "Why was I charged twice?"


@pytest.mark.parametrize(
    ("action", "params", "field"),
    [
        ("issue_refund", {"orderId": "A-1", "amount": -5}, "amount"),
        ("issue_refund", {"amount": 5}, "orderId"),
        ("issue_refund", {"orderId": "A-1", "amount": 5, "note": "x"}, "note"),
        ("launch_rockets", {}, "action"),
    ],
)
def test_an_action_with_invalid_params_is_dropped_and_noted(action, params, field):
    knowledge = (
        KnowledgeItem(
            question="refund",
            keywords=("refund",),
            answer="OK.",
            action=action,
            action_params=params,
        ),
    )
    reply = answer("refund please", agent=make_agent(knowledge=knowledge))

    assert reply.answered is True
    assert reply.text == "OK."
    assert reply.proposed_actions == []
    assert reply.detail["droppedAction"]["action"] == action
    assert field in reply.detail["droppedAction"]["errors"]


def test_the_category_is_the_agents_domain_matching_the_intent_else_the_intent():
    agent = make_agent(domains=("billing", "refunds"))

    assert answer("my invoice", agent=agent, signals={"intent": "refund"}).outputs["category"] == (
        "refunds"
    )
    assert (
        answer("my invoice", agent=agent, signals={"intent": "returns"}).outputs["category"]
        == "returns"
    )


def test_a_sequential_supervisor_folds_the_specialists_answers():
    supervisor = make_agent(
        slug="agent-supervisor", name="Front desk", role="supervisor", domains=(), knowledge=()
    )
    reply = answer(
        "Why was I charged twice, and where is my invoice?",
        agent=supervisor,
        signals={"intent": "billing"},
        consultation=(
            {
                "agent": "agent-billing",
                "text": "I can refund the duplicate payment.",
                "answered": True,
            },
            {"agent": "agent-tech", "text": CANNOT_ANSWER, "answered": False},
            {"agent": "agent-invoices", "text": "Invoices are under Account > Billing."},
        ),
    )

    assert reply.answered is True
    assert reply.text == (
        "I can refund the duplicate payment.\n\nInvoices are under Account > Billing."
    )
    assert reply.outputs == {"category": "billing", "resolution": reply.text, "answered": True}
    assert [c["agent"] for c in reply.detail["folded"]] == [
        "agent-billing",
        "agent-tech",
        "agent-invoices",
    ]


def test_folding_only_unanswered_consultations_cannot_answer():
    reply = answer(
        "Hello?",
        consultation=({"agent": "agent-tech", "text": CANNOT_ANSWER, "answered": False},),
    )

    assert reply.answered is False
    assert reply.text == CANNOT_ANSWER


def test_the_same_message_always_gets_the_same_reply():
    first = answer("I was charged twice")
    second = answer("I was charged twice")

    assert (first.text, first.proposed_actions, first.detail) == (
        second.text,
        second.proposed_actions,
        second.detail,
    )


# --- never raises -------------------------------------------------------------------------------

texts = st.text(max_size=200)
knowledge_items = st.builds(
    KnowledgeItem,
    question=texts,
    keywords=st.lists(texts, max_size=4).map(tuple),
    answer=texts,
    action=st.sampled_from(["", "issue_refund", "modify_account", "unknown"]),
    action_params=st.dictionaries(
        st.sampled_from(["orderId", "amount", "changes", "x"]),
        st.one_of(st.none(), st.integers(), st.floats(allow_nan=True), texts, st.just({})),
        max_size=3,
    ),
)
signals = st.one_of(
    st.none(),
    st.fixed_dictionaries(
        {},
        optional={
            "intent": st.one_of(st.none(), st.sampled_from(["billing", "refunds", ""]), texts),
            "sentiment": st.one_of(st.none(), st.floats(allow_nan=True)),
            "risk": st.one_of(st.none(), st.lists(texts, max_size=3), texts),
        },
    ),
)
consultations = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "agent": texts,
            "text": st.one_of(st.none(), texts, st.integers()),
            "answered": st.one_of(st.booleans(), st.none(), st.integers()),
        },
    ),
    max_size=3,
).map(tuple)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    message=st.one_of(texts, st.just(""), st.text(alphabet="!?.,' \n\t-", max_size=30)),
    knowledge=st.lists(knowledge_items, max_size=4).map(tuple),
    signals=signals,
    consultation=consultations,
    domains=st.lists(st.sampled_from(["billing", "refunds", "returns"]), unique=True).map(tuple),
)
def test_the_builtin_runtime_answers_any_context_without_error(
    message, knowledge, signals, consultation, domains
):
    ctx = make_context(
        message,
        agent=make_agent(knowledge=knowledge, domains=domains),
        signals=signals,
        consultation=consultation,
    )

    reply = run_agent(ctx)

    assert reply.error is None
    assert isinstance(reply.answered, bool)
    assert reply.answered or reply.text == CANNOT_ANSWER
    assert all(isinstance(a, ProposedAction) for a in reply.proposed_actions)
    assert set(reply.outputs) == {"category", "resolution", "answered"}
