"""Pages for signed-in people: the home page and their personal API tokens."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import NoReverseMatch, reverse
from django.views.decorators.http import require_POST

from orchestration import services
from orchestration.models import PersonalToken, Role
from orchestration.scoping import membership_of

# What each role opens from the home page: (URL name, label, description). A destination
# appears once its page is installed (its URL name resolves).
DESTINATIONS = [
    (Role.AGENT, "inbox", "Inbox", "Take over conversations handed to people, live or queued."),
    (Role.APPROVER, "approvals", "Approvals", "Approve or deny sensitive actions."),
    (Role.MANAGER, "admin:index", "Admin", "Configure agents, rules, people and settings."),
]


def _links_for(user) -> list[dict[str, str]]:
    from approvals.selectors import approver_tokens

    membership = membership_of(user)
    roles = set(membership.roles) if membership else set()
    if approver_tokens(user):  # the role, or a member of an approver group
        roles.add(Role.APPROVER)
    links = []
    for role, url_name, label, description in DESTINATIONS:
        allowed = role in roles or (url_name == "admin:index" and user.is_superuser)
        if not allowed:
            continue
        try:
            url = reverse(url_name)
        except NoReverseMatch:
            continue
        links.append({"url": url, "label": label, "description": description})
    return links


@login_required
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


@login_required
def tokens(request: HttpRequest) -> HttpResponse:
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


@login_required
@require_POST
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(PersonalToken, pk=token_id, user=request.user)
    services.personal_token_revoke(token=token)
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
