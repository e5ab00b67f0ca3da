"""The approvals pages through Django's test client (issue 5, point 5): who may open them, the
live queue shows only the person's tenant and only what they may decide, the filterable
history, a request's detail, approve and deny through the same service as the API, 403 for
the requester, 409 once decided, 404 for another tenant, CSRF, and a constant number of
queries however many requests there are."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from agents.models import Agent
from agents.rule_sets import rules_replace
from approvals import views
from approvals.models import ApprovalRequest, AuditLog, LedgerEntry
from approvals.services import action_propose, approval_decide, approvals_expire
from conversations.lifecycle import conversation_transition
from conversations.services import conversation_start
from tests.approvals.conftest import approval_rules
from tests.conftest import login
from tests.factories import make_message, make_person

pytestmark = pytest.mark.django_db

BROWSER = "Mozilla/5.0 (X11; Linux x86_64) ApprovalsPageTest/1.0"


def ask(conversation, *, key, amount=249.99, order="A-12345", by=None, action="issue_refund"):
    """A pending request (or an execution, if the rules let it run) made through the gate."""
    params = {"orderId": order, "amount": amount} if action == "issue_refund" else None
    if action == "modify_account":
        params = {"changes": {"email": "kim@new.example"}}
    proposal = action_propose(
        conversation=conversation,
        action=action,
        params=params,
        idempotency_key=key,
        requested_by=by,
        requested_by_label=by.get_username() if by else "agent:agent-billing",
    )
    return proposal.approval


def pending_ids(html: str) -> list[int]:
    """Ids of the cards in the "waiting for your decision" list."""
    match = re.search(r'<ul class="cards" id="pending-list">(.*?)</ul>', html, re.S)
    if not match:
        return []
    return [int(i) for i in re.findall(r'<li class="request[^"]*" data-approval="(\d+)"', match[1])]


def history_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr data-approval="(\d+)"', html)]


def post(client, approval, verdict, reason=None, **extra):
    data = {} if reason is None else {"reason": reason}
    return client.post(
        f"/approvals/{approval.pk}/{verdict}", data, HTTP_USER_AGENT=BROWSER, **extra
    )


@pytest.fixture
def other_approval(other_tenant):
    """A pending request of another tenant."""
    make_person(tenant=other_tenant, roles=["approver"], username="olga")
    agent = Agent.objects.create(
        tenant=other_tenant, slug="agent-billing", name="Billing", role="specialist"
    )
    rules_replace(agent=agent, document=approval_rules(approvers=("olga",)))
    conversation, _ = conversation_start(
        tenant=other_tenant, agent=agent, channel="web", customer={"id": "x", "name": "Zed"}
    )
    conversation_transition(conversation=conversation, to="active", reason="test")
    return ask(conversation, key="other-1", order="G-1")


# --- who may open the pages ---------------------------------------------------------------------


def test_signed_out_people_are_sent_to_sign_in(client):
    for path in ["/approvals/", "/approvals/pending/", "/approvals/1/"]:
        response = client.get(path)

        assert response.status_code == 302
        assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("username", ["alice", "bob"])
def test_approvers_by_role_or_by_group_open_the_page(people, username):
    response = login(people[username]).get("/approvals/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "approvals/approvals.js" in html and 'id="approvals-config"' in html
    assert '"socketPath": "/ws/inbox/"' in html


@pytest.mark.parametrize("roles", [["agent"], ["manager"], []])
def test_people_who_approve_nothing_are_refused(tenant, people, roles):
    person = make_person(tenant=tenant, roles=roles, username="nobody")

    for path in ["/approvals/", "/approvals/pending/", "/approvals/history/"]:
        response = login(person).get(path)

        assert response.status_code == 403
        assert "Approvals are for approvers" in response.content.decode()


def test_a_person_of_no_tenant_is_refused(db):
    drifter = make_person(tenant=None, username="drifter")

    assert login(drifter).get("/approvals/").status_code == 403


def test_the_home_page_links_approvers_to_the_approvals_page(people):
    html = login(people["alice"]).get("/").content.decode()

    assert 'href="/approvals/"' in html


# --- the queue ----------------------------------------------------------------------------------


def test_the_queue_shows_the_tenants_requests_this_person_may_decide(
    tenant, people, agent, conversation, other_approval
):
    mine = ask(conversation, key="k-1")
    asked_by_alice = ask(conversation, key="k-2", by=people["alice"], amount=300)
    decided = ask(conversation, key="k-3", amount=400)
    approval_decide(approval=decided, user=people["bob"], verdict="deny", reason="no")
    rules_replace(agent=agent, document=approval_rules(approvers=("group:finance",)))
    finance_only = ask(conversation, key="k-4", amount=500)

    alice = login(people["alice"])
    page = alice.get("/approvals/").content.decode()
    fragment = alice.get("/approvals/pending/").content.decode()

    for html in (page, fragment):
        assert pending_ids(html) == [mine.pk]
        assert "Refund €249.99 for order A-12345" in html
        assert f'data-approval="{other_approval.pk}"' not in html
    assert "Customer</span> <strong>Kim</strong>" in page
    assert "Billing (AI agent)" in page
    assert "params.amount" in page  # why it asked: the rule's condition
    assert "expires in 23 h" in page
    # the one alice asked for waits for others, and says so
    assert "Waiting for others" in page and f"#{asked_by_alice.pk}" in page
    # bob approves through group:finance
    bob_sees = pending_ids(login(people["bob"]).get("/approvals/").content.decode())
    assert bob_sees == [mine.pk, asked_by_alice.pk, finance_only.pk]


def test_the_fragment_is_only_the_pending_part(people, conversation):
    ask(conversation, key="k-1")

    html = login(people["alice"]).get("/approvals/pending/").content.decode()

    assert html.lstrip().startswith("{#") is False
    assert 'class="pending" data-count="1"' in html
    assert "<html" not in html and "History" not in html


def test_an_approver_with_nothing_to_decide_is_told_so(people):
    html = login(people["alice"]).get("/approvals/").content.decode()

    assert "You're all caught up" in html
    assert "No decisions yet" in html


def test_parameters_read_as_a_person_would_say_them():
    assert views.describe("issue_refund", {"orderId": "A-12345", "amount": 249.99})[1] == (
        "Refund €249.99 for order A-12345"
    )
    assert views.describe("issue_refund", {"orderId": "B", "amount": 1200, "currency": "usd"})[
        1
    ] == ("Refund $1,200.00 for order B")
    assert views.describe("issue_refund", {"orderId": "C", "amount": 5, "currency": "CHF"})[1] == (
        "Refund 5.00 CHF for order C"
    )
    title, summary, rows = views.describe(
        "modify_account", {"changes": {"email": "k@x.test", "planTier": "pro"}}
    )
    assert (title, summary) == ("Account change", "Change email, plan tier on the account")
    assert rows == [("Email", "k@x.test"), ("Plan tier", "pro")]
    assert views.describe("access_sensitive_data", {"field": "iban"})[1] == (
        "Read the customer's iban"
    )


# --- the history --------------------------------------------------------------------------------


@pytest.fixture
def decided(people, conversation, eager_tasks, django_capture_on_commit_callbacks):
    """Requests executed, denied (a refund and an account change), expired, and pending."""
    executed = ask(conversation, key="h-1", order="EX-1")
    with django_capture_on_commit_callbacks(execute=True):
        approval_decide(approval=executed, user=people["alice"], verdict="approve", reason="ok")
    denied = ask(conversation, key="h-2", order="DN-1")
    approval_decide(approval=denied, user=people["bob"], verdict="deny", reason="Not ours")
    account = ask(conversation, key="h-3", action="modify_account")
    approval_decide(approval=account, user=people["alice"], verdict="deny", reason="Fraud risk")
    expired = ask(conversation, key="h-4", order="XP-1")
    approvals_expire(now=timezone.now() + dt.timedelta(days=2))
    pending = ask(conversation, key="h-5", order="PN-1")
    return {
        "executed": executed,
        "denied": denied,
        "account": account,
        "expired": expired,
        "pending": pending,
    }


def test_the_history_lists_decided_requests_with_who_and_why(people, decided):
    html = login(people["alice"]).get("/approvals/").content.decode()

    ids = history_ids(html)
    assert set(ids) == {decided[k].pk for k in ("executed", "denied", "account", "expired")}
    assert decided["pending"].pk not in ids
    row = re.search(rf'<tr data-approval="{decided["denied"].pk}".*?</tr>', html, re.S)[0]
    assert "Denied" in row and "bob" in row and "Not ours" in row
    row = re.search(rf'<tr data-approval="{decided["executed"].pk}".*?</tr>', html, re.S)[0]
    assert "Executed" in row and "alice" in row
    row = re.search(rf'<tr data-approval="{decided["expired"].pk}".*?</tr>', html, re.S)[0]
    assert "Expired" in row and "nobody in time" in row


def test_the_history_filters_by_outcome_and_action(people, decided):
    alice = login(people["alice"])

    denied = history_ids(alice.get("/approvals/?status=denied").content.decode())
    refunds_denied = history_ids(
        alice.get("/approvals/history/?status=denied&action=issue_refund").content.decode()
    )
    executed = history_ids(alice.get("/approvals/?status=executed").content.decode())

    assert sorted(denied) == sorted([decided["denied"].pk, decided["account"].pk])
    assert refunds_denied == [decided["denied"].pk]
    assert executed == [decided["executed"].pk]


def test_the_history_filters_by_date_range_in_the_tenants_days(tenant, people, decided):
    tenant.time_zone = "Europe/Paris"
    tenant.save(update_fields=["time_zone"])
    paris = tenant.tzinfo
    # decided at 23:30 on 1 March in Paris: 22:30 UTC, still 1 March there
    ApprovalRequest.objects.filter(pk=decided["denied"].pk).update(
        decided_at=dt.datetime(2025, 3, 1, 23, 30, tzinfo=paris)
    )
    ApprovalRequest.objects.filter(pk=decided["account"].pk).update(
        decided_at=dt.datetime(2025, 3, 2, 0, 30, tzinfo=paris)
    )
    alice = login(people["alice"])

    first = history_ids(alice.get("/approvals/?since=2025-03-01&until=2025-03-01").content.decode())
    both = history_ids(alice.get("/approvals/?since=2025-03-01&until=2025-03-02").content.decode())
    later = history_ids(alice.get("/approvals/?since=2025-03-03").content.decode())

    assert first == [decided["denied"].pk]
    assert both == [decided["account"].pk, decided["denied"].pk]
    assert decided["denied"].pk not in later and decided["executed"].pk in later


def test_a_bad_date_range_is_said_in_place_and_filters_nothing_out(people, decided):
    response = login(people["alice"]).get("/approvals/?since=2025-03-05&until=2025-03-01")

    html = response.content.decode()
    assert response.status_code == 200
    assert "The end date is before the start date." in html
    assert len(history_ids(html)) == 4


def test_the_history_has_pages(people, conversation, monkeypatch):
    monkeypatch.setattr(views, "HISTORY_PAGE_SIZE", 3)
    made = []
    for n in range(7):
        approval = ask(conversation, key=f"p-{n}", order=f"P-{n}")
        approval_decide(approval=approval, user=people["bob"], verdict="deny", reason="no")
        made.append(approval.pk)
    alice = login(people["alice"])

    first = alice.get("/approvals/").content.decode()
    third = alice.get("/approvals/?status=denied&page=3").content.decode()

    assert history_ids(first) == made[::-1][:3]
    assert "1\N{EN DASH}3 of 7" in first and 'rel="next"' in first
    assert history_ids(third) == [made[0]]
    assert "status=denied&amp;page=2" in third and 'rel="next"' not in third


# --- one request --------------------------------------------------------------------------------


def test_the_detail_shows_the_transcript_parameters_rule_and_why(people, conversation):
    make_message(conversation, author="Kim", text="My parcel A-12345 arrived <broken>")
    make_message(
        conversation,
        role="agent",
        author="agent-billing",
        text="I can ask for a refund of €249.99.",
    )
    approval = ask(conversation, key="d-1")

    response = login(people["alice"]).get(f"/approvals/{approval.pk}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "Refund €249.99 for order A-12345" in html
    assert "My parcel A-12345 arrived &lt;broken&gt;" in html  # escaped
    assert "I can ask for a refund of €249.99." in html
    assert "agent-billing v1" in html  # the rule set that asked
    assert "params.amount" in html  # and why
    assert "&quot;orderId&quot;: &quot;A-12345&quot;" in html  # the raw parameters
    assert f'action="/approvals/{approval.pk}/approve"' in html
    assert f'formaction="/approvals/{approval.pk}/deny"' in html
    assert "csrfmiddlewaretoken" in html


def test_approving_runs_the_action_and_leaves_the_queue(
    people, conversation, eager_tasks, django_capture_on_commit_callbacks
):
    approval = ask(conversation, key="a-1")
    alice = login(people["alice"])

    with django_capture_on_commit_callbacks(execute=True):
        response = post(alice, approval, "approve", REMOTE_ADDR="10.1.2.3")

    assert response.status_code == 302 and response["Location"] == "/approvals/"
    approval.refresh_from_db()
    assert approval.status == "executed" and approval.decided_by == people["alice"]
    assert LedgerEntry.objects.filter(action="issue_refund").count() == 1
    decision = AuditLog.objects.get(approval_id=approval.pk, kind="decision")
    assert (decision.ip, decision.user_agent) == ("10.1.2.3", BROWSER)
    page = alice.get("/approvals/").content.decode()
    # the message says what it was (the test's transaction runs the task after the view)
    assert f"Approved #{approval.pk} · Refund €249.99 for order A-12345." in page
    assert pending_ids(page) == []
    detail = alice.get(f"/approvals/{approval.pk}/").content.decode()
    assert "Succeeded" in detail and "rf_" in detail  # the execution's result
    assert 'name="reason"' not in detail


def test_denying_with_a_reason_tells_and_records_it(people, conversation):
    approval = ask(conversation, key="n-1")
    bob = login(people["bob"])

    response = post(bob, approval, "deny", reason="  Order was never paid  ")

    assert response.status_code == 302
    approval.refresh_from_db()
    assert (approval.status, approval.reason) == ("denied", "Order was never paid")
    assert f"Denied #{approval.pk}" in bob.get("/approvals/").content.decode()


def test_denying_without_a_reason_is_an_error_in_place_and_changes_nothing(people, conversation):
    approval = ask(conversation, key="n-2")

    response = post(login(people["alice"]), approval, "deny", reason="   ")

    html = response.content.decode()
    assert response.status_code == 400
    assert '<p class="field-error" id="reason-error">Give a reason to deny.</p>' in html
    assert 'aria-invalid="true"' in html
    approval.refresh_from_db()
    assert approval.status == "pending" and not approval.decisions.exists()
    assert not AuditLog.objects.filter(approval_id=approval.pk, kind="decision").exists()


def test_the_requester_may_look_but_not_decide(people, conversation):
    rita = people["rita"]  # a listed approver, who asked for it
    approval = ask(conversation, key="r-1", by=rita)
    client = login(rita)

    detail = client.get(f"/approvals/{approval.pk}/")
    response = post(client, approval, "approve")

    assert detail.status_code == 200
    assert "You asked for this action; someone else must decide it." in detail.content.decode()
    assert 'name="reason"' not in detail.content.decode()
    assert response.status_code == 403
    assert "You asked for this action; someone else must decide it." in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_a_person_not_listed_on_it_is_refused(people, agent, conversation):
    rules_replace(agent=agent, document=approval_rules(approvers=("group:finance",)))
    approval = ask(conversation, key="l-1")

    response = post(login(people["alice"]), approval, "approve")

    assert response.status_code == 403
    assert "You are not an approver of this request." in response.content.decode()
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_a_decided_request_is_a_conflict(people, conversation):
    approval = ask(conversation, key="c-1")
    approval_decide(approval=approval, user=people["bob"], verdict="deny", reason="no")

    response = post(login(people["alice"]), approval, "approve")

    html = response.content.decode()
    assert response.status_code == 409
    assert "This request is already denied; a decision is final." in html
    approval.refresh_from_db()
    assert approval.status == "denied" and approval.decisions.count() == 1


def test_a_quorum_shows_its_progress(people, agent, conversation):
    rules_replace(agent=agent, document=approval_rules(quorum=2))
    approval = ask(conversation, key="q-1")
    alice = login(people["alice"])

    response = post(alice, approval, "approve")

    assert response.status_code == 302
    page = alice.get("/approvals/").content.decode()
    assert "1 more approval needed" in page
    assert pending_ids(page) == [] and "Waiting for others" in page
    bob_detail = login(people["bob"]).get(f"/approvals/{approval.pk}/").content.decode()
    assert "1 of 2 approvals" in bob_detail and 'name="reason"' in bob_detail
    alice_detail = alice.get(f"/approvals/{approval.pk}/").content.decode()
    assert "You approved this" in alice_detail and 'name="reason"' not in alice_detail


def test_another_tenants_request_is_not_found(people, other_approval):
    alice = login(people["alice"])

    assert alice.get(f"/approvals/{other_approval.pk}/").status_code == 404
    assert alice.get(f"/approvals/{other_approval.pk}/body/").status_code == 404
    assert post(alice, other_approval, "approve").status_code == 404
    other_approval.refresh_from_db()
    assert other_approval.status == "pending"


def test_deciding_needs_the_csrf_token(people, conversation):
    approval = ask(conversation, key="x-1")
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["alice"])

    response = post(client, approval, "approve")

    assert response.status_code == 403
    approval.refresh_from_db()
    assert approval.status == "pending"


def test_deciding_is_post_only(people, conversation):
    approval = ask(conversation, key="g-1")

    assert login(people["alice"]).get(f"/approvals/{approval.pk}/approve").status_code == 405


def test_the_body_fragment_is_the_detail_without_the_page(people, conversation):
    approval = ask(conversation, key="b-1")

    html = login(people["alice"]).get(f"/approvals/{approval.pk}/body/").content.decode()

    assert html.lstrip().startswith('<div class="detail" data-status="pending"')
    assert "<html" not in html


# --- cost ---------------------------------------------------------------------------------------


def _page_queries(client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/approvals/")
    assert response.status_code == 200
    return len(queries)


def test_the_queue_page_costs_the_same_however_many_requests(
    people, conversation, django_assert_max_num_queries
):
    alice = login(people["alice"])
    for n in range(2):
        ask(conversation, key=f"s-{n}")
        decided = ask(conversation, key=f"sd-{n}")
        approval_decide(approval=decided, user=people["bob"], verdict="deny", reason="no")
    ask(conversation, key="s-mine", by=people["alice"])
    few = _page_queries(alice)

    for n in range(2, 30):
        ask(conversation, key=f"s-{n}")
        decided = ask(conversation, key=f"sd-{n}")
        approval_decide(approval=decided, user=people["bob"], verdict="deny", reason="no")
        ask(conversation, key=f"s-mine-{n}", by=people["alice"])

    with django_assert_max_num_queries(few):
        response = alice.get("/approvals/")
    assert len(pending_ids(response.content.decode())) == 30
    assert few <= 16


def test_the_detail_shows_the_photo_the_customer_sent(people, conversation, settings, tmp_path):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from conversations.attachments import attachment_take, without_text
    from conversations.messages import message_post

    settings.MEDIA_ROOT = str(tmp_path)
    photo = attachment_take(
        conversation=conversation,
        upload=SimpleUploadedFile("broken.png", b"\x89PNG\r\n\x1a\n" + bytes(40), "image/png"),
        sent_by="customer",
    )
    message_post(
        conversation=conversation,
        role="customer",
        text=without_text([photo.filename]),
        files=[photo],
    )
    approval = ask(conversation, key="photo-1")

    html = login(people["alice"]).get(f"/approvals/{approval.pk}/").content.decode()

    link = re.search(r'<a class="file-image" href="(/files/[^"]+)"', html)
    assert link, html
    assert 'alt="broken.png"' in html
    assert "sent without text" not in html  # the photo stands alone
    assert Client().get(link.group(1).replace("&amp;", "&")).status_code == 200


def test_the_detail_says_whether_the_website_vouched_for_the_customer(
    people, conversation, tenant, agent
):
    from conversations.lifecycle import conversation_transition
    from conversations.services import conversation_start

    signed_in, _ = conversation_start(
        tenant=tenant,
        agent=agent,
        channel="web",
        customer={"id": "user-42", "name": "Lee", "email": "lee@example.com"},
        verified=True,
    )
    conversation_transition(conversation=signed_in, to="active", reason="test")
    alice = login(people["alice"])

    vouched = alice.get(f"/approvals/{ask(signed_in, key='v-1').pk}/").content.decode()
    typed = alice.get(f"/approvals/{ask(conversation, key='v-2').pk}/").content.decode()

    assert "✓ Signed in on your website, which vouched for this id" in vouched
    assert "Not signed in: the name and any address are what the visitor typed" in typed
    assert "Signed in on your website" not in typed
