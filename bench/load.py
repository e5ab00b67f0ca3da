"""Load test of the production mode: concurrent customers and human agents for 60 seconds.

    DATABASE_URL=postgres://user@host:5432/db REDIS_URL=redis://host:6379/0 \\
        .venv/bin/python bench/load.py [--seconds 60] [--customers 50] [--agents 10]

Sets itself up: creates a database ``bench_load`` (BENCH_DB) on the server of DATABASE_URL
(dropped at the end, and first if a previous run left it), migrates it, loads the demo tenant
(``seed_demo``) with business hours all week and ``--agents`` human agents, each signed in (a
session, for the inbox socket) and with a personal token (for the REST API). Redis: the server
of REDIS_URL, logical database BENCH_REDIS_DB (default 14; ``same`` keeps REDIS_URL's), under
key prefixes and a Celery queue of this run only, deleted at the end.

Then it starts the product as production runs it (bench/_procs.py, as the fault tests do):
uvicorn with WEB_CONCURRENCY (``--web``, default 2) ASGI worker processes, a Celery worker
(``--celery``, default 2 processes) and Celery beat, DEBUG off, plain HTTP on loopback
(SECURE_SSL_REDIRECT=0, as behind a proxy that ends TLS), the rate limits
(API_RATE_LIMIT, LOGIN_*, CHAT_*) set out of reach. Every process is stopped at the end, also
on Ctrl-C, SIGTERM or failure.

For ``--seconds``, ``--customers`` customers (asyncio: httpx and the ``websockets`` client)
each run conversations one after another: start one over the API, open its customer socket,
send 2 to 5 messages answered by the AI (``--socket-share`` of them over the socket, the rest
over the API), and with probability ``--human-share`` ask for a human (a hot handoff: business
hours all week, agents online); then wait for the human, and answer ``--human-turns`` times,
each time waiting for the human's reply. ``--agents`` human agents hold an inbox socket each,
claim hot offers (at most 3 conversations at a time each; every offer reaches every agent,
so they race and exactly one must win), greet, answer each customer message over the socket,
and resolve the conversation over the API after the last answer. Customers wait ``--think``
seconds (uniform 0.5x to 1.5x) between messages, agents half as long.

Every message the load test sends carries a unique id in its text (``[lt:c000123]``). At the
end (after the conversations in progress finish, at most ``--grace`` seconds), it reads every
conversation's messages back through the API and counts, by id:
- lost: sent (acknowledged: 201, or sent on a socket without an error) but not stored;
- duplicated: stored more than once;
- customer-socket deliveries: every message of the conversation created after the socket
  opened must reach it once (lost / duplicated, by message id);
- inbox deliveries: every message of the run must reach every agent's inbox socket once
  (the inbox hears of every message of its tenant);
- claims: a handoff claimed by two agents.
It prints throughput (messages and requests per second), latency p50/p95/p99 per kind, errors
by kind, and the counts above, with the aims: errors 0, lost 0, duplicated 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench._db import analyze, database_urls, recreate_database  # noqa: E402
from bench._llm import SlowLLM, point_agents_at  # noqa: E402
from bench._procs import STORE_KEYS, Processes, default_queue, product_env  # noqa: E402
from bench._result import command_line, emit, figure  # noqa: E402
from tools.stats import percentile  # noqa: E402

BENCH_DB = os.environ.get("BENCH_DB", "bench_load")
QUIET = 3.0  # s without a new message on the inbox sockets: the run's last deliveries are in
REDIS_DB = os.environ.get("BENCH_REDIS_DB", "14").strip()
SECRET = "bench-load-not-secret-" + "x" * 32
# far out of reach: the load test measures the product, not its throttle
RATE_LIMITS = dict.fromkeys(
    (
        "API_RATE_LIMIT",
        "LOGIN_RATE_LIMIT",
        "LOGIN_IP_RATE_LIMIT",
        "LOGIN_USERNAME_RATE_LIMIT",
        "CHAT_START_RATE_LIMIT",
        "CHAT_START_TENANT_RATE_LIMIT",
        "CHAT_MESSAGE_RATE_LIMIT",
        "CHAT_MESSAGE_IP_RATE_LIMIT",  # every simulated customer comes from 127.0.0.1
    ),
    "1000000/min",
)
SUPERVISOR = "agent-supervisor"
HUMAN_PLEASE = "I want to speak to a human please"
# answered from the demo team's knowledge; consecutive ones differ (no repeated-question stall)
MIX = (
    "Hi, I was charged twice for order 4411.",
    "Where can I find my invoice?",
    "The app keeps crashing when I open it.",
    "How do I return an item?",
    "Can I get a receipt for that order?",
)
TO_HUMAN = ("Thanks, that helps.", "One more thing: the order number is 4411.", "Great.")
FROM_HUMAN = ("Hello, I am taking over from here.", "Let me check that for you.", "Done.")
AGENT_CAPACITY = 3  # conversations one human agent holds at once
HEARTBEAT_SECONDS = 20.0  # as static/handover/inbox.js
WAIT = 30.0  # seconds a client waits for an answer before counting an error
TOKEN = re.compile(r"\[lt:([a-z]\d+)\]")

# aims (besides errors, lost and duplicated, which must be 0)
AIM_AI_POST_P95_MS = 1000.0
AIM_HUMAN_DELIVERY_P95_MS = 300.0


def fail(message: str) -> None:
    print(f"bench/load.py: {message}", file=sys.stderr)
    sys.exit(2)


def log(message: str) -> None:
    print(f"  [{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the run's record ---------------------------------------------------------------------------


@dataclass
class Sent:
    kind: str  # customer-api, customer-socket, human
    conversation: str
    at: float
    acked: bool = False


@dataclass
class Conversation:
    id: str
    token: str
    socket_ok: bool = False  # the customer socket stayed open to the end
    snapshot_max: int = 0  # messages up to this id came in the snapshot
    events: Counter = field(default_factory=Counter)  # message id -> times received
    human_inbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    echoes: dict[str, asyncio.Future] = field(default_factory=dict)
    state: str = ""
    handoff: int | None = None


@dataclass
class Record:
    started: float = 0.0
    deadline: float = 0.0
    ended: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter = field(default_factory=Counter)
    error_samples: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    sent: dict[str, Sent] = field(default_factory=dict)
    conversations: dict[str, Conversation] = field(default_factory=dict)
    claims_ok: Counter = field(default_factory=Counter)  # handoff id -> successful claims
    claims_lost: int = 0
    asked: dict[str, float] = field(default_factory=dict)  # conversation -> asked for a human
    hot: int = 0
    cold: int = 0
    waited_out: int = 0  # hot handoffs nobody answered within WAIT
    inbox: list[Counter] = field(default_factory=list)  # per agent socket: message id -> times
    inbox_ok: list[bool] = field(default_factory=list)
    counter: int = 0
    # the web processes' event-loop lag during the run: cumulative counts by bound (s)
    loop_lag: dict[float, float] = field(default_factory=dict)

    def token(self, kind: str, conversation: str) -> str:
        self.counter += 1
        token = f"{kind[0]}{self.counter:06d}"
        self.sent[token] = Sent(kind, conversation, time.perf_counter())
        return token

    def error(self, kind: str, detail: str = "") -> None:
        self.errors[kind] += 1
        if detail and kind not in self.error_samples:
            self.error_samples[kind] = detail[:300]

    def took(self, kind: str, began: float) -> None:
        self.latencies[kind].append((time.perf_counter() - began) * 1000)

    def since_stored(self, kind: str, message: dict) -> None:
        """From the message's ``createdAt`` (the server's clock, this machine's) to now: the
        part of a delivery after the message was stored."""
        with contextlib.suppress(KeyError, TypeError, ValueError):
            stored = datetime.fromisoformat(message["createdAt"].replace("Z", "+00:00"))
            self.latencies[kind].append((time.time() - stored.timestamp()) * 1000)


def tagged(text: str, token: str) -> str:
    return f"{text} [lt:{token}]"


# --- set-up -------------------------------------------------------------------------------------


def bench_redis_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        fail(f"REDIS_URL must be a redis:// URL, not {parts.scheme}://")
    if REDIS_DB == "same":
        return url
    if not REDIS_DB.isdigit():
        fail(f"BENCH_REDIS_DB must be a database number or 'same', not {REDIS_DB!r}")
    return urlunsplit(parts._replace(path=f"/{REDIS_DB}"))


def redis_delete_prefix(url: str, prefix: str) -> int:
    import redis

    deleted = 0
    with redis.Redis.from_url(url, socket_timeout=10) as client:
        for pattern in (f"{prefix}*", f"*{prefix}*"):
            keys = list(client.scan_iter(match=pattern, count=1000))
            if keys:
                deleted += client.delete(*keys)
    return deleted


def seed(agents: int, llm_url: str = "") -> dict:
    """The demo tenant, open all week, with ``agents`` human agents signed in; with
    ``llm_url`` its AI agents answer through that OpenAI-compatible endpoint."""
    import datetime as dt

    from django.test import Client

    from core import services
    from core.models import (
        BusinessHours,
        Tenant,
    )
    from stacks.demo import seed_demo

    seed_demo()
    tenant = Tenant.objects.get(slug="demo")
    BusinessHours.objects.filter(tenant=tenant).delete()
    BusinessHours.objects.bulk_create(
        BusinessHours(tenant=tenant, weekday=day, opens=dt.time(0), closes=dt.time(0))
        for day in range(7)
    )
    tenant.holidays.all().delete()
    if llm_url:
        point_agents_at(tenant, llm_url)
    people = []
    for i in range(agents):
        user, _ = services.user_create(
            username=f"load-agent-{i:03d}",
            tenant=tenant,
            roles=["agent"],
            password=None,
            first_name=f"Agent {i}",
        )
        client = Client()
        client.force_login(user)
        _, raw_token = services.personal_token_create(user=user, name="load")
        people.append({"session": client.cookies["sessionid"].value, "token": raw_token})
    _, raw_key = services.api_key_create(tenant=tenant, name="load")
    return {"key": raw_key, "agents": people}


# --- the load -----------------------------------------------------------------------------------


LAG_BUCKET = re.compile(
    r'backoffice_event_loop_lag_seconds_bucket\{le="(?P<le>[^"]+)"\} (?P<count>[0-9.e+]+)'
)


def lag_quantile(buckets: dict[float, float], q: float) -> float | None:
    """The upper bound (ms) of the bucket that holds the q-th percentile of a cumulative
    histogram; None without observations."""
    total = buckets.get(float("inf"), 0)
    if not total:
        return None
    for le in sorted(buckets):
        if buckets[le] >= total * q / 100:
            return le * 1000
    return None


class Load:
    def __init__(self, args, base: str, people: dict, record: Record) -> None:
        import httpx

        self.args = args
        self.base = base
        self.ws_base = base.replace("http://", "ws://")
        self.key = people["key"]
        self.agents = people["agents"]
        self.record = record
        self.rng = random.Random(args.seed)
        self.http = httpx.AsyncClient(
            base_url=base,
            timeout=httpx.Timeout(WAIT),
            limits=httpx.Limits(
                max_connections=args.customers + args.agents + 20,
                max_keepalive_connections=args.customers + args.agents + 20,
                # under the server's keep-alive timeout (75 s, bench/_procs.py, as the
                # Procfile's): a connection idle for nearly that long may be closing on the
                # server's side just as a POST goes out on it (a ReadError the client may not
                # retry: a POST is not idempotent)
                keepalive_expiry=60.0,
            ),
        )
        self.sockets: list = []  # every socket, closed at the end
        self.readers: list[asyncio.Task] = []
        self.customers_done = asyncio.Event()
        self.last_heard = 0.0  # when an inbox socket last heard of a new message

    # -- helpers

    async def call(self, kind: str, method: str, path: str, *, bearer: str, body=None):
        began = time.perf_counter()
        try:
            response = await self.http.request(
                method, path, json=body, headers={"Authorization": f"Bearer {bearer}"}
            )
        except Exception as exc:  # timeouts, resets: counted, never fatal
            self.record.error(f"{kind}: {type(exc).__name__}", str(exc))
            return None
        self.record.requests += 1
        if response.status_code not in (200, 201):
            self.record.error(f"{kind}: HTTP {response.status_code}", response.text)
            return None
        self.record.took(kind, began)
        return response.json()

    async def think(self, scale: float = 1.0) -> None:
        if self.args.think > 0:
            await asyncio.sleep(self.args.think * scale * self.rng.uniform(0.5, 1.5))

    def running(self) -> bool:
        return time.perf_counter() < self.record.deadline

    async def connect(self, path: str, headers: dict[str, str]):
        from websockets.asyncio.client import connect

        return await connect(
            self.ws_base + path,
            additional_headers={"Origin": self.base, **headers},
            open_timeout=WAIT,
            max_size=2**22,
        )

    # -- customers

    async def customer(self, n: int) -> None:
        number = 0
        while self.running():
            await self.conversation(n, number)
            number += 1

    async def conversation(self, n: int, number: int) -> None:
        record = self.record
        answer = await self.call(
            "POST /api/v1/conversations",
            "POST",
            "/api/v1/conversations",
            bearer=self.key,
            body={
                "agentId": SUPERVISOR,
                "channel": "web",
                "customer": {"id": f"load-{n}-{number}", "name": f"Customer {n}"},
            },
        )
        if answer is None:
            await asyncio.sleep(1)
            return
        conv = Conversation(answer["id"], answer["customerToken"], state=answer["state"])
        record.conversations[conv.id] = conv
        began = time.perf_counter()
        try:
            ws = await self.connect(
                f"/ws/conversations/{conv.id}/?token={quote(conv.token)}", headers={}
            )
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        except Exception as exc:
            record.error(f"customer socket connect: {type(exc).__name__}", str(exc))
            return
        record.took("customer socket: connect -> snapshot", began)
        conv.snapshot_max = max((m["id"] for m in snapshot.get("messages", [])), default=0)
        conv.socket_ok = True
        self.sockets.append(ws)
        self.readers.append(asyncio.create_task(self.customer_reader(ws, conv)))

        handoff = None
        for k in range(self.rng.randint(2, 5)):
            if not self.running() or conv.state in ("handing_off", "with_human", "resolved"):
                break
            text = MIX[(n + number + k) % len(MIX)]
            if self.rng.random() < self.args.socket_share:
                await self.customer_socket_send(ws, conv, text)
            else:
                handoff = await self.customer_post(conv, text, "POST message (AI answers)")
                if handoff:
                    break
            await self.think()
        if (
            handoff is None
            and self.running()
            and conv.state not in ("handing_off", "with_human", "resolved")
            and self.rng.random() < self.args.human_share
        ):
            record.asked[conv.id] = time.perf_counter()
            handoff = await self.customer_post(conv, HUMAN_PLEASE, "POST message (asks for human)")
        if handoff:
            await self.with_human(conv, handoff)

    async def customer_post(self, conv: Conversation, text: str, kind: str):
        token = self.record.token("customer-api", conv.id)
        answer = await self.call(
            kind,
            "POST",
            f"/api/v1/conversations/{conv.id}/messages",
            bearer=self.key,
            body={"text": tagged(text, token)},
        )
        if answer is None:
            return None
        self.record.sent[token].acked = True
        conv.state = answer.get("state") or conv.state
        handoff = answer.get("handoff")
        if handoff and conv.handoff is None:
            conv.handoff = handoff["id"]
            if handoff.get("mode") == "hot":
                self.record.hot += 1
            else:
                self.record.cold += 1
            return handoff
        return None

    async def customer_socket_send(self, ws, conv: Conversation, text: str) -> None:
        token = self.record.token("customer-socket", conv.id)
        echo = asyncio.get_running_loop().create_future()
        conv.echoes[token] = echo
        began = time.perf_counter()
        try:
            await ws.send(json.dumps({"type": "message.send", "text": tagged(text, token)}))
            self.record.sent[token].acked = True
            await asyncio.wait_for(echo, WAIT)
        except Exception as exc:
            self.record.error(f"customer socket send: {type(exc).__name__}", str(exc))
            return
        self.record.took("customer socket: message.send -> its message.created", began)

    async def customer_reader(self, ws, conv: Conversation) -> None:
        try:
            async for frame in ws:
                event = json.loads(frame)
                kind = event.get("type")
                if kind == "message.created":
                    message = event["message"]
                    conv.events[message["id"]] += 1
                    found = TOKEN.search(message["text"])
                    token = found.group(1) if found else None
                    if token and token in conv.echoes and not conv.echoes[token].done():
                        conv.echoes.pop(token).set_result(True)
                        self.record.since_stored(
                            "customer socket: its message stored -> message.created", message
                        )
                    if message["role"] == "human":
                        sent = self.record.sent.get(token) if token else None
                        if sent and conv.events[message["id"]] == 1:
                            self.record.took("human message.send -> customer socket", sent.at)
                            self.record.since_stored(
                                "human message stored -> customer socket", message
                            )
                        conv.human_inbox.put_nowait(message)
                elif kind == "conversation.updated" and event.get("state"):
                    conv.state = event["state"]
                elif kind == "error":
                    self.record.error("customer socket: error event", event.get("error", ""))
        except Exception as exc:
            if not self.customers_done.is_set():
                conv.socket_ok = False
                self.record.error(f"customer socket closed: {type(exc).__name__}", str(exc))

    async def with_human(self, conv: Conversation, handoff: dict) -> None:
        if handoff.get("mode") != "hot":
            return  # cold: someone follows up later; the customer is told so
        asked = time.perf_counter()
        try:
            await asyncio.wait_for(conv.human_inbox.get(), WAIT)
        except TimeoutError:
            self.record.waited_out += 1
            return
        self.record.took("hot handoff: customer asks -> first human message", asked)
        for turn in range(self.args.human_turns):
            await self.think()
            if (
                await self.customer_post(
                    conv, TO_HUMAN[turn % len(TO_HUMAN)], "POST message (to human)"
                )
                is None
                and conv.handoff is None
            ):
                return
            try:
                await asyncio.wait_for(conv.human_inbox.get(), WAIT)
            except TimeoutError:
                self.record.error("customer: no human answer within 30 s")
                return

    # -- human agents

    async def agent(self, i: int, person: dict, ready: asyncio.Event) -> None:
        record = self.record
        inbox: Counter = Counter()
        record.inbox.append(inbox)
        record.inbox_ok.append(True)
        slot = len(record.inbox) - 1
        owned: dict[str, dict] = {}  # conversation id -> {"handoff", "heard"}
        claiming: list[tuple[int, float]] = []
        # message.send results come back in the order of the sends (one consumer per socket)
        sending: list[tuple[float, str, asyncio.Future]] = []
        try:
            ws = await self.connect(
                "/ws/inbox/", headers={"Cookie": f"sessionid={person['session']}"}
            )
            snapshot = json.loads(await asyncio.wait_for(ws.recv(), WAIT))
        except Exception as exc:
            record.error(f"inbox connect: {type(exc).__name__}", str(exc))
            record.inbox_ok[slot] = False
            ready.set()
            return
        self.sockets.append(ws)
        ready.set()

        async def send(payload: dict) -> None:
            await ws.send(json.dumps(payload))

        async def claim(handoff_id: int) -> None:
            if len(owned) + len(claiming) >= AGENT_CAPACITY:
                return
            claiming.append((handoff_id, time.perf_counter()))
            await send({"type": "handoff.claim", "handoffId": handoff_id})

        async def say(conversation_id: str, text: str) -> bool:
            token = record.token("human", conversation_id)
            result = asyncio.get_running_loop().create_future()
            sending.append((time.perf_counter(), token, result))
            await send(
                {
                    "type": "message.send",
                    "conversationId": conversation_id,
                    "text": tagged(text, token),
                }
            )
            try:
                return await asyncio.wait_for(result, WAIT)
            except TimeoutError:
                record.error("inbox: no message.send.result within 30 s")
                return False

        async def answer(conversation_id: str, turn: int) -> None:
            await self.think(0.5)
            said = await say(conversation_id, FROM_HUMAN[min(turn, len(FROM_HUMAN) - 1)])
            if said and turn >= self.args.human_turns:
                mine = owned.pop(conversation_id, None)
                if mine:
                    await self.call(
                        "POST /api/v1/handoffs/{id}/resolve",
                        "POST",
                        f"/api/v1/handoffs/{mine['handoff']}/resolve",
                        bearer=person["token"],
                    )

        tasks: set[asyncio.Task] = set()

        def spawn(coro) -> None:
            task = asyncio.create_task(coro)
            tasks.add(task)
            task.add_done_callback(tasks.discard)

        async def heartbeat() -> None:
            # as static/handover/inbox.js: presence expires without one (PRESENCE_TTL), and an
            # agent who is not online gets no hot offers
            while True:
                await asyncio.sleep(HEARTBEAT_SECONDS)
                await send({"type": "heartbeat"})

        spawn(heartbeat())
        for handoff in snapshot.get("handoffs", []):
            if handoff.get("status") == "offered":
                spawn(claim(handoff["id"]))
        try:
            async for frame in ws:
                event = json.loads(frame)
                kind = event.get("type")
                if kind == "message.created":
                    message = event["message"]
                    inbox[message["id"]] += 1
                    self.last_heard = time.perf_counter()
                    conversation_id = message["conversationId"]
                    mine = owned.get(conversation_id)
                    found = TOKEN.search(message["text"])
                    sent = record.sent.get(found.group(1)) if found else None
                    # the customer's messages since the claim (the event of the one that asked
                    # for a human may arrive after the offer, even after the claim)
                    if (
                        mine
                        and message["role"] == "customer"
                        and inbox[message["id"]] == 1
                        and sent
                        and sent.at >= mine["claimed"]
                    ):
                        record.took("customer message -> owning agent's inbox socket", sent.at)
                        record.since_stored(
                            "customer message stored -> owning agent's inbox socket", message
                        )
                        mine["heard"] += 1
                        spawn(answer(conversation_id, mine["heard"]))
                elif kind == "handoff.offered":
                    spawn(claim(event["handoffId"]))
                elif kind == "handoff.claim.result":
                    _, began = claiming.pop(0) if claiming else (None, time.perf_counter())
                    record.took("inbox: handoff.claim -> result", began)
                    if event.get("ok"):
                        record.claims_ok[event["handoffId"]] += 1
                        asked = record.asked.get(event["conversationId"])
                        if asked:
                            record.took("hot handoff: customer asks -> claimed", asked)
                        owned[event["conversationId"]] = {
                            "handoff": event["handoffId"],
                            "heard": 0,
                            "claimed": began,
                        }
                        spawn(answer(event["conversationId"], 0))
                    else:
                        record.claims_lost += 1
                elif kind == "message.send.result":
                    if not sending:
                        record.error("inbox: a message.send.result nobody waits for")
                        continue
                    began, token, result = sending.pop(0)
                    record.took("inbox: message.send -> result", began)
                    ok = bool(event.get("ok"))
                    record.sent[token].acked = ok
                    if not ok:
                        record.error("inbox message.send refused", event.get("error", ""))
                    if not result.done():
                        result.set_result(ok)
                elif kind == "error":
                    record.error("inbox: error event", event.get("error", ""))
        except Exception as exc:
            if not self.customers_done.is_set():
                record.inbox_ok[slot] = False
                record.error(f"inbox socket closed: {type(exc).__name__}", str(exc))
        finally:
            for task in list(tasks):
                task.cancel()

    # -- the run

    async def run(self) -> None:
        args, record = self.args, self.record
        agents = []
        for i, person in enumerate(self.agents):
            ready = asyncio.Event()
            agents.append(asyncio.create_task(self.agent(i, person, ready)))
            await asyncio.wait_for(ready.wait(), WAIT + 5)
        await asyncio.sleep(1.0)  # the presence broadcasts of the connects settle
        lag_before = await self.loop_lag()
        own_lag = asyncio.create_task(self.own_loop_lag())
        record.started = time.perf_counter()
        record.deadline = record.started + args.seconds
        log(f"{args.customers} customers and {args.agents} agents for {args.seconds:.0f} s")
        customers = [asyncio.create_task(self.customer(n)) for n in range(args.customers)]
        done, pending = await asyncio.wait(customers, timeout=args.seconds + args.grace)
        for task in pending:
            task.cancel()
            record.error("customer still busy after the grace period")
        for task in done:
            if task.exception() is not None:
                record.error(
                    f"customer task: {type(task.exception()).__name__}", repr(task.exception())
                )
        record.ended = time.perf_counter()
        own_lag.cancel()
        after = await self.loop_lag()
        record.loop_lag = {le: after.get(le, 0) - lag_before.get(le, 0) for le in after}
        # The last deliveries arrive: until the inbox sockets (they hear of every message of
        # the tenant) have heard of no new message for QUIET seconds, at most ``--grace``. The
        # worker may still be storing agents' replies queued during the run; a fixed wait
        # closed the sockets before those were stored and counted them as lost deliveries.
        settle = time.perf_counter() + args.grace
        while time.perf_counter() < settle:
            await asyncio.sleep(0.5)
            if time.perf_counter() - max(self.last_heard, record.ended) >= QUIET:
                break
        self.customers_done.set()
        for ws in self.sockets:
            with contextlib.suppress(Exception):
                await ws.close()
        for task in [*agents, *self.readers]:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(task, 10)

    async def own_loop_lag(self) -> None:
        """How late this client's own loop runs a timer set every 0.1 s during the run (a
        late client would add its lag to every latency it measures)."""
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.1
            await asyncio.sleep(0.1)
            self.record.latencies["this client's event-loop lag"].append(
                max(0.0, loop.time() - due) * 1000
            )

    async def loop_lag(self) -> dict[float, float]:
        """The web processes' event-loop lag histogram (core/observability/loop_lag.py), summed
        over the processes by /metrics: cumulative counts by upper bound in seconds."""
        counts: dict[float, float] = {}
        try:
            response = await self.http.get("/metrics")
        except Exception as exc:
            self.record.error("GET /metrics", repr(exc))
            return counts
        for line in response.text.splitlines():
            found = LAG_BUCKET.match(line)
            if found:
                counts[float(found["le"])] = float(found["count"])
        return counts

    async def read_back(self) -> dict[str, list[dict]]:
        """Every conversation's messages, through the API."""
        stored: dict[str, list[dict]] = {}
        gate = asyncio.Semaphore(8)

        async def one(conversation_id: str) -> None:
            messages: list[dict] = []
            after = 0
            async with gate:
                while True:
                    page = await self.call(
                        "read-back GET messages",
                        "GET",
                        f"/api/v1/conversations/{conversation_id}/messages?after={after}",
                        bearer=self.key,
                    )
                    if page is None:
                        return
                    messages += page
                    if len(page) < 500:
                        break
                    after = page[-1]["id"]
            stored[conversation_id] = messages

        await asyncio.gather(*(one(c) for c in self.record.conversations))
        await self.http.aclose()
        return stored


