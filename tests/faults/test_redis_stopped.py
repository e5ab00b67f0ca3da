"""Redis (the channel layer and the broker) stops during a hot handoff: the handoff is queued
cold and nothing is lost; when Redis is back, the queued work is done and live delivery to
the inbox resumes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from django.test import Client
from websockets.sync.client import connect

from conversations.models import (
    DecisionEvent,
    Message,
)
from handover.models import Handoff, HandoffPack, Presence
from tests.faults.conftest import WAIT, app_env, wait_until
from tests.faults.scenario import approval_scenario

pytestmark = pytest.mark.services

HUMAN_PLEASE = "I want to speak to a human please"


def session_of(username: str) -> str:
    from django.contrib.auth import get_user_model

    client = Client()
    client.force_login(get_user_model().objects.get(username=username))
    return client.cookies["sessionid"].value


@contextmanager
def open_inbox(base: str, session: str) -> Iterator:
    with connect(
        base.replace("http://", "ws://") + "/ws/inbox/",
        additional_headers={"Cookie": f"sessionid={session}", "Origin": base},
        open_timeout=WAIT,
    ) as ws:
        assert json.loads(ws.recv(timeout=WAIT))["type"] == "inbox.snapshot"
        yield ws


def next_event(ws, kind: str) -> dict:
    while True:
        event = json.loads(ws.recv(timeout=WAIT))
        if event.get("type") == kind:
            return event


def customer_asks_for_a_human(base: str, api_key: str) -> tuple[str, requests.Response]:
    headers = {"Authorization": f"Bearer {api_key}"}
    started = requests.post(
        f"{base}/api/v1/conversations",
        json={"agentId": "agent-billing", "channel": "web", "customer": {"id": "c", "name": "Kim"}},
        headers=headers,
        timeout=WAIT,
    )
    assert started.status_code == 201, started.text
    conversation_id = started.json()["id"]
    said = requests.post(
        f"{base}/api/v1/conversations/{conversation_id}/messages",
        json={"text": HUMAN_PLEASE},
        headers=headers,
        timeout=WAIT,  # a request that hangs on the dead Redis fails the test here
    )
    return conversation_id, said


def test_redis_stopped_during_a_hot_handoff_loses_nothing_and_live_delivery_resumes(
    processes, redis_server
):
    scenario = approval_scenario()
    env = app_env(redis_url=redis_server.url)
    base = processes.web(env)
    processes.worker(env)
    session = session_of("ada")
    with open_inbox(base, session) as inbox:
        wait_until(lambda: Presence.objects.filter(sockets__gt=0).exists(), what="ada online")

        # live, as usual
        _, said = customer_asks_for_a_human(base, scenario.api_key)
        assert said.json()["handoff"]["mode"] == "hot"
        assert next_event(inbox, "handoff.offered")["handoffId"] == said.json()["handoff"]["id"]

        # Redis stops. Ada still counts as online (as she would through a socket on another
        # process that has not noticed yet), so the handoff is offered hot, and its live
        # delivery fails
        redis_server.stop()
        Presence.objects.update(sockets=1)
        conversation_id, said = customer_asks_for_a_human(base, scenario.api_key)

    assert said.status_code == 201, said.text
    handoff = Handoff.objects.get(conversation_id=conversation_id)
    assert handoff.status == "queued" and handoff.mode == "cold"  # queued cold, not lost
    expired = DecisionEvent.objects.get(conversation_id=conversation_id, type="handoff.expired")
    assert expired.detail["reason"].startswith("live delivery failed")
    texts = list(
        Message.objects.filter(conversation_id=conversation_id).values_list("text", flat=True)
    )
    assert HUMAN_PLEASE in texts
    assert any("follow up" in text for text in texts)  # the customer was told
    assert not HandoffPack.objects.filter(handoff=handoff).exists()  # its pack waits for Redis

    # Redis is back: the sweep relays what waited, the worker builds the pack
    redis_server.start()
    processes.manage(
        env,
        "import datetime as dt; from django.utils import timezone; "
        "from core.outbox import outbox_sweep; "
        "print(outbox_sweep(now=timezone.now() + dt.timedelta(minutes=10)))",
    )
    wait_until(
        lambda: HandoffPack.objects.filter(handoff=handoff).exists(),
        what="the cold handoff's pack to be built",
    )

    # the inbox reconnects (as the page does), and live offers reach it again
    with open_inbox(base, session) as inbox:
        wait_until(lambda: Presence.objects.filter(sockets__gt=0).exists(), what="ada online")
        _, said = customer_asks_for_a_human(base, scenario.api_key)
        assert said.json()["handoff"]["mode"] == "hot"
        assert next_event(inbox, "handoff.offered")["handoffId"] == said.json()["handoff"]["id"]
