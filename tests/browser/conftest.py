"""Browser tests: a real ASGI server (daphne, in a subprocess) on a free port against the test
database, and Debian's Chromium driven by Playwright.

pytest-django's ``live_server`` is WSGI and serves no websockets, so the server is started here
with the same database as the tests: PostgreSQL's test database when DATABASE_URL is set, else
the SQLite test database, which this module moves to a file (an in-memory database cannot be
shared with another process). The tests are transactional, so the server sees their rows.

The server gets its own channel-layer prefix on Redis and runs Celery tasks in process, so it
needs nothing else. ``BROWSER_SCREENSHOTS=<dir>`` makes the tests save screenshots there.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.conftest import need_service

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SERVER_START_TIMEOUT = 30

# The SQLite test database must be a file the server process can open. Set before the session
# creates the test database (conftest files load at collection, before any test runs).
_default_db = settings.DATABASES["default"]
if _default_db["ENGINE"] == "django.db.backends.sqlite3":
    _test_settings = _default_db.setdefault("TEST", {})
    if _test_settings.get("NAME") in (None, "", ":memory:"):
        _test_settings["NAME"] = str(
            Path(tempfile.gettempdir()) / f"browser-tests-{os.getpid()}.sqlite3"
        )


def pytest_sessionfinish(session, exitstatus):
    """Remove this run's SQLite file database with its WAL files (Django removes the main
    file only)."""
    name = str(_default_db.get("TEST", {}).get("NAME") or "")
    if f"browser-tests-{os.getpid()}.sqlite3" in name:
        for suffix in ("", "-wal", "-shm"):
            Path(name + suffix).unlink(missing_ok=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _server_env(db: dict) -> dict[str, str]:
    env = os.environ.copy()
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)  # the server keeps Django's async safety checks
    env.update(
        DEBUG="1",  # serves static files from the finders, as `./run up` does
        ALLOWED_HOSTS="127.0.0.1,localhost",
        CELERY_TASK_ALWAYS_EAGER="1",
        LOG_LEVEL="WARNING",
        PYTHONUNBUFFERED="1",
        # every page of every test comes from 127.0.0.1: the per-address limits of the public
        # chat would otherwise refuse starts by the minute's count of the whole session (the
        # limits are tested in tests/abuse)
        CHAT_START_RATE_LIMIT="1000/min",
        CHAT_MESSAGE_IP_RATE_LIMIT="1000/min",
    )
    if db["ENGINE"] == "django.db.backends.sqlite3":
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        env["DATABASE_URL"] = _with_database(os.environ["DATABASE_URL"], db["NAME"])
        env["DB_POOL_MIN_SIZE"] = "1"
        # Each test ends by flushing the tables (TRUNCATE) while this server may still be
        # writing for a socket the closing page left (presence on disconnect): on several
        # socket threads that raced into a deadlock and a failed flush in a full run. Here
        # the sockets keep channels' one shared thread, as before SOCKET_DB_THREADS; the
        # threads are exercised by tests/handover, tests/faults and bench/load.py.
        env["SOCKET_DB_THREADS"] = "0"
    if env.get("REDIS_URL"):
        env["CHANNELS_PREFIX"] = f"browser-{os.getpid()}"
        env["CACHE_PREFIX"] = f"browser-{os.getpid()}"
    return env


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the ASGI server exited ({process.returncode}):\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/accounts/login/", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(
        f"the ASGI server did not answer within {SERVER_START_TIMEOUT} s:\n{log.read_text()}"
    )


@pytest.fixture(scope="session")
def chromium_path() -> str:
    """Debian's Chromium. Missing: a failure in CI, a skip elsewhere (before any server starts)."""
    if not Path(CHROMIUM).exists():
        need_service(f"Chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        need_service("the playwright Python package")
    return CHROMIUM


@pytest.fixture(scope="session")
def asgi_server(chromium_path, django_db_setup, tmp_path_factory) -> str:
    """The base URL of daphne serving config.asgi:application on the test database."""
    port = _free_port()
    log = tmp_path_factory.mktemp("asgi") / "daphne.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(port),
                "config.asgi:application",
            ],
            cwd=ROOT,
            # files sent in the tests' chats are stored apart from the checkout's media/
            env={
                **_server_env(connection.settings_dict),
                "MEDIA_ROOT": str(tmp_path_factory.mktemp("media")),
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, log)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def browser(chromium_path):
    """Chromium through Playwright's sync API, for one test module."""
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running on this thread; Django would then refuse
    # the tests' own (synchronous) queries. Allowed only while the browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
            yield chromium
            chromium.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def pages(browser, asgi_server, transactional_db):
    """``pages()`` opens a page in a fresh browser context (its own cookies and storage);
    every context is closed before the database is flushed."""
    contexts = []

    def open_page(viewport=(1440, 900), **options):
        """``options`` go to the new context (``locale``, ``permissions`` ...)."""
        context = browser.new_context(
            base_url=asgi_server, viewport={"width": viewport[0], "height": viewport[1]}, **options
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def sign_in(page, user, *, path: str = "/inbox/") -> None:
    """Sign ``user`` in by giving the page a session made in the database the server reads
    (the tests' fast password hasher is unknown to the server, so no form login), then open
    ``path``."""
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "domain": "127.0.0.1",
                "path": "/",
            }
        ]
    )
    page.goto(path)


