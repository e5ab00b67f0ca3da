"""Websocket consumers (SPEC 6): the inbox of human agents and approvers, and the customer's
side of one conversation.

Close codes: 4401 not signed in / bad token (also: deactivated, signed out everywhere, deleted,
while the socket is open), 4403 not allowed (also: a role the socket needs was taken away),
4404 no such conversation.
Events from the channel layer are small (type and ids); consumers re-read what they send, and a
reconnecting client gets a fresh snapshot from the database, so a dropped event loses nothing.

A frame a client sends is decoded in one place (``JsonConsumer.receive``): binary, empty,
too large, not JSON, nested too deep, holding a NUL or a lone surrogate, or not an object, it
is answered ``{"type": "error", "code": "bad_frame", "error": "..."}`` and the socket stays
open. Every error frame has a ``code`` (``bad_frame``, ``unknown_type``, ``invalid``,
``rate_limited`` with ``retryAfter`` in seconds) and a readable ``error``.

A service's refusal (``core.errors``: ``Invalid``, ``Forbidden``, ``NotFound``, ``Conflict``)
is told by ``refusal`` alone, with the code and message the API answers with (and ``fields``
for ``Invalid``): in an error frame, or in the ``...result`` frame of the action it refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import OuterRef, Subquery

from config import ratelimit
from config.socket_threads import socket_db
from conversations.customer_presence import customer_joined, customer_left
from conversations.messages import message_json
from conversations.models import (
    INTERNAL_ROLES,
    Conversation,
    Message,
    MessageRole,
)
from conversations.selectors import CONVERSATION_ID, conversation_by_id
from conversations.services import customer_saw, customer_token_matches
from core.api_errors import domain_error_body
from core.compiled import INT_MARK, Compiled, Marker
from core.errors import DomainError, Invalid, NotFound
from core.events import (
    conversation_group,
    conversation_watchers_group,
    person_group,
    tenant_inbox_group,
)
from core.json_input import (
    JsonRefused,
    loads,
)
from core.limits import message_text
from core.observability import context, loop_lag, metrics
from core.permissions import (
    AGENT,
    PAGES,
    SOCKET_ACTIONS,
    SOCKET_EVENTS,
    access_of,
    forget_hats,
)
from core.scoping import membership_of
from core.selectors import tenant_by_id
from handover import presence
from handover.canned import canned_reply_send, tenant_canned_reply
from handover.limits import chat_message_refusal, wait_text
from handover.mentions import mentions_read
from handover.models import Handoff, Status
from handover.presence import agent_statuses
from handover.services import (
    agent_status_set,
    handoff_claim,
    human_send_message,
    note_edit,
    note_post,
    typing_from_customer,
    typing_from_human,
)
from handover.snooze import handoff_snooze
from handover.viewing import colleague_typing, viewers_told, viewing_beat, viewing_set
from orchestration.inbox import inbox_snapshot
from orchestration.turns import conversation_receive_message

log = logging.getLogger(__name__)

_CLOSE_CODES = {4401: "signed_out", 4403: "forbidden"}
MAX_FRAME = 64 * 1024  # characters of one frame; a message of MAX_MESSAGE_TEXT fits with room
MAX_ID = 2**63 - 1  # the largest primary key PostgreSQL's bigint holds
# A typing indicator is told at most once per this many seconds per socket and conversation;
# the frames in between are dropped (the widget and the inbox show it for a few seconds).
TYPING_COALESCE_SECONDS = 2.0


class FrameRefused(ValueError):
    """A client frame that is not a JSON object we accept; the message says why."""


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "error": message, **extra}


def refusal(exc: DomainError) -> dict[str, Any]:
    """A service's refusal as the sockets tell it: the code, message and fields the API
    answers with (``core.api_errors.domain_error_body``), the message as ``error``."""
    said = domain_error_body(exc)["error"]
    fields = {"fields": said["fields"]} if "fields" in said else {}
    return {"code": said["code"], "error": said["message"], **fields}


def refused_frame(exc: DomainError) -> dict[str, Any]:
    return {"type": "error", **refusal(exc)}


def decode_frame(text_data: str | None, bytes_data: bytes | None) -> dict[str, Any]:
    """The object a client's frame holds, through the one JSON door; raises FrameRefused."""
    if text_data is None:
        raise FrameRefused("binary frames are not accepted: send a JSON object as text")
    if len(text_data) > MAX_FRAME:
        raise FrameRefused(f"the frame is over {MAX_FRAME} characters")
    if not text_data.strip():
        raise FrameRefused("the frame is empty: send a JSON object")
    try:
        content = loads(text_data)
    except JsonRefused as exc:
        raise FrameRefused(f"the frame is not acceptable JSON: {exc}") from None
    if not isinstance(content, dict):
        raise FrameRefused("a frame must be a JSON object with a type")
    return content


