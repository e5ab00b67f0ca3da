"""Whether a web chat's customer has the chat open: how many of their sockets are connected to
the conversation, counted in the cache (``/ws/conversations/<id>/`` counts itself in and out).

A web chat's customer who left their e-mail address gets a person's reply by e-mail only while
no socket of theirs is connected (``conversations.email``). A count survives a crashed process
for at most ``PRESENCE_TTL`` (the customer then looks present: no e-mail, as before they left
an address); with the cache away the customer looks absent (an e-mail they might not need)."""

from __future__ import annotations

from django.core.cache import cache

PRESENCE_TTL = 2 * 60 * 60  # seconds


def _key(conversation_id) -> str:
    return f"chat-here:{conversation_id}"


async def customer_joined(conversation_id) -> None:
    key = _key(conversation_id)
    await cache.aadd(key, 0, timeout=PRESENCE_TTL)
    try:
        await cache.aincr(key)
    except ValueError:  # expired between the two, or the cache is away
        await cache.aset(key, 1, timeout=PRESENCE_TTL)


async def customer_left(conversation_id) -> None:
    key = _key(conversation_id)
    try:
        left = await cache.adecr(key)
    except ValueError:  # expired, or the cache is away
        return
    if left <= 0:
        await cache.adelete(key)


def customer_here(conversation_id) -> bool:
    try:
        return int(cache.get(_key(conversation_id)) or 0) > 0
    except (TypeError, ValueError):
        return False
