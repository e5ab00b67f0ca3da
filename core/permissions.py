"""The permission matrix: who may do what, on every door, written once as data.

Every door reads these tables and nothing else: the API (one DRF permission class,
``core.api_auth.MatrixPermission``, the default of every view), the pages (the
``page_door`` decorator, and the admin's base class), and the inbox socket (on connect, on every
client action, and for every event it forwards). ``manage.py permissions`` prints them, and the
README's table is that output (a test keeps the two equal).

Who a caller is, as the tables see it (its *hats*):

- a person holds ``person`` (every signed-in person of a tenant, with or without a role) plus
  each role they hold in their tenant: ``manager``, ``agent`` (human agent), ``approver``
  (the role, or membership of one of the tenant's approver groups, which rules name as
  ``group:<name>``: the group makes its members approvers);
- an integration key holds ``key``; it acts for the whole tenant and is no person.

A row names, for each hat that may use the operation, how far it reaches: ``all`` the tenant's
rows, or a narrower set (a human agent reads the conversations that were handed to people, an
approver those that have an approval request). A hat not in the row is refused (403
``forbidden`` naming what is needed); an operation in no row is refused to everyone (deny by
default, and the schema test fails until it has one).

What the tables do not decide, the services still check on their own: that a decision is made
by one of the request's listed approvers who did not cause it, that only the person who claimed
a conversation writes in it, and that everything stays inside the caller's tenant (another
tenant's row is a 404).

Why a manager may use every operation an integration key may: a manager can make a key (the API
keys rows), so refusing them something a key may do would protect nothing; they use the admin or
their personal token instead of a key. The reverse is not true: a key never manages keys, and
never acts as a person (claims, decisions).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import wraps
from types import MappingProxyType
from typing import cast

from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from core.compiled import INT_MARK, Compiled, Marker
from core.models import ApproverGroup, PersonSession
from core.scoping import membership_of

# --- hats ----------------------------------------------------------------------------------------

MANAGER = "manager"
AGENT = "agent"
APPROVER = "approver"
KEY = "key"
PERSON = "person"

# In the order the README's columns show them; ``person`` is the "no role" column: what a
# signed-in person of the tenant may do whatever roles they hold.
HATS = (MANAGER, AGENT, APPROVER, KEY, PERSON)
HAT_TITLES = {
    MANAGER: "manager",
    AGENT: "agent",
    APPROVER: "approver",
    KEY: "integration key",
    PERSON: "no role",
}
ROLE_HATS = (MANAGER, AGENT, APPROVER)

# --- how far a hat reaches -----------------------------------------------------------------------

ALL = "all"
HANDED_TO_PEOPLE = "handed to people"  # conversations with a handoff (hot or cold, any status)
UNDER_APPROVAL = "with an approval"  # conversations with an approval request
REACH_TITLES = {
    ALL: "yes",
    HANDED_TO_PEOPLE: "handed to people",
    UNDER_APPROVAL: "with an approval",
}


@dataclass(frozen=True)
class Grant:
    """One row: an operation, the hats that may use it and how far each reaches, and why."""

    operation: str
    reach: Mapping[str, str]
    why: str

    def __post_init__(self):
        unknown = set(self.reach) - set(HATS)
        if unknown:
            raise ValueError(f"{self.operation}: unknown hats {sorted(unknown)}")
        bad = set(self.reach.values()) - set(REACH_TITLES)
        if bad:
            raise ValueError(f"{self.operation}: unknown reach {sorted(bad)}")
        object.__setattr__(self, "reach", MappingProxyType(dict(self.reach)))

    def allows(self, hats: Iterable[str]) -> bool:
        return any(hat in self.reach for hat in hats)

    def reaches(self, hats: Iterable[str]) -> frozenset[str]:
        """How far these hats reach together (empty: refused)."""
        return frozenset(self.reach[hat] for hat in hats if hat in self.reach)

    def needs(self) -> str:
        """What a refused caller lacks, for the 403's message."""
        if PERSON in self.reach:
            return "a signed-in person of the tenant"
        roles = [r for r in ROLE_HATS if r in self.reach]
        names = [f"the {r} role" for r in roles]
        if KEY in self.reach:
            names.append("an integration key")
        if len(names) == 1:
            return names[0]
        return ", ".join(names[:-1]) + f" or {names[-1]}"


def _rows(methods: str, path: str, reach: Mapping[str, str], why: str) -> list[Grant]:
    return [Grant(f"{method} {path}", reach, why) for method in methods.split()]


def _by_operation(grants: Iterable[Grant]) -> Mapping[str, Grant]:
    table: dict[str, Grant] = {}
    for grant in grants:
        if grant.operation in table:
            raise ValueError(f"{grant.operation} has two rows")
        table[grant.operation] = grant
    return MappingProxyType(table)


EVERYONE = {MANAGER: ALL, AGENT: ALL, APPROVER: ALL, KEY: ALL, PERSON: ALL}
CONFIGURES = {MANAGER: ALL, KEY: ALL}
MANAGERS = {MANAGER: ALL}
AGENTS = {AGENT: ALL}
APPROVERS = {APPROVER: ALL}
PEOPLE = {PERSON: ALL}