def _kind(content: dict[str, Any]) -> str | None:
    kind = content.get("type")
    return kind if isinstance(kind, str) else None


def _unknown(kind: str | None) -> dict[str, Any]:
    named = "no type" if kind is None else f"unknown message type {kind[:40]!r}"
    return error_frame("unknown_type", named)


def _positive_id(value: Any) -> int | None:
    """A row id as a client must send it: a JSON integer from 1 to MAX_ID (not a bool, a
    float, a string, NaN or Infinity)."""
    if type(value) is int and 1 <= value <= MAX_ID:
        return value
    return None


class JsonConsumer(AsyncJsonWebsocketConsumer):
    """Decodes every client frame through ``decode_frame`` (a bad one gets an error frame and
    the socket stays open) and sends dates and UUIDs as Django's JSON encoder writes them (ISO
    8601, strings)."""

    async def dispatch(self, message):
        """As channels dispatches, without its ``aclose_old_connections`` before every message:
        that is one more trip to asgiref's one shared thread per event per socket, queued
        behind every other socket's (config/socket_threads.py). Every database call here runs
        through ``socket_db`` or ``database_sync_to_async``, which close the thread's
        connection before and after."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def receive(self, text_data=None, bytes_data=None, **kwargs):
        try:
            content = decode_frame(text_data, bytes_data)
        except FrameRefused as exc:
            await self.send_json(error_frame("bad_frame", str(exc)))
            return
        await self.receive_json(content, **kwargs)

    @classmethod
    async def encode_json(cls, content):
        return json.dumps(content, cls=DjangoJSONEncoder)

    async def accept(self, subprotocol=None, headers=None):
        await super().accept(subprotocol, headers)
        self.counted = True
        metrics.socket_opened()  # the metrics: sockets opened, open now, closed by code
        loop_lag.watch()  # and how late this process's loop runs (once per loop)

    async def _after(
        self, before: asyncio.Future | None, step: Callable[[], Awaitable[None]], what: str
    ) -> None:
        """Run ``step()`` once ``before`` (the task of the socket's previous frame) is done: a
        frame handled in a task of its own, in the order the frames came, while the consumer
        goes on hearing its events (it handles one message at a time). A failure is logged,
        and the socket, if still open, closed 1011."""
        if before is not None:
            await asyncio.wait([before])
        try:
            await step()
        except Exception:
            if getattr(self, "gone", False):  # its answer had nowhere to go
                log.warning("%s after the socket closed", what, exc_info=True)
                return
            log.exception("%s failed", what)
            with contextlib.suppress(Exception):
                await self.close(code=1011)

    async def websocket_disconnect(self, message):
        if getattr(self, "counted", False):
            metrics.socket_closed(message.get("code"))
        await super().websocket_disconnect(message)


class PersonSocket(JsonConsumer):
    """A socket a signed-in person of a tenant opened, which re-checks who is there.

    The subclass's ``connect`` sets ``user``, ``session_key``, ``tenant_id``, ``hats`` (the
    hats the socket was opened with) and ``closing = False``; ``_still_there`` re-reads the
    person in one query (``access_of``) and closes the socket when they are gone (4401) or lost
    a hat it was opened with or left the tenant (4403)."""

    async def _still_there(self) -> frozenset[str] | None:
        """Re-read who is behind the socket; close it (after an error frame) when they are
        gone or lost what it was opened with. The hats both still hold, or None (closed)."""
        if self.closing:
            return None
        hats, gone = self._judge(await socket_db(access_of)(self.user.pk, self.session_key))
        if gone is not None:
            await self._close_for(*gone)
        return hats

    def _judge(self, now) -> tuple[frozenset[str] | None, tuple[int, str] | None]:
        """What a fresh ``access_of`` says of the socket: (the hats both still hold, None), or
        (None, (close code, why)) when the person is gone or lost what it was opened with."""
        if now.close_code:
            return None, (now.close_code, "You are signed out.")
        if now.tenant_id != self.tenant_id or not self.hats <= now.hats:
            return None, (4403, "Your roles changed; reconnect to see what they allow.")
        forget_hats(self.user)  # the services read the membership afresh
        return self.hats & now.hats, None

    async def _close_for(self, code: int, error: str) -> None:
        if self.closing:
            return
        self.closing = True
        await self.send_json({"type": "error", "code": _CLOSE_CODES[code], "error": error})
        await self.close(code=code)


class InboxConsumer(PersonSocket):
    """``/ws/inbox/``: human agents and approvers of one tenant.

    Who may do what comes from the permission matrix (``orchestration/permissions.py``): the
    socket opens for the hats of its ``connect`` row, each client action needs its row, and an
    event reaches the socket only when its row lets the socket's hats through (handoffs and
    messages: agents; approval requests: approvers). Every client frame re-reads who is there
    in one query (active, still signed in with this session, same tenant, the roles the socket
    was opened with): a person deactivated, signed out everywhere or deleted gets an error frame
    and the close code 4401; one who lost a role the socket was opened with, or left the
    tenant, 4403. The same check runs when the person's group hears ``access.changed`` (sent
    after commit by the services that change people), so a socket closes without waiting for
    its next frame."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.closing = False
        now = await socket_db(access_of)(user.pk, self.session_key)
        if now.close_code:
            await self.close(code=now.close_code)
            return
        if now.tenant_id is None or not SOCKET_ACTIONS["connect"].allows(now.hats):
            await self.close(code=4403)
            return
        membership = await socket_db(membership_of)(user)
        self.user = user
        self.tenant = membership.tenant
        self.tenant_id = membership.tenant_id
        self.hats = now.hats
        self.is_agent = AGENT in now.hats
        context.bind(request_id=context.request_id_from(None), tenant_id=self.tenant.pk)
        self.group = tenant_inbox_group(self.tenant.pk)
        self.own_group = person_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.own_group, self.channel_name)
        await self.accept()
        if self.is_agent:
            await socket_db(presence.presence_join)(user=user, tenant=self.tenant)
            await presence.presence_changed(self.tenant)
        await self.send_json(await socket_db(self._snapshot)())

    def _snapshot(self) -> dict[str, Any]:
        return inbox_snapshot(
            self.user,
            self.tenant,
            handoffs=SOCKET_EVENTS["handoff.offered"].allows(self.hats),
            approvals=SOCKET_EVENTS["approval.requested"].allows(self.hats),
        )

    async def disconnect(self, code):
        self.gone = True
        acting = getattr(self, "acting", None)
        if acting is not None:  # the frames it took are answered (or dropped) before it ends
            await asyncio.wait([acting])
        if not hasattr(self, "group"):
            return
        await self.channel_layer.group_discard(self.group, self.channel_name)
        await self.channel_layer.group_discard(self.own_group, self.channel_name)
        if getattr(self, "watched", None) is not None:
            await self.channel_layer.group_discard(
                conversation_watchers_group(self.watched), self.channel_name
            )
            await socket_db(self._viewing)(None)
        if self.is_agent:
            await socket_db(presence.presence_leave)(user=self.user)
            await presence.presence_changed(self.tenant)

    async def receive_json(self, content, **kwargs):
        # Each frame is handled in a task of its own, after the ones before it (in order), so
        # that the socket keeps hearing its events (an offer, a message) while a claim or a
        # send waits for the database: a consumer handles one message at a time, and under the
        # load test the events of a busy agent's socket waited seconds behind its own frames.
        self.acting = asyncio.ensure_future(
            self._after(getattr(self, "acting", None), lambda: self._act(content), "an inbox frame")
        )

    async def _act(self, content) -> None:
        if self.closing:
            return
        kind = _kind(content)
        action = self._WRITES.get(kind or "")
        if action is not None:
            # a write: who is there is read in the same trip to the database threads as the
            # write itself (one hop, one pooled connection, not two)
            closing, answer = await socket_db(self._checked)(kind, action, content)
            if closing is not None:
                await self._close_for(*closing)
            else:
                await self.send_json(answer)
            return
        hats = await self._still_there()  # every frame: who is there, from the database
        if hats is None:
            return
        refused = self._refused(kind, hats)
        if refused is not None:
            await self.send_json(refused)
        elif kind == "heartbeat":
            if self.is_agent:
                await socket_db(self._beat)()
            await self.send_json({"type": "heartbeat.ack"})
        elif kind == "resync":
            await self.send_json(await socket_db(self._snapshot)())
        elif kind == "typing":
            await self._typing(content)
        elif kind == "conversation.watch":
            await self.send_json(await self._watch(content.get("conversationId")))

    def _refused(self, kind: str | None, hats: frozenset[str]) -> dict[str, Any] | None:
        """The error frame for an action the socket may not take (unknown, or not its
        hats'), or None."""
        grant = SOCKET_ACTIONS.get(kind) if kind is not None and kind != "connect" else None
        if grant is None:
            return _unknown(kind)
        if not grant.allows(hats):
            return error_frame("forbidden", f"This needs {grant.needs()}.", action=kind)
        return None

    def _checked(
        self, kind: str, action: Callable[[Any, Any], dict[str, Any]], content
    ) -> tuple[tuple[int, str] | None, dict[str, Any] | None]:
        """On a database thread: who is there (``access_of``, as ``_still_there``), whether
        their hats allow ``kind``, then the write. (close code and why, None) when the person
        is gone, else (None, the answer frame)."""
        hats, gone = self._judge(access_of(self.user.pk, self.session_key))
        if gone is not None:
            return gone, None
        return None, self._refused(kind, hats) or action(self, content)

    async def _watch(self, conversation_id: Any) -> dict[str, Any]:
        """Hear the typing of one conversation of the tenant (the one the inbox has open), and
        of no other; ``None`` stops. The answer says whether the AI is writing in it now (its
        ``agent.typing`` may have left before the watch)."""
        result = {"type": "conversation.watch.result", "ok": False}
        typing = False
        if conversation_id is not None:
            found = await socket_db(_conversation)(self.tenant, conversation_id)
            if found is None:  # not a UUID, or not this tenant's: the same answer
                return {**result, **refusal(NotFound("no such conversation"))}
            conversation_id, typing = str(found.pk), found.ai_turn_at is not None
        watched = getattr(self, "watched", None)
        if watched is not None and watched != conversation_id:
            await self.channel_layer.group_discard(
                conversation_watchers_group(watched), self.channel_name
            )
        if conversation_id is not None:
            await self.channel_layer.group_add(
                conversation_watchers_group(conversation_id), self.channel_name
            )
        self.watched = conversation_id
        # who else has it open (handover.viewing): the answer carries them, the inboxes hear it
        viewers = await socket_db(self._viewing)(conversation_id)
        return {
            **result,
            "ok": True,
            "conversationId": conversation_id,
            "agentTyping": typing,
            "viewers": viewers,
        }

    def _viewing(self, conversation_id) -> list[dict[str, str]]:
        """On a database thread: this socket has ``conversation_id`` open now (None: none);
        the inboxes are told of both conversations' viewers. Returns its viewers."""
        changed = viewing_set(
            tenant=self.tenant,
            user=self.user,
            channel_name=self.channel_name,
            conversation_id=conversation_id,
        )
        told = viewers_told(self.tenant.pk, changed)  # the conversation opened is among them
        return told.get(str(conversation_id), []) if conversation_id is not None else []

    def _beat(self) -> None:
        """On a database thread: the person's presence and this socket's viewing are fresh."""
        presence.presence_beat(user=self.user)
        if getattr(self, "watched", None) is not None:
            viewing_beat(self.channel_name)

    def _note(self, content) -> dict[str, Any]:
        result = {"type": "note.send.result", "ok": False}
        try:
            conversation = _conversation(self.tenant, content.get("conversationId"))
            if conversation is None:
                raise NotFound("no such conversation")
            message = note_post(conversation=conversation, user=self.user, text=content.get("text"))
        except DomainError as exc:
            return {**result, **refusal(exc)}
        return {**result, "ok": True, "messageId": message.pk}

    def _note_edit(self, content) -> dict[str, Any]:
        result = {"type": "note.edit.result", "ok": False}
        try:
            note_id = _positive_id(content.get("messageId"))
            note = (
                Message.objects.filter(
                    tenant=self.tenant, role=MessageRole.NOTE, pk=note_id
                ).first()
                if note_id is not None
                else None
            )
            if note is None:
                raise NotFound("no such note")
            edited = note_edit(note=note, user=self.user, text=content.get("text"))
        except DomainError as exc:
            return {**result, **refusal(exc)}
        return {**result, "ok": True, "messageId": edited.pk}

    def _mention_read(self, content) -> dict[str, Any]:
        """The person read some of their mentions (``mentionIds``), those of the conversation
        they opened (``conversationId``), or all (neither)."""
        result = {"type": "mention.read.result", "ok": False}
        try:
            conversation_id = content.get("conversationId")
            if conversation_id is not None:
                found = _conversation(self.tenant, conversation_id)
                if found is None:
                    raise NotFound("no such conversation")
                conversation_id = found.pk
            ids = content.get("mentionIds")
            read = mentions_read(self.user, ids=ids, conversation_id=conversation_id)
        except DomainError as exc:
            return {**result, **refusal(exc)}
        return {**result, "ok": True, "mentionIds": read}

    def _status(self, content) -> dict[str, Any]:
        result = {"type": "status.set.result", "ok": False}
        try:
            setting = agent_status_set(user=self.user, status=content.get("status"))
        except DomainError as exc:
            return {**result, **refusal(exc)}
        return {**result, "ok": True, "status": setting.status}

    async def _typing(self, content) -> None:
        """The person is writing in a conversation, at most once per TYPING_COALESCE_SECONDS
        per conversation and kind (the rest are dropped quietly). A reply by its holder is told
        to the customer's widget; a reply or (``note``) a private note is told to the
        colleagues who have the conversation open (handover.viewing)."""
        conversation_id = content.get("conversationId")
        if not isinstance(conversation_id, str):
            await self.send_json(
                error_frame("invalid", "conversationId must be a string", field="conversationId")
            )
            return
        note = content.get("note", False)
        if not isinstance(note, bool):
            await self.send_json(error_frame("invalid", "note must be true or false", field="note"))
            return
        told = getattr(self, "typing_told", None)
        if told is None or len(told) > 100:  # bounded, whatever ids a client sends
            told = self.typing_told = {}
        now = asyncio.get_running_loop().time()
        if now - told.get((conversation_id, note), -1e9) < TYPING_COALESCE_SECONDS:
            return
        told[(conversation_id, note)] = now

        def tell() -> None:
            conversation = _conversation(self.tenant, conversation_id)
            if conversation is None:  # not a UUID, or another tenant's: nobody is told
                return
            if not note:
                typing_from_human(conversation=conversation, user=self.user)
            colleague_typing(conversation_id=conversation.pk, user=self.user, note=note)

        await socket_db(tell)()

    def _claim(self, content) -> dict[str, Any]:
        handoff_id = _positive_id(content.get("handoffId"))
        if handoff_id is None:
            return refused_frame(Invalid(fields={"handoffId": "must be a positive integer"}))
        result = {"type": "handoff.claim.result", "handoffId": handoff_id, "ok": False}
        try:
            handoff = Handoff.objects.filter(tenant=self.tenant, pk=handoff_id).first()
            if handoff is None:
                raise NotFound("no such handoff")
            handoff_claim(handoff=handoff, user=self.user)
        except DomainError as exc:
            return {**result, **refusal(exc)}
        return {**result, "ok": True, "conversationId": str(handoff.conversation_id)}

    def _snooze(self, content) -> dict[str, Any]:
        handoff_id = _positive_id(content.get("handoffId"))
        if handoff_id is None:
            return refused_frame(Invalid(fields={"handoffId": "must be a positive integer"}))
        result = {"type": "handoff.snooze.result", "handoffId": handoff_id, "ok": False}
        try:
            handoff = Handoff.objects.filter(tenant=self.tenant, pk=handoff_id).first()
            if handoff is None:
                raise NotFound("no such handoff")
            snoozed = handoff_snooze(handoff=handoff, user=self.user, until=content.get("until"))
        except DomainError as exc:
            return {**result, **refusal(exc)}
        until = snoozed.snoozed_until
        return {**result, "ok": True, "snoozedUntil": until.isoformat() if until else None}

    def _send(self, content) -> dict[str, Any]:
        """The holder's reply; with ``cannedReplyId``, that canned reply's actions too (its
        tags, then resolve, snooze or hand back: ``handover.canned``), all or nothing."""
        result = {"type": "message.send.result", "ok": False}
        try:
            conversation = _conversation(self.tenant, content.get("conversationId"))
            if conversation is None:
                raise NotFound("no such conversation")
            text = message_text(content.get("text"))
            canned = tenant_canned_reply(self.tenant.pk, content.get("cannedReplyId"))
            if canned is None:
                message = human_send_message(conversation=conversation, user=self.user, text=text)
            else:
                message = canned_reply_send(
                    conversation=conversation, user=self.user, text=text, reply=canned
                )
        except DomainError as exc:
            return {**result, **refusal(exc)}
        done = {"then": canned.then} if canned is not None else {}
        return {**result, "ok": True, "messageId": message.pk, **done}

    # the actions that are one write: checked and done in one hop (``_checked``)
    _WRITES: dict[str, Callable[[Any, Any], dict[str, Any]]] = {
        "handoff.claim": _claim,
        "handoff.snooze": _snooze,
        "message.send": _send,
        "note.send": _note,
        "note.edit": _note_edit,
        "status.set": _status,
        "mention.read": _mention_read,
    }

    async def broadcast(self, message):
        event = dict(message["event"])
        kind = event.get("type")
        if kind == "access.changed":  # to this person's sockets: check again now
            await self._still_there()
            return
        grant = SOCKET_EVENTS.get(kind)
        if grant is None or not grant.allows(self.hats):
            return
        if kind == "message.created" and "message" not in event:
            found = await socket_db(_message)(self.tenant.pk, event.get("messageId"))
            if found is None:
                return
            event["message"] = found
        elif kind == "presence" and "online" not in event:
            event["online"] = await socket_db(presence.online_names)(self.tenant)
        if kind == "presence" and "statuses" not in event:
            event["statuses"] = await socket_db(agent_statuses)(self.tenant)
        await self.send_json(event)


