"""A fuzzer of websocket frames (issue 15): hypothesis writes what a hostile client sends to
``/ws/inbox/`` and ``/ws/conversations/<id>/``, through the real ASGI application (origin check,
session or token, the consumers, the channel layer, the database): JSON objects of every
message type with hostile values (lone surrogates, NUL, NaN and Infinity, integers past any
column, floats, nesting, wrong types), garbage text, cut-off JSON, binary frames, empty frames,
brackets nested up to 100,000 deep and frames of 70,000 characters.

The properties: the socket never dies (no close, no exception in the application); every frame
the client sends gets an answer; every frame the server sends is a strict JSON object with a
``type`` (no ``NaN``/``Infinity``, which the inbox once echoed); a frame that is not a JSON
object we take gets ``{"type": "error", "code": "bad_frame"}``; and afterwards the socket still
answers a resync with a snapshot.

Bounded for CI by ``FUZZ_SOCKET_EXAMPLES`` (default 40 batches of up to 6 frames per socket);
run longer with e.g. ``FUZZ_SOCKET_EXAMPLES=2000``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.asgi import application
from core.models import Membership
from tests.factories import TO_PEOPLE, make_person
from tests.handover.test_consumers import _open_conversation_with_token, session_cookie
from tests.sockets import Socket

EXAMPLES = int(os.environ.get("FUZZ_SOCKET_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
ORIGIN = (b"origin", b"http://localhost")
TIMEOUT = 5

# -- what a hostile client sends --------------------------------------------------------------

hostile_text = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        ["\ud800", "a\udfffb", "\x00", "hello\x00", "\ud83d\ude00", " ", "", "x" * 10_001]
    ),
)
hostile_numbers = st.one_of(
    st.integers(),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), 10**30, True, False]),
    st.floats(),  # NaN and Infinity included: json.dumps writes them as bare words
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), hostile_numbers, hostile_text),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)
    ),
    max_leaves=8,
)
message_types = st.one_of(
    st.sampled_from(
        [
            "message.send",
            "resync",
            "heartbeat",
            "handoff.claim",
            "handoff.snooze",
            "mention.read",
            "presence",
            "error",
            "",
            "x",
        ]
    ),
    json_values,
)


@st.composite
def objects(draw) -> str:
    """A JSON object of a message type, its fields hostile or plausible."""
    frame: dict[str, Any] = {"type": draw(message_types)}
    fields = [
        "text",
        "handoffId",
        "conversationId",
        "until",
        "mentionIds",
        "cannedReplyId",
        "note",
        "extra",
    ]
    for name in draw(st.sets(st.sampled_from(fields))):
        frame[name] = draw(json_values)
    if draw(st.booleans()):
        frame[draw(hostile_text)] = draw(json_values)
    return json.dumps(frame)  # lone surrogates escaped (\ud800), NaN/Infinity as bare words


@st.composite
def deep(draw) -> str:
    depth = draw(st.sampled_from([65, 1_000, 100_000]))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    core = "1" if opener != "[" else ""
    return opener * depth + core + (closer * depth if draw(st.booleans()) else "")


@st.composite
def cut_off(draw) -> str:
    text = draw(objects())
    return text[: draw(st.integers(0, max(0, len(text) - 1)))]


frames = st.one_of(
    objects().map(lambda text: ("text", text)),
    st.text(max_size=40).map(lambda text: ("text", text)),
    cut_off().map(lambda text: ("text", text)),
    deep().map(lambda text: ("text", text)),
    st.binary(min_size=1, max_size=40).map(lambda data: ("bytes", data)),
    st.sampled_from(
        [
            ("text", ""),
            ("text", "x" * 70_000),
            ("text", json.dumps({"type": "message.send", "text": "y" * 70_000})),
            ("text", '{"type": "handoff.claim", "handoffId": Infinity}'),
            ("text", '{"type": "handoff.claim", "handoffId": 1e400}'),
            ("text", '"\\ud800"'),
            ("text", "[]"),
            ("text", "null"),
        ]
    ),
)

# -- what must hold ------------------------------------------------------------------------------


def _refuse_constant(name: str):
    raise AssertionError(f"the server sent {name}, which is not JSON")


async def next_frame(socket) -> dict[str, Any]:
    """The server's next frame: a websocket.send of a strict JSON object with a type. A close
    or an exception of the application fails here."""
    output = await socket.receive_output(TIMEOUT)
    assert output["type"] == "websocket.send", f"the socket was closed: {output}"
    assert "text" in output, "the server sent a binary frame"
    frame = json.loads(output["text"], parse_constant=_refuse_constant)
    assert isinstance(frame, dict) and isinstance(frame.get("type"), str), frame
    return frame


async def answer_to(socket, kind: str, data, answers: set[str]) -> dict[str, Any]:
    """Send one frame; the first frame that answers it (other events pass by, checked too)."""
    await socket.send_input({"type": "websocket.receive", kind: data})
    for _ in range(20):
        frame = await next_frame(socket)
        if frame["type"] in answers:
            return frame
        if frame["type"] == "message.created" and frame["message"]["role"] == "customer":
            return frame
    raise AssertionError(f"no answer to {kind} frame {str(data)[:120]!r}")


def surely_bad(kind: str, data) -> bool:
    """What any JSON reader calls not a JSON object (our door refuses more: surrogates,
    nesting past 64, 1e400)."""
    if kind == "bytes" or not data.strip():
        return True
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except (ValueError, RecursionError, AssertionError):
        return True
    return not isinstance(value, dict)


async def until(socket, kind: str) -> None:
    for _ in range(20):
        if (await next_frame(socket))["type"] == kind:
            return
    raise AssertionError(f"no {kind}")


async def throw_frames(socket, batch, answers: set[str], snapshot: str) -> None:
    await until(socket, snapshot)  # the one every socket gets on connecting
    for kind, data in batch:
        answer = await answer_to(socket, kind, data, answers)
        if answer["type"] == "error":
            assert answer.get("code") and answer.get("error"), answer
        if surely_bad(kind, data):
            assert answer.get("code") == "bad_frame", (str(data)[:120], answer)
    await socket.send_input({"type": "websocket.receive", "text": '{"type": "resync"}'})
    await until(socket, snapshot)


@pytest.fixture
def team_options():
    return TO_PEOPLE


@pytest.fixture(autouse=True)
def _no_chat_rate_limits(settings):
    settings.CHAT_MESSAGE_RATE_LIMIT = "off"  # counted elsewhere (tests/abuse)
    settings.CHAT_MESSAGE_IP_RATE_LIMIT = "off"


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=6))
def test_the_inbox_socket_answers_every_frame_and_never_dies(tenant, team, batch):
    member = Membership.objects.filter(tenant=tenant, user__username="ada").first()
    user = member.user if member else make_person(tenant=tenant, roles=["agent"], username="ada")
    cookie = session_cookie(user)

    async def run():
        socket = Socket(application, "/ws/inbox/", headers=[ORIGIN, cookie])
        assert (await socket.connect())[0]
        try:
            answers = {"error", "heartbeat.ack", "inbox.snapshot", "handoff.claim.result",
                       "message.send.result", "handoff.snooze.result",
                       "mention.read.result"}  # fmt: skip
            await throw_frames(socket, batch, answers, "inbox.snapshot")
        finally:
            await socket.disconnect()

    async_to_sync(run)()


@pytest.mark.django_db(transaction=True)
@FUZZ
@given(batch=st.lists(frames, min_size=1, max_size=6))
def test_the_customer_socket_answers_every_frame_and_never_dies(tenant, team, batch):
    conversation, token = _open_conversation_with_token(tenant)

    async def run():
        socket = Socket(
            application, f"/ws/conversations/{conversation.pk}/?token={token}", headers=[ORIGIN]
        )
        assert (await socket.connect())[0]
        try:
            answers = {"error", "conversation.snapshot"}
            await throw_frames(socket, batch, answers, "conversation.snapshot")
        finally:
            await socket.disconnect()

    async_to_sync(run)()