# --- tally and report ---------------------------------------------------------------------------


def tally(record: Record, stored: dict[str, list[dict]]) -> dict:
    copies: Counter = Counter()
    every_id: list[int] = []
    by_role: Counter = Counter()
    for messages in stored.values():
        for message in messages:
            every_id.append(message["id"])
            by_role[message["role"]] += 1
            for token in TOKEN.findall(message["text"]):
                copies[token] += 1
    unread = [c for c in record.conversations if c not in stored]
    lost = [t for t, s in record.sent.items() if s.acked and copies[t] == 0]
    duplicated = [t for t, n in copies.items() if n > 1]
    unacked_stored = sum(1 for t, s in record.sent.items() if not s.acked and copies[t])
    lost_by_kind = Counter(record.sent[t].kind for t in lost)

    socket_lost = socket_dup = socket_checked = 0
    for conv_id, conv in record.conversations.items():
        if not conv.socket_ok or conv_id not in stored:
            continue
        socket_checked += 1
        for message in stored[conv_id]:
            if message["id"] <= conv.snapshot_max:
                continue
            n = conv.events[message["id"]]
            socket_lost += n == 0
            socket_dup += n > 1
    inbox_lost = inbox_dup = 0
    ids = set(every_id)
    for inbox, ok in zip(record.inbox, record.inbox_ok, strict=True):
        if not ok:
            continue
        inbox_lost += sum(1 for i in ids if inbox[i] == 0)
        inbox_dup += sum(1 for i in ids if inbox[i] > 1)
    double_claims = sum(1 for n in record.claims_ok.values() if n > 1)
    return {
        "stored": len(every_id),
        "by_role": by_role,
        "lost": len(lost),
        "lost_samples": lost[:10],
        "lost_by_kind": lost_by_kind,
        "duplicated": len(duplicated),
        "duplicated_samples": duplicated[:10],
        "unacked_stored": unacked_stored,
        "unread": len(unread),
        "socket_lost": socket_lost,
        "socket_dup": socket_dup,
        "socket_checked": socket_checked,
        "inbox_lost": inbox_lost,
        "inbox_dup": inbox_dup,
        "inbox_checked": sum(record.inbox_ok),
        "double_claims": double_claims,
    }


