"""Synthetic customers driving conversations through the public API (``manage.py simulate``).

Each simulated conversation follows a scripted but randomised journey (a double charge, a
refund, a crash, a return, a cancellation, a request for a human, a legal threat, a repeated
question, a change of topic, gibberish), 2 to 6 customer messages worded from pools of
phrasings. The scripts come from a seeded RNG, one per conversation, so the same seed gives the
same conversations whatever the concurrency.

The conversations go through the API only (``POST /api/v1/conversations``, ``POST
.../messages``, ``GET .../events``), either in this process through DRF's ``APIClient`` or over
HTTP to a running server; the summary is read from the API's answers and decision events, so it
reports what the orchestrator did, not what the script expected.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

from agents.models import Agent
from conversations import decisions
from conversations.decisions import EscalationReason, RouteReason
from core.models import Tenant
from core.services import (
    api_key_create,
    api_key_revoke,
)
from tools.stats import percentile

SIMULATE_KEY_NAME = "simulate"
HUMAN_STATES = ("handing_off", "with_human")
API = "/api/v1"
REPLY_WAIT_SECONDS = 10  # a customer message waits this long for the agent's reply


class SimulationError(Exception):
    """The simulation cannot run (no tenant, no agents, a refused key...)."""


# --- journeys ------------------------------------------------------------------------------------

NAMES = (
    "Amira Haddad", "Ben Carter", "Chloe Martin", "Diego Alvarez", "Emma Schulz", "Farid Khan",
    "Grace Liu", "Hugo Bernard", "Ines Costa", "Jonas Berg", "Kemi Adeyemi", "Lena Novak",
    "Marco Rossi", "Nora Jensen", "Oscar Lindqvist", "Priya Nair", "Quentin Moreau",
    "Rosa Jimenez", "Sam O'Brien", "Tomasz Kowalski", "Uma Patel", "Viktor Horvat",
    "Wen Zhang", "Yusuf Demir", "Zoe Evans",
)  # fmt: skip
CHANNELS = (("web", 6), ("email", 2), ("api", 1), ("voice", 1))
PRODUCTS = (
    "rain jacket", "running shoes", "headphones", "coffee grinder", "backpack", "desk lamp",
    "kettle", "wool jumper", "hiking boots", "phone case", "yoga mat", "water bottle",
)  # fmt: skip
DEVICES = ("iPhone 13", "Pixel 7", "Galaxy S22", "iPad", "Windows laptop", "MacBook")
COMPETITORS = ("ShopNova", "BrightCart", "another shop", "a competitor", "TrailMart")
COUNTRIES = ("Norway", "Iceland", "Canada", "Switzerland", "Japan", "Australia")
MONTHS = ("January", "February", "March", "April", "May", "June", "September", "October")

GREETINGS = ("Hi, ", "Hello, ", "Hey, ", "Good morning. ", "Hi there! ", "Hello again, ")
CLOSERS = (
    "Thanks for your help!",
    "ok great, thank you",
    "Perfect, cheers.",
    "Thank you, that's all.",
    "Brilliant, thanks a lot.",
    "ok",
)
WAITING = (
    "ok, I'll wait.",
    "Thanks, I'll wait for someone then.",
    "Fine. How long will that take?",
    "hello? anyone there?",
)

DOUBLE_CHARGE = (
    "I was charged twice for order {order}.",
    "Why was I charged twice this month?",
    "There's a double charge of {small} on my card from you.",
    "My bank statement shows a duplicate charge for the same order.",
    "You took the payment for order {order} two times.",
    "I've been billed twice for my subscription, please sort it out.",
    "Looks like I got charged twice for the {product}, can you check?",
)
DOUBLE_CHARGE_FOLLOW = (
    "Can you refund the duplicate payment?",
    "Where can I find my invoice for that?",
    "How long until the money is back on my card?",
    "The order number is {order}.",
    "It was {small} each time.",
    "Can you send me a receipt for the correct amount?",
)
REFUND_SMALL = (
    "I'd like a refund of {small} for order {order}.",
    "Can I get my money back for the {product}? It was {small}.",
    "Please refund the {small} delivery fee, the parcel came late.",
    "I was promised a refund of {small} last week and haven't seen it.",
    "The {product} was {small} and it broke after a day, I want a refund.",
)
REFUND_LARGE = (
    "I need a refund of {large} for order {order}, the {product} never worked.",
    "You owe me {large}, please refund it.",
    "I sent the {product} back two weeks ago and still haven't got my {large} back.",
    "Please reimburse the {large} I paid for order {order}.",
    "I want the full {large} back for the {product}.",
)
REFUND_FOLLOW = (
    "The order number is {order}.",
    "Can you refund it to my original card?",
    "How long does a refund usually take?",
    "What's the refund status?",
    "I'd prefer the money back rather than store credit.",
)
CRASH = (
    "The app keeps crashing when I open it.",
    "Your app crashes every time I try to pay.",
    "The website shows an error when I log in.",
    "The app freezes on the checkout screen on my {device}.",
    "Since the last update the app won't load at all.",
    "I get error {code} and then the app closes.",
)
CRASH_FOLLOW = (
    "I'm on version {version} on a {device}.",
    "I already restarted the phone, it still crashes.",
    "The error message says {code}.",
    "Reinstalling didn't help either.",
    "Is there an outage right now?",
    "It also happens on the website in my browser.",
)
RETURNS = (
    "How do I return the {product} I bought?",
    "The {product} is too small, can I exchange it for a bigger size?",
    "My {product} arrived damaged, I want to send it back.",
    "I'd like to return order {order}, it's not what I expected.",
    "What's your return policy for sale items?",
)
RETURNS_FOLLOW = (
    "Is the return label free?",
    "Do I need the original packaging?",
    "Can I drop it off at a post office?",
    "How many days do I have to send it back?",
    "Can I swap it for a different colour instead?",
)
CANCEL = (
    "I want to cancel my subscription.",
    "Please close my account.",
    "How do I cancel my membership?",
    "Your prices went up again, I'm switching to {competitor}.",
    "I'm thinking of leaving for {competitor}, they're cheaper.",
    "Cancel my plan at the end of the month please.",
)
CANCEL_FOLLOW = (
    "No thanks, just cancel it please.",
    "I don't want any offers, I want to cancel.",
    "When will the last payment be taken?",
    "Fine, make sure I'm not charged again.",
    "Can you confirm by email once it's cancelled?",
)
ISSUES = (
    "My parcel still hasn't arrived after two weeks.",
    "I was charged twice for order {order}.",
    "The app keeps crashing when I open it.",
    "The {product} arrived broken.",
    "Nobody has answered my emails about order {order}.",
)
HUMAN = (
    "Can I talk to a real person please?",
    "I want to speak to a human.",
    "Get me an agent, this bot is useless.",
    "Please put me through to someone from your team.",
    "Is there a human I can talk to?",
    "I'd rather speak to a person about this.",
)
LEGAL = (
    "If this isn't fixed by Friday I'm taking legal action.",
    "My lawyer will be in touch.",
    "I'm reporting you to trading standards.",
    "I'll see you in small claims court.",
    "I've contacted a solicitor about this.",
    "This is illegal, I'm going to sue.",
)
STALL = (
    "Can I change the delivery address on order {order}?",
    "Do you ship to {country}?",
    "Can I pay for order {order} with PayPal?",
    "Is there a student discount on the annual plan?",
    "Can you deliver order {order} on a Saturday?",
)
STALL_AGAIN = (
    "{q}",
    "{q}?",
    "Again: {q}",
    "I asked: {q}",
    "Hello? {q}",
    "{q} Please answer.",
)
SHIFTS = (
    (
        ("Where can I find my invoice for {month}?", "I need a receipt for order {order}."),
        (
            "Also, the app crashes whenever I open the invoices page.",
            "Separate thing: your website shows an error when I log in.",
        ),
    ),
    (
        ("The app keeps crashing when I open my orders.", "I get error {code} on the website."),
        (
            "Actually, while I have you: I'd like to return the {product}.",
            "Another question, how do I send back the {product}?",
        ),
    ),
    (
        ("How do I return the {product}?", "The {product} is too big, can I exchange it?"),
        (
            "By the way, where is my invoice for order {order}?",
            "Oh and I was charged twice for it.",
        ),
    ),
    (
        ("Where can I find my invoice for {month}?", "My last bill looks wrong."),
        (
            "Honestly, I just want to cancel my subscription.",
            "Actually, please close my account.",
        ),
    ),
)
GIBBERISH = (
    "asdfgh",
    "qwerty uiop",
    "???",
    "lorem ipsum dolor",
    "hmm",
    "blorp zzz",
    "k",
    "test test",
    "jjjjjj kkk",
    "12345",
    "zxcv bnm",
)


class Voice:
    """One customer's way of writing: fills placeholders, varies greetings, case and
    punctuation, never sends the same sentence twice in a conversation."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.values = {
            "order": rng.choice(("#", "ORD-", "", "A")) + str(rng.randint(10_000, 99_999)),
            "small": "",
            "large": "",
            "product": rng.choice(PRODUCTS),
            "device": rng.choice(DEVICES),
            "competitor": rng.choice(COMPETITORS),
            "country": rng.choice(COUNTRIES),
            "month": rng.choice(MONTHS),
            "version": f"{rng.randint(3, 5)}.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
            "code": f"E{rng.randint(100, 9999)}",
        }
        self.money = {"small": _money(rng, 9, 95), "large": _money(rng, 120, 900)}
        for size, (text, _, _) in self.money.items():
            self.values[size] = text
        self.lowercase = rng.random() < 0.15
        self.terse = rng.random() < 0.2
        self.used: set[str] = set()

    def refund(self, size: str) -> dict[str, Any]:
        """The ``issue_refund`` parameters matching what this customer wrote."""
        _, amount, currency = self.money[size]
        return {"orderId": self.values["order"], "amount": amount, "currency": currency}

    def fill(self, template: str) -> str:
        return template.format(**self.values)

    def say(self, pool: tuple[str, ...], *, opener: bool = False) -> str:
        """A phrasing from ``pool`` this customer has not used yet (any, once all are)."""
        fresh = [p for p in pool if p not in self.used] or list(pool)
        template = self.rng.choice(fresh)
        self.used.add(template)
        return self.style(self.fill(template), opener=opener)

    def style(self, text: str, *, opener: bool = False) -> str:
        if opener and self.rng.random() < 0.4:
            text = self.rng.choice(GREETINGS) + text[0].lower() + text[1:]
        if self.terse and text[-1:] in ".!":
            text = text[:-1]
        if self.lowercase:
            text = text.lower()
        return text


