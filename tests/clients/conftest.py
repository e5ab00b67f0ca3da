"""The API clients against a live server: pytest-django's ``live_server`` (the whole Django
application, threaded WSGI, in this process) on the test database, so the rows a test makes
are what the clients read and every setting a test changes applies to the server too.

Each test gets a tenant of its own, made as the product docs' examples expect it: the agents
they name and the two approvers, both real people of the tenant with the approver role."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.services import agent_create
from core import services
from tests.conftest import need_service
from tests.factories import TenantFactory, make_api_key, make_person

ROOT = Path(__file__).resolve().parents[2]
PYTHON_CLIENT = ROOT / "clients" / "python"
JS_CLIENT = ROOT / "clients" / "js"

# The checkout's own Python client, whatever an installed copy says (requirements.txt installs
# it too, from this folder).
sys.path.insert(0, str(PYTHON_CLIENT))

DOCS_AGENTS = {
    # id: (role, domains); the specialists report to agent-supervisor
    "agent-supervisor": ("supervisor", []),
    "agent-123": ("specialist", []),
    "agent-tech-support": ("specialist", ["technical_support"]),
    "agent-billing": ("specialist", ["billing"]),
    "agent-retention": ("specialist", ["retention"]),
    "agent-triage": ("specialist", []),
    "agent-specialist": ("specialist", ["technical"]),
}
DOCS_APPROVERS = ("user-admin-123", "user-manager-456")
LIMITED_RATE = "2/2s"


@dataclass
class DocsTenant:
    """A tenant ready for the docs' examples, its API key, and a token of one approver."""

    tenant: object
    api_key: str
    approver_token: str | None
    agent_token: str | None = None  # a human agent's, "docs-agent" (named in notes: mentions)


def make_docs_tenant(slug: str, *, approvers: bool = True) -> DocsTenant:
    """``approvers``: make the docs' approvers here (usernames are unique across tenants, so
    one tenant of a test has them)."""
    tenant = TenantFactory(slug=slug, name=slug.title())
    _, raw_key = make_api_key(tenant=tenant)
    supervisor = None
    for agent_id, (role, domains) in DOCS_AGENTS.items():
        agent = agent_create(
            tenant=tenant,
            slug=agent_id,
            name=agent_id.removeprefix("agent-").replace("-", " ").title(),
            role=role,
            supervisor=supervisor if role == "specialist" else None,
            domains=domains,
        )
        supervisor = supervisor or agent
    token = None
    if approvers:
        people = [
            make_person(tenant=tenant, roles=["approver"], username=u) for u in DOCS_APPROVERS
        ]
        _, token = services.personal_token_create(user=people[0], name="client tests")
        agent = make_person(tenant=tenant, roles=["agent"], username="docs-agent")
        make_person(tenant=tenant, roles=["agent"], username="docs-colleague")
        _, agent_token = services.personal_token_create(user=agent, name="client tests")
        return DocsTenant(tenant, raw_key, token, agent_token)
    return DocsTenant(tenant=tenant, api_key=raw_key, approver_token=token)


def mention_docs_agent(docs: DocsTenant, text: str = "@docs-agent can you check this?"):
    """A note by docs-colleague naming docs-agent, on a new conversation: the note."""
    from django.contrib.auth import get_user_model

    from agents.models import Agent
    from conversations.services import conversation_start
    from handover.services import note_post

    agent = Agent.objects.get(tenant=docs.tenant, slug="agent-supervisor")
    conversation, _ = conversation_start(
        tenant=docs.tenant, agent=agent, channel="web", customer={"id": "c-mention"}
    )
    colleague = get_user_model().objects.get(username="docs-colleague")
    return note_post(conversation=conversation, user=colleague, text=text)


@pytest.fixture
def server_url(live_server) -> str:
    return live_server.url


@pytest.fixture
def docs_tenant(server_url) -> DocsTenant:
    return make_docs_tenant("docs")


@pytest.fixture
def limited_tenant(server_url, settings) -> DocsTenant:
    """A tenant whose API rate limit is tiny, to meet 429 and Retry-After for real."""
    settings.API_RATE_LIMIT_TENANTS = {"limited": LIMITED_RATE}
    return make_docs_tenant("limited", approvers=False)


@pytest.fixture(scope="session")
def node() -> str:
    """Node's executable (20 or newer, for its test runner). Missing: a failure in CI, a skip
    elsewhere."""
    path = shutil.which("node")
    if path is None:
        need_service("node (20 or newer) on PATH, for the JavaScript client's tests")
    return path


def client_env(url: str, docs: DocsTenant, limited: DocsTenant | None = None) -> dict[str, str]:
    env = {
        **os.environ,
        "BACKOFFICE_URL": url,
        "BACKOFFICE_API_KEY": docs.api_key,
        "BACKOFFICE_APPROVER_TOKEN": docs.approver_token or "",
        "BACKOFFICE_AGENT_TOKEN": docs.agent_token or "",
    }
    if limited is not None:
        env["BACKOFFICE_LIMITED_API_KEY"] = limited.api_key
    return env


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    """Files the clients send are stored apart from the checkout's media/."""
    settings.MEDIA_ROOT = str(tmp_path)


def handoff_held_by_docs_agent(docs: DocsTenant):
    """A conversation handed over to people and claimed by docs-agent: its handoff."""
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from agents.models import Agent
    from conversations.selectors import conversation_locked
    from conversations.services import conversation_start
    from handover.services import hand_over, handoff_claim

    agent = Agent.objects.get(tenant=docs.tenant, slug="agent-supervisor")
    conversation, _ = conversation_start(
        tenant=docs.tenant, agent=agent, channel="web", customer={"id": "c-held"}
    )
    with transaction.atomic():
        _, handoff = hand_over(
            conversation=conversation_locked(conversation.pk), reason="asked for a person"
        )
    return handoff_claim(handoff=handoff, user=get_user_model().objects.get(username="docs-agent"))
