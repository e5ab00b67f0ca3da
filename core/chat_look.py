"""How the tenant's web chat looks and greets (Intercom's Messenger settings, Zendesk's widget
appearance, Chatwoot's widget colour and welcome): its colour, its greeting and the line under
it, and how soon the team usually replies. A manager sets them on the tenant's admin page; the
chat page (``handover.views.chat``) and the website button's tag (its ``data-color``) use them.

The colour's text is white or dark ink, whichever reads better on it (WCAG's contrast ratio),
so a light brand colour still gives readable buttons and bubbles.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.core.exceptions import ValidationError

DEFAULT_COLOR = "#2f5bea"
GREETING_MAX = 80
INTRO_MAX = 300
DEFAULT_GREETING = "Hi there, how can we help?"
REPLY_TIMES = {
    "minutes": "We usually reply in a few minutes",
    "hours": "We usually reply within a few hours",
    "day": "We usually reply within a day",
}
WHITE = "#ffffff"
INK = "#1d2330"

_HEX = re.compile(r"#[0-9a-fA-F]{6}")


def validate_chat_color(value: str) -> None:
    if not _HEX.fullmatch(value or ""):
        raise ValidationError("Give a colour as # and six hexadecimal digits, e.g. #2f5bea.")


def _channels(color: str) -> tuple[int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def _luminance(color: str) -> float:
    """WCAG 2's relative luminance of ``#rrggbb``."""

    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in _channels(color))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    """WCAG 2's contrast ratio of two colours (1 to 21)."""
    lighter, darker = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def _mixed(color: str, other: str, share: float) -> str:
    """``color`` with ``share`` of ``other`` mixed in."""
    mixed = (
        round(c * (1 - share) + o * share)
        for c, o in zip(_channels(color), _channels(other), strict=True)
    )
    return "#" + "".join(f"{c:02x}" for c in mixed)


@dataclass(frozen=True)
class ChatLook:
    color: str  # the brand colour: the header, buttons, the customer's bubbles
    darker: str  # a button under the pointer
    lighter: str  # the header's gradient's far end
    on_color: str  # text on the colour: white or ink, whichever reads better
    greeting: str
    intro: str
    reply_time: str  # the status line's words while no conversation is open


def chat_look(tenant) -> ChatLook:
    """The tenant's chat as it looks (its settings, or the defaults)."""
    color = tenant.chat_color if _HEX.fullmatch(tenant.chat_color or "") else DEFAULT_COLOR
    color = color.lower()
    on_color = WHITE if contrast(color, WHITE) >= contrast(color, INK) else INK
    return ChatLook(
        color=color,
        darker=_mixed(color, "#000000", 0.18),
        lighter=_mixed(color, WHITE, 0.25),
        on_color=on_color,
        greeting=tenant.chat_greeting.strip() or DEFAULT_GREETING,
        intro=tenant.chat_intro.strip()
        or f"Our assistant answers right away, and a person from the {tenant.name} team joins "
        "whenever you need one.",
        reply_time=REPLY_TIMES.get(tenant.chat_reply_time, REPLY_TIMES["minutes"]),
    )
