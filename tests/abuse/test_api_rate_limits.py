"""The API's rate limit per API key, personal token and person: 429 ``rate_limited`` with
Retry-After over the limit, each caller and tenant counted on its own, exact counting under
concurrency, and requests that pass when Redis is away (the limiter fails open).

Unmarked tests run on whatever the suite runs on: Redis when REDIS_URL is set (CI's first run),
the in-process counter on the embedded default (CI's second run)."""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid

import pytest
import redis
from django.conf import settings as django_settings
from rest_framework.test import APIClient

from config import ratelimit
from core import services
from tests.abuse.conftest import wait_for_a_fresh_window
from tests.conftest import need_service
from tests.factories import make_api_key, make_person

AGENTS = "/api/v1/agents"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def statuses(client: APIClient, n: int) -> list[int]:
    return [client.get(AGENTS).status_code for _ in range(n)]


def test_over_the_limit_a_key_gets_429_rate_limited_with_retry_after(settings, api_key):
    settings.API_RATE_LIMIT = "3/min"
    client = bearer(api_key[1])

    assert statuses(client, 3) == [200, 200, 200]
    response = client.get(AGENTS)

    assert response.status_code == 429
    assert response.json()["error"]["code"] == "rate_limited"
    assert "try again in" in response.json()["error"]["message"]
    assert 1 <= int(response["Retry-After"]) <= 60


def test_a_refused_request_does_no_work(settings, api_key):
    settings.API_RATE_LIMIT = "1/min"
    client = bearer(api_key[1])
    client.get(AGENTS)

    response = client.post(AGENTS, {"id": "agent-x", "name": "X", "role": "supervisor"})

    assert response.status_code == 429
    assert api_key[0].tenant.agents.count() == 0


def test_one_tenants_flood_does_not_limit_another_tenant(settings, tenant, other_tenant):
    settings.API_RATE_LIMIT = "2/min"
    flooder = bearer(make_api_key(tenant=tenant)[1])
    neighbour = bearer(make_api_key(tenant=other_tenant)[1])

    assert statuses(flooder, 5) == [200, 200, 429, 429, 429]

    assert statuses(neighbour, 2) == [200, 200]


def test_each_key_and_token_of_a_tenant_has_its_own_count(settings, tenant):
    settings.API_RATE_LIMIT = "2/min"
    first = bearer(make_api_key(tenant=tenant, name="first")[1])
    second = bearer(make_api_key(tenant=tenant, name="second")[1])
    person = make_person(tenant=tenant, roles=["manager"], username="mona")
    token = bearer(services.personal_token_create(user=person, name="laptop")[1])

    assert statuses(first, 3) == [200, 200, 429]

    assert statuses(second, 3) == [200, 200, 429]
    assert statuses(token, 3) == [200, 200, 429]


def test_a_signed_in_person_is_counted_too(settings, manager):
    settings.API_RATE_LIMIT = "2/min"
    client = APIClient()
    client.force_login(manager)

    assert statuses(client, 3) == [200, 200, 429]


def test_a_tenant_override_replaces_the_default_limit(settings, tenant, other_tenant):
    settings.API_RATE_LIMIT = "2/min"
    settings.API_RATE_LIMIT_TENANTS = {"acme": "4/min", "globex": "off"}
    acme = bearer(make_api_key(tenant=tenant)[1])
    globex = bearer(make_api_key(tenant=other_tenant)[1])

    assert statuses(acme, 5) == [200, 200, 200, 200, 429]
    assert statuses(globex, 6) == [200] * 6


def test_off_means_no_limit(settings, api_key):
    settings.API_RATE_LIMIT = "off"

    assert statuses(bearer(api_key[1]), 20) == [200] * 20


def test_anonymous_requests_are_answered_401_not_counted(settings, api_key):
    settings.API_RATE_LIMIT = "1/min"
    anonymous = APIClient()

    assert [anonymous.get(AGENTS).status_code for _ in range(3)] == [401, 401, 401]
    assert statuses(bearer(api_key[1]), 1) == [200]


