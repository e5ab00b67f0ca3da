"""The network runtimes reach public addresses only (no SSRF through a tenant's URL), unless
the operator allows private networks. The local test servers listen on loopback, so they stand
in for a private address here."""

from __future__ import annotations

import pytest

from agents.models import Agent
from agents.runtimes import run_agent
from tests.runtimes.support import FAST, KEY_ENV, make_agent, make_context, sealed


@pytest.fixture
def private_refused(settings):
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("runtime", "field"),
    [
        (
            {
                "type": "webhook",
                "url": "http://169.254.169.254/latest/meta-data",
                "secret": "s" * 20,
            },
            "runtime.url",
        ),
        ({"type": "webhook", "url": "http://localhost:6379/", "secret": "s" * 20}, "runtime.url"),
        (
            {"type": "openai", "baseUrl": "http://10.0.0.7/v1", "model": "m", "apiKey": "sk-test"},
            "runtime.baseUrl",
        ),
        (
            {
                "type": "openai",
                "baseUrl": "http://[::ffff:127.0.0.1]:5432/v1",
                "model": "m",
                "apiKey": "sk-test",
            },
            "runtime.baseUrl",
        ),
    ],
)
def test_a_url_at_a_private_address_is_refused_on_save(key_client, private_refused, runtime, field):
    response = key_client.post(
        "/api/v1/agents",
        {"id": "agent-x", "name": "X", "role": "specialist", "runtime": runtime},
        format="json",
    )

    assert response.status_code == 400
    assert "private or local network address" in response.json()["error"]["fields"][field][0]
    assert not Agent.objects.exists()


@pytest.mark.django_db
def test_a_public_url_is_accepted_and_private_ones_when_the_operator_allows_them(
    key_client, settings
):
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = False
    public = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-pub",
            "name": "Pub",
            "role": "specialist",
            "runtime": {
                "type": "webhook",
                "url": "https://hooks.example.com/a",
                "secret": "s" * 20,
            },
        },
        format="json",
    )
    settings.RUNTIME_ALLOW_PRIVATE_NETWORKS = True
    private = key_client.post(
        "/api/v1/agents",
        {
            "id": "agent-onprem",
            "name": "On premises",
            "role": "specialist",
            "runtime": {
                "type": "openai",
                "baseUrl": "http://10.0.0.7/v1",
                "model": "m",
                "apiKey": "sk-test",
            },
        },
        format="json",
    )

    assert public.status_code == 201, public.json()
    assert private.status_code == 201, private.json()


def test_a_webhook_whose_name_resolves_to_a_private_address_is_not_called(hook, private_refused):
    # saved while allowed (or a public name whose DNS answer later became private)
    agent = make_agent(
        runtime="webhook",
        runtime_config={"url": hook.url.replace("127.0.0.1", "localhost") + "/agent"},
        runtime_secret=sealed("s" * 20),
        knowledge=(),
    )

    reply = run_agent(make_context("Where is my order?", agent=agent), http_policy=FAST)

    assert hook.seen == []
    assert reply.error is not None
    assert "localhost (" in reply.error
    assert "is a private or local network address" in reply.error
    assert reply.text is None or "private" not in (reply.text or "")


def test_an_openai_endpoint_at_a_private_address_is_not_called(llm, llm_key, private_refused):
    agent = make_agent(
        runtime="openai",
        runtime_config={"baseUrl": llm.url + "/v1", "model": "gpt-test", "apiKeyEnv": KEY_ENV},
        knowledge=(),
    )

    reply = run_agent(make_context("Hello", agent=agent), http_policy=FAST)

    assert llm.seen == []
    assert (
        reply.error is not None and "127.0.0.1 is a private or local network address" in reply.error
    )
