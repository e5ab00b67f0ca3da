"""Approval rules that cannot be walked around: running totals (``totals.refunded``,
``totals.refunded_24h``, counts) read from the database when an action is proposed, amounts in
the tenant's currency with its own exchange rates (a currency without one is refused), and
proposals made at the same moment totalled one after the other."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection

from agents.models import Agent
from agents.rule_sets import rules_replace
from approvals.models import (
    APPROVAL_STATES,
    ActionExecution,
    ApprovalRequest,
    ExchangeRate,
    LedgerEntry,
)
from approvals.services import ActionInvalid, action_propose, approval_decide, execution_run
from conversations.lifecycle import conversation_transition
from conversations.models import (
    Conversation,
    DecisionEvent,
)
from conversations.services import conversation_start
from tests.approvals.conftest import approval_rules, client_for, propose
from tests.concurrency import race
from tests.conftest import login, need_service
from tests.factories import make_person

pytestmark = pytest.mark.django_db

DAILY = "params.amount + totals.refunded_24h > 100"


def refund_rule(when=DAILY, *, actions=None):
    return approval_rules(
        approvers=["alice", "group:finance"],
        actions=actions or [{"action": "issue_refund", "when": when}, "modify_account"],
    )


@pytest.fixture
def daily(agent):
    rules_replace(agent=agent, document=refund_rule())
    return agent


def refund(conversation, amount, key, *, currency=None, order="A1"):
    params = {"orderId": order, "amount": amount}
    if currency is not None:
        params["currency"] = currency
    conv = Conversation.objects.select_related("tenant", "current_agent").get(pk=conversation.pk)
    return action_propose(
        conversation=conv,
        action="issue_refund",
        params=params,
        idempotency_key=key,
        requested_by_label="agent:agent-billing",
    )


def another_conversation(conversation, customer="cust-1", tenant=None, agent=None):
    conv, _ = conversation_start(
        tenant=tenant or conversation.tenant,
        agent=agent or conversation.current_agent,
        channel="web",
        customer={"id": customer},
    )
    conversation_transition(conversation=conv, to="active", reason="test")
    return conv


def waited(proposal) -> bool:
    return proposal.waiting


# --- the walk-around of the issue -------------------------------------------------------------


def test_five_refunds_of_100_no_longer_slip_under_the_threshold_one_by_one(
    key_client, conversation, daily, eager_tasks
):
    outcomes = [
        propose(key_client, conversation, params={"orderId": f"A{i}", "amount": 100}, key=f"k{i}")
        for i in range(5)
    ]

    assert [r.status_code for r in outcomes] == [200, 202, 202, 202, 202]
    assert LedgerEntry.objects.count() == 1  # one refund of 100 ran; the others wait
    assert ApprovalRequest.objects.filter(status="pending").count() == 4


def test_small_refunds_run_until_their_sum_crosses_the_threshold(conversation, daily):
    results = [refund(conversation, 30, f"k{i}") for i in range(5)]

    assert [waited(r) for r in results] == [False, False, False, True, True]


def test_a_pending_refund_counts_and_a_denied_one_no_longer_does(conversation, agent, people):
    hold = '(params.orderId == "HOLD") or params.amount + totals.refunded > 150'
    rules_replace(agent=agent, document=refund_rule(hold))

    first = refund(conversation, 90, "k1", order="HOLD")  # waits: its order is on hold
    second = refund(conversation, 90, "k2")  # a pending 90 and a new 90 are 180

    assert waited(first) and waited(second)
    assert second.approval.rule_detail[0].startswith("true ")
    assert "totals.refunded is 90" in " ".join(second.approval.rule_detail)
    approval_decide(approval=first.approval, user=people["alice"], verdict="deny", reason="no")
    approval_decide(approval=second.approval, user=people["alice"], verdict="deny", reason="no")

    third = refund(conversation, 90, "k3")  # denied ones do not count

    assert not waited(third)


def test_an_approved_and_then_executed_refund_counts(conversation, daily, people):
    big = refund(conversation, 150, "k1")
    approval_decide(approval=big.approval, user=people["alice"], verdict="approve")
    assert ApprovalRequest.objects.get(pk=big.approval.pk).status == "approved"
    assert waited(refund(conversation, 1, "k2"))
    APPROVAL_STATES.transition(ApprovalRequest.objects.filter(idempotency_key="k2"), to="denied")

    execution_run(execution_id=ActionExecution.objects.get(request=big.approval).pk)

    assert ApprovalRequest.objects.get(pk=big.approval.pk).status == "executed"
    assert waited(refund(conversation, 1, "k3"))


def test_a_failed_refund_does_not_count(conversation, agent, test_actions):
    rules_replace(
        agent=agent,
        document=refund_rule(actions=[{"action": "issue_refund", "when": DAILY}]),
    )
    failing = action_propose(
        conversation=conversation,
        action="failing_refund",
        params={"amount": 90},
        idempotency_key="f1",
        requested_by_label="agent:agent-billing",
    )
    # while it is queued it counts: 90 + 20 > 100
    assert waited(refund(conversation, 20, "k1"))
    APPROVAL_STATES.transition(ApprovalRequest.objects.filter(idempotency_key="k1"), to="denied")
    for _ in range(3):
        execution_run(execution_id=failing.execution.pk)
    assert ActionExecution.objects.get(pk=failing.execution.pk).status == "failed"

    assert not waited(refund(conversation, 20, "k2"))


# --- the customer over 24 hours -------------------------------------------------------------------


def test_the_daily_total_spans_the_customers_conversations(conversation, daily):
    assert not waited(refund(conversation, 80, "k1"))

    same_customer = another_conversation(conversation, "cust-1")
    other_customer = another_conversation(conversation, "cust-2")

    assert waited(refund(same_customer, 30, "k2"))  # 80 in the other conversation + 30
    assert not waited(refund(other_customer, 30, "k3"))


def test_the_conversation_total_counts_this_conversation_only(conversation, agent):
    rules_replace(agent=agent, document=refund_rule("params.amount + totals.refunded > 100"))
    assert not waited(refund(conversation, 80, "k1"))

    same_customer = another_conversation(conversation, "cust-1")

    assert not waited(refund(same_customer, 30, "k2"))
    assert waited(refund(conversation, 30, "k3"))


def test_refunds_older_than_a_day_leave_the_daily_total(conversation, daily):
    refund(conversation, 80, "k1")
    ActionExecution.objects.update(created_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=25))

    same_customer = another_conversation(conversation, "cust-1")

    assert not waited(refund(same_customer, 30, "k2"))


def test_another_tenants_customer_with_the_same_id_is_someone_else(
    conversation, daily, other_tenant
):
    refund(conversation, 80, "k1")
    make_person(tenant=other_tenant, roles=["approver"], username="globex-alice")
    theirs_agent = Agent.objects.create(
        tenant=other_tenant, slug="agent-billing", name="Billing", role="specialist"
    )
    rules_replace(
        agent=theirs_agent,
        document={
            "approvals": {
                "actions": [{"action": "issue_refund", "when": DAILY}],
                "approvers": ["globex-alice"],
            }
        },
    )
    theirs = another_conversation(conversation, "cust-1", other_tenant, theirs_agent)

    assert not waited(refund(theirs, 30, "k2"))


def test_counts_of_actions_are_totals_too(conversation, agent):
    rules_replace(
        agent=agent,
        document=refund_rule(
            actions=[
                {"action": "modify_account", "when": "totals.count.modify_account >= 2"},
                {"action": "issue_refund", "when": "totals.actions_24h >= 3"},
            ]
        ),
    )

    def modify(key):
        return action_propose(
            conversation=conversation,
            action="modify_account",
            params={"changes": {"plan": key}},
            idempotency_key=key,
            requested_by_label="agent:agent-billing",
        )

    assert [waited(modify(k)) for k in ("m1", "m2", "m3")] == [False, False, True]
    assert waited(refund(another_conversation(conversation, "cust-1"), 1, "k1"))


def test_the_totals_are_recorded_with_the_proposal(conversation, daily):
    refund(conversation, 30, "k1")
    refund(conversation, 80, "k2")

    event = DecisionEvent.objects.filter(type="action.proposed").order_by("id").last()
    assert event.detail["totals"]["refunded"] == 30
    assert event.detail["totals"]["refunded_24h"] == 30
    assert event.detail["totals"]["count"]["issue_refund"] == 1
    assert event.detail["why"][0].endswith(
        "(params.amount is 80; totals.refunded_24h is 30; "
        "params.amount + totals.refunded_24h is 110)"
    )


def test_a_total_the_language_does_not_know_is_refused_on_save(manager, agent, people):
    response = client_for(manager).post(
        f"/api/v1/agents/{agent.slug}/orchestration/rules",
        {
            "approvals": {
                "actions": [
                    {"action": "issue_refund", "when": "params.amount + totals.refundd > 100"}
                ],
                "approvers": ["alice"],
            }
        },
        format="json",
    )

    assert response.status_code == 400
    message = response.json()["error"]["fields"]["approvals.actions[0].when"][0]
    assert message.startswith(
        "column 17: unknown name 'totals.refundd', did you mean 'totals.refunded'?"
    )


# --- currencies -----------------------------------------------------------------------------------


def test_an_amount_in_a_currency_without_a_rate_is_refused(key_client, conversation, daily):
    response = propose(
        key_client, conversation, params={"orderId": "A1", "amount": 99, "currency": "BTC"}
    )

    assert response.status_code == 400
    assert response.json()["error"]["fields"]["params.currency"] == [
        "this tenant has no exchange rate for BTC; its amounts are in EUR (a manager adds "
        "rates in the admin, Exchange rates)"
    ]
    assert not ActionExecution.objects.exists()
    assert not ApprovalRequest.objects.exists()
    assert not DecisionEvent.objects.filter(type="action.proposed").exists()


def test_an_amount_is_converted_with_the_tenants_rate_for_the_rules(
    tenant, conversation, daily, eager_tasks
):
    ExchangeRate.objects.create(tenant=tenant, currency="USD", rate=Decimal("0.9"))

    small = refund(conversation, 100, "k1", currency="usd")  # 90 EUR
    large = refund(conversation, 20, "k2", currency="USD")  # 18 EUR: 108 with the first

    assert not waited(small)
    assert small.execution.params["currency"] == "USD"
    assert small.execution.amount == Decimal("90")
    assert waited(large)
    assert large.approval.amount == Decimal("18")
    assert "params.amount is 18 EUR: 20 USD at the tenant's rate of 0.9" in (
        large.approval.rule_detail
    )


def test_a_currency_left_out_is_the_tenants(tenant, conversation, daily):
    tenant.currency = "GBP"
    tenant.save()
    conversation.tenant.refresh_from_db()

    proposal = refund(conversation, 10, "k1")

    assert proposal.execution.params == {"orderId": "A1", "amount": 10, "currency": "GBP"}
    with pytest.raises(ActionInvalid) as caught:
        refund(conversation, 10, "k2", currency="EUR")
    assert "no exchange rate for EUR" in caught.value.errors["params.currency"]


def test_a_retry_without_the_currency_answers_with_the_same_refund(key_client, conversation):
    first = propose(key_client, conversation, params={"orderId": "A1", "amount": 150}, key="k")
    again = propose(
        key_client,
        conversation,
        params={"orderId": "A1", "amount": 150, "currency": "EUR"},
        key="k",
    )

    assert first.json() == again.json()
    assert ApprovalRequest.objects.count() == 1


def test_managers_set_the_tenants_currency_and_rates_in_the_admin(manager, tenant):
    client = login(manager)

    added = client.post(
        "/admin/approvals/exchangerate/add/", {"currency": "USD", "rate": "0.92"}, follow=True
    )
    duplicate = client.post("/admin/approvals/exchangerate/add/", {"currency": "USD", "rate": "1"})
    own = client.post("/admin/approvals/exchangerate/add/", {"currency": "EUR", "rate": "1"})
    coin = client.post("/admin/approvals/exchangerate/add/", {"currency": "BTC", "rate": "60000"})
    zero = client.post("/admin/approvals/exchangerate/add/", {"currency": "GBP", "rate": "0"})

    assert added.status_code == 200
    assert ExchangeRate.objects.get(tenant=tenant).rate == Decimal("0.92")
    assert "already has a rate for this currency" in duplicate.content.decode()
    assert "EUR is the tenant&#x27;s own currency" in own.content.decode()
    assert "&#x27;BTC&#x27; is not an ISO 4217 currency code" in coin.content.decode()
    assert zero.status_code == 200 and ExchangeRate.objects.count() == 1
    page = client.get(f"/admin/core/tenant/{tenant.pk}/change/").content.decode()
    assert 'name="currency"' in page and 'value="EUR"' in page


def test_another_tenants_rates_are_not_seen_nor_used(tenant, other_tenant, manager, conversation):
    ExchangeRate.objects.create(tenant=other_tenant, currency="USD", rate=Decimal("0.9"))

    listing = login(manager).get("/admin/approvals/exchangerate/").content.decode()

    assert "0.9" not in listing
    with pytest.raises(ActionInvalid):
        refund(conversation, 10, "k1", currency="USD")


# --- at the same moment (PostgreSQL) ----------------------------------------------------------


def _needs_postgresql():
    if connection.vendor != "postgresql":
        need_service("PostgreSQL: set DATABASE_URL (row locks decide the races)")


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_refunds_proposed_at_once_in_one_conversation_are_totalled_one_after_the_other(
    conversation, daily
):
    _needs_postgresql()

    results = race(8, lambda i: refund(conversation, 60, f"race-{i}"))

    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(1 for r in results if not r.waiting) == 1
    assert ActionExecution.objects.count() == 1
    assert ApprovalRequest.objects.filter(status="pending").count() == 7


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
def test_refunds_proposed_at_once_in_the_customers_conversations_share_the_daily_total(
    conversation, daily
):
    _needs_postgresql()
    conversations = [conversation] + [another_conversation(conversation) for _ in range(7)]

    results = race(8, lambda i: refund(conversations[i], 60, "race"))

    assert all(not isinstance(r, Exception) for r in results), results
    assert sum(1 for r in results if not r.waiting) == 1
    assert ApprovalRequest.objects.filter(status="pending").count() == 7