CURRENCIES = {"€": "EUR", "$": "USD", "£": "GBP"}


def _money(rng: random.Random, low: int, high: int) -> tuple[str, float, str]:
    """``("€24.50", 24.5, "EUR")``."""
    symbol = rng.choice(tuple(CURRENCIES))
    whole = rng.randint(low, high)
    cents = None if rng.random() < 0.6 else rng.randint(0, 99)
    if cents is None:
        return f"{symbol}{whole}", float(whole), CURRENCIES[symbol]
    return f"{symbol}{whole}.{cents:02d}", whole + cents / 100, CURRENCIES[symbol]


def _topic(opener, follow, *, closer: bool = True) -> Callable[[Voice, int], list[str]]:
    """A single-topic journey: an opener, follow-ups without repeats, maybe a thank-you."""

    def script(voice: Voice, length: int) -> list[str]:
        messages = [voice.say(opener, opener=True)]
        with_closer = closer and length >= 3 and voice.rng.random() < 0.6
        messages += [voice.say(follow) for _ in range(length - 1 - with_closer)]
        if with_closer:
            messages.append(voice.say(CLOSERS))
        return messages

    return script


def _human_request(voice: Voice, length: int) -> list[str]:
    messages = [voice.say(ISSUES, opener=True)]
    for _ in range(length - 2):
        messages.append(voice.say((*HUMAN, "Hello??", "This is not helping.")))
    messages.append(voice.say(HUMAN))
    return messages


