"""Fixtures: one real local server per test (see support.py)."""

from __future__ import annotations

import socket

import pytest

from tests.runtimes.support import (
    API_KEY,
    FakeServer,
    Respond,
    completion,
    lend_key,
    openai_check,
    webhook_check,
)


@pytest.fixture
def llm():
    """An OpenAI-compatible server at ``llm.url + "/v1"``; by default it says hello."""
    with FakeServer(
        default=lambda seen: Respond(body=completion(f"Hello from {seen.json['model']}")),
        check=openai_check,
    ) as server:
        yield server


@pytest.fixture
def llm_key(settings, request):
    """The operator lends the test key to runtimes as ``KEY_ENV`` (RUNTIME_KEY_ENVS), for the
    test's LLM server (and the unused port, when the test has one)."""
    urls = []
    if "llm" in request.fixturenames:
        urls.append(request.getfixturevalue("llm").url)
    if "unused_port" in request.fixturenames:
        urls.append(f"http://127.0.0.1:{request.getfixturevalue('unused_port')}")
    lend_key(settings, API_KEY, *urls)
    return API_KEY


@pytest.fixture
def hook():
    """A tenant's webhook at ``hook.url + "/agent"``: verifies the signature (401 when it is
    wrong), then by default echoes the message."""
    with FakeServer(
        default=lambda seen: Respond(body={"reply": f"Echo: {seen.json['message']}"}),
        check=webhook_check,
    ) as server:
        yield server


@pytest.fixture
def plain_server():
    """A server that only answers from its plan (default: ``{"ok": true}``)."""
    with FakeServer(default=lambda seen: Respond(body={"ok": True})) as server:
        yield server


@pytest.fixture
def unused_port():
    """A local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
