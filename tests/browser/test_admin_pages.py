"""Every admin page a manager reaches from the admin's index, on the demo data at 1366x768:
it opens, fits the window (no sideways scrolling), prints no template syntax, names the product's
icon, and everything it loads (styles, scripts) is there. Found by
walking the links a manager sees (the index's lists and add links, then each list's first
entry), not from a list of our own."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

WINDOW = (1366, 768)
# template syntax printed as text; {{TENANT_NAME}} is the routing instructions' documented
# placeholder, shown on purpose in their help
LEAK = re.compile(r"\{#|#\}|\{%|%\}|\{\{(?!TENANT_NAME\}\})")


def test_every_admin_page_a_manager_reaches_opens_fits_and_shows_no_template_syntax(
    demo_manager, pages
):
    manager, _ = demo_manager
    page = pages(viewport=WINDOW)
    sign_in(page, manager, path="/admin/")
    index = page.eval_on_selector_all(
        "#content-main a[href^='/admin/']", "links => links.map(a => a.getAttribute('href'))"
    )
    lists = sorted({href for href in index if not href.endswith("/add/")})
    adds = sorted({href for href in index if href.endswith("/add/")})
    assert len(lists) > 15 and adds  # the walk found the manager's pages

    visited, problems, failed_loads = [], [], []
    # what a page loads besides itself (styles, scripts) must load
    page.on(
        "response",
        lambda r: (
            r.status >= 400
            and r.request.resource_type != "document"
            and failed_loads.append(f"{r.status} {r.url}")
        ),
    )

    def check(url: str) -> None:
        response = page.goto(url)
        visited.append(url)
        status = response.status if response else None
        width = page.evaluate("document.documentElement.scrollWidth")
        leaked = LEAK.findall(page.inner_text("body"))
        # without an icon of its own the browser asks for /favicon.ico: a 404 for every page
        icons = page.locator("link[rel=icon]").count()
        if status != 200 or width > WINDOW[0] or leaked or icons != 1:
            problems.append(
                f"{url}: status {status}, width {width}, template text {leaked[:3]}, icons {icons}"
            )

    for url in lists:
        check(url)
        first = page.eval_on_selector_all(
            "#result_list tbody tr a[href^='/admin/']",
            "links => links.map(a => a.getAttribute('href')).slice(0, 1)",
        )
        for href in first:
            check(href)
    for url in adds:
        check(url)

    assert len(visited) > 30
    assert problems == []
    assert failed_loads == []