def report(args, record: Record, counts: dict, info: dict) -> list[dict]:
    seconds = record.ended - record.started
    sent = Counter(s.kind for s in record.sent.values() if s.acked)
    messages_sent = sum(sent.values())
    errors = sum(record.errors.values())
    print(
        f"load test - production mode: uvicorn {args.web} workers, Celery worker "
        f"({args.celery} processes), the turns worker ({args.turns} threads) and beat; AI agents: "
        + (
            f"a local OpenAI-compatible endpoint answering in {args.agent_delay:g} s"
            if args.agent_delay > 0
            else "the built-in runtime"
        )
        + f"; DEBUG=0, PostgreSQL {info['pg']} (database "
        f"{BENCH_DB}, created and dropped), Redis {info['redis']} (db {info['redis_db']})\n"
        f"Python {platform.python_version()}; {os.cpu_count()} CPUs shared by the server, the "
        f"worker, PostgreSQL, Redis and this client; 1-min load average {info['load'][0]:.1f} "
        f"before the run\n"
        f"{args.customers} customers, {args.agents} human agents, {args.seconds:.0f} s "
        f"(+ in-progress conversations finished in {seconds - args.seconds:.1f} s); think "
        f"{args.think:g} s; {args.socket_share:.0%} of AI-phase messages over the customer "
        f"socket; {args.human_share:.0%} of conversations ask for a human\n"
    )
    print(
        f"conversations {len(record.conversations)}; hot handoffs {record.hot} (claimed "
        f"{len(record.claims_ok)}, claim races lost {record.claims_lost}, not answered within "
        f"{WAIT:.0f} s {record.waited_out}); cold {record.cold}"
    )
    print(
        f"messages sent by the load test {messages_sent} ({dict(sent)}); stored in all "
        f"{counts['stored']} ({dict(counts['by_role'])})"
    )
    rate_sent = messages_sent / seconds
    rate_stored = counts["stored"] / seconds
    rate_requests = record.requests / seconds
    print(
        f"throughput: {rate_sent:.1f} messages sent/s, {rate_stored:.1f} messages stored/s "
        f"(all roles), {rate_requests:.1f} HTTP requests/s over {seconds:.1f} s\n"
    )
    print(f"{'latency (ms)':<58} {'n':>6} {'p50':>8} {'p95':>8} {'p99':>8}")
    for kind in sorted(record.latencies):
        values = record.latencies[kind]
        print(
            f"{kind:<58} {len(values):>6} {percentile(values, 50):>8.1f} "
            f"{percentile(values, 95):>8.1f} {percentile(values, 99):>8.1f}"
        )
    print(f"\nerrors: {errors}")
    for kind, n in record.errors.most_common():
        sample = record.error_samples.get(kind, "")
        print(f"  {kind}: {n}" + (f"  e.g. {sample}" if sample else ""))
    print()
    rows = [
        ("lost (sent, acknowledged, not stored)", counts["lost"]),
        ("duplicated (stored more than once)", counts["duplicated"]),
        (
            f"customer-socket deliveries lost ({counts['socket_checked']} sockets)",
            counts["socket_lost"],
        ),
        ("customer-socket deliveries duplicated", counts["socket_dup"]),
        (f"inbox deliveries lost ({counts['inbox_checked']} sockets)", counts["inbox_lost"]),
        ("inbox deliveries duplicated", counts["inbox_dup"]),
        ("handoffs claimed twice", counts["double_claims"]),
        ("errors", errors),
    ]
    for name, value in rows:
        print(f"  {name:<52} {value:>6}   aim 0  {'ok' if value == 0 else 'MISSED'}")
    if counts["lost"]:
        print(f"  lost by kind {dict(counts['lost_by_kind'])}, e.g. {counts['lost_samples']}")
    if counts["duplicated"]:
        print(f"  duplicated e.g. {counts['duplicated_samples']}")
    if counts["unacked_stored"]:
        print(f"  stored although the request failed: {counts['unacked_stored']}")
    if counts["unread"]:
        print(f"  conversations not read back: {counts['unread']}")

    figures = [figure(name, value, "", "= 0", value == 0) for name, value in rows]
    ai = record.latencies.get("POST message (AI answers)", [])
    human = record.latencies.get("human message.send -> customer socket", [])
    figures += [
        figure("messages sent (customers and agents)", rate_sent, "messages/s"),
        figure("messages stored (all roles)", rate_stored, "messages/s"),
        figure("HTTP requests", rate_requests, "requests/s"),
        figure(
            "POST message (AI answers) p95",
            percentile(ai, 95),
            "ms",
            f"< {AIM_AI_POST_P95_MS:.0f}",
            bool(ai) and percentile(ai, 95) < AIM_AI_POST_P95_MS,
        ),
        figure(
            "human message.send -> customer socket p95",
            percentile(human, 95),
            "ms",
            f"< {AIM_HUMAN_DELIVERY_P95_MS:.0f}",
            bool(human) and percentile(human, 95) < AIM_HUMAN_DELIVERY_P95_MS,
        ),
    ]
    for kind in sorted(record.latencies):
        values = record.latencies[kind]
        for q in (50, 95, 99):
            figures.append(figure(f"{kind} p{q}", percentile(values, q), "ms"))
    lagged = record.loop_lag.get(float("inf"), 0)
    if lagged:
        bounds = ", ".join(f"p{q} <= {lag_quantile(record.loop_lag, q):g} ms" for q in (50, 95, 99))
        print(
            f"web processes' event loops during the run (a timer every 0.25 s, {lagged:.0f} "
            f"timers, core/observability/loop_lag.py): late by {bounds}"
        )
    for q in (50, 95, 99):
        late = lag_quantile(record.loop_lag, q)
        if late is not None:
            figures.append(figure(f"web event-loop lag p{q} (bucket bound)", late, "ms"))
    figures += [
        figure("conversations", len(record.conversations), ""),
        figure("hot handoffs", record.hot, ""),
        figure("hot handoffs not answered within 30 s", record.waited_out, ""),
    ]
    return figures