def _legal_threat(voice: Voice, length: int) -> list[str]:
    messages = [voice.say(ISSUES, opener=True)]
    middle = (
        "The order number is {order}.",
        "I paid {large} for this.",
        "I have the receipt here.",
    )
    for _ in range(length - 2):
        messages.append(voice.say(middle))
    messages.append(voice.say(LEGAL))
    return messages


def _stall(voice: Voice, length: int) -> list[str]:
    question = voice.fill(voice.rng.choice(STALL))
    messages = [voice.style(question, opener=True)]
    for _ in range(length - 1):
        again = voice.rng.choice(STALL_AGAIN).format(q=question)
        messages.append(voice.style(again))
    return messages


def _topic_shift(voice: Voice, length: int) -> list[str]:
    first, second = voice.rng.choice(SHIFTS)
    split = voice.rng.randint(max(1, length - len(second)), min(len(first), length - 1))
    messages = [voice.say(first, opener=True)]
    messages += [voice.say(first) for _ in range(split - 1)]
    messages += [voice.say(second) for _ in range(length - split)]
    return messages


def _gibberish(voice: Voice, length: int) -> list[str]:
    return voice.rng.sample(GIBBERISH, length)


@dataclass(frozen=True)
class Journey:
    name: str
    script: Callable[[Voice, int], list[str]]
    messages: tuple[int, int]  # fewest and most customer messages
    refund: str | None = None  # "small" or "large": the integration then asks for the refund


