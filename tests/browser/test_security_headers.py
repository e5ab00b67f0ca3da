"""The pages work under the Content-Security-Policy: Chromium reports no violation on the
sign-in page, the home page, the admin (lists, forms with their widgets, the metrics
dashboard), the API docs, the live inbox and approvals (their sockets open) and the chat."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.browser.conftest import make_support_team, sign_in, wait_live
from tests.factories import TenantFactory, make_person

try:
    from playwright.sync_api import expect
except ImportError:  # the `browser` fixture then fails in CI and skips elsewhere
    expect = None

pytestmark = pytest.mark.browser

# Chromium fires `securitypolicyviolation` on the document for every blocked script, style,
# connection or frame; collect them before any page script runs.
COLLECT_VIOLATIONS = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"}`);
});
"""


def watched(page) -> list[str]:
    """Violations and CSP console errors seen by ``page`` (the list fills as it runs)."""
    seen: list[str] = []
    page.add_init_script(COLLECT_VIOLATIONS)
    page.on(
        "console",
        lambda message: (
            seen.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    return seen


def violations(page, seen: list[str]) -> list[str]:
    return seen + page.evaluate("window.__csp || []")


def test_every_page_works_under_the_content_security_policy(pages):
    tenant = TenantFactory(slug="acme", name="Acme")
    make_support_team(tenant)
    boss = make_person(tenant=tenant, roles=["manager", "agent", "approver"], username="boss")

    visitor = pages()
    seen = watched(visitor)
    response = visitor.goto("/accounts/login/")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    visitor.wait_for_selector("form input[name=username]")
    assert violations(visitor, seen) == []
    visitor.goto("/chat/acme/")
    visitor.fill("#start-text", "Hello, where is my parcel?")
    visitor.click("#start-button")  # a form post, then the chat socket
    expect(visitor.locator(".chat")).to_have_attribute("data-connection", "open")
    expect(visitor.locator("#messages .msg").first).to_be_visible()
    assert violations(visitor, seen) == []

    page = pages()
    seen = watched(page)
    sign_in(page, boss, path="/")
    checks = [
        ("/", "main"),
        ("/admin/", "#content"),
        ("/admin/agents/agent/", "#changelist"),
        ("/admin/agents/agent/add/", "form#agent_form"),
        (reverse("admin:insight_dashboard"), "svg"),
        ("/api/docs/", ".swagger-ui .info"),
        ("/approvals/", ".approvals-page[data-connection='open']"),
    ]
    for path, ready in checks:
        page.goto(path)
        page.wait_for_selector(ready)
        assert violations(page, seen) == [], path
    page.goto("/inbox/")
    wait_live(page)  # the inbox socket opened under connect-src 'self'
    assert violations(page, seen) == []
