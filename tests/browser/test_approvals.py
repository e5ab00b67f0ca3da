"""The approvals page in Chromium, against a real ASGI server (issue 5, point 7): an approver
has /approvals/ open; a request made through the API appears without reload; they approve it
(the action runs) and it leaves the queue; another is denied with a reason and shows in the
history as denied; a request another approver decides leaves the queue without reload."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from agents.models import Agent
from agents.rule_sets import rules_replace
from approvals.models import ApprovalRequest, LedgerEntry
from conversations.models import Message
from conversations.services import conversation_start
from core.services import personal_token_create
from tests.browser.conftest import screenshot, sign_in
from tests.factories import TenantFactory, make_api_key, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser


@pytest.fixture
def acme(transactional_db):
    """A tenant whose billing agent needs approval for refunds over 100, decided by alice or
    bob, and a conversation with Kim about a damaged parcel. (Only rows are made here: what
    sends socket events is done by the server, the test process has no channel layer of its
    own while Playwright's loop runs.)"""
    tenant = TenantFactory(slug="acme", name="Acme Outfitters")
    alice = make_person(tenant=tenant, roles=["approver"], username="alice", first_name="Alice")
    bob = make_person(tenant=tenant, roles=["approver"], username="bob")
    agent = Agent.objects.create(tenant=tenant, slug="agent-billing", name="Billing")
    rules_replace(
        agent=agent,
        document={
            "approvals": {
                "required": True,
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["alice", "bob"],
            }
        },
    )
    conversation, _ = conversation_start(
        tenant=tenant,
        agent=agent,
        channel="web",
        customer={"id": "cust-7", "name": "Kim Lee", "email": "kim@example.com"},
    )
    for role, author, text in [
        ("customer", "Kim Lee", "Hi, my order A-12345 arrived with a cracked screen."),
        ("agent", "agent-billing", "I'm sorry! I can request a full refund of €249.99 for you."),
        ("customer", "Kim Lee", "Yes please, refund it to my card."),
    ]:
        # written directly, not by make_message (message_post): Playwright's sync API runs an
        # event loop in this thread, and with no transaction to wait for, the announcement
        # would be sent at once, through async_to_sync, which refuses to run inside a loop
        Message.objects.create(
            tenant=tenant, conversation=conversation, role=role, author=author, text=text
        )
    _, key = make_api_key(tenant=tenant)
    return {"alice": alice, "bob": bob, "conversation": conversation, "key": key}


def call(base_url: str, path: str, token: str, body: dict) -> tuple[int, dict]:
    """A JSON POST to the server's API, as an integration (or a person's token) would."""
    request = urllib.request.Request(
        f"{base_url}{path}",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def propose(base_url, acme, *, key: str, order: str, amount: float) -> int:
    status, body = call(
        base_url,
        f"/api/v1/conversations/{acme['conversation'].pk}/actions",
        acme["key"],
        {
            "action": "issue_refund",
            "params": {"orderId": order, "amount": amount},
            "idempotencyKey": key,
        },
    )
    assert status == 202, body
    return body["approval"]["id"]


def wait_synced(page) -> None:
    page.wait_for_selector(".approvals-page[data-connection='open'][data-synced='true']")


def card(page, approval_id: int):
    return page.locator(f"#pending-list .request[data-approval='{approval_id}']")


def eventually(check, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_an_approver_sees_requests_arrive_live_approves_one_and_denies_another(
    acme, pages, asgi_server
):
    page = pages()
    sign_in(page, acme["alice"], path="/approvals/")
    wait_synced(page)
    expect(page.locator("#pending-empty")).to_be_visible()
    screenshot(page, "approvals-empty")

    refund = propose(asgi_server, acme, key="r-1", order="A-12345", amount=249.99)

    first = card(page, refund)
    expect(first).to_be_visible()  # no reload: it came over the socket
    expect(first).to_contain_text("Refund €249.99 for order A-12345")
    expect(first).to_contain_text("Kim Lee")
    expect(first).to_contain_text("Integration “integration”")  # who asked: the API key
    expect(first.locator(".request-why")).to_contain_text("params.amount > 100")
    expect(first.locator(".expires")).to_contain_text("expires in 23 h")
    expect(page.locator("#announcer")).to_contain_text("New approval request: Refund €249.99")
    expect(page).to_have_title("(1) Approvals · Acme Outfitters")
    screenshot(page, "approvals-live")

    page.keyboard.press("j")  # keyboard: j moves to the first request, Enter opens it
    expect(first.locator(".request-link")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Refund €249.99 for order A-12345")
    expect(page.locator(".transcript")).to_contain_text("cracked screen")
    expect(page.locator(".why-list")).to_contain_text("params.amount")
    wait_synced(page)
    screenshot(page, "approval-detail")
    page.fill("#reason", "Photo of the cracked screen checked")
    page.get_by_role("button", name="Approve").click()

    expect(page).to_have_url(f"{asgi_server}/approvals/")
    expect(page.locator(".messages")).to_contain_text(
        f"Approved and carried out #{refund} · Refund €249.99 for order A-12345."
    )
    expect(card(page, refund)).to_have_count(0)
    screenshot(page, "approvals-approved")
    done = ApprovalRequest.objects.get(pk=refund)
    assert done.status == "executed" and done.decided_by.username == "alice"
    assert LedgerEntry.objects.filter(action="issue_refund").count() == 1
    wait_synced(page)

    second = propose(asgi_server, acme, key="r-2", order="B-777", amount=620)
    expect(card(page, second)).to_contain_text("Refund €620.00 for order B-777")
    card(page, second).locator(".request-link").click()
    wait_synced(page)
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("#reason-error")).to_have_text("Give a reason to deny.")
    expect(page.locator("#reason")).to_be_focused()
    screenshot(page, "approval-deny-error")
    assert ApprovalRequest.objects.get(pk=second).status == "pending"
    page.keyboard.type("Order B-777 was already refunded last week")
    page.get_by_role("button", name="Deny").click()

    expect(page).to_have_url(f"{asgi_server}/approvals/")
    expect(page.locator(".messages")).to_contain_text(f"Denied #{second}")
    expect(card(page, second)).to_have_count(0)
    row = page.locator(f".history-table tr[data-approval='{second}']")
    expect(row.locator(".status")).to_have_text("Denied")
    expect(row).to_contain_text("alice")
    expect(row).to_contain_text("Order B-777 was already refunded last week")
    expect(page.locator(f".history-table tr[data-approval='{refund}'] .status")).to_have_text(
        "Executed"
    )
    page.select_option("#id_status", "denied")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".history-table tbody tr")).to_have_count(1)
    screenshot(page, "approvals-history")
    denied = ApprovalRequest.objects.get(pk=second)
    assert denied.status == "denied" and denied.reason.startswith("Order B-777")
    assert LedgerEntry.objects.count() == 1

    page.goto(f"/approvals/{refund}/")
    expect(page.locator(".status-block .status")).to_have_text("Executed")
    expect(page.locator(".exec-succeeded")).to_have_text("Succeeded")
    expect(page.locator(".timeline")).to_contain_text("Photo of the cracked screen checked")
    expect(page.locator("#reason")).to_have_count(0)
    screenshot(page, "approval-executed")


def test_a_request_decided_by_another_approver_leaves_the_queue_without_reload(
    acme, pages, asgi_server
):
    _, bobs_token = personal_token_create(user=acme["bob"], name="laptop")
    waiting = propose(asgi_server, acme, key="w-1", order="C-1", amount=180)
    page = pages(viewport=(1100, 800))
    sign_in(page, acme["alice"], path="/approvals/")
    wait_synced(page)
    expect(card(page, waiting)).to_be_visible()

    status, body = call(
        asgi_server, f"/api/v1/approvals/{waiting}/deny", bobs_token, {"reason": "Duplicate"}
    )

    assert status == 200, body
    expect(card(page, waiting)).to_have_count(0)  # no reload
    expect(page.locator("#pending-empty")).to_be_visible()
    row = page.locator(f".history-table tr[data-approval='{waiting}']")
    expect(row).to_contain_text("Duplicate")
    expect(row).to_contain_text("bob")
    assert eventually(lambda: page.title() == "Approvals · Acme Outfitters")


def test_an_approver_only_through_a_group_gets_the_page_live(acme, pages, asgi_server):
    from core.models import ApproverGroup

    carol = make_person(tenant=acme["conversation"].tenant, roles=[], username="carol")
    finance = ApproverGroup.objects.create(tenant=carol.membership.tenant, name="finance")
    finance.members.add(carol)
    rules_replace(
        agent=Agent.objects.get(slug="agent-billing"),
        document={
            "approvals": {
                "required": True,
                "actions": ["issue_refund"],
                "approvers": ["group:finance"],
            }
        },
    )
    waiting = propose(asgi_server, acme, key="g-1", order="G-1", amount=40)
    page = pages()
    sign_in(page, carol, path="/approvals/")

    # members of an approver group get the inbox socket too
    expect(page.locator("#connection")).to_contain_text("Live")
    expect(page.locator("#approvals")).to_have_attribute("data-synced", "true")
    expect(card(page, waiting)).to_contain_text("Refund €40.00 for order G-1")
    later = propose(asgi_server, acme, key="g-2", order="G-2", amount=55)
    expect(card(page, later)).to_contain_text("Refund €55.00 for order G-2")  # without reload


def test_the_history_is_readable_at_a_phone_width(acme, pages, asgi_server):
    """Issue 19 (screens at 390 px): the history table becomes one card per decision, each
    cell with its label, and nothing is wider than the viewport."""
    from tests.browser.test_layout import assert_fits

    _, bobs_token = personal_token_create(user=acme["bob"], name="phone")
    for index, (order, amount) in enumerate([("A-12345", 249.99), ("B-7777777777", 620)]):
        approval = propose(asgi_server, acme, key=f"p-{index}", order=order, amount=amount)
        status, body = call(
            asgi_server,
            f"/api/v1/approvals/{approval}/deny",
            bobs_token,
            {
                "reason": "Already refunded last week through the card provider's own dispute "
                "process, see ticket 4711 " + "x" * 40
            },
        )
        assert status == 200, body
    page = pages(viewport=(390, 844))
    sign_in(page, acme["alice"], path="/approvals/")
    wait_synced(page)
    rows = page.locator(".history-table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first.locator(".status")).to_have_text("Denied")
    expect(rows.first.locator("td[data-label='Decided by']")).to_contain_text("bob")
    assert_fits(page, "the approvals history at 390 px")
    rows.first.scroll_into_view_if_needed()
    screenshot(page, "approvals-history-390")