# --- main ---------------------------------------------------------------------------------------


def _terminate(signum, frame) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--customers", type=int, default=50)
    parser.add_argument("--agents", type=int, default=10)
    parser.add_argument("--web", type=int, default=int(os.environ.get("WEB_CONCURRENCY", "2")))
    parser.add_argument("--celery", type=int, default=2, help="Celery worker processes")
    parser.add_argument("--think", type=float, default=1.0, help="seconds between messages")
    parser.add_argument("--socket-share", type=float, default=0.3)
    parser.add_argument("--human-share", type=float, default=0.3)
    parser.add_argument("--human-turns", type=int, default=2)
    parser.add_argument("--grace", type=float, default=45.0)
    parser.add_argument("--seed", type=int, default=8)
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--agent-delay",
        type=float,
        default=0.0,
        help="the AI agents answer through a local OpenAI-compatible endpoint that takes this "
        "many seconds (0: the built-in runtime)",
    )
    parser.add_argument("--turns", type=int, default=100, help="the turns worker's threads")
    args = parser.parse_args()

    url = os.environ.get("DATABASE_URL", "").strip()
    redis_url = os.environ.get("REDIS_URL", "").strip()
    if not url or not redis_url:
        fail(
            "set DATABASE_URL (postgres://user@host:5432/db) and REDIS_URL (redis://host:6379/0):"
            f" the load test creates and drops its own database '{BENCH_DB}' and uses Redis "
            "under key prefixes of its own (BENCH_REDIS_DB)"
        )
    maintenance_url, bench_url = database_urls(url, BENCH_DB)
    redis_url = bench_redis_url(redis_url)
    signal.signal(signal.SIGTERM, _terminate)
    tag = f"bench-load-{os.getpid()}"
    info = {"load": os.getloadavg(), "redis_db": urlsplit(redis_url).path.strip("/") or "0"}
    try:
        import redis

        with redis.Redis.from_url(redis_url, socket_timeout=5) as probe:
            info["redis"] = probe.info("server")["redis_version"]
        recreate_database(maintenance_url, BENCH_DB, create=True)
    except Exception as exc:
        fail(f"cannot set up PostgreSQL ({BENCH_DB}) or Redis ({redis_url}): {exc}")

    extra = {
        **RATE_LIMITS,
        "CHANNELS_PREFIX": f"{tag}-ch",
        "CACHE_PREFIX": f"{tag}-cache",
        "CELERY_QUEUE": f"{tag}-q",
        # the processes' series summed by any web process's /metrics (the event-loop lag)
        "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="bench-load-metrics-"),
        "METRICS_ALLOW_IPS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "WEB_CONCURRENCY": str(args.web),
        # per process: the web workers' pools stay within PostgreSQL's connections
        "DB_POOL_MAX_SIZE": os.environ.get("DB_POOL_MAX_SIZE", "10"),
        # the local endpoint of --agent-delay is on loopback
        "RUNTIME_ALLOW_PRIVATE_NETWORKS": "1",
    }
    env = product_env(
        database_url=bench_url,
        redis_url=redis_url,
        secret_key=SECRET,
        secrets_keys=STORE_KEYS,
        **extra,
    )
    os.environ.update({**env, "DJANGO_SETTINGS_MODULE": "config.settings"})
    logs = Path(tempfile.mkdtemp(prefix="bench-load-"))
    processes = Processes(logs)
    record = Record()
    counts: dict = {}
    code = 0
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection, connections

        log(f"migrating {BENCH_DB}")
        call_command("migrate", verbosity=0)
        info["pg"] = connection.cursor().connection.info.server_version
        info["pg"] = f"{info['pg'] // 10000}.{info['pg'] % 10000}"
        llm = SlowLLM(args.agent_delay) if args.agent_delay > 0 else None
        people = seed(args.agents, llm.url if llm else "")
        analyze()
        connections.close_all()
        log(
            f"starting uvicorn ({args.web} workers), a Celery worker, the turns worker "
            f"({args.turns} threads) and beat; logs in {logs}"
        )
        base = processes.web(env, workers=args.web)
        # as the Procfile runs them: the main worker on the default queue, the agents' runs on
        # a threads-pool worker of their own (a slow agent never queues behind the sweeps)
        processes.worker(
            {**env, "DB_POOL_MIN_SIZE": "1", "DB_POOL_MAX_SIZE": "2"},
            concurrency=args.celery,
            queues=default_queue(env),
        )
        processes.turns_worker(env, concurrency=args.turns)
        processes.beat(env)

        async def drive() -> dict:
            load = Load(args, base, people, record)
            await load.run()
            log("reading every conversation back")
            return await load.read_back()

        try:
            import uvloop

            stored = uvloop.run(drive())
        except ImportError:
            stored = asyncio.run(drive())
        counts = tally(record, stored)
    except KeyboardInterrupt:
        log("interrupted: stopping the processes")
        code = 130
    except Exception:
        for process in processes.running:
            print(f"--- {Path(process.log_path).name}", file=sys.stderr)
            print(Processes.log(process)[-1500:], file=sys.stderr)
        raise
    finally:
        dead = [p for p in processes.running if p.poll() is not None]
        for process in dead:
            log(f"a product process exited early ({process.returncode}): {process.log_path}")
        processes.stop_all()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:
            pass
        recreate_database(maintenance_url, BENCH_DB, create=False)
        with contextlib.suppress(Exception):
            redis_delete_prefix(redis_url, tag)
        shutil.rmtree(env["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)
        if not args.keep_logs and not dead and code == 0:
            shutil.rmtree(logs, ignore_errors=True)
    if code:
        return code
    figures = report(args, record, counts, info)
    emit(
        "load",
        figures,
        command_line("bench/load.py", env=["DATABASE_URL=...", "REDIS_URL=..."]),
    )
    missed = [f for f in figures if f["met"] is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