# what changes the team's view (who holds what, who waits, who is online with which status)
TEAM_KINDS = frozenset(
    {
        "handoff.offered",
        "handoff.queued",
        "handoff.expired",
        "handoff.claimed",
        "handoff.transferred",
        "handoff.snoozed",
        "handoff.prioritized",
        "conversation.updated",
        "conversation.erased",
        "customer.updated",
        "conversation.viewers",
        "presence",
    }
)


class TeamConsumer(PersonSocket):
    """``/ws/team/``: the managers' team view (``inbox-team``) kept live. It opens for whoever
    the page's row of the permission matrix lets in, hears the tenant's inbox group, and
    forwards only a nudge, ``{"type": "team.changed", "cause": <kind>}``, never a row: the page
    then re-reads its table through its own door (``?fragment=1``).

    It re-checks who is there (``PersonSocket._still_there``, as the inbox does on every
    frame) when the person's own group hears ``access.changed`` (sent after commit by the
    services that change people), so it closes at once, and again before each nudge: a person
    deactivated, signed out everywhere or deleted gets an error frame and 4401; one who lost
    the hats the page let in (the manager role) or left the tenant, 4403. Either way no nudge
    goes out and none follows."""

    async def connect(self):
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.session_key = getattr(self.scope.get("session"), "session_key", None)
        self.closing = False
        now = await socket_db(access_of)(user.pk, self.session_key)
        if now.close_code:
            await self.close(code=now.close_code)
            return
        page = PAGES["inbox-team"]
        if now.tenant_id is None or not page.allows(now.hats):
            await self.close(code=4403)
            return
        self.user = user
        self.tenant_id = now.tenant_id
        self.hats = frozenset(hat for hat in now.hats if page.allows([hat]))
        self.group = tenant_inbox_group(now.tenant_id)
        self.own_group = person_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.own_group, self.channel_name)
        await self.accept()
        await self.send_json({"type": "team.ready"})

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.own_group, self.channel_name)

    async def receive_json(self, content, **kwargs):
        await self.send_json(error_frame("unknown_type", "this socket only listens"))

    async def broadcast(self, message):
        kind = (message.get("event") or {}).get("type")
        if kind == "access.changed":  # to this person's sockets: check again now
            await self._still_there()
        elif kind in TEAM_KINDS and await self._still_there() is not None:
            await self.send_json({"type": "team.changed", "cause": kind})


