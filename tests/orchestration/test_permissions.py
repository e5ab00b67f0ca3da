"""The permission matrix (orchestration/permissions.py), enforced on every operation of
``/api/schema/`` for every kind of caller, on every page, and shown in the README.

The table test calls each operation with ids of rows that do not exist: the matrix is checked
before a view reads anything, so a caller it lets through gets anything but a 403 ``forbidden``
(a 404, a 400, ...), and one it refuses gets exactly that 403, whatever the ids. The attack
tests after it use real rows and check that nothing was written.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from pathlib import Path
from types import MappingProxyType

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from agents.models import Agent
from agents.rule_sets import rules_replace
from approvals.models import (
    ActionExecution,
    ApprovalRequest,
    LedgerEntry,
)
from conversations.models import Conversation
from conversations.services import conversation_start
from core import (
    permissions,
    services,
)
from core.models import ApproverGroup, Membership, PersonSession
from core.permissions import (
    API,
    PAGES,
    PUBLIC_PAGES,
)
from handover.models import Handoff
from tests.factories import make_api_key, make_person

README = Path(__file__).resolve().parents[2] / "README.md"


def _schema_operations() -> dict[str, dict]:
    """Every operation the served schema lists: ``"METHOD /path"`` -> its OpenAPI object."""
    response = Client().get("/api/schema/?format=json")
    assert response.status_code == 200
    return {
        f"{method.upper()} {path}": operation
        for path, methods in response.json()["paths"].items()
        for method, operation in methods.items()
    }


SCHEMA = _schema_operations()

# Who calls: (name, how it authenticates, its roles; "key" is an integration key).
CALLERS = [
    ("manager (session)", "session", ["manager"]),
    ("agent (session)", "session", ["agent"]),
    ("approver (session)", "session", ["approver"]),
    ("approver by group (session)", "session", "group"),
    ("no role (session)", "session", []),
    ("manager (token)", "token", ["manager"]),
    ("agent (token)", "token", ["agent"]),
    ("approver (token)", "token", ["approver"]),
    ("no role (token)", "token", []),
    ("integration key", "key", None),
]


def _hats(roles) -> frozenset[str]:
    if roles is None:
        return frozenset({permissions.KEY})
    if roles == "group":
        return permissions.hats_for(roles=[], in_approver_group=True)
    return permissions.hats_for(roles=roles)


def _client(tenant, name: str, how: str, roles) -> APIClient:
    client = APIClient()
    if how == "key":
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_api_key(tenant=tenant)[1]}")
        return client
    person = make_person(
        tenant=tenant, roles=[] if roles == "group" else roles, username=re.sub(r"\W", "", name)
    )
    if roles == "group":
        ApproverGroup.objects.get_or_create(tenant=tenant, name="finance")[0].members.add(person)
    if how == "token":
        _, raw = services.personal_token_create(user=person, name="t")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client.force_login(person)
    return client


def _fake_path(path: str, operation: dict) -> str:
    """The path with ids of rows that do not exist."""
    kinds = {p["name"]: p.get("schema", {}) for p in operation.get("parameters", [])}
    for name in re.findall(r"{(\w+)}", path):
        schema = kinds.get(name, {})
        if schema.get("type") == "integer":
            value = "999999"
        elif schema.get("format") == "uuid":
            value = str(uuid.uuid4())
        else:
            value = "no-such-row"
        path = path.replace(f"{{{name}}}", value)
    return path


def _call(client: APIClient, operation_key: str, operation: dict):
    method, path = operation_key.split(" ", 1)
    url = _fake_path(path, operation)
    if method in ("GET", "DELETE"):
        return getattr(client, method.lower())(url)
    return getattr(client, method.lower())(url, {}, format="json")


def _refused_by_matrix(response) -> bool:
    return response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


def test_every_schema_operation_has_a_row_and_every_row_an_operation():
    missing = sorted(set(SCHEMA) - set(API))
    stale = sorted(set(API) - set(SCHEMA))

    assert not missing, f"operations without a row in orchestration/permissions.py: {missing}"
    assert not stale, f"rows for no operation of the schema: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize("operation_key", sorted(SCHEMA))
def test_each_caller_is_let_through_or_refused_as_the_matrix_says(tenant, operation_key):
    grant = API.get(operation_key)
    assert grant is not None, f"{operation_key} has no row in the permission matrix"
    wrong = []
    for name, how, roles in CALLERS:
        response = _call(_client(tenant, name, how, roles), operation_key, SCHEMA[operation_key])
        allowed = grant.allows(_hats(roles))
        assert response.status_code < 500, (name, response.content)
        if _refused_by_matrix(response) == allowed:
            wrong.append(f"{name}: {response.status_code} {response.content[:200]!r}")
        if not allowed:
            assert response.json()["error"]["message"] == f"This needs {grant.needs()}."
    assert not wrong, f"{operation_key} ({dict(grant.reach)}): " + "; ".join(wrong)


@pytest.mark.django_db
def test_a_person_with_no_role_reaches_nothing_but_me(tenant):
    """Written out, not read from the matrix: what the issue asks, whatever the table says."""
    for how in ("session", "token"):
        client = _client(tenant, f"nobody-{how}", how, [])
        reached = {
            key for key, op in SCHEMA.items() if not _refused_by_matrix(_call(client, key, op))
        }
        assert reached == {"GET /api/v1/me"}, how


@pytest.mark.django_db
def test_an_operation_without_a_row_is_refused_to_everyone(tenant, monkeypatch, manager):
    monkeypatch.setattr(
        permissions,
        "API",
        MappingProxyType({k: v for k, v in API.items() if k != "GET /api/v1/metrics"}),
    )
    key_client = _client(tenant, "key", "key", None)
    manager_client = APIClient()
    manager_client.force_login(manager)

    for client in (key_client, manager_client):
        response = client.get("/api/v1/metrics")
        assert response.status_code == 403
        assert response.json()["error"] == {
            "code": "forbidden",
            "message": "GET /api/v1/metrics has no row in the permission matrix; "
            "it is refused to everyone.",
        }


@pytest.mark.django_db
def test_a_method_a_view_does_not_have_is_still_405(key_client):
    assert key_client.put("/api/v1/metrics", {}, format="json").status_code == 405


# --- the attacks of issue 15, on real rows ------------------------------------------------------


@pytest.fixture
def shop(tenant):
    """A billing agent whose refunds over 100 wait for priya, a conversation with a handoff,
    and one with nothing handed over."""
    agent = Agent.objects.create(tenant=tenant, slug="agent-billing", name="Billing")
    make_person(tenant=tenant, roles=["approver"], username="priya")
    rules_replace(
        agent=agent,
        document={
            "approvals": {
                "actions": [{"action": "issue_refund", "when": "params.amount > 100"}],
                "approvers": ["priya"],
            }
        },
    )
    handed, _ = conversation_start(
        tenant=tenant, agent=agent, channel="email", customer={"id": "c-1"}
    )
    quiet, _ = conversation_start(
        tenant=tenant, agent=agent, channel="email", customer={"id": "c-2"}
    )
    handoff = Handoff.objects.create(
        tenant=tenant, conversation=handed, mode="cold", status="queued", reason="asked"
    )
    return {"agent": agent, "handed": handed, "quiet": quiet, "handoff": handoff}


def _people(tenant) -> dict[str, APIClient]:
    """The callers the issue names: an approver, a human agent, a person with no role, each
    signed in and through a personal token, and an approver through a group only."""
    callers = {}
    for role in ("approver", "agent", None):
        roles = [role] if role else []
        label = role or "nobody"
        callers[f"{label} (session)"] = _client(tenant, f"{label}-s", "session", roles)
        callers[f"{label} (token)"] = _client(tenant, f"{label}-t", "token", roles)
    callers["approver by group"] = _client(tenant, "fin", "session", "group")
    return callers


@pytest.mark.django_db
def test_approvers_agents_and_people_without_roles_cannot_start_conversations(tenant, shop):
    before = Conversation.objects.count()

    for who, client in _people(tenant).items():
        response = client.post(
            "/api/v1/conversations",
            {"agentId": "agent-billing", "channel": "api", "customer": {"id": "x"}},
            format="json",
        )
        assert _refused_by_matrix(response), who

    assert Conversation.objects.count() == before


@pytest.mark.django_db
def test_only_human_agents_among_them_read_handoff_packs(tenant, shop):
    handoff = shop["handoff"]

    for who, client in _people(tenant).items():
        listed = client.get("/api/v1/handoffs")
        one = client.get(f"/api/v1/handoffs/{handoff.pk}")
        if who.startswith("agent"):
            assert listed.status_code == 200 and one.status_code == 200, who
            assert one.json()["conversationId"] == str(shop["handed"].pk)
        else:
            assert _refused_by_matrix(listed) and _refused_by_matrix(one), who


@pytest.mark.django_db
@pytest.mark.parametrize(
    "action, params",
    [
        ("issue_refund", {"orderId": "A-1", "amount": 50}),  # under the threshold: would run
        ("issue_refund", {"orderId": "A-1", "amount": 500}),  # would wait for priya
        ("access_sensitive_data", {"field": "card_number"}),  # no rule: would run at once
    ],
)
def test_approvers_agents_and_people_without_roles_cannot_propose_actions(
    tenant, shop, action, params
):
    conversation = shop["handed"]

    for who, client in _people(tenant).items():
        response = client.post(
            f"/api/v1/conversations/{conversation.pk}/actions",
            {"action": action, "params": params, "idempotencyKey": f"k-{who}"},
            format="json",
        )
        assert _refused_by_matrix(response), who

    assert ApprovalRequest.objects.count() == 0
    assert ActionExecution.objects.count() == 0
    assert LedgerEntry.objects.count() == 0


@pytest.mark.django_db
def test_an_integration_key_still_proposes_and_sensitive_data_access_runs(
    tenant, shop, key_client, eager_tasks
):
    response = key_client.post(
        f"/api/v1/conversations/{shop['handed'].pk}/actions",
        {"action": "access_sensitive_data", "params": {"field": "email"}, "idempotencyKey": "k"},
        format="json",
    )

    assert response.status_code == 200
    assert ActionExecution.objects.get().action == "access_sensitive_data"


@pytest.mark.django_db
def test_approvers_agents_and_people_without_roles_cannot_configure(tenant, shop):
    key = _client(tenant, "key-before", "key", None)
    rules_before = key.get("/api/v1/agents/agent-billing/orchestration/rules").json()
    settings_before = key.get("/api/v1/agents/agent-billing/orchestrator-settings").json()

    for who, client in _people(tenant).items():
        attempts = [
            client.post(
                "/api/v1/agents",
                {"id": "agent-evil", "name": "Evil", "role": "specialist"},
                format="json",
            ),
            client.patch("/api/v1/agents/agent-billing", {"name": "Pwned"}, format="json"),
            client.post(
                "/api/v1/agents/agent-billing/orchestration/rules",
                {"approvals": None},
                format="json",
            ),
            client.delete("/api/v1/agents/agent-billing/orchestration/rules"),
            client.patch("/api/v1/orchestrator-settings", {"checkInterval": 1}, format="json"),
            client.patch(
                "/api/v1/agents/agent-billing/orchestrator-settings",
                {"handoffMode": "cold"},
                format="json",
            ),
            client.post("/api/v1/workflows", {"name": "W", "steps": []}, format="json"),
            client.post("/api/v1/stacks/import", {"template": {}}, format="json"),
        ]
        for response in attempts:
            assert _refused_by_matrix(response), (who, response.request["PATH_INFO"])

    shop["agent"].refresh_from_db()
    assert shop["agent"].name == "Billing"
    assert list(Agent.objects.values_list("slug", flat=True)) == ["agent-billing"]
    assert key.get("/api/v1/agents/agent-billing/orchestrator-settings").json() == settings_before
    assert key.get("/api/v1/agents/agent-billing/orchestration/rules").json() == rules_before
    assert _refund_of_500(tenant, shop).status_code == 202  # the approval rule still holds


def _refund_of_500(tenant, shop):
    """A refund over the threshold, proposed by an integration key: it waits for priya."""
    client = _client(tenant, "key-after", "key", None)
    return client.post(
        f"/api/v1/conversations/{shop['handed'].pk}/actions",
        {
            "action": "issue_refund",
            "params": {"orderId": "A", "amount": 500},
            "idempotencyKey": "z",
        },
        format="json",
    )


@pytest.mark.django_db
def test_a_human_agent_reads_only_conversations_handed_to_people(tenant, shop):
    agent = _client(tenant, "ada", "session", ["agent"])

    assert agent.get(f"/api/v1/conversations/{shop['handed'].pk}").status_code == 200
    assert agent.get(f"/api/v1/conversations/{shop['handed'].pk}/messages").status_code == 200
    assert agent.get(f"/api/v1/conversations/{shop['quiet'].pk}").status_code == 404
    assert agent.get(f"/api/v1/conversations/{shop['quiet'].pk}/messages").status_code == 404
    assert _refused_by_matrix(agent.get(f"/api/v1/conversations/{shop['handed'].pk}/events"))
    assert _refused_by_matrix(agent.get("/api/v1/conversations"))


@pytest.mark.django_db
def test_an_approver_reads_only_conversations_with_an_approval(tenant, shop):
    approver = _client(tenant, "alice", "session", ["approver"])
    assert _refund_of_500(tenant, shop).status_code == 202  # an approval on "handed"

    assert approver.get(f"/api/v1/conversations/{shop['handed'].pk}").status_code == 200
    assert approver.get(f"/api/v1/conversations/{shop['handed'].pk}/messages").status_code == 200
    assert approver.get(f"/api/v1/conversations/{shop['quiet'].pk}").status_code == 404
    assert approver.get("/api/v1/approvals").status_code == 200


@pytest.mark.django_db
def test_another_tenants_rows_stay_404_for_callers_the_matrix_lets_through(
    tenant, other_tenant, shop
):
    theirs = Agent.objects.create(tenant=other_tenant, slug="agent-theirs", name="Theirs")
    conversation, _ = conversation_start(
        tenant=other_tenant, agent=theirs, channel="email", customer={"id": "c"}
    )
    Handoff.objects.create(
        tenant=other_tenant, conversation=conversation, mode="cold", status="queued"
    )
    agent = _client(tenant, "ada", "session", ["agent"])
    key = _client(tenant, "key", "key", None)

    assert agent.get(f"/api/v1/conversations/{conversation.pk}").status_code == 404
    assert key.get(f"/api/v1/conversations/{conversation.pk}").status_code == 404
    assert key.get("/api/v1/agents/agent-theirs").status_code == 404


# --- pages --------------------------------------------------------------------------------------


def _page_routes() -> dict[str, str]:
    """URL name -> path (with made-up ids) of every named page outside the API and admin."""
    from django.urls import URLPattern, URLResolver, get_resolver

    found: dict[str, str] = {}

    def walk(resolver, prefix: str) -> None:
        for pattern in resolver.url_patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                if not route.startswith(("api/v1/", "admin/")):
                    walk(pattern, route)
            elif isinstance(pattern, URLPattern) and pattern.name:
                found[pattern.name] = route

    walk(get_resolver(), "")
    fill = {
        "int": "999999",
        "uuid": str(uuid.uuid4()),
        "slug": "no-such-tenant",
        "str": "x",
        "path": "x",
    }
    return {
        name: "/" + re.sub(r"<(\w+):\w+>", lambda m: fill[m.group(1)], route)
        for name, route in found.items()
    }


PAGE_ROUTES = _page_routes()


def test_every_page_has_a_row_or_is_named_public():
    unknown = sorted(set(PAGE_ROUTES) - set(PAGES) - set(PUBLIC_PAGES))
    stale = sorted(set(PAGES) - set(PAGE_ROUTES) - {"admin"})

    assert not unknown, f"pages without a row in orchestration/permissions.py: {unknown}"
    assert not stale, f"page rows for no page: {stale}"


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(set(PAGES) - {"admin"}))
def test_each_person_opens_a_page_or_is_refused_as_the_matrix_says(tenant, name):
    grant = PAGES[name]
    for roles in (["manager"], ["agent"], ["approver"], "group", []):
        client = Client()
        person = make_person(
            tenant=tenant,
            roles=[] if roles == "group" else roles,
            username=f"p{len(str(roles))}{uuid.uuid4().hex[:6]}",
        )
        if roles == "group":
            group, _ = ApproverGroup.objects.get_or_create(tenant=tenant, name="finance")
            group.members.add(person)
        client.force_login(person)

        response = client.get(PAGE_ROUTES[name])

        refused = response.status_code == 403
        assert refused != grant.allows(_hats(roles)), (name, roles, response.status_code)


@pytest.mark.django_db
def test_signed_out_people_are_sent_to_sign_in_by_every_page_door():
    for name in sorted(set(PAGES) - {"admin"}):
        response = Client().get(PAGE_ROUTES[name])
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], name


@pytest.mark.django_db
def test_only_managers_and_superusers_reach_the_admin(tenant):
    for roles, allowed in (
        (["manager"], True),
        (["agent"], False),
        (["approver"], False),
        ([], False),
        (["agent", "approver"], False),
    ):
        person = make_person(tenant=tenant, roles=roles, username=f"a{uuid.uuid4().hex[:8]}")
        client = Client()
        client.force_login(person)
        response = client.get("/admin/core/apikey/")
        assert (response.status_code == 200) == allowed, roles
        assert permissions.admin_allowed(person) == allowed


@pytest.mark.django_db
def test_a_human_agent_opens_in_the_inbox_only_conversations_handed_to_people(tenant, shop):
    ada = make_person(tenant=tenant, roles=["agent"], username="ada")
    client = Client()
    client.force_login(ada)

    assert client.get(f"/inbox/conversations/{shop['handed'].pk}/").status_code == 200
    assert client.get(f"/inbox/conversations/{shop['quiet'].pk}/").status_code == 404


# --- the README shows the matrix ----------------------------------------------------------------


def test_the_readme_shows_the_matrix_as_the_data_says():
    text = README.read_text()
    match = re.search(
        r"<!-- permissions:start -->\n(.*?)<!-- permissions:end -->", text, flags=re.S
    )
    assert match, "README.md lacks the permissions markers"
    assert match.group(1) == permissions.markdown(), (
        "README.md's permission matrix is stale: paste the output of "
        "`manage.py permissions` between the markers"
    )


def test_manage_py_permissions_prints_the_matrix(capsys):
    from django.core.management import call_command

    call_command("permissions")

    out = capsys.readouterr().out
    assert out == permissions.markdown()
    assert "| `GET /api/v1/me` | yes | yes | yes | yes | yes |" in out


# --- the socket's re-check is one query ---------------------------------------------------------


@pytest.mark.django_db
def test_who_is_behind_a_socket_is_read_in_one_query(tenant, django_assert_num_queries):
    fin = make_person(tenant=tenant, roles=["agent"], username="fin")
    ApproverGroup.objects.create(tenant=tenant, name="finance").members.add(fin)
    client = Client()
    client.force_login(fin)
    session_key = client.session.session_key

    with django_assert_num_queries(1):
        now = permissions.access_of(fin.pk, session_key)

    assert now.hats == {"person", "agent", "approver"}
    assert now.tenant_id == tenant.pk and now.close_code is None
    assert permissions.access_of(fin.pk, "not-a-session").close_code == 4401
    assert permissions.access_of(123456, None).close_code == 4401


@pytest.mark.django_db
def test_the_socket_check_sees_an_expired_session_a_deactivated_person_and_a_lost_role(tenant):
    """access_of runs SQL compiled once (core/compiled.py): each call's own person, session
    and time reach it, not the first call's."""
    ada = make_person(tenant=tenant, roles=["agent", "approver"], username="ada")
    bob = make_person(tenant=tenant, roles=["manager"], username="bob")
    sessions = {}
    for person in (ada, bob):
        client = Client()
        client.force_login(person)
        sessions[person.pk] = client.session.session_key

    assert permissions.access_of(ada.pk, sessions[ada.pk]).hats == {"person", "agent", "approver"}
    assert permissions.access_of(bob.pk, sessions[bob.pk]).hats == {"person", "manager"}
    assert permissions.access_of(ada.pk, sessions[bob.pk]).close_code == 4401  # not hers

    PersonSession.objects.filter(session_key=sessions[ada.pk]).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    assert permissions.access_of(ada.pk, sessions[ada.pk]).close_code == 4401
    assert permissions.access_of(ada.pk, None).close_code is None  # the session not asked

    Membership.objects.filter(user=bob).update(is_manager=False, is_agent=True)
    assert permissions.access_of(bob.pk, sessions[bob.pk]).hats == {"person", "agent"}
    get_user_model().objects.filter(pk=bob.pk).update(is_active=False)
    assert permissions.access_of(bob.pk, sessions[bob.pk]).close_code == 4401


@pytest.mark.django_db
def test_options_describes_a_route_only_to_those_who_may_use_it(tenant, key_client):
    agent = _client(tenant, "ada", "session", ["agent"])

    assert key_client.options("/api/v1/agents").status_code == 200
    assert _refused_by_matrix(agent.options("/api/v1/agents"))
