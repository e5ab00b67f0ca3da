"""The templates' own text never reaches a page: Django's ``{# ... #}`` is a one-line comment,
and one that runs over lines is printed as it is (the rule tester showed one above its form)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _templates() -> list[Path]:
    return [
        path
        for path in ROOT.rglob("templates/**/*.html")
        if ".venv" not in path.parts and "node_modules" not in path.parts
    ]


def test_every_template_comment_closes_on_its_own_line():
    found = _templates()
    assert len(found) > 20  # the search found the templates
    unclosed = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in found
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if line.count("{#") > line.count("#}")
    ]
    assert unclosed == [], "use {% comment %} for a comment over several lines: " + ", ".join(
        unclosed
    )


def test_every_page_names_the_products_icon_so_no_browser_asks_for_favicon_ico(tenant):
    """Without an icon of its own a page makes the browser fetch /favicon.ico, a 404 in the
    server's log for every page anyone opens."""
    from django.test import Client

    from tests.conftest import login
    from tests.factories import make_person

    manager = make_person(tenant=tenant, roles=["manager", "agent", "approver"], username="m")
    signed_in = login(manager)
    pages = {
        "sign-in": Client().get("/accounts/login/"),
        "home": signed_in.get("/"),
        "inbox": signed_in.get("/inbox/"),
        "approvals": signed_in.get("/approvals/"),
        "history": signed_in.get("/inbox/history/"),
        "admin": signed_in.get("/admin/"),
        "admin sign-in": Client().get("/admin/login/"),
        "chat": Client().get(f"/chat/{tenant.slug}/"),
        "chat of nobody": Client().get("/chat/no-such-company/"),
    }

    without = [
        f"{name} ({response.status_code})"
        for name, response in pages.items()
        if 'rel="icon" href="/static/icon.svg"' not in response.content.decode()
    ]
    assert without == []
    from django.contrib.staticfiles import finders

    assert finders.find("icon.svg")


def test_no_template_gives_one_id_to_two_elements():
    """A second element with an id (a button named like the transcript's list) is invisible to
    ``getElementById``: its script wires the first, and the button does nothing when clicked."""
    import collections
    import re

    twice = {
        str(path.relative_to(ROOT)): sorted(
            name
            for name, count in collections.Counter(
                re.findall(r'\bid="([^"{}]+)"', path.read_text())
            ).items()
            if count > 1
        )
        for path in _templates()
    }
    assert {path: names for path, names in twice.items() if names} == {}
