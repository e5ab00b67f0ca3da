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
