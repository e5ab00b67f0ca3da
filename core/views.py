"""Pages for signed-in people: the home page, their personal API tokens, and signing out
everywhere. Each page's door is its row in the permission matrix (``page_door``)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from core import services
from core.models import PersonalToken
from core.permissions import (
    DoorRequest,
    admin_allowed,
    page_door,
    page_reach,
)
from core.scoping import membership_of

# What the home page links to: (URL name, door, label, description), each shown to the people
# its door lets in (a row of the permission matrix, or the admin's door for the admin's pages)
# once its page is installed (its URL name resolves). The inbox's link goes to the people who
# take conversations (a manager who is no agent is sent to the team's view, linked apart).
DESTINATIONS = [
    ("inbox", "inbox-claim", "Inbox", "Take over conversations handed to people, live or queued."),
    ("approvals", "approvals", "Approvals", "Approve or deny sensitive actions."),
    (
        "inbox-team",
        "inbox-team",
        "Team",
        "Who holds what: each human agent's status, limit and conversations.",
    ),
    (
        "inbox-history",
        "inbox-history",
        "Conversations",
        "Search the conversations, read a transcript and what the AI did in it.",
    ),
    (
        "admin:insight_dashboard",
        "admin",
        "Dashboard",
        "Escalations, stalls, handoffs, approval turnaround, resolution times, guardrails, CSAT.",
    ),
    ("admin:stacks_canvas", "admin", "Canvas", "Each AI team drawn as a graph, with its rules."),
    ("admin:index", "admin", "Admin", "Configure agents, rules, people and settings."),
]


def _links_for(user) -> list[dict[str, str]]:
    links = []
    for url_name, door, label, description in DESTINATIONS:
        allowed = admin_allowed(user) if door == "admin" else bool(page_reach(user, door))
        if not allowed:
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        links.append({"url": url, "label": label, "description": description})
    return links


@page_door
def home(request: HttpRequest) -> HttpResponse:
    membership = membership_of(request.user)
    return render(
        request,
        "orchestration/home.html",
        {
            "membership": membership,
            "links": _links_for(request.user),
        },
    )


class TokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'my laptop'.")


@page_door
def tokens(request: DoorRequest) -> HttpResponse:
    created = None
    form = TokenForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        token, raw = services.personal_token_create(
            user=request.user, name=form.cleaned_data["name"]
        )
        created = {"token": token, "raw": raw}
        form = TokenForm()
    return render(
        request,
        "orchestration/tokens.html",
        {
            "form": form,
            "created": created,
            "tokens": PersonalToken.objects.filter(user=request.user),
        },
    )


@page_door
@require_POST
def token_revoke(request: DoorRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(PersonalToken, pk=token_id, user=request.user)
    services.personal_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")


@page_door
@require_POST
def sign_out_everywhere(request: DoorRequest) -> HttpResponse:
    """End every session of the person (this one too) and close their sockets. Personal
    tokens stay as they are; revoke them on the tokens page."""
    services.person_sign_out_everywhere(user=request.user)
    logout(request)
    return redirect("login")