JOURNEYS: tuple[Journey, ...] = (
    Journey("billing double charge", _topic(DOUBLE_CHARGE, DOUBLE_CHARGE_FOLLOW), (2, 5)),
    Journey("refund under 100", _topic(REFUND_SMALL, REFUND_FOLLOW), (2, 4), refund="small"),
    Journey("refund over 100", _topic(REFUND_LARGE, REFUND_FOLLOW), (2, 4), refund="large"),
    Journey("technical crash", _topic(CRASH, CRASH_FOLLOW), (2, 6)),
    Journey("returns", _topic(RETURNS, RETURNS_FOLLOW), (2, 5)),
    Journey("cancellation", _topic(CANCEL, CANCEL_FOLLOW, closer=False), (2, 4)),
    Journey("asks for a human", _human_request, (2, 4)),
    Journey("legal threat", _legal_threat, (2, 4)),
    Journey("repeats the question", _stall, (3, 5)),
    Journey("topic shift", _topic_shift, (2, 4)),
    Journey("gibberish", _gibberish, (3, 6)),
)


@dataclass(frozen=True)
class Plan:
    """One synthetic conversation: who, on which channel, which journey, what they write."""

    index: int
    journey: str
    channel: str
    customer: dict[str, Any]
    messages: tuple[str, ...]
    wait_message: str | None  # what the customer writes after a handover, if anything
    # ``issue_refund`` parameters the integration proposes through the actions API after the
    # messages (refund journeys that stayed with the AI): it runs at once or waits for approval
    refund: dict[str, Any] | None = None


def plan_conversations(count: int, seed: int) -> list[Plan]:
    """``count`` plans; the same seed gives the same plans. Journeys are dealt from shuffled
    decks so a small run still covers different journeys."""
    deck_rng = random.Random(f"simulate:{seed}:deck")
    journeys: list[Journey] = []
    while len(journeys) < count:
        journeys += deck_rng.sample(JOURNEYS, len(JOURNEYS))
    plans = []
    for index, journey in enumerate(journeys[:count]):
        rng = random.Random(f"simulate:{seed}:{index}")
        voice = Voice(rng)
        length = rng.randint(*journey.messages)
        messages = journey.script(voice, length)
        name = rng.choice(NAMES)
        channel = rng.choices([c for c, _ in CHANNELS], [w for _, w in CHANNELS])[0]
        wait = voice.style(rng.choice(WAITING)) if rng.random() < 0.5 else None
        customer = {
            "id": f"sim-{seed}-{index}",
            "name": name,
            "email": re.sub(r"[^a-z.]", "", name.lower().replace(" ", ".")) + "@example.com",
            "attributes": {"simulated": True, "tier": rng.choice(("free", "plus", "pro"))},
        }
        refund = voice.refund(journey.refund) if journey.refund else None
        plans.append(
            Plan(
                index,
                journey.name,
                channel,
                customer,
                tuple(m for m in messages if m),
                wait,
                refund,
            )
        )
    return plans


# --- transports ------------------------------------------------------------------------------


class Transport(Protocol):
    label: str

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]: ...

    def close(self) -> None: ...


