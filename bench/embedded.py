"""Benchmark of the embedded default as ``./run up`` serves it: one server process
(``manage.py runserver``, daphne) on a SQLite file of its own, IN_PROCESS_RUNNER on, no beat,
no worker, no Redis.

    .venv/bin/python bench/embedded.py [--rounds 5]

Prints, over ``--rounds`` rounds each:

- **revocation reaches the server**: an API key the server has cached is revoked by another
  process (``manage.py shell``); from that commit to the server's first 401, polled every
  20 ms. Aim: within CONFIG_CHECK_SECONDS (1 s) plus a poll.
- **expired offer -> chat socket**: a hot offer nobody claims (hotClaimTimeout 1 s); from the
  offer's expiry to the cold notice on the customer's open chat socket, the inbox having heard
  ``handoff.expired`` too. The hot offer sweep runs every 5 s in the server's runner, so the aim
  is the sweep's period plus a second.

Neither was possible before the runner: the sweeps ran in a beat process whose socket events
never reached the server's in-memory channel layer, and a change made in another process
waited for the server's own next change.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402
from websockets.sync.client import connect  # noqa: E402

from bench._procs import WAIT, Processes  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

SWEEP_SECONDS = 5  # config/celery.py: "Handover: hot offers that nobody claimed go cold"
COLD_TEXT_START = "Thanks for your patience."  # handover: the queue notice, in or out of hours

SEED = """
import datetime as dt, json
from django.test import Client
from agents.models import Agent
from agents.orchestrator_settings import settings_update
from agents.rule_sets import rules_replace
from core import services
from core.models import BusinessHours

tenant = services.tenant_create(slug="bench", name="Bench")
for weekday in range(7):
    BusinessHours.objects.create(
        tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
    )
sup = Agent.objects.create(tenant=tenant, slug="agent-sup", name="Front desk", role="supervisor")
rules_replace(
    agent=sup, document={"escalation": {"intents": ["human_agent"], "escalateToHuman": True}}
)
settings_update(level="tenant", tenant=tenant, changes={"hotClaimTimeout": 1})
ada, _ = services.user_create(username="ada", tenant=tenant, roles=["agent"], password=None)
client = Client()
client.force_login(ada)
keys = [services.api_key_create(tenant=tenant, name=f"key-{n}")[1] for n in range(%d)]
print(json.dumps({"keys": keys, "session": client.cookies["sessionid"].value}))
"""

REVOKE = """
import time
from core.models import ApiKey
from core.services import api_key_revoke
api_key_revoke(api_key=ApiKey.objects.get(name="key-%d"))
print(time.time())
"""


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT * 3,
    )
    if result.returncode != 0:
        raise SystemExit(f"manage.py {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def revocation_ms(env: dict[str, str], base: str, key: str, number: int) -> float:
    """From the revoking commit in another process to the server's first 401."""
    headers = {"Authorization": f"Bearer {key}"}
    if requests.get(f"{base}/api/v1/me", headers=headers, timeout=WAIT).status_code != 200:
        raise SystemExit("the key was not accepted before its revocation")
    refused_at: list[float] = []
    stop = threading.Event()

    def poll() -> None:
        session = requests.Session()
        while not stop.is_set():
            answer = session.get(f"{base}/api/v1/me", headers=headers, timeout=WAIT)
            if answer.status_code == 401:
                refused_at.append(time.time())
                return
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    committed = float(manage(env, "shell", "-c", REVOKE % number).strip().splitlines()[-1])
    poller.join(WAIT)
    stop.set()
    if not refused_at:
        raise SystemExit("the server never refused the revoked key")
    return max(0.0, refused_at[0] - committed) * 1000


def expired_offer_ms(base: str, key: str, inbox) -> float:
    """From a hot offer's expiry to the cold notice on the customer's open chat."""
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {key}"
    started = api.post(
        f"{base}/api/v1/conversations",
        json={"agentId": "agent-sup", "channel": "web", "customer": {"id": "c", "name": "Kim"}},
        timeout=WAIT,
    ).json()
    ws = base.replace("http://", "ws://")
    with connect(
        f"{ws}/ws/conversations/{started['id']}/?token={started['customerToken']}",
        additional_headers={"Origin": base},
        open_timeout=WAIT,
    ) as chat:
        chat.send(json.dumps({"type": "message.send", "text": "I want to talk to a human"}))
        while True:
            event = json.loads(chat.recv(timeout=WAIT))
            if event.get("type") == "message.created" and event["message"]["text"].startswith(
                COLD_TEXT_START
            ):
                arrived = time.time()
                break
    while True:  # the inbox heard the offer and its withdrawal as well
        event = json.loads(inbox.recv(timeout=WAIT))
        if event.get("type") == "handoff.expired" and event["conversationId"] == started["id"]:
            handoff_id = event["handoffId"]
            break
    handoff = api.get(f"{base}/api/v1/handoffs/{handoff_id}", timeout=WAIT).json()
    expires = dt.datetime.fromisoformat(handoff["offerExpiresAt"].replace("Z", "+00:00"))
    return max(0.0, arrived - expires.timestamp()) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-embedded-"))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DEBUG="1", SQLITE_PATH=str(tmp / "db.sqlite3"), IN_PROCESS_RUNNER="1", PYTHONUNBUFFERED="1"
    )
    manage(env, "migrate", "--noinput")
    seeded = json.loads(manage(env, "shell", "-c", SEED % (args.rounds + 1)).splitlines()[-1])
    procs = Processes(tmp)
    try:
        base = procs.runserver(env)
        revocations = [revocation_ms(env, base, seeded["keys"][n], n) for n in range(args.rounds)]
        offers = []
        with connect(
            f"{base.replace('http://', 'ws://')}/ws/inbox/",
            additional_headers={"Origin": base, "Cookie": f"sessionid={seeded['session']}"},
            open_timeout=WAIT,
        ) as inbox:
            for _ in range(args.rounds):
                offers.append(expired_offer_ms(base, seeded["keys"][-1], inbox))
    finally:
        procs.stop_all()

    print(f"embedded default, one runserver process, {args.rounds} rounds each")
    print(f"  revocation in another process -> server refuses the key: ms {revocations}")
    print(f"  hot offer expired -> cold notice on the open chat socket: ms {offers}")
    revocation_aim = 1000 + 100
    offer_aim = (SWEEP_SECONDS + 1) * 1000
    emit(
        "embedded",
        [
            figure("revocation -> refused, p50", percentile(revocations, 50), "ms"),
            figure(
                "revocation -> refused, max",
                max(revocations),
                "ms",
                f"<= {revocation_aim}",
                max(revocations) <= revocation_aim,
            ),
            figure("expired offer -> chat socket, p50", percentile(offers, 50), "ms"),
            figure(
                "expired offer -> chat socket, max",
                max(offers),
                "ms",
                f"<= {offer_aim}",
                max(offers) <= offer_aim,
            ),
        ],
        command_line("bench/embedded.py"),
    )


if __name__ == "__main__":
    main()