_CONFIGURATION = (
    "Configuration of the AI team: managers configure it, integrations automate it. Human "
    "agents and approvers need none of it to work, and reading it shows prompts, endpoints and "
    "policies."
)

# --- the API (``METHOD /path`` exactly as ``/api/schema/`` writes it) ---------------------------

API: Mapping[str, Grant] = _by_operation(
    [
        *_rows(
            "GET",
            "/api/v1/me",
            EVERYONE,
            "Who am I: the one thing every caller may ask, so a client can tell which tenant "
            "and roles it holds. The only operation a person with no role reaches.",
        ),
        *_rows(
            "GET POST",
            "/api/v1/api-keys",
            MANAGERS,
            "Keys are made and revoked by people who answer for them: a key that could make "
            "keys would outlive its own revocation.",
        ),
        *_rows("GET", "/api/v1/api-keys/{key_id}", MANAGERS, "As the list of keys."),
        *_rows(
            "POST",
            "/api/v1/api-keys/{key_id}/revoke",
            MANAGERS,
            "A key that could revoke keys could lock the tenant's other integrations out.",
        ),
        *_rows("GET POST", "/api/v1/agents", CONFIGURES, _CONFIGURATION),
        *_rows("GET PATCH DELETE", "/api/v1/agents/{agent_id}", CONFIGURES, _CONFIGURATION),
        *_rows(
            "GET POST DELETE",
            "/api/v1/agents/{agent_id}/orchestration/rules",
            CONFIGURES,
            "Escalation, handoff and approval rules decide what runs without a person: "
            "configuration, for managers and integrations.",
        ),
        *_rows(
            "POST",
            "/api/v1/agents/{agent_id}/orchestration/rules/test",
            CONFIGURES,
            "Testing rules (saved or a draft) shows the configuration and what it decides; "
            "nothing is saved.",
        ),
        *_rows(
            "GET",
            "/api/v1/agents/{agent_id}/orchestration/rules/versions",
            CONFIGURES,
            "The rules' history is configuration too.",
        ),
        *_rows(
            "POST",
            "/api/v1/agents/{agent_id}/orchestration/rules/versions/{version}/restore",
            CONFIGURES,
            "Restoring a version changes the rules.",
        ),
        *_rows(
            "GET PATCH",
            "/api/v1/agents/{agent_id}/orchestrator-settings",
            CONFIGURES,
            "Orchestrator settings (handoff mode, budgets, risk escalation) are configuration.",
        ),
        *_rows(
            "GET PATCH",
            "/api/v1/orchestrator-settings",
            CONFIGURES,
            "The tenant's orchestrator settings, as a stack's.",
        ),
        *_rows(
            "GET",
            "/api/v1/intents",
            CONFIGURES,
            "The intents the detector uses are configuration: they decide which rules fire.",
        ),
        *_rows(
            "PUT DELETE",
            "/api/v1/intents/{name}",
            CONFIGURES,
            "Adding, extending or switching off an intent changes which rules fire.",
        ),
        *_rows("GET POST", "/api/v1/workflows", CONFIGURES, _CONFIGURATION),
        *_rows("GET PUT DELETE", "/api/v1/workflows/{workflow_id}", CONFIGURES, _CONFIGURATION),
        *_rows(
            "GET",
            "/api/v1/agents/{agent_id}/stack/export",
            CONFIGURES,
            "An exported stack is the team's whole configuration.",
        ),
        *_rows(
            "POST",
            "/api/v1/stacks/import",
            CONFIGURES,
            "Importing a stack creates agents, rules and workflows.",
        ),
        *_rows("GET POST", "/api/v1/stack-templates", CONFIGURES, _CONFIGURATION),
        *_rows("GET DELETE", "/api/v1/stack-templates/{template_id}", CONFIGURES, _CONFIGURATION),
        *_rows(
            "POST",
            "/api/v1/stack-templates/{template_id}/instantiate",
            CONFIGURES,
            "Using a template creates a stack.",
        ),
        *_rows(
            "GET",
            "/api/v1/conversations",
            CONFIGURES,
            "Every conversation of the tenant: for the channels that run them (keys) and the "
            "managers who oversee them. People find theirs through the handoff and approval "
            "queues.",
        ),
        *_rows(
            "POST",
            "/api/v1/conversations",
            CONFIGURES,
            "Starting a conversation runs the AI and spends the tenant's budgets: the channels "
            "(integration keys) do it, and managers trying their team. Human agents and "
            "approvers work conversations that exist; letting them start one would let them "
            "cause the requests they decide.",
        ),
        *_rows(
            "GET",
            "/api/v1/conversations/{conversation_id}",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE, APPROVER: UNDER_APPROVAL},
            "A human agent reads the conversations handed to people (the ones they may claim "
            "or have worked); an approver those with an approval request (the context of a "
            "decision). Any other conversation is a 404 to them, as another tenant's is.",
        ),
        *_rows(
            "PATCH",
            "/api/v1/conversations/{conversation_id}",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE},
            "The customer's name, e-mail address and attributes: the channels and a CRM keep "
            "them, a human agent sets what the customer told them (those handed to people).",
        ),
        *_rows(
            "GET",
            "/api/v1/conversations/{conversation_id}/messages",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE, APPROVER: UNDER_APPROVAL},
            "The transcript, to the same people as the conversation.",
        ),
        *_rows(
            "POST",
            "/api/v1/conversations/{conversation_id}/messages",
            CONFIGURES,
            "A message posted here is the customer's and runs the orchestrator: for the "
            "channels. A human agent writes as themselves, through the handoff.",
        ),
        *_rows(
            "POST",
            "/api/v1/conversations/bulk",
            {MANAGER: ALL, KEY: ALL},
            "Resolving, tagging, untagging or giving to a person many conversations at once (a "
            "spam wave, the backlog shared out): a manager's, or an integration's, as closing "
            "what others hold and giving conversations out are.",
        ),
        *_rows(
            "POST",
            "/api/v1/conversations/{conversation_id}/merge",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE},
            "Merging a conversation into another of the same customer: whoever reads both (a "
            "human agent those handed to people), and the integrations that relay them.",
        ),
        *_rows(
            "GET",
            "/api/v1/customers",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE},
            "The customers, one each with their conversations counted: built from the "
            "conversations the caller reaches (a human agent those handed to people), as the "
            "inbox's Customers page.",
        ),
        *_rows(
            "GET",
            "/api/v1/customers/{customer_id}",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE},
            "A customer: what is known of them and their conversations the caller reaches; a "
            "customer of none of those is a 404.",
        ),
        *_rows(
            "GET POST",
            "/api/v1/conversations/{conversation_id}/copies",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE},
            "E-mailing a copy of a conversation (what the customer saw, never a note) to the "
            "customer or an address given, and where the copies stand: whoever reads the "
            "conversation (a human agent those handed to people), and the integrations (a CRM "
            "sending the customer their chat), as the inbox's Send copy.",
        ),
        *_rows(
            "PUT DELETE",
            "/api/v1/conversations/{conversation_id}/tags/{name}",
            {MANAGER: ALL, KEY: ALL, AGENT: HANDED_TO_PEOPLE},
            "Tagging a conversation, to find and count such cases: whoever reads it (a human "
            "agent those handed to people), and the integrations that tag what they relay.",
        ),
        *_rows(
            "POST",
            "/api/v1/conversations/{conversation_id}/files",
            CONFIGURES,
            "A file posted here is the customer's, as a message posted there is: for the channels.",
        ),
        *_rows(
            "GET",
            "/api/v1/conversations/{conversation_id}/events",
            CONFIGURES,
            "Decision events show rules, routing and timings: for oversight and integrations.",
        ),
        *_rows(
            "POST",
            "/api/v1/conversations/{conversation_id}/actions",
            CONFIGURES,
            "Proposing a refund, an account change or access to sensitive data is what the AI "
            "and the integrations do; the approval gate then asks approvers. A human agent or "
            "approver who could propose would start what they or a colleague then decide.",
        ),
        *_rows(
            "GET",
            "/api/v1/approvals",
            {MANAGER: ALL, APPROVER: ALL, KEY: ALL},
            "Approvers work the queue, managers oversee it, and an integration follows the "
            "requests its proposals made (a 202, then the request).",
        ),
        *_rows(
            "GET",
            "/api/v1/approvals/{approval_id}",
            {MANAGER: ALL, APPROVER: ALL, KEY: ALL},
            "As the list of approvals.",
        ),
        *_rows(
            "POST",
            "/api/v1/approvals/{approval_id}/approve",
            APPROVERS,
            "Deciding is a person's act as an approver; the service also checks that the person "
            "is one of the request's approvers and did not ask for it. A key never decides.",
        ),
        *_rows("POST", "/api/v1/approvals/{approval_id}/deny", APPROVERS, "As approving."),
        *_rows(
            "GET",
            "/api/v1/handoffs",
            {MANAGER: ALL, AGENT: ALL, KEY: ALL},
            "Handoff packs carry the customer's details: for the human agents who take "
            "conversations over, managers watching the queue, and integrations forwarding "
            "packs to a helpdesk. Approvers decide actions, not conversations.",
        ),
        *_rows(
            "GET",
            "/api/v1/handoffs/{handoff_id}",
            {MANAGER: ALL, AGENT: ALL, KEY: ALL},
            "As the list of handoffs.",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/claim",
            AGENTS,
            "Taking a conversation over is a human agent's work, as a named person (a key has "
            "nobody to assign).",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/messages",
            AGENTS,
            "The claimer writes to the customer (the service checks it is the claimer).",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/files",
            AGENTS,
            "The claimer sends the customer a file (the service checks it is the claimer).",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/resolve",
            AGENTS,
            "The claimer closes the conversation.",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/snooze",
            AGENTS,
            "The claimer puts the conversation aside until a time or the customer's next "
            "message (the service checks it is the claimer).",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/priority",
            {MANAGER: ALL, AGENT: ALL, KEY: ALL},
            "Setting an open handoff's priority band by hand (a VIP; an integration that knows "
            "its customers may too): whoever reads the handoffs.",
        ),
        *_rows(
            "POST",
            "/api/v1/handoffs/{handoff_id}/hand-back",
            AGENTS,
            "The claimer hands the conversation back to the AI.",
        ),
        *_rows(
            "PATCH",
            "/api/v1/notes/{note_id}",
            AGENTS,
            "A private note is edited by the human agent who wrote it (the service checks it "
            "is theirs); what it said before is kept.",
        ),
        *_rows(
            "GET",
            "/api/v1/mentions",
            AGENTS,
            "Your own mentions (the notes in which a colleague named you); a key is no person "
            "and has none.",
        ),
        *_rows(
            "POST",
            "/api/v1/mentions/read",
            AGENTS,
            "Marking your own mentions read.",
        ),
        *_rows(
            "GET POST",
            "/api/v1/groups",
            CONFIGURES,
            "The groups of human agents and the AI agents whose handoffs each takes: a "
            "manager's, or an integration's (a directory that provisions the team).",
        ),
        *_rows(
            "PATCH DELETE",
            "/api/v1/groups/{group_id}",
            CONFIGURES,
            "Changing or deleting a group, as in the admin.",
        ),
        *_rows(
            "GET POST",
            "/api/v1/blocks",
            CONFIGURES,
            "Who the team blocked (spam, abuse), and blocking an e-mail address or a customer id "
            "by hand: a manager's, or an integration's (a spam filter); human agents block from "
            "a conversation in the inbox.",
        ),
        *_rows(
            "DELETE",
            "/api/v1/blocks/{block_id}",
            CONFIGURES,
            "Unblocking, as in the admin.",
        ),
        *_rows(
            "GET POST",
            "/api/v1/erasures",
            CONFIGURES,
            "Erasing a customer's data at their request (every conversation of theirs, for "
            "good), and the erasures made: a manager's, or an integration's (a privacy tool). "
            "Human agents and approvers cannot erase.",
        ),
        *_rows(
            "GET POST",
            "/api/v1/webhooks",
            CONFIGURES,
            "The team's webhook endpoints (its CRM, its warehouse hear of events): configuration "
            "a manager keeps, or an integration that sets up its own endpoint.",
        ),
        *_rows(
            "PATCH DELETE",
            "/api/v1/webhooks/{endpoint_id}",
            CONFIGURES,
            "As adding an endpoint.",
        ),
        *_rows(
            "POST",
            "/api/v1/webhooks/{endpoint_id}/test",
            CONFIGURES,
            "A test event to an endpoint, to check it.",
        ),
        *_rows(
            "GET",
            "/api/v1/webhooks/{endpoint_id}/deliveries",
            CONFIGURES,
            "What was sent to an endpoint and how it went: the events' contents are "
            "conversations' data.",
        ),
        *_rows(
            "GET",
            "/api/v1/customer-data",
            CONFIGURES,
            "Everything kept about a customer, to send them at their request: whoever may "
            "erase it may read it all at once.",
        ),
        *_rows(
            "GET",
            "/api/v1/canned-replies",
            {MANAGER: ALL, AGENT: ALL, KEY: ALL},
            "The team's canned replies: human agents insert them in the inbox; managers and "
            "integrations keep them.",
        ),
        *_rows(
            "POST",
            "/api/v1/canned-replies",
            CONFIGURES,
            "What the team says in the customer's ear is kept by managers (or an integration "
            "syncing a helpdesk's macros), not changed by each agent.",
        ),
        *_rows(
            "GET",
            "/api/v1/canned-replies/{reply_id}",
            {MANAGER: ALL, AGENT: ALL, KEY: ALL},
            "As the list of canned replies.",
        ),
        *_rows(
            "PATCH DELETE",
            "/api/v1/canned-replies/{reply_id}",
            CONFIGURES,
            "As making a canned reply.",
        ),
        *_rows(
            "GET",
            "/api/v1/metrics",
            CONFIGURES,
            "Figures for oversight and for dashboards an integration feeds.",
        ),
    ]
)

