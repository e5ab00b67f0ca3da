from __future__ import annotations

import os
import uuid

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.factories import (
    PASSWORD,
    Team,
    TenantFactory,
    make_api_key,
    make_person,
    make_team,
)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Rolled-back rows may come back with the same ids: no cached configuration may outlive
    its test."""
    from django.core.cache import cache

    from core import config_version
    from core.selectors import forget_kept
    from orchestration import tenant_config

    cache.clear()
    tenant_config._local.clear()
    # configuration generations as a fresh process knows them, checked against the database
    # only when a test asks (CONFIG_CHECK_SECONDS is large in tests, see below)
    config_version.forget(checked=True)
    forget_kept()
    yield


@pytest.fixture(autouse=True)
def _config_checked_on_demand(settings):
    """A test's own process sees its own changes at once; changes by other processes are
    checked when the test says so (``config_version.check_now()``) or sets the interval."""
    settings.CONFIG_CHECK_SECONDS = 3600


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings):
    """Each test counts its requests from zero: rows (and so API keys) come back with the same
    ids after a rollback, and Redis keeps its counters between tests."""
    settings.RATE_LIMIT_PREFIX = f"ratelimit-test-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _turns_inline(settings):
    """An AI turn's run goes through the outbox after commit in production; pytest-django's
    transaction around each test never commits, so tests run it inline, right after the
    decide transaction (the same code). Tests of the dispatch itself set "outbox"."""
    settings.TURN_DISPATCH = "inline"


@pytest.fixture(autouse=True)
def _relays_marked_at_once(settings):
    """A row relayed to the broker after a commit is marked at once, in its request, rather
    than with the process's next batch of marks (a thread of its own, core/outbox.py): no
    thread outlives the test that relayed. Tests of the batch turn it back on."""
    settings.OUTBOX_MARK_BATCH_SECONDS = 0


@pytest.fixture
def eager_tasks():
    """Run Celery tasks in process, also when REDIS_URL makes the suite use a real broker."""
    from config.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def need_service(reason: str) -> None:
    """A test that needs a real service fails in CI when it is missing; elsewhere it skips."""
    if IN_CI:
        pytest.fail(f"CI must provide this service: {reason}")
    pytest.skip(reason)


@pytest.fixture
def tenant(db):
    return TenantFactory(slug="acme", name="Acme")


@pytest.fixture
def team_options() -> dict:
    """How the ``team`` fixture builds its team: the options of ``tests.factories.make_team``.
    A test module or folder that needs another team overrides this fixture (the handover
    tests: ``TO_PEOPLE``, business hours all week)."""
    return {}


@pytest.fixture
def team(tenant, team_options) -> Team:
    """The tenant's AI team (by default a front desk with a billing and a tech specialist and
    their knowledge); unpacks as ``sup, *specialists``."""
    return make_team(tenant, **team_options)


@pytest.fixture
def other_tenant(db):
    return TenantFactory(slug="globex", name="Globex")


@pytest.fixture
def manager(tenant):
    return make_person(tenant=tenant, roles=["manager"], username="acme-manager")


@pytest.fixture
def other_manager(other_tenant):
    return make_person(tenant=other_tenant, roles=["manager"], username="globex-manager")


def login(user) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


@pytest.fixture
def manager_client(manager) -> Client:
    return login(manager)


@pytest.fixture
def api_key(tenant):
    return make_api_key(tenant=tenant)


@pytest.fixture
def key_client(api_key) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key[1]}")
    return client


@pytest.fixture(scope="session", autouse=True)
def _no_connection_outlives_the_suite(django_db_setup, django_db_blocker):
    """No other session holds the test database when the suite ends, so that it can be
    dropped: PostgreSQL refuses to drop a database other sessions use, and the suite's last
    line was a warning ("test_test is being accessed by other users", 1 to 3 sessions), from
    connections of threads that outlived their test (a socket's thread, asgiref's thread
    behind the tests' ``sync_to_async``). They are ended before the drop. The product's
    socket threads give their connection back after every call (tests/test_socket_threads.py)."""
    yield
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
