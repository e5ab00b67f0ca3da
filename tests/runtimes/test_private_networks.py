"""The network runtimes reach public addresses only (no SSRF through a tenant's URL), unless
the operator allows private networks. The local test servers listen on loopback, so they stand
in for a private address here."""

from __future__ import annotations

import socket

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


# Spellings of loopback, "any" and the metadata service that the resolver (inet_aton, IDNA)
# reads as those addresses, though they do not look like them.
DISGUISED_HOSTS = [
    "0x7f000001",  # hex
    "2130706433",  # one decimal number
    "017700000001",  # octal
    "127.1",  # two parts
    "0177.0.0.1",  # an octal part
    "0",  # 0.0.0.0: this machine
    "0x7f.0x0.0x0.0x1",
    "127\u30020\u30020\u30021",  # ideographic full stops
    "127\uff0e0\uff0e0\uff0e1",  # full-width full stops
    "\uff11\uff12\uff17.0.0.1",  # full-width digits
    "localhost\u3002",  # localhost, with an ideographic full stop
    "local\uff48ost",  # a full-width letter
    "api\uff61localhost",  # a subdomain of localhost, with a half-width ideographic stop
    "0xa9fea9fe",  # 169.254.169.254, the metadata service
    "[::ffff:a9fe:a9fe]",  # the same, IPv4-mapped
    "[2002:7f00:1::]",  # 6to4 of 127.0.0.1
]


@pytest.mark.django_db
@pytest.mark.parametrize("host", DISGUISED_HOSTS)
@pytest.mark.parametrize("kind", ["webhook", "openai"])
def test_a_disguised_private_address_is_refused_on_save(key_client, private_refused, host, kind):
    url = f"http://{host}:8080/v1"
    runtime = (
        {"type": "webhook", "url": url, "secret": "s" * 20}
        if kind == "webhook"
        else {"type": "openai", "baseUrl": url, "model": "m", "apiKey": "sk-test"}
    )
    response = key_client.post(
        "/api/v1/agents",
        {"id": "agent-x", "name": "X", "role": "specialist", "runtime": runtime},
        format="json",
    )

    assert response.status_code == 400, response.json()
    field = "runtime.url" if kind == "webhook" else "runtime.baseUrl"
    assert "private or local network address" in response.json()["error"]["fields"][field][0]
    assert not Agent.objects.exists()


@pytest.mark.parametrize(
    "host",
    ["example.com", "8.8.8.8", "1.2.3.4.example.com", "08", "bücher.example", "xn--80ak6aa92e.com"],
)
def test_public_hosts_and_names_still_pass_the_save_check(private_refused, host):
    from agents.runtimes.addresses import saved_url_problem

    assert saved_url_problem(f"https://{host}/v1") is None


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("0x7f000001", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("0", "0.0.0.0"),
        ("0xa9fea9fe", "169.254.169.254"),
        ("192.168.0x1.0377", "192.168.1.255"),
        ("4294967296", None),  # too large: a name for the resolver
        ("1.2.3.256", None),
        ("08", None),  # 8 is not an octal digit
        ("example.com", None),
    ],
)
def test_hosts_are_read_with_inet_atons_rules(host, address):
    from agents.runtimes.addresses import numeric_ipv4

    found = numeric_ipv4(host)

    assert (str(found) if found else None) == address
    try:  # as the C library that getaddrinfo uses reads it
        platform = socket.inet_ntoa(socket.inet_aton(host))
    except OSError:
        platform = None
    assert platform == address
