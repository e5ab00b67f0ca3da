"""Sign-in with brute-force protection, for ``/accounts/login/`` and the admin's login.

Every sign-in attempt (a POST of the form) counts against the username tried
(``LOGIN_RATE_LIMIT``) and against the client's address (``LOGIN_IP_RATE_LIMIT``), in
``config.ratelimit``. Over either limit the form answers 429 with an error and a
``Retry-After`` header, without checking the password: a guesser learns nothing more until the
window ends. Attempts are counted before the password is checked, so concurrent guesses cannot
slip past the limit; successful sign-ins count too.
"""

from __future__ import annotations

from functools import wraps

from django import forms
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse

from config import ratelimit

USERNAME_SCOPE = "login-user"
ADDRESS_SCOPE = "login-ip"


def login_attempt(request: HttpRequest, username: str) -> ratelimit.Verdict | None:
    """Count one sign-in attempt; the verdict that refuses it, or None when it may go on."""
    counted: list[ratelimit.Verdict] = []
    address_rate = ratelimit.parse_rate(settings.LOGIN_IP_RATE_LIMIT)
    if address_rate is not None:
        counted.append(ratelimit.hit(ADDRESS_SCOPE, ratelimit.client_ip(request), address_rate))
    username_rate = ratelimit.parse_rate(settings.LOGIN_RATE_LIMIT)
    name = (username or "").strip().lower()
    if username_rate is not None and name:
        counted.append(ratelimit.hit(USERNAME_SCOPE, name, username_rate))
    refused = [verdict for verdict in counted if not verdict.allowed]
    return max(refused, key=lambda verdict: verdict.retry_after) if refused else None


class RateLimitedLoginMixin:
    """For an AuthenticationForm: refuse the attempt when a sign-in limit is reached."""

    request: HttpRequest | None
    data: dict

    def clean(self):
        if self.request is not None:
            refused = login_attempt(self.request, str(self.data.get("username", "")))
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
        return super().clean()  # type: ignore[misc]


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