def test_the_window_ends_and_the_key_may_call_again(settings, api_key):
    settings.API_RATE_LIMIT = "1/1s"
    client = bearer(api_key[1])
    wait_for_a_fresh_window(1, margin=0.9)
    assert statuses(client, 2) == [200, 429]

    time.sleep(1.05)

    assert statuses(client, 1) == [200]


def test_concurrent_hits_are_counted_exactly():
    """Threads hammering one counter: exactly the limit gets through (Redis when REDIS_URL is
    set, the in-process counter otherwise)."""
    rate = ratelimit.Rate(limit=50, period=3600)
    ident = f"key:{uuid.uuid4()}"
    allowed = []
    lock = threading.Lock()
    start = threading.Barrier(16)

    def hammer():
        start.wait()
        mine = sum(ratelimit.hit("api", ident, rate).allowed for _ in range(20))
        with lock:
            allowed.append(mine)

    threads = [threading.Thread(target=hammer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(allowed) == 50
    assert ratelimit.hit("api", ident, rate).count == 16 * 20 + 1


# -- on Redis -----------------------------------------------------------------------------------


@pytest.mark.services
def test_counters_live_in_redis_and_expire_with_their_window(settings):
    if not django_settings.REDIS_URL:
        need_service("Redis: set REDIS_URL")
    rate = ratelimit.Rate(limit=5, period=60)
    ident = "key:in-redis"

    for _ in range(3):
        ratelimit.hit("api", ident, rate)

    connection = redis.Redis.from_url(django_settings.REDIS_URL)
    keys = connection.keys(f"{settings.RATE_LIMIT_PREFIX}:api:*")
    assert len(keys) == 1
    assert int(connection.get(keys[0])) == 3
    assert 0 < connection.ttl(keys[0]) <= 61
    connection.delete(*keys)


@pytest.mark.services
def test_two_processes_share_one_count_through_redis(settings, api_key):
    """Another process (another client, as another ASGI worker would have) counts in the same
    window: what it used is gone for this one."""
    if not django_settings.REDIS_URL:
        need_service("Redis: set REDIS_URL")
    settings.API_RATE_LIMIT = "3/min"
    rate = ratelimit.parse_rate("3/min")
    window = int(time.time() // 60)
    key = (
        f"{settings.RATE_LIMIT_PREFIX}:api:{ratelimit._digest(f'key:{api_key[0].pk}')}"
        f":{rate.period}:{window}"
    )
    redis.Redis.from_url(django_settings.REDIS_URL).set(key, 2, ex=61)

    assert statuses(bearer(api_key[1]), 2) == [200, 429]


# -- Redis away: fail open ------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_requests_pass_when_redis_is_down(settings, api_key, caplog):
    settings.REDIS_URL = f"redis://127.0.0.1:{_closed_port()}/0"
    settings.API_RATE_LIMIT = "1/min"
    client = bearer(api_key[1])

    with caplog.at_level(logging.WARNING, logger="config.ratelimit"):
        began = time.monotonic()
        answers = statuses(client, 5)
        elapsed = time.monotonic() - began

    assert answers == [200] * 5
    assert "rate limits not enforced" in caplog.text
    # logged once for the outage, not once per request
    assert caplog.text.count("rate limits not enforced") == 1
    assert elapsed < 5


def test_requests_pass_quickly_when_redis_does_not_answer(settings, api_key, caplog):
    """A Redis that accepts the connection but never answers costs one bounded wait."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # the kernel completes handshakes; nobody ever reads or writes
    try:
        settings.REDIS_URL = f"redis://127.0.0.1:{silent.getsockname()[1]}/0"
        settings.RATE_LIMIT_REDIS_TIMEOUT_MS = 200
        settings.API_RATE_LIMIT = "1/min"
        client = bearer(api_key[1])

        with caplog.at_level(logging.WARNING, logger="config.ratelimit"):
            began = time.monotonic()
            answers = statuses(client, 4)
            elapsed = time.monotonic() - began
    finally:
        silent.close()

    assert answers == [200] * 4
    assert "rate limits not enforced" in caplog.text
    assert elapsed < 2.5  # one timeout (0.2 s), then Redis is left alone for a while
