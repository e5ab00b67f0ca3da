"""`./run prod` end to end: on its own PostgreSQL database and the suite's Redis it migrates,
starts several ASGI processes, a Celery worker and beat, answers /health/ready, serves the API,
static files and sockets, hands work to the worker, and stops every process on SIGTERM."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import requests
from cryptography.fernet import Fernet
from websockets.sync.client import connect as ws_connect

from tests.conftest import need_service

pytestmark = pytest.mark.services

ROOT = Path(__file__).resolve().parents[1]
START_TIMEOUT = 180  # a fresh database is migrated first
STOP_TIMEOUT = 30


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found.add(child)
                todo.append(child)
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.fixture
def prod_database():
    url = os.environ.get("DATABASE_URL")
    if not (url and os.environ.get("REDIS_URL")):
        need_service("PostgreSQL and Redis (DATABASE_URL and REDIS_URL)")
    name = f"prodmode_{os.getpid()}"
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    yield urlunsplit(urlsplit(url)._replace(path=f"/{name}"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def prod(prod_database, tmp_path):
    """``./run prod`` in its own session; yields (base URL, env, process, log)."""
    port = _free_port()
    tag = f"prodmode-{os.getpid()}"
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE"}}
    env.update(
        DATABASE_URL=prod_database,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECRETS_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        BEHIND_PROXY="1",
        PORT=str(port),
        WEB_CONCURRENCY="2",
        CELERY_CONCURRENCY="1",
        # its own queue and prefixes on the suite's Redis
        CELERY_QUEUE=tag,
        CHANNELS_PREFIX=tag,
        CACHE_PREFIX=tag,
        STATIC_ROOT=str(tmp_path / "static"),
        DB_POOL_MIN_SIZE="1",
        LOG_LEVEL="WARNING",
    )
    log = tmp_path / "prod.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            ["./run", "prod"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    tree: set[int] = set()
    try:
        yield f"http://127.0.0.1:{port}", env, process, log, tree
    finally:
        tree |= _descendants(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in tree:
            if _running(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _wait_ready(base: str, process: subprocess.Popen, log: Path) -> dict:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        assert process.poll() is None, f"./run prod exited:\n{log.read_text()}"
        try:
            response = requests.get(f"{base}/health/ready", timeout=5)
            if response.status_code == 200:
                return response.json()
        except requests.ConnectionError:
            pass
        time.sleep(0.5)
    pytest.fail(f"not ready within {START_TIMEOUT} s:\n{log.read_text()}")


def _api_key(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "create_tenant", "acme", "--name", "Acme"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.strip().splitlines()[-1]


def test_run_prod_serves_the_whole_set_and_stops_cleanly(prod):
    base, env, process, log, tree = prod

    ready = _wait_ready(base, process, log)
    assert ready["checks"]["workers"]["status"] == "ok", ready
    assert ready["checks"]["redis"]["status"] == "ok"

    api = requests.Session()
    # what the TLS-terminating proxy adds; without it the API redirects to HTTPS
    api.headers.update({"Authorization": f"Bearer {_api_key(env)}", "X-Forwarded-Proto": "https"})
    assert (
        requests.get(f"{base}/api/v1/agents", allow_redirects=False, timeout=10).status_code == 301
    )
    created = api.post(
        f"{base}/api/v1/agents",
        json={"id": "agent-desk", "name": "Desk", "role": "supervisor"},
        timeout=10,
    )
    assert created.status_code == 201, created.text
    rules = api.post(
        f"{base}/api/v1/agents/agent-desk/orchestration/rules",
        json={"escalation": {"intents": ["human_agent"], "escalateToHuman": True}},
        timeout=10,
    )
    assert rules.status_code == 201, rules.text
    started = api.post(
        f"{base}/api/v1/conversations",
        json={"agentId": "agent-desk", "channel": "web", "customer": {"id": "c-1", "name": "Kim"}},
        timeout=10,
    )
    assert started.status_code == 201, started.text
    conversation = started.json()

    # the customer's socket (on one of the ASGI processes) hears the message that the API
    # (on any of them) takes in, through the Redis channel layer
    socket_url = (
        f"ws://127.0.0.1:{urlsplit(base).port}/ws/conversations/{conversation['id']}/"
        f"?token={conversation['customerToken']}"
    )
    with ws_connect(
        socket_url, additional_headers={"Origin": "http://127.0.0.1"}, open_timeout=10
    ) as customer:
        assert json.loads(customer.recv(timeout=10))["type"] == "conversation.snapshot"
        said = api.post(
            f"{base}/api/v1/conversations/{conversation['id']}/messages",
            json={"text": "I was charged twice, I want to speak to a human please"},
            timeout=10,
        )
        assert said.status_code == 201, said.text
        heard = []
        while not any(e.get("message", {}).get("role") == "customer" for e in heard):
            heard.append(json.loads(customer.recv(timeout=10)))

    # nobody is online: the handoff is queued cold, and the worker builds its pack
    handoff = said.json()["handoff"]
    assert handoff["mode"] == "cold"
    deadline = time.monotonic() + 60
    while True:
        pack = api.get(f"{base}/api/v1/handoffs/{handoff['id']}", timeout=10).json()["pack"]
        if pack is not None or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert pack is not None, log.read_text()
    assert "human" in pack["summary"]

    static = requests.get(
        f"{base}/static/css/app.css", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert static.status_code == 200
    assert static.headers["Content-Type"].startswith("text/css")

    # a connection the proxy keeps idle longer than uvicorn's own default (5 s) is still open
    # for its next request: not closed just as the proxy sends on it (a 502 at the client)
    kept = http.client.HTTPConnection("127.0.0.1", urlsplit(base).port, timeout=10)
    kept.request("GET", "/health/live")
    first = kept.getresponse()
    assert first.status == 200
    first.read()  # the whole answer: the connection is free for the next request
    time.sleep(6)
    kept.request("GET", "/health/live")
    assert kept.getresponse().status == 200
    kept.close()

    tree |= _descendants(process.pid)
    assert len(tree) >= 6  # the shell wrappers, uvicorn and its workers, celery, beat
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=STOP_TIMEOUT)
    assert not [pid for pid in tree if _running(pid)], log.read_text()
