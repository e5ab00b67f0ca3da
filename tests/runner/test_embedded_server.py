"""The embedded default as ``./run up`` serves it: one server process (``manage.py runserver``,
daphne's here) on a SQLite file, with IN_PROCESS_RUNNER on and no beat, no worker.

- The hot offer sweep runs inside the server, so when an offer nobody claims goes cold, the
  customer's open chat hears the cold notice and the inbox hears the offer withdrawn (with
  beat in a process of its own and the in-memory channel layer, neither ever did).
- Changes made by another process (``manage.py shell`` on the same file) reach the running
  server, which had cached what they change: an agent's knowledge (the tenant's configuration
  snapshot, so the agent's replies change) and an API key revoked there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from websockets.sync.client import connect

from bench._procs import ROOT, WAIT, Processes, free_port, wait_until
from config.celery import SCHEDULE
from handover.services import COLD_FOLLOW_UP_TEXT, HUMAN_HANDOVER_TEXT

pytestmark = pytest.mark.services  # a server of its own in a subprocess, as the fault tests

SEED = """
import datetime as dt, json
from django.test import Client
from agents.models import Agent
from agents.orchestrator_settings import settings_update
from agents.rule_sets import rules_replace
from core import services
from core.models import BusinessHours

tenant = services.tenant_create(slug="acme", name="Acme")
for weekday in range(7):
    BusinessHours.objects.create(
        tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
    )