class InProcessTransport:
    """DRF's ``APIClient`` against this process's URLconf: the full API stack (middleware,
    authentication, views) without a socket."""

    label = "in process"

    def __init__(self, raw_key: str):
        from django.conf import settings
        from django.http.request import validate_host
        from rest_framework.test import APIClient

        host = "testserver"
        if not validate_host(host, settings.ALLOWED_HOSTS):
            host = next((h.lstrip(".") for h in settings.ALLOWED_HOSTS if h not in ("*", "")), host)
        self.client = APIClient(SERVER_NAME=host, raise_request_exception=False)
        # no turns worker serves this process: each agent's turn runs in the request, right
        # after its decide transaction (orchestration/turns.py)
        settings.TURN_DISPATCH = "inline"
        self.client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        if method == "GET":
            response = self.client.get(path)
        else:
            response = self.client.generic(
                method, path, json.dumps(body or {}), content_type="application/json"
            )
        try:
            data = json.loads(response.content) if response.content else None
        except ValueError:
            data = None
        return response.status_code, data

    def close(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            from django.db import connections

            connections.close_all()


class HttpTransport:
    """Plain HTTP/1.1 with keep-alive (``http.client``): one connection per transport."""

    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0):
        parts = urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SimulationError(f"--base-url must be http(s)://host[:port], not {base_url!r}")
        self.parts = parts
        self.prefix = parts.path
        self.timeout = timeout
        self.label = f"over HTTP to {parts.scheme}://{parts.netloc}"
        self.headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        cls = (
            http.client.HTTPSConnection
            if self.parts.scheme == "https"
            else http.client.HTTPConnection
        )
        return cls(self.parts.hostname, self.parts.port, timeout=self.timeout)

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        payload = None if method == "GET" else json.dumps(body or {}).encode()
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = self._connect()
            try:
                self.conn.request(method, self.prefix + path, body=payload, headers=self.headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                # a kept-alive connection the server closed: reconnect once
                self.close()
                if attempt == 2:
                    raise
            except OSError as exc:
                self.close()
                raise SimulationError(f"{self.label}: {exc}") from None
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return response.status, data

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# --- running ---------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one conversation did, as the API told it."""

    plan: Plan
    messages: int = 0
    replies: int = 0
    notices: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    final_state: str = ""
    proposed: list[dict[str, Any]] = field(default_factory=list)
    refund_requests: Counter = field(default_factory=Counter)
    api_errors: Counter = field(default_factory=Counter)
    events: list[dict[str, Any]] = field(default_factory=list)


def _error_code(data: Any) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _error_text(status: int, data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return f"{status} {data['error'].get('code', '')}: {data['error'].get('message', '')}"
    return str(status)


def tenant_agents(transport: Transport) -> tuple[str, frozenset[str]]:
    """The agent new conversations start with (the tenant's first top-level supervisor), and
    the ids of all its agents."""
    status, agents = transport.request("GET", f"{API}/agents")
    if status in (401, 403):
        raise SimulationError(f"The API refused the key: {_error_text(status, agents)}")
    if status != 200 or not isinstance(agents, list):
        raise SimulationError(f"GET {API}/agents answered {_error_text(status, agents)}")
    if not agents:
        raise SimulationError("The tenant has no agents: run manage.py seed_demo first.")
    tops = [a for a in agents if a.get("role") == "supervisor" and not a.get("supervisorId")]
    return (tops or agents)[0]["id"], frozenset(a["id"] for a in agents)


def run_conversation(transport: Transport, plan: Plan, agent_id: str) -> Outcome:
    outcome = Outcome(plan=plan)
    status, started = transport.request(
        "POST",
        f"{API}/conversations",
        {"agentId": agent_id, "channel": plan.channel, "customer": plan.customer},
    )
    if status != 201:
        outcome.api_errors[_error_text(status, started)] += 1
        outcome.final_state = "not started"
        return outcome
    conversation_id = started["id"]
    outcome.final_state = started.get("state", "")
    texts = list(plan.messages)
    handed_over = False
    while texts:
        text = texts.pop(0)
        begin = time.perf_counter()
        status, answer = transport.request(
            "POST",
            f"{API}/conversations/{conversation_id}/messages",
            {"text": text, "wait": REPLY_WAIT_SECONDS},  # the agent's reply in the answer
        )
        elapsed = (time.perf_counter() - begin) * 1000
        if status != 201:
            outcome.api_errors[_error_text(status, answer)] += 1
            break
        outcome.messages += 1
        outcome.latencies_ms.append(elapsed)
        outcome.replies += answer.get("reply") is not None
        outcome.notices += len(answer.get("notices") or [])
        outcome.proposed += answer.get("proposedActions") or []
        outcome.final_state = answer.get("state", "")
        if outcome.final_state in HUMAN_STATES and not handed_over:
            # people wait for the human: the script ends, perhaps with one "I'll wait"
            handed_over = True
            texts = [plan.wait_message] if plan.wait_message else []
    if plan.refund and outcome.messages and not handed_over:
        status, answer = transport.request(
            "POST",
            f"{API}/conversations/{conversation_id}/actions",
            {
                "action": "issue_refund",
                "params": plan.refund,
                "idempotencyKey": f"{plan.customer['id']}-refund",
            },
        )
        if status in (200, 202):
            size = "over 100" if plan.refund["amount"] > 100 else "up to 100"
            how = "waiting for approval" if status == 202 else "ran at once"
            outcome.refund_requests[f"{size}: {how}"] += 1
        elif status == 403 and _error_code(answer) == "action_not_allowed":
            # the conversation's agent may not propose refunds (its allow-list)
            outcome.refund_requests["refused: not in the agent's allowed actions"] += 1
        else:
            outcome.api_errors[f"actions API {_error_text(status, answer)}"] += 1
    status, events = transport.request("GET", f"{API}/conversations/{conversation_id}/events")
    if status == 200 and isinstance(events, list):
        outcome.events = events
    else:
        outcome.api_errors[_error_text(status, events)] += 1
    return outcome


def run_simulation(
    make_transport: Callable[[], Transport],
    *,
    conversations: int,
    seed: int,
    concurrency: int = 1,
    on_done: Callable[[], None] | None = None,
) -> Summary:
    """Plan and run ``conversations`` conversations with ``concurrency`` workers, each with its
    own transport; outcomes are merged in plan order, so the figures do not depend on which
    worker finished first (only the latencies do)."""
    plans = plan_conversations(conversations, seed)
    first = make_transport()
    agent_id, agent_ids = tenant_agents(first)
    outcomes: list[Outcome | None] = [None] * len(plans)
    failures: list[BaseException] = []
    started = time.perf_counter()

    def work(transport: Transport, todo: queue.SimpleQueue) -> None:
        try:
            while not failures:
                try:
                    plan = todo.get_nowait()
                except queue.Empty:
                    return
                outcomes[plan.index] = run_conversation(transport, plan, agent_id)
                if on_done:
                    on_done()
        except BaseException as exc:
            failures.append(exc)
        finally:
            transport.close()

    todo: queue.SimpleQueue = queue.SimpleQueue()
    for plan in plans:
        todo.put(plan)
    workers = max(1, min(concurrency, len(plans)))
    if workers == 1:
        work(first, todo)
    else:
        threads = [threading.Thread(target=work, args=(first, todo), daemon=True)]
        threads += [
            threading.Thread(target=work, args=(make_transport(), todo), daemon=True)
            for _ in range(workers - 1)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if failures:
        raise failures[0]
    summary = Summary(
        transport=first.label,
        seed=seed,
        concurrency=workers,
        seconds=time.perf_counter() - started,
        entry_agent=agent_id,
        agent_ids=agent_ids,
    )
    for outcome in outcomes:
        if outcome is not None:
            summary.add(outcome)
    return summary


# --- summary -------------------------------------------------------------------------------


@dataclass
class Summary:
    transport: str = ""
    seed: int = 0
    concurrency: int = 1
    seconds: float = 0.0
    entry_agent: str = ""
    agent_ids: frozenset[str] = frozenset()
    conversations: int = 0
    messages: int = 0
    replies: int = 0
    notices: int = 0
    answered: int = 0
    not_answered: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    journeys: Counter = field(default_factory=Counter)
    routes: Counter = field(default_factory=Counter)
    route_reasons: Counter = field(default_factory=Counter)
    reroutes: Counter = field(default_factory=Counter)
    handoff_rules: Counter = field(default_factory=Counter)
    escalation_rules: Counter = field(default_factory=Counter)
    escalations_to_agents: Counter = field(default_factory=Counter)
    escalations_to_humans: Counter = field(default_factory=Counter)
    risk: Counter = field(default_factory=Counter)
    stalls: Counter = field(default_factory=Counter)
    agent_errors: Counter = field(default_factory=Counter)
    proposed_actions: Counter = field(default_factory=Counter)
    refund_requests: Counter = field(default_factory=Counter)
    approvals_requested: Counter = field(default_factory=Counter)
    actions_executed: Counter = field(default_factory=Counter)
    actions_failed: Counter = field(default_factory=Counter)
    guardrails: Counter = field(default_factory=Counter)  # by rule (guardrail.* events)
    budget_stops: Counter = field(default_factory=Counter)  # by budget
    handoffs: Counter = field(default_factory=Counter)
    emails: int | None = None  # e-mails the product sent, when they can be counted (in process)
    final_states: Counter = field(default_factory=Counter)
    state_changes: Counter = field(default_factory=Counter)
    events: Counter = field(default_factory=Counter)
    api_errors: Counter = field(default_factory=Counter)

    def add(self, outcome: Outcome) -> None:
        self.conversations += 1
        self.journeys[outcome.plan.journey] += 1
        self.messages += outcome.messages
        self.replies += outcome.replies
        self.notices += outcome.notices
        self.latencies_ms += outcome.latencies_ms
        self.final_states[outcome.final_state or "unknown"] += 1
        self.api_errors.update(outcome.api_errors)
        self.refund_requests.update(outcome.refund_requests)
        for action in outcome.proposed:
            self.proposed_actions[_action_label(action)] += 1
        for event in outcome.events:
            self._event(event)

    def _event(self, event: dict[str, Any]) -> None:
        """Count one event of the API, read through its typed reader (fields, never prose)."""
        kind = event.get("type", "?")
        self.events[kind] += 1
        d = decisions.decision_of(kind, event.get("detail"))
        if isinstance(d, decisions.AgentRerouted):
            self.reroutes[_route_reason(d)] += 1
        elif isinstance(d, decisions.AgentRouted):
            if d.reason_code == RouteReason.STARTED:
                return
            if d.consultation:
                self.route_reasons["consultation" + (" stopped" if d.stopped else "")] += 1
                return
            self.routes[d.to or "?"] += 1
            self.route_reasons[_route_reason(d)] += 1
        elif isinstance(d, decisions.RuleFired):
            target = d.to if d.to in self.agent_ids else "human"
            if d.kind == "handoff":
                self.handoff_rules[target] += 1
            else:
                self.escalation_rules[target] += 1
        elif isinstance(d, decisions.Escalated):
            reason = d.reason or "?"
            if d.to in self.agent_ids:
                self.escalations_to_agents[reason] += 1
            else:
                self.escalations_to_humans[reason] += 1
            if d.reason_code == EscalationReason.RISK:
                self.risk.update(d.categories or ["?"])
        elif isinstance(d, decisions.StallDetected):
            self.stalls[d.reason or "?"] += 1
        elif isinstance(d, decisions.AgentError):
            self.agent_errors[event.get("agentId") or "?"] += 1
        elif isinstance(d, decisions.AgentReplied):
            if d.answered:
                self.answered += 1
            else:
                self.not_answered += 1
        elif isinstance(d, decisions.HandoffOffered):
            self.handoffs[d.mode or "?"] += 1
        elif isinstance(d, decisions.ApprovalRequested):
            self.approvals_requested[d.action or "?"] += 1
        elif isinstance(d, decisions.ActionExecuted):
            self.actions_executed[d.action or "?"] += 1
        elif isinstance(d, decisions.ActionFailed):
            self.actions_failed[d.action or "?"] += 1
        elif isinstance(d, decisions.GuardrailBlocked):  # and GuardrailRedacted
            self.guardrails[f"{d.rule or '?'} ({d.action or '?'})"] += 1
        elif isinstance(d, decisions.BudgetExceeded):
            self.budget_stops[d.budget or "?"] += 1
        elif isinstance(d, decisions.StateChanged):
            self.state_changes[f"{d.from_} -> {d.to}"] += 1

    def as_dict(self) -> dict[str, Any]:
        """The figures as plain JSON (latencies summarised)."""
        data = {}
        for name, value in vars(self).items():
            if name == "latencies_ms":
                continue
            if name == "agent_ids":
                value = sorted(value)
            data[name] = dict(sorted(value.items())) if isinstance(value, Counter) else value
        data["latencyMs"] = {
            "mean": round(sum(self.latencies_ms) / len(self.latencies_ms), 2)
            if self.latencies_ms
            else 0.0,
            "p95": round(percentile(self.latencies_ms, 95, empty=0.0), 2),
        }
        return data

    def lines(self) -> list[str]:
        mean = sum(self.latencies_ms) / len(self.latencies_ms) if self.latencies_ms else 0.0
        escalations = sum(self.escalations_to_agents.values()) + sum(
            self.escalations_to_humans.values()
        )
        rows = [
            ("conversations", f"{self.conversations}  ({_counts(self.journeys)})"),
            ("customer messages", str(self.messages)),
            (
                "replies",
                f"{self.replies}  (answered {self.answered}, could not answer "
                f"{self.not_answered}); notices {self.notices}",
            ),
            (
                "latency per message",
                f"mean {mean:.1f} ms, p95 {percentile(self.latencies_ms, 95, empty=0.0):.1f} ms",
            ),
            ("routes", _total(self.routes) + _by(self.route_reasons, "why")),
            ("invisible re-routes", _total(self.reroutes)),
            ("handoff-rule fires", _total(self.handoff_rules)),
            ("escalation-rule fires", _total(self.escalation_rules)),
            ("escalations", str(escalations)),
            ("  to agents", _total(self.escalations_to_agents)),
            ("  to humans", _total(self.escalations_to_humans)),
            ("risk escalations", _total(self.risk)),
            ("stalls", _total(self.stalls)),
            ("agent errors", _total(self.agent_errors)),
            ("proposed actions", _total(self.proposed_actions)),
            ("refunds asked (actions API)", _total(self.refund_requests)),
            ("approvals requested", _total(self.approvals_requested)),
            ("actions executed", _total(self.actions_executed)),
            ("actions failed", _total(self.actions_failed)),
            ("guardrail triggers", _total(self.guardrails)),
            ("budget stops", _total(self.budget_stops)),
            ("handoffs to people", _total(self.handoffs)),
            ("e-mails sent", "not counted over HTTP" if self.emails is None else str(self.emails)),
            ("final states", _counts(self.final_states)),
            ("state changes", _total(self.state_changes)),
            ("decision events", _total(self.events)),
            ("API errors", _total(self.api_errors)),
        ]
        width = max(len(label) for label, _ in rows)
        head = (
            f"Simulated {self.conversations} conversations {self.transport} "
            f"(seed {self.seed}, concurrency {self.concurrency}, entry agent "
            f"{self.entry_agent}) in {self.seconds:.1f} s"
        )
        return [head] + [f"  {label:<{width}}  {value}" for label, value in rows]


def _counts(counter: Counter) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _total(counter: Counter) -> str:
    total = sum(counter.values())
    return f"{total}  ({_counts(counter)})" if total else "0"


def _by(counter: Counter, label: str) -> str:
    return f"; {label}: {_counts(counter)}" if counter else ""


def _route_reason(event: decisions.AgentRouted) -> str:
    """How a route is counted: the router's first routes by the intent it went by (its
    ``reasonCode`` and ``intent``), the others by their reason."""
    if event.reason_code == RouteReason.INTENT_IN_DOMAINS:
        return f"router: intent {event.intent}"
    return event.reason or "?"


def _action_label(action: dict[str, Any]) -> str:
    name = str(action.get("action") or "?")
    amount = (action.get("params") or {}).get("amount")
    if isinstance(amount, int | float):
        return f"{name} {'over' if amount > 100 else 'up to'} 100"
    return name


# --- progress ------------------------------------------------------------------------------


class Progress:
    """``[#####.....] 25/50`` redrawn in place with ``\\r``; silent when disabled."""

    def __init__(self, total: int, stream: TextIO | None = None, *, enabled: bool, width: int = 30):
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.width = width
        self.done = 0
        self.lock = threading.Lock()

    def line(self) -> str:
        filled = round(self.width * self.done / self.total)
        return f"[{'#' * filled}{'.' * (self.width - filled)}] {self.done}/{self.total}"

    def draw(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def advance(self) -> None:
        with self.lock:
            self.done += 1
            self.draw()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


# --- in-process key ------------------------------------------------------------------------


def tenant_for_simulation(slug: str):
    """The tenant to simulate on; SimulationError when it is missing or has no agents."""

    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise SimulationError(f"No tenant '{slug}': run manage.py seed_demo first.")
    if not Agent.objects.filter(tenant=tenant).exists():
        raise SimulationError(f"Tenant '{slug}' has no agents: run manage.py seed_demo first.")
    return tenant


@contextmanager
def contained_side_effects() -> Iterator[list]:
    """For an in-process run: e-mails to the synthetic customers go to a local outbox (yielded,
    so they can be counted) instead of the configured backend, and the in-process Celery
    tasks' INFO lines stay out of the output."""
    import logging

    from django.core import mail
    from django.test.utils import override_settings

    loggers = [logging.getLogger(name) for name in ("celery", "kombu")]
    levels = [logger.level for logger in loggers]
    saved_outbox = getattr(mail, "outbox", None)
    mail.outbox = []
    try:
        for logger in loggers:
            logger.setLevel(max(logger.getEffectiveLevel(), logging.WARNING))
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
            yield mail.outbox
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if saved_outbox is None:
            del mail.outbox
        else:
            mail.outbox = saved_outbox


@contextmanager
def simulation_key(tenant) -> Iterator[str]:
    """A tenant API key named ``simulate`` for the run, revoked when it ends (even on error)."""

    api_key, raw = api_key_create(tenant=tenant, name=SIMULATE_KEY_NAME)
    try:
        yield raw
    finally:
        api_key_revoke(api_key=api_key)