class CustomerConsumer(JsonConsumer):
    """``/ws/conversations/<id>/?token=<customerToken>``: the customer's side of one thread."""

    async def connect(self):
        token = parse_qs(self.scope.get("query_string", b"").decode()).get("token", [""])[0]
        conversation_id = self.scope["url_route"]["kwargs"]["conversation_id"]
        # by id alone: the customer token is checked next
        conversation = await socket_db(conversation_by_id)(conversation_id)
        if conversation is None:
            await self.close(code=4404)
            return
        if not customer_token_matches(conversation, token):
            await self.close(code=4401)
            return
        self.conversation_id = conversation.pk
        self.tenant_id = conversation.tenant_id
        context.bind(
            request_id=context.request_id_from(None),
            tenant_id=conversation.tenant_id,
            conversation_id=conversation.pk,
        )  # the socket's log lines carry its ids (each socket runs in its own task)
        self.address = ratelimit.socket_client_ip(self.scope)
        self.group = conversation_group(conversation.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        await self.send_json(await socket_db(self._join)())

    def _join(self) -> dict[str, Any]:
        customer_joined(self.conversation_id)  # in the chat: no reply by e-mail meanwhile
        self.counted = True
        return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        found = _STATE.rows(pk=self.conversation_id)
        if not found:
            raise Conversation.DoesNotExist(f"conversation {self.conversation_id}")
        state, ai_turn_at, follow_up, email, waiting = found[0]
        messages = _SHOWN.instances(conversation=self.conversation_id)
        return {
            "type": "conversation.snapshot",
            # replies by e-mail while away: the address the customer left, if they asked
            "followUpEmail": email if follow_up else None,
            "state": state,
            # waiting for a person: "live" (an offer rings in the team's inboxes) or "queued"
            "waiting": {Status.OFFERED: "live", Status.QUEUED: "queued"}.get(waiting),
            "messages": [for_customer(message_json(m)) for m in messages],
            # an agent's answer is pending (its agent.typing may have left before this socket)
            "agentTyping": ai_turn_at is not None,
        }

    async def disconnect(self, code):
        if hasattr(self, "group"):
            await self.channel_layer.group_discard(self.group, self.channel_name)
        if getattr(self, "counted", False):
            self.counted = False
            await socket_db(customer_left)(self.conversation_id)
        self.gone = True
        saying = getattr(self, "saying", None)
        if saying is not None:  # the messages it took are decided before the consumer ends
            await asyncio.wait([saying])

    async def receive_json(self, content, **kwargs):
        kind = _kind(content)
        if kind == "message.send":
            # Decided in a task of its own, after the ones before it (in order), so that this
            # socket keeps hearing its events meanwhile: its own message.created is sent at
            # the decide's commit, not after the agent's run is dispatched and the handler
            # returns (a consumer handles one message at a time).
            self.saying = asyncio.ensure_future(
                self._after(
                    getattr(self, "saying", None),
                    lambda: self._receive("message.send", content),
                    "a customer's socket message",
                )
            )
            return
        saying = getattr(self, "saying", None)
        if kind != "typing" and saying is not None and not saying.done():
            await asyncio.wait([saying])  # a resync shows the messages sent before it
        await self._receive(kind, content)

    async def _receive(self, kind: str | None, content) -> None:
        if kind == "resync":
            await self.send_json(await socket_db(self._snapshot)())
            return
        if kind == "typing":  # coalesced: one in TYPING_COALESCE_SECONDS reaches the inbox
            now = asyncio.get_running_loop().time()
            if now - getattr(self, "typing_told", -1e9) >= TYPING_COALESCE_SECONDS:
                self.typing_told = now
                await socket_db(typing_from_customer)(
                    conversation_id=self.conversation_id, tenant_id=self.tenant_id
                )
            return
        if kind == "seen":
            await self._seen(content.get("messageId"))
            return
        if kind == "visibility":
            await self._visibility(content.get("visible"))
            return
        if kind != "message.send":
            await self.send_json(_unknown(kind))
            return
        # The message is decided (detection, rules, routing: one short transaction; the agent's
        # reply comes later over this socket) in a worker thread of its own, as an HTTP
        # request's view would, not in the one thread the process's sockets share for their
        # short reads and writes, where it would hold up every other socket's deliveries. The
        # rate limit is counted in the same trip, before anything else is done for the message.
        refused = await database_sync_to_async(self._customer_says, thread_sensitive=False)(
            content.get("text")
        )
        if refused is not None:
            await self.send_json(refused)

    async def _seen(self, message_id: Any) -> None:
        """The chat had our message ``messageId`` on the customer's screen (it tells only while
        its page is shown): the inbox shows "Seen" up to it. A report of nothing newer than the
        socket's last one costs nothing, nor does one within TYPING_COALESCE_SECONDS of a report
        that named no message of ours (a hostile socket's stream costs one query in 2 s)."""
        message_id = _positive_id(message_id)
        if message_id is None:
            await self.send_json(
                error_frame("invalid", "messageId must be a positive integer", field="messageId")
            )
            return
        if message_id <= getattr(self, "seen_told", 0):
            return
        now = asyncio.get_running_loop().time()
        if now - getattr(self, "seen_refused_at", -1e9) < TYPING_COALESCE_SECONDS:
            return  # a report that named no message of ours came just now: no query for this one
        if await socket_db(customer_saw)(
            conversation_id=self.conversation_id, tenant_id=self.tenant_id, message_id=message_id
        ):
            self.seen_told = message_id
        else:
            self.seen_refused_at = now

    async def _visibility(self, visible: Any) -> None:
        """The chat's page was hidden (another tab, a minimised window, the website's chat
        shut) or shown again: a hidden chat does not count as the customer being in it, so a
        person's reply follows them by e-mail when they asked for that."""
        if not isinstance(visible, bool):
            await self.send_json(
                error_frame("invalid", "visible must be true or false", field="visible")
            )
            return
        counted = getattr(self, "counted", False)
        if visible and not counted:
            self.counted = True
            await socket_db(customer_joined)(self.conversation_id)
        elif not visible and counted:
            self.counted = False
            await socket_db(customer_left)(self.conversation_id)

    def _customer_says(self, text: Any) -> dict[str, Any] | None:
        """A customer's message.send, on a worker thread: counted by the chat limit (invalid
        ones too, handover.limits), checked, decided; the frame refusing it, or None."""
        refused = chat_message_refusal(self.conversation_id, self.address)
        if refused is not None:
            return error_frame(
                "rate_limited",
                "You are sending messages too fast. "
                f"Try again in {wait_text(refused.retry_after)}.",
                retryAfter=refused.retry_after,
            )
        try:
            text = message_text(text)
        except Invalid as exc:
            return refused_frame(exc)
        # the turn's lock query reads the conversation (and checks it is the tenant's)
        conversation = Conversation(pk=self.conversation_id, tenant=tenant_by_id(self.tenant_id))
        try:
            conversation_receive_message(conversation=conversation, text=text)
        except DomainError as exc:  # resolved: it takes no more messages
            return refused_frame(exc)
        except Conversation.DoesNotExist:  # erased (orchestration.erasure)
            return refused_frame(NotFound("This conversation no longer exists."))
        return None

    async def broadcast(self, message):
        event = dict(message["event"])
        if event.get("type") == "conversation.erased":  # orchestration.erasure: no more of it
            await self.send_json(event)
            await self.close(code=4404)  # as for a conversation that is not there
            return
        if event.get("type") == "message.created" and "message" not in event:
            found = await socket_db(_message)(self.tenant_id, event.get("messageId"))
            if found is None:
                return
            event["message"] = found
        if event.get("type") == "message.created" and isinstance(event.get("message"), dict):
            if event["message"].get("role") in INTERNAL_ROLES:  # never a colleague's note
                return
            event["message"] = for_customer(event["message"])
        await self.send_json(event)


def for_customer(message: dict[str, Any]) -> dict[str, Any]:
    """A message as the customer's widget gets it: the AI speaks as the tenant's one
    assistant (no agent's id), and the detectors' signals stay inside (issue 19, point 10)."""
    shown = {key: value for key, value in message.items() if key != "signals"}
    if shown.get("role") == "agent":
        shown["author"] = "assistant"
    return shown


# The sockets' reads of a conversation, compiled once per process (core/compiled.py): each
# socket's connect and each inbox action reads one, and compiling the ORM's query cost more
# CPU than running it.
_TENANTS_CONVERSATION = Compiled(
    lambda tenant, pk: Conversation.objects.filter(tenant_id=tenant, pk=pk).order_by(),
    tenant=Marker(INT_MARK),
    pk=CONVERSATION_ID,
)
_STATE = Compiled(
    lambda pk: (
        Conversation.objects.filter(pk=pk)
        .order_by()
        .annotate(
            # how the customer waits for a person, if they do: the open handoff's status
            waiting=Subquery(
                Handoff.objects.filter(
                    conversation=OuterRef("pk"), status__in=(Status.OFFERED, Status.QUEUED)
                )
                .order_by("-id")
                .values("status")[:1]
            )
        )
        .values_list("state", "ai_turn_at", "email_follow_up", "customer_email", "waiting")
    ),
    pk=CONVERSATION_ID,
)
_SHOWN = Compiled(
    lambda conversation: (
        Message.objects.filter(conversation_id=conversation)
        .exclude(role__in=INTERNAL_ROLES)
        .order_by("id")
    ),
    conversation=CONVERSATION_ID,
)


def _conversation(tenant, conversation_id) -> Conversation | None:
    if not isinstance(conversation_id, str):
        return None
    try:
        return _TENANTS_CONVERSATION.first(tenant=tenant.pk, pk=conversation_id)
    except (ValidationError, ValueError, TypeError):  # not a UUID
        return None


def _message(tenant_id: int, message_id) -> dict[str, Any] | None:
    message = Message.objects.filter(tenant_id=tenant_id, pk=message_id).first()
    return message_json(message) if message else None
