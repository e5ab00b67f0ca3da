"""Whether a web chat's customer has the chat open: how many of their sockets are connected to
the conversation, counted in the cache (``/ws/conversations/<id>/`` counts itself in and out).

A web chat's customer who left their e-mail address gets a person's reply by e-mail only while
no socket of theirs is connected (``conversations.email``). A count survives a crashed process
for at most ``PRESENCE_TTL`` (the customer then looks present: no e-mail, as before they left
an address); with the cache away the customer looks absent (an e-mail they might not need).

The counting is synchronous, for the socket threads (``config.socket_threads``): Django's
``cache.aincr`` and its kin are ``sync_to_async`` wrappers that queue for asgiref's one shared
thread, behind every other socket's work of the process; the load test's customer socket
connect -> snapshot p95 went from 301 to 616-778 ms with them."""

from __future__ import annotations

from django.core.cache import cache

PRESENCE_TTL = 2 * 60 * 60  # seconds


def _key(conversation_id) -> str:
    return f"chat-here:{conversation_id}"


def customer_joined(conversation_id) -> None:
    key = _key(conversation_id)
    if cache.add(key, 1, timeout=PRESENCE_TTL):  # the first of their sockets: one command
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between the two, or the cache is away
        cache.set(key, 1, timeout=PRESENCE_TTL)


def customer_left(conversation_id) -> None:
    key = _key(conversation_id)
    try:
        left = cache.decr(key)
    except ValueError:  # expired, or the cache is away
        return
    if left <= 0:
        cache.delete(key)


def customer_here(conversation_id) -> bool:
    try:
        return int(cache.get(_key(conversation_id)) or 0) > 0
    except (TypeError, ValueError):
        return False