def wait_live(page) -> None:
    """Until the inbox socket is open and its snapshot applied (the agent then counts as
    online, and the page shows what the database holds)."""
    page.wait_for_selector(".inbox[data-connection='open'][data-synced='true']")


def api_post(page, raw_key: str, path: str, body: dict, *, method: str = "POST") -> dict:
    """POST (or ``method``) ``body`` to the server ``page`` is on, as an integration with the
    key ``raw_key`` (the team's other systems act over HTTP: the server is another process)."""
    import json

    base = urlsplit(page.url)
    request = urllib.request.Request(
        f"{base.scheme}://{base.netloc}{path}",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {raw_key}", "Content-Type": "application/json"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=10) as answered:
        return json.load(answered)


def screenshot(page, name: str) -> None:
    folder = os.environ.get("BROWSER_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"))


def make_support_team(tenant):
    """Open all week; a front desk that sends a request for a person to people, and a billing
    specialist that knows about double charges."""
    from agents.rule_sets import rules_replace
    from agents.services import agent_create
    from core.models import BusinessHours

    for weekday in range(7):
        BusinessHours.objects.create(
            tenant=tenant, weekday=weekday, opens=dt.time(0), closes=dt.time(0)
        )
    desk = agent_create(tenant=tenant, slug="agent-desk", name="Front desk", role="supervisor")
    agent_create(
        tenant=tenant,
        slug="agent-billing",
        name="Billing",
        role="specialist",
        supervisor=desk,
        domains=["billing", "refund"],
        knowledge=[
            {
                "question": "Why was I charged twice?",
                "keywords": ["charged twice", "double charge"],
                "answer": "Sorry about the double charge; I can look into a refund for you.",
            }
        ],
    )
    rules_replace(
        agent=desk,
        document={
            "escalation": {"intents": ["human_agent"], "escalateToHuman": True},
            "handoffs": [{"condition": 'intent == "billing"', "targetAgentId": "agent-billing"}],
        },
    )
    return desk


@pytest.fixture
def demo_manager(transactional_db):
    """The demo tenant as seed_demo loads it: its manager and its supervisor agent (the root of
    its stack)."""
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from stacks.demo import seed_demo

    seed_demo()
    manager = get_user_model().objects.get(username="manager")
    root = Agent.objects.get(tenant__slug="demo", slug="agent-supervisor")
    return manager, root


def off_loop(function, *args, **kwargs):
    """Run ``function`` on another thread and return its answer: what sends channel-layer
    events cannot run on the thread of Playwright's loop."""

    def run():
        try:
            return function(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()