sup = Agent.objects.create(tenant=tenant, slug="agent-sup", name="Front desk", role="supervisor")
rules_replace(
    agent=sup, document={"escalation": {"intents": ["human_agent"], "escalateToHuman": True}}
)
settings_update(level="tenant", tenant=tenant, changes={"hotClaimTimeout": 2, "handoffMode": "hot"})
ada, _ = services.user_create(username="ada", tenant=tenant, roles=["agent"], password=None)
client = Client()
client.force_login(ada)
_, key = services.api_key_create(tenant=tenant, name="e2e")
print(json.dumps({"key": key, "session": client.cookies["sessionid"].value}))
"""

QUESTION = "When does my parcel ship?"
ANSWER = "Parcels ship within two working days."
TEACH = f"""
from agents.models import Agent
from agents.services import agent_update
sup = Agent.objects.get(tenant__slug="acme", slug="agent-sup")
agent_update(
    agent=sup,
    knowledge=[{{"question": {QUESTION!r}, "keywords": ["parcel ship"], "answer": {ANSWER!r}}}],
)
"""

REVOKE = """
from core.models import ApiKey
from core.services import api_key_revoke
api_key_revoke(api_key=ApiKey.objects.get(name="e2e"))
"""


def embedded_env(tmp_path: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DEBUG="1",
        SQLITE_PATH=str(tmp_path / "embedded.sqlite3"),
        IN_PROCESS_RUNNER="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def receive_until(socket, kind: str, *, where=lambda event: True, seen: list | None = None):
    """The next event of ``kind`` on ``socket`` that ``where`` accepts (a generous bound)."""
    while True:
        event = json.loads(socket.recv(timeout=WAIT))
        if seen is not None:
            seen.append(event)
        if event.get("type") == kind and where(event):
            return event


@pytest.fixture
def embedded_server(tmp_path):
    env = embedded_env(tmp_path)
    manage(env, "migrate", "--noinput")
    seeded = json.loads(manage(env, "shell", "-c", SEED).strip().splitlines()[-1])
    procs = Processes(tmp_path)
    port = free_port()
    server = procs._spawn(
        "runserver",
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        env,
    )
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"the server died: {procs.log(server)}")
        try:
            return requests.get(f"{base}/health/live", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(answers, what="the embedded server")
    yield env, base, seeded
    procs.stop_all()
    # every task and sweep the server's runner ran went through (none failed, none unknown)
    log = Path(server.log_path).read_text(errors="replace")
    assert f"in-process runner: 16 threads, {len(SCHEDULE)} sweeps" in log
    assert "in-process task" not in log, procs.log(server)


def test_an_unclaimed_hot_offer_goes_cold_on_the_open_chat_and_the_inbox(embedded_server):
    _, base, seeded = embedded_server
    ready = requests.get(f"{base}/health/ready", timeout=WAIT).json()
    assert ready["checks"]["workers"]["mode"] == "in-process runner"
    ws = base.replace("http://", "ws://")
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {seeded['key']}"
    started = api.post(
        f"{base}/api/v1/conversations",
        json={"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-1", "name": "Kim"}},
        timeout=WAIT,
    )
    assert started.status_code == 201, started.text
    conversation = started.json()
    with (
        connect(
            f"{ws}/ws/inbox/",
            additional_headers={"Origin": base, "Cookie": f"sessionid={seeded['session']}"},
            open_timeout=WAIT,
        ) as inbox,
        connect(
            f"{ws}/ws/conversations/{conversation['id']}/?token={conversation['customerToken']}",
            additional_headers={"Origin": base},
            open_timeout=WAIT,
        ) as chat,
    ):
        receive_until(inbox, "inbox.snapshot")  # ada is online: an offer will be hot
        receive_until(chat, "conversation.snapshot")

        chat.send(json.dumps({"type": "message.send", "text": "I want to talk to a human"}))

        chat_events: list = []
        receive_until(
            chat,
            "message.created",
            where=lambda e: e["message"]["text"] == HUMAN_HANDOVER_TEXT,
            seen=chat_events,
        )
        offered = receive_until(inbox, "handoff.offered")
        assert offered["conversationId"] == conversation["id"]
        # nobody claims it: after hotClaimTimeout (2 s) the sweep, running in the server,
        # turns it cold, and both sockets hear of it
        expired = receive_until(inbox, "handoff.expired")
        assert expired["handoffId"] == offered["handoffId"]
        cold = receive_until(
            chat,
            "message.created",
            where=lambda e: e["message"]["text"] == COLD_FOLLOW_UP_TEXT,
            seen=chat_events,
        )
        assert cold["message"]["role"] == "system"
        handoff = api.get(f"{base}/api/v1/handoffs/{offered['handoffId']}", timeout=WAIT)
        assert handoff.status_code == 200, handoff.text
        assert handoff.json()["status"] == "queued"


def answer_to_a_new_question(base: str, api) -> str | None:
    """The front desk's reply to ``QUESTION`` in a new conversation (None: still pending)."""
    started = api.post(
        f"{base}/api/v1/conversations",
        json={"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-2", "name": "Lee"}},
        timeout=WAIT,
    )
    assert started.status_code == 201, started.text
    said = api.post(
        f"{base}/api/v1/conversations/{started.json()['id']}/messages",
        json={"text": QUESTION, "wait": 10},
        timeout=WAIT,
    )
    assert said.status_code == 201, said.text
    reply = said.json()["reply"]
    return reply["text"] if reply else None


def test_changes_made_by_another_process_reach_the_running_server(embedded_server):
    env, base, seeded = embedded_server
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {seeded['key']}"
    # the server has the tenant's configuration (its snapshot, with the front desk's knowledge:
    # none yet) and the key cached now
    before = wait_until(lambda: answer_to_a_new_question(base, api), what="the first reply")
    assert before != ANSWER

    manage(env, "shell", "-c", TEACH)  # another process: the knowledge changes in the file
    taught = time.monotonic()

    wait_until(
        lambda: answer_to_a_new_question(base, api) == ANSWER,
        what="the server's replies following the knowledge changed elsewhere",
    )
    # the server checks the generations every CONFIG_CHECK_SECONDS (1 s); a generous bound
    # for a shared machine, far below the snapshot's own expiry (TTL, 300 s)
    assert time.monotonic() - taught < 30

    manage(env, "shell", "-c", REVOKE)

    def refused() -> dict | None:
        answer = api.get(f"{base}/api/v1/conversations", timeout=WAIT)
        return answer.json() if answer.status_code == 401 else None

    body = wait_until(refused, what="the revoked key refused by the server")
    assert body["error"]["message"] == "This API key or token has been revoked."
