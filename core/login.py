"""Sign-in with brute-force protection, for ``/accounts/login/`` and the admin's login.

Three counts, in ``config.ratelimit``, each checked before the password is:

- every attempt from one client address (``LOGIN_IP_RATE_LIMIT``);
- failed attempts on one username from one address (``LOGIN_RATE_LIMIT``): an attacker
  guessing from their address is stopped there, and only there;
- failed attempts on one username from every address (``LOGIN_USERNAME_RATE_LIMIT``). Past it
  the account is under attack from many addresses: each address then gets one try per window
  (an address that already failed on it is refused), and a correct password from an address
  that has not failed still signs in. Others' failures never lock the owner out.

Over a limit the form answers 429 with an error and ``Retry-After``, without checking the
password: a guesser learns nothing more until the window ends. A failure is counted before the
password is checked (so concurrent guesses cannot slip past a limit) and given back when the
password was right: the two username counts hold failures only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse

from config import ratelimit

ADDRESS_SCOPE = "login-ip"
PAIR_SCOPE = "login-user-ip"
USERNAME_SCOPE = "login-user"


@dataclass
class LoginAttempt:
    """One sign-in attempt, counted: ``refused`` is the verdict that stops it (None: check the
    password); ``failures`` the counts to give back if the password is right."""

    refused: ratelimit.Verdict | None = None
    failures: list[ratelimit.Verdict] = field(default_factory=list)

    def succeeded(self) -> None:
        for verdict in self.failures:
            ratelimit.refund(verdict)


def login_attempt(request: HttpRequest, username: str) -> LoginAttempt:
    """Count one sign-in attempt of ``username`` from the request's address."""
    address = ratelimit.client_ip(request)
    address_rate = ratelimit.parse_rate(settings.LOGIN_IP_RATE_LIMIT)
    if address_rate is not None:
        verdict = ratelimit.hit(ADDRESS_SCOPE, address, address_rate)
        if not verdict.allowed:
            return LoginAttempt(refused=verdict)
    name = (username or "").strip().lower()
    if not name:
        return LoginAttempt()
    attempt = LoginAttempt()
    pair = None
    pair_rate = ratelimit.parse_rate(settings.LOGIN_RATE_LIMIT)
    username_rate = ratelimit.parse_rate(settings.LOGIN_USERNAME_RATE_LIMIT)
    pair_window = pair_rate or username_rate
    if pair_window is not None:
        # counted (in the username limit's window when the pair limit is off) to know whether
        # this address already had its try at an account under attack
        pair = ratelimit.hit(PAIR_SCOPE, f"{name}\n{address}", pair_window)
        if pair_rate is not None and not pair.allowed:
            return LoginAttempt(refused=pair)
        attempt.failures.append(pair)
    if username_rate is not None:
        everywhere = ratelimit.hit(USERNAME_SCOPE, name, username_rate)
        attempt.failures.append(everywhere)
        if not everywhere.allowed and pair is not None and pair.count > 1:
            # under attack: this address has had its try (refused tries count as failures)
            attempt.refused = everywhere
    return attempt


class RateLimitedLoginMixin:
    """For an AuthenticationForm: refuse the attempt when a sign-in limit is reached."""

    request: HttpRequest | None
    data: Mapping[str, Any]

    def clean(self):
        attempt = None
        if self.request is not None:
            attempt = login_attempt(self.request, str(self.data.get("username", "")))
            refused = attempt.refused
            if refused is not None:
                self.request.login_refused = refused  # type: ignore[attr-defined]
                minutes = max(1, round(refused.retry_after / 60))
                wait = (
                    f"{refused.retry_after} seconds"
                    if refused.retry_after < 90
                    else f"{minutes} minutes"
                )
                raise forms.ValidationError(
                    f"Too many sign-in attempts. Try again in {wait}.", code="rate_limited"
                )
        cleaned = super().clean()  # type: ignore[misc]  # raises for a wrong password
        if attempt is not None:
            attempt.succeeded()
        return cleaned


class LoginForm(RateLimitedLoginMixin, AuthenticationForm):
    pass


class AdminLoginForm(RateLimitedLoginMixin, AdminAuthenticationForm):
    pass


def too_many_requests_when_refused(view):
    """Answer 429 with Retry-After when the form refused the attempt for its rate."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = view(request, *args, **kwargs)
        refused = getattr(request, "login_refused", None)
        if refused is not None:
            response.status_code = 429
            response["Retry-After"] = str(refused.retry_after)
        return response

    return wrapped


login_view = too_many_requests_when_refused(LoginView.as_view(authentication_form=LoginForm))

admin.site.login_form = AdminLoginForm
admin_login_view = too_many_requests_when_refused(admin.site.login)