# --- pages (by URL name; every page of the admin is the one door ``admin``) ---------------------

PAGES: Mapping[str, Grant] = _by_operation(
    [
        Grant("home", PEOPLE, "The home page links each person to what their roles allow."),
        Grant(
            "tokens",
            PEOPLE,
            "Your own personal tokens: a token acts as you and reaches only what your roles reach.",
        ),
        Grant("token-revoke", PEOPLE, "Revoking your own token must always be possible."),
        Grant(
            "sign-out-everywhere",
            PEOPLE,
            "Ending your own sessions (and closing your sockets) must always be possible.",
        ),
        Grant(
            "inbox",
            {AGENT: ALL, MANAGER: ALL},
            "The live inbox is where human agents take conversations over; a manager who is no "
            "agent is shown the team's view (who holds what) instead.",
        ),
        Grant(
            "inbox-conversation",
            {AGENT: HANDED_TO_PEOPLE},
            "A conversation as the inbox shows it: one that was handed to people.",
        ),
        Grant(
            "inbox-history",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "The searchable history: a human agent finds the conversations handed to people, a "
            "manager every conversation of the tenant.",
        ),
        Grant(
            "inbox-customers",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "The customers, one row each with their conversations counted: built from the "
            "conversations the person reaches, as the history is (a human agent those handed "
            "to people, a manager all).",
        ),
        Grant(
            "inbox-customer-page",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "A customer's page: what is known of them and their conversations the person "
            "reaches; a customer of none of those is a 404.",
        ),
        Grant(
            "inbox-history-export",
            MANAGERS,
            "The history's conversations as a CSV file, for reports: a manager's. A human "
            "agent reads them one by one; a file of every customer's details leaves the "
            "product.",
        ),
        Grant(
            "inbox-history-bulk",
            MANAGERS,
            "Resolving, tagging, untagging or giving to a person many conversations the history "
            "found at once (a spam wave, the backlog shared out): a manager's, as closing what "
            "others hold and giving conversations out are.",
        ),
        Grant(
            "inbox-history-search-save",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Saving the history's search on screen under a name, to open again in one click: "
            "whoever searches the history, for themselves; a manager may share one with the "
            "team. It keeps the filters, not what they found: opened, it finds what the person "
            "reaches then.",
        ),
        Grant(
            "inbox-history-search-remove",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Removing a saved search: the person's own; a manager also one shared with the "
            "team. Another person's own search is a 404.",
        ),
        Grant(
            "inbox-conversation-page",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "One conversation read-only (transcript, what the AI did, notes, the customer's "
            "other conversations), to the same people as the history.",
        ),
        Grant(
            "inbox-tags",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Tagging a conversation, to find and count such cases: whoever reads it in the "
            "inbox or the history.",
        ),
        Grant(
            "inbox-customer",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Setting the customer's name or e-mail address as they told it, or what is known of "
            "them (their plan, their orders): whoever reads the conversation in the inbox or the "
            "history.",
        ),
        Grant(
            "inbox-transcript",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "E-mailing a copy of a conversation (what the customer saw, never a note) to the "
            "customer or an address given: whoever reads the conversation in the inbox or the "
            "history; a note tells the colleagues where it went.",
        ),
        Grant(
            "inbox-priority",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Setting an open handoff's priority band, as over the API.",
        ),
        Grant(
            "inbox-merge",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Merging a conversation into another of the same customer (it is resolved, and "
            "goes on there): whoever reads both in the inbox or the history.",
        ),
        Grant(
            "inbox-block",
            {AGENT: HANDED_TO_PEOPLE, MANAGER: ALL},
            "Blocking a conversation's customer (spam, abuse; the conversation is resolved): "
            "whoever reads the conversation in the inbox or the history. A manager unblocks "
            "in the admin.",
        ),
        Grant(
            "inbox-team",
            MANAGERS,
            "Who holds what (each human agent's status, limit and conversations), for the "
            "managers who supervise.",
        ),
        Grant(
            "inbox-team-give",
            MANAGERS,
            "A manager gives a waiting conversation to a human agent of their choice (the claim "
            "is made for that person; their limit holds).",
        ),
        Grant("inbox-claim", AGENTS, "Claiming, as on the socket."),
        Grant("inbox-resolve", AGENTS, "The claimer resolves."),
        Grant("inbox-hand-back", AGENTS, "The claimer hands back to the AI."),
        Grant(
            "inbox-transfer",
            AGENTS,
            "The claimer passes the conversation to an available colleague (the service checks "
            "who holds it, and the colleague's status and limit).",
        ),
        Grant("inbox-requeue", AGENTS, "The claimer puts the conversation back in the queue."),
        Grant(
            "inbox-files",
            AGENTS,
            "The claimer sends a file to the customer (the service checks who holds it); any "
            "human agent attaches one to a private note.",
        ),
        Grant("approvals", APPROVERS, "The approver's queue and history."),
        Grant("approvals-pending", APPROVERS, "The queue's live part."),
        Grant("approvals-history", APPROVERS, "The history's live part."),
        Grant(
            "approval-detail",
            APPROVERS,
            "One request with its conversation's context, for the people who decide.",
        ),
        Grant("approval-body", APPROVERS, "The detail's live part."),
        Grant("approval-approve", APPROVERS, "Deciding (the service checks the listed approvers)."),
        Grant("approval-deny", APPROVERS, "As approving."),
        Grant(
            "admin",
            MANAGERS,
            "The admin configures the tenant (people and roles included); superusers "
            "administer every tenant.",
        ),
    ]
)

# Doors that need no person (or check a credential of their own), so no row above.
PUBLIC_PAGES: Mapping[str, str] = MappingProxyType(
    {
        "login": "Signing in.",
        "logout": "Signing out.",
        "chat": "The customer's web chat: customers are no people of the tenant.",
        "chat-start": "Starting a web chat; answers the customer token of that one conversation.",
        "chat-resume": "A signed-in visitor's conversation on another device: only for an "
        "identity their website signed, and only their own conversation.",
        "chat-conversations": "A signed-in visitor's list of their conversations: only for an "
        "identity their website signed, and only their own.",
        "chat-rate": "The customer rates their resolved conversation, with its customer token.",
        "chat-rate-comment": "The customer adds words to their rating, with its customer "
        "token, once.",
        "chat-email": "The customer leaves their e-mail address for replies, with the customer "
        "token of that one conversation.",
        "chat-transcript": "The customer asks for a copy of their conversation by e-mail, with "
        "the customer token of that one conversation; a few an hour from one address.",
        "chat-files": "The customer sends a file in their chat, with the customer token of that "
        "one conversation.",
        "attachment": "A file of a conversation, by the signed link that the doors showing the "
        "conversation hand out (conversations/attachments.py); it expires.",
        "chat-preview": "A sample page with the chat's website button, as the tenant's website "
        "shows it; it holds no data.",
        "chat-look": "The website button's colour, as the chat's own (for embed.js on the "
        "tenant's websites); it holds no data.",
        "schema": "The OpenAPI schema describes the API; it holds no data.",
        "api-docs": "The browsable API docs, from the schema.",
        "metrics": "The Prometheus scrape: no person's door; only the METRICS_TOKEN bearer or "
        "an address in METRICS_ALLOW_IPS (core/observability/views.py).",
        "email-inbound": "The mail provider's inbound parse: no person's door; a post signed "
        "with the tenant's e-mail secret, at its address (orchestration/email_inbound.py).",
    }
)

# --- the inbox socket ---------------------------------------------------------------------------

SOCKET_ACTIONS: Mapping[str, Grant] = _by_operation(
    [
        Grant(
            "connect",
            {AGENT: ALL, APPROVER: ALL},
            "The inbox socket carries handoffs to human agents and approval requests to "
            "approvers; nobody else opens it (4403).",
        ),
        Grant(
            "heartbeat",
            {AGENT: ALL, APPROVER: ALL},
            "Keeps presence; re-checks who is there like every action.",
        ),
        Grant("resync", {AGENT: ALL, APPROVER: ALL}, "A fresh snapshot of what the roles show."),
        Grant("handoff.claim", AGENTS, "As claiming over the API."),
        Grant("message.send", AGENTS, "The claimer writes to the customer."),
        Grant(
            "handoff.snooze",
            AGENTS,
            "The claimer puts the conversation aside until a time or the customer's next "
            "message, or wakes it.",
        ),
        Grant(
            "note.send",
            AGENTS,
            "A private note for colleagues: never sent to the customer or read by the AI.",
        ),
        Grant("note.edit", AGENTS, "The author of a private note changes its text."),
        Grant("status.set", AGENTS, "A human agent's own status (online, away, busy)."),
        Grant(
            "mention.read",
            AGENTS,
            "Marking your own mentions read (some, those of a conversation, or all).",
        ),
        Grant(
            "typing",
            AGENTS,
            "Writing in a conversation: the claimer's reply is told to the customer's widget, "
            "a reply or a private note (note: true) to the colleagues who have it open "
            "(coalesced, one in 2 s).",
        ),
        Grant(
            "conversation.watch",
            AGENTS,
            "The conversation the inbox has open (one a socket; null: none): the socket then "
            "hears who is typing in it, and in no other; the tenant's inboxes hear who has it "
            "open.",
        ),
    ]
)

SOCKET_EVENTS: Mapping[str, Grant] = _by_operation(
    [
        *(
            Grant(kind, AGENTS, "The live queue of conversations handed to people.")
            for kind in (
                "handoff.offered",
                "handoff.queued",
                "handoff.expired",
                "handoff.claimed",
            )
        ),
        Grant(
            "message.created",
            AGENTS,
            "Messages of the tenant's conversations, for the inbox's threads.",
        ),
        Grant(
            "message.updated",
            AGENTS,
            "A private note its author edited, for the inbox's threads (never the customer).",
        ),
        Grant("conversation.updated", AGENTS, "A conversation's state, for the inbox."),
        Grant(
            "conversation.erased",
            AGENTS,
            "A customer's conversations were erased at their request: the inbox drops them.",
        ),
        Grant(
            "conversation.merged",
            AGENTS,
            "A conversation was merged into another of its customer (both ids): the inbox "
            "open on it follows to the other.",
        ),
        Grant(
            "handoff.prioritized",
            AGENTS,
            "A handoff's priority set by hand: the inbox re-sorts its lists.",
        ),
        Grant(
            "handoff.snoozed",
            AGENTS,
            "A held conversation was snoozed, or woke (its holder, or the customer wrote).",
        ),
        Grant(
            "limit.changed",
            AGENTS,
            "A manager changed the person's limit of conversations (their own sockets only).",
        ),
        Grant(
            "agent.typing",
            AGENTS,
            "An AI agent is writing a reply (typing on or off), in the watched conversation.",
        ),
        Grant("presence", AGENTS, "Which human agents are online, with their status."),
        Grant(
            "handoff.assigned",
            AGENTS,
            "A queued conversation was given to the person (where the tenant gives its queue "
            "out; their own sockets only).",
        ),
        Grant(
            "handoff.transferred",
            AGENTS,
            "A conversation passed to a colleague or back to the queue.",
        ),
        Grant(
            "customer.typing",
            AGENTS,
            "A customer is typing (coalesced on their socket, one in 2 s), in the watched "
            "conversation.",
        ),
        Grant(
            "conversation.viewers",
            AGENTS,
            "Who has a conversation open in the inbox now, whenever that changes (the "
            "queue's cards and the open conversation show them).",
        ),
        Grant(
            "colleague.typing",
            AGENTS,
            "A colleague is writing a reply or a private note, in the watched conversation.",
        ),
        Grant("conversation.tagged", AGENTS, "A conversation's tags changed (its id and tags)."),
        Grant(
            "customer.updated",
            AGENTS,
            "A customer's name or e-mail address changed (the conversations' ids and the details).",
        ),
        Grant(
            "customer.seen",
            AGENTS,
            "The web chat's customer had our latest message on their screen (the inbox's "
            '"Seen"), in the watched conversation.',
        ),
        Grant(
            "mention.created",
            AGENTS,
            "A colleague named you in a private note (your own sockets only).",
        ),
        Grant(
            "mention.read",
            AGENTS,
            "Mentions of yours read in another tab, or taken out of an edited note (your own "
            "sockets only).",
        ),
        Grant("approval.requested", APPROVERS, "A request to decide."),
        Grant("approval.decided", APPROVERS, "A request decided."),
    ]
)

TABLES: Mapping[str, Mapping[str, Grant]] = MappingProxyType(
    {
        "API": API,
        "Pages": PAGES,
        "Inbox socket (`/ws/inbox/`): client actions": SOCKET_ACTIONS,
        "Inbox socket: events forwarded": SOCKET_EVENTS,
    }
)


# --- who is there ------------------------------------------------------------------------------


def hats_for(*, roles: Iterable[str], in_approver_group: bool = False) -> frozenset[str]:
    """A person's hats from their roles (and approver groups)."""
    hats = {PERSON, *roles}
    if in_approver_group:
        hats.add(APPROVER)
    return frozenset(hats)


def person_hats(user) -> frozenset[str]:
    """The hats of a signed-in, active person: ``person``, and the roles they hold in their
    tenant (none without a tenant). Empty for anyone else. Cached on the user object for the
    request, as its membership is."""
    if not getattr(user, "is_authenticated", False) or not getattr(user, "pk", None):
        return frozenset()
    cached = user.__dict__.get("_hats_cache")
    if cached is not None:
        return cached
    membership = membership_of(user)
    if not user.is_active:
        hats: frozenset[str] = frozenset()
    elif membership is None:
        hats = frozenset({PERSON})
    else:
        grouped = not membership.is_approver and _approver_groups(membership.tenant_id, user.pk)
        hats = hats_for(roles=membership.roles, in_approver_group=bool(grouped))
    user.__dict__["_hats_cache"] = hats
    return hats


def _approver_groups(tenant_id: int, user_id: int) -> bool:
    return ApproverGroup.objects.filter(tenant_id=tenant_id, members=user_id).exists()


def forget_hats(user) -> None:
    """Drop what was cached on a user object (its membership and hats): a long-lived object,
    such as a socket's, reads them afresh."""
    user.__dict__.pop("_hats_cache", None)
    user.__dict__.pop("_membership_cache", None)


@dataclass(frozen=True)
class Access:
    """Who is behind a socket right now, read in one query: the person is active, still signed
    in with the socket's session, in which tenant, with which hats."""

    active: bool
    signed_in: bool
    tenant_id: int | None
    hats: frozenset[str]

    @property
    def close_code(self) -> int | None:
        """4401 when the person is gone (deleted, deactivated, signed out), else None."""
        return 4401 if not (self.active and self.signed_in) else None


# the row's columns, in order; then the annotations: ``grouped``, and ``session_alive``
_ACCESS_FIELDS = (
    "is_active",
    "membership__tenant_id",
    "membership__is_manager",
    "membership__is_agent",
    "membership__is_approver",
)


def _access_query(user_id: int, session_key: str | None = None, now=None):
    """The user row, its membership, whether it is in an approver group of its tenant, and
    (when ``session_key`` is given) whether that is still one of its sessions."""
    annotations = {
        "grouped": Exists(
            ApproverGroup.objects.filter(
                tenant_id=OuterRef("membership__tenant_id"), members=OuterRef("pk")
            )
        )
    }
    if session_key is not None:
        annotations["session_alive"] = Exists(
            PersonSession.objects.filter(
                session_key=session_key, user_id=OuterRef("pk"), expire_date__gt=now
            )
        )
    users = get_user_model().objects.filter(pk=user_id).annotate(**annotations)
    return users.values(*_ACCESS_FIELDS, *annotations).order_by("pk")[:1]


# compiled once (core/compiled.py): through the ORM this one query cost 1.7 ms of CPU a call,
# and it runs for every frame of every inbox socket; the markers are values no real call has
_USER, _SESSION = Marker(INT_MARK), Marker("~compiled-marker~")
_NOW = Marker(
    dt.datetime(1901, 2, 3, 4, 5, 6, 7089, tzinfo=dt.UTC),
    PersonSession._meta.get_field("expire_date"),
)
_ACCESS = Compiled(_access_query, user_id=_USER, session_key=_SESSION, now=_NOW)
_ACCESS_ANY_SESSION = Compiled(_access_query, user_id=_USER)


def access_of(user_id: int, session_key: str | None) -> Access:
    """One query: the user row, its membership, whether it is in an approver group of its
    tenant, and whether ``session_key`` is still one of its sessions (None: not checked)."""
    if session_key is None:
        found = _ACCESS_ANY_SESSION.fetchone(user_id=user_id)
    else:
        found = _ACCESS.fetchone(user_id=user_id, session_key=session_key, now=timezone.now())
    if found is None:
        return Access(active=False, signed_in=False, tenant_id=None, hats=frozenset())
    active, tenant_id, is_manager, is_agent, is_approver, grouped = found[:6]
    roles = [
        role
        for role, held in ((MANAGER, is_manager), (AGENT, is_agent), (APPROVER, is_approver))
        if held
    ]
    hats = (
        hats_for(roles=roles, in_approver_group=bool(grouped))
        if tenant_id is not None and active
        else frozenset()
    )
    return Access(
        active=bool(active),
        signed_in=bool(found[6]) if session_key is not None else True,
        tenant_id=tenant_id,
        hats=hats,
    )


# --- pages -------------------------------------------------------------------------------------


def page_reach(user, name: str | None) -> frozenset[str]:
    """How far ``user`` reaches on the page door ``name`` (empty: refused; no row: refused)."""
    grant = PAGES.get(name) if name else None
    if grant is None:
        return frozenset()
    return grant.reaches(person_hats(user))


class DoorRequest(HttpRequest):
    """The type of a request past ``page_door`` (no class of its own at run time): a signed-in
    person, and how far they reach on the page."""

    user: User  # HttpRequest's is User | AnonymousUser
    reach: frozenset[str]


def page_door(view=None, *, forbidden: Callable[[HttpRequest], HttpResponse] | None = None):
    """The door of a page view: the person is signed in (else the sign-in page) and holds a
    hat that the page's row (found by the URL's name) lets through; else 403, answered by
    ``forbidden(request)`` when given. Sets ``request.reach`` for the view to narrow with."""

    def decorate(view):
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            match = request.resolver_match
            reach = page_reach(request.user, match.url_name if match else None)
            if not reach:
                if forbidden is not None:
                    return forbidden(request)
                raise PermissionDenied("Your roles do not open this page.")
            cast(DoorRequest, request).reach = reach
            return view(request, *args, **kwargs)

        return login_required(guarded)

    return decorate(view) if view is not None else decorate


def admin_allowed(user) -> bool:
    """The admin's door: superusers administer every tenant; otherwise the ``admin`` row."""
    if not getattr(user, "is_active", False):
        return False
    return bool(user.is_superuser or page_reach(user, "admin"))


# --- narrowing to what a hat reaches ------------------------------------------------------------


# --- the tables as text ------------------------------------------------------------------------


def _cell(grant: Grant, hat: str) -> str:
    if hat in grant.reach:
        return REACH_TITLES[grant.reach[hat]]
    if PERSON in grant.reach:  # every person may; a role adds nothing
        return REACH_TITLES[grant.reach[PERSON]] if hat != KEY else "—"
    return "—"


def _merged(table: Mapping[str, Grant]) -> list[tuple[str, Grant]]:
    """Rows of one path with the same reach and reason, as one (``GET, POST /api/v1/agents``)."""
    rows: list[tuple[list[str], str, Grant]] = []
    for grant in table.values():
        method, _, path = grant.operation.rpartition(" ")
        last = rows[-1] if rows else None
        if (
            last is not None
            and method
            and last[1] == path
            and last[2].reach == grant.reach
            and last[2].why == grant.why
        ):
            last[0].append(method)
        else:
            rows.append(([method] if method else [], path, grant))
    return [(f"{', '.join(methods)} {path}".strip(), grant) for methods, path, grant in rows]


def markdown() -> str:
    """The tables as the README shows them (``manage.py permissions`` prints this)."""
    lines = []
    header = "| operation | " + " | ".join(HAT_TITLES[h] for h in HATS) + " | why |"
    rule = "| --- | " + " | ".join("---" for _ in HATS) + " | --- |"
    for title, table in TABLES.items():
        lines += [f"**{title}**", "", header, rule]
        for operation, grant in _merged(table):
            cells = " | ".join(_cell(grant, hat) for hat in HATS)
            lines.append(f"| `{operation}` | {cells} | {grant.why} |")
        lines.append("")
    lines.append("**Doors without a role** (they check a credential of their own, or hold no data)")
    lines.append("")
    lines += [f"- `{name}`: {why}" for name, why in PUBLIC_PAGES.items()]
    return "\n".join(lines) + "\n"
