"""What each agent runtime needs in its configuration (SPEC 4.6), checked in one place.

A runtime has plain settings (URLs, model, prices), kept in ``Agent.runtime_config``, and at
most one secret: the openai runtime's ``apiKey``, the webhook's signing ``secret``. The API,
the admin (a password field) and stack documents take the secret next to the settings; it is
stored apart, encrypted (``Agent.runtime_secret``, see ``core.secret_store``), and
only ever read back as ``hasApiKey`` / ``hasSecret``. A change that does not repeat the secret
keeps the stored one.

Instead of a key of its own, an openai agent may name in ``apiKeyEnv`` one of the environment
variables the operator lends to tenants (``RUNTIME_KEY_ENVS``), with a ``baseUrl`` at the
origin the operator lends it for; any other name or origin is refused, so a tenant can never
make the server send one of its own settings (SECRET_KEY, DATABASE_URL...), nor the lent key
itself, to an endpoint the tenant chose. An openai agent has exactly one of the two.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from django.conf import settings

from agents.runtimes.addresses import saved_url_problem
from agents.runtimes.signing import webhook_signing_key
from config.origins import url_origin
from core.secret_store import seal

MIN_SECRET_LENGTH = 16
MAX_SECRET_LENGTH = 4096
API_KEY = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it travels in a header

RUNTIME_KEYS = {
    "builtin": set(),
    "openai": {"baseUrl", "model", "apiKeyEnv", "inputCostPer1k", "outputCostPer1k", "images"},
    "webhook": {"url"},
}
# The runtime's secret as the API, the admin and stack documents name it, and as it is shown.
SECRET_NAMES = {"openai": "apiKey", "webhook": "secret"}
SHOWN_NAMES = {"openai": "hasApiKey", "webhook": "hasSecret"}


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = urlparse(value)
        return parsed.scheme in ("http", "https") and bool(parsed.hostname)
    except ValueError:  # e.g. a malformed IPv6 literal or port
        return False


def allowed_key_envs() -> list[str]:
    return list(settings.RUNTIME_KEY_ENVS)


def key_env_problem(name: Any, base_url: Any = None) -> str | None:
    """Why an openai agent calling ``base_url`` may not take its key from the variable
    ``name``, or None: the operator lends the name (RUNTIME_KEY_ENVS) for that origin."""
    allowed = allowed_key_envs()
    if not isinstance(name, str) or name not in allowed:
        listed = ", ".join(allowed) if allowed else "none"
        return (
            "must name a variable the operator lends to runtimes (RUNTIME_KEY_ENVS: "
            f"{listed}); otherwise give the key itself as apiKey"
        )
    origins = settings.RUNTIME_KEY_ORIGINS.get(name, [])
    if base_url is not None and url_origin(str(base_url)) not in origins:
        return (
            f"{name} is lent for {', '.join(origins)} only, not for this baseUrl; give "
            "your own apiKey to use another endpoint"
        )
    return None


def secret_problem(runtime: str, secret: Any) -> str | None:
    """Why ``secret`` cannot be the runtime's secret, or None."""
    if not isinstance(secret, str):
        return "must be a string"
    if len(secret) > MAX_SECRET_LENGTH:
        return f"must be at most {MAX_SECRET_LENGTH} characters"
    try:
        secret.encode("utf-8")
    except UnicodeError:
        return "must be text (it holds a lone surrogate)"
    if "\x00" in secret:
        return "must not contain NUL characters"
    if runtime == "openai":
        if not secret.strip():
            return "must not be empty"
        if not API_KEY.match(secret.strip()):
            return "must be printable ASCII without spaces"
    elif runtime == "webhook":
        if len(secret) < MIN_SECRET_LENGTH:
            return f"must be at least {MIN_SECRET_LENGTH} characters"
        try:
            webhook_signing_key(secret)
        except ValueError as exc:
            return str(exc)
    return None


def split_runtime(runtime: str, document: Mapping[str, Any]) -> tuple[dict[str, Any], Any]:
    """``(settings, secret)`` of a runtime as given (without ``type``); ``secret`` is None when
    the document does not give one."""
    name = SECRET_NAMES.get(runtime) if isinstance(runtime, str) else None
    config = {k: v for k, v in document.items() if k != "type" and k != name}
    return config, (document.get(name) if name else None)


def runtime_config_errors(runtime: str, config: Any, *, has_secret: bool) -> dict[str, str]:
    """Problems with the settings ``config`` for ``runtime`` when a secret is (``has_secret``)
    or is not stored with them, by key (empty when it is fine)."""
    if not isinstance(runtime, str) or runtime not in RUNTIME_KEYS:
        return {"type": f"'{runtime}' is not one of builtin, openai, webhook"}
    if not isinstance(config, dict):
        return {"": "must be an object"}
    errors: dict[str, str] = {}
    for key in sorted(set(config) - RUNTIME_KEYS[runtime], key=str):
        if key == SECRET_NAMES.get(runtime):
            errors[key] = "is a secret: it is stored encrypted, never in the configuration"
        else:
            errors[key] = f"is not a setting of the {runtime} runtime"
    if runtime == "openai":
        if not _is_http_url(config.get("baseUrl")):
            errors["baseUrl"] = "must be an http(s) URL, e.g. https://api.openai.com/v1"
        elif problem := saved_url_problem(config["baseUrl"]):
            errors["baseUrl"] = problem
        if not isinstance(config.get("model"), str) or not config.get("model", "").strip():
            errors["model"] = "is required, e.g. gpt-4o-mini"
        if "apiKeyEnv" in config:
            base_url = config.get("baseUrl") if _is_http_url(config.get("baseUrl")) else None
            if problem := key_env_problem(config["apiKeyEnv"], base_url):
                errors["apiKeyEnv"] = problem
            elif has_secret:
                errors["apiKey"] = "give the key (apiKey) or apiKeyEnv, not both"
        elif not has_secret:
            errors["apiKey"] = (
                "is required: the API key (stored encrypted, never shown again), or instead "
                "apiKeyEnv naming a variable the operator allows"
            )
        for key in ("inputCostPer1k", "outputCostPer1k"):
            price = config.get(key)
            if price is not None and (
                isinstance(price, bool) or not isinstance(price, int | float) or price < 0
            ):
                errors[key] = "must be a number >= 0 (the price of 1,000 tokens)"
        if "images" in config and not isinstance(config["images"], bool):
            errors["images"] = "must be true or false (the customer's photos sent to the model)"
    elif runtime == "webhook":
        if not _is_http_url(config.get("url")):
            errors["url"] = "must be an http(s) URL"
        elif problem := saved_url_problem(config["url"]):
            errors["url"] = problem
        if not has_secret:
            errors["secret"] = (
                f"is required: at least {MIN_SECRET_LENGTH} characters, the key that signs "
                "each request"
            )
    return errors


def runtime_errors(runtime: Any, document: Any, *, stored: bool = False) -> dict[str, str]:
    """Problems with a runtime as the API, the admin and stack documents give it: its settings
    and, optionally, its secret. ``stored``: the agent already has a secret for this runtime,
    which a document without one keeps."""
    if not isinstance(runtime, str) or runtime not in RUNTIME_KEYS:
        return {"type": f"'{runtime}' is not one of builtin, openai, webhook"}
    if not isinstance(document, Mapping):
        return {"": "must be an object"}
    config, secret = split_runtime(runtime, document)
    errors: dict[str, str] = {}
    if secret is not None and (problem := secret_problem(runtime, secret)):
        errors[SECRET_NAMES[runtime]] = problem
    keeps = stored and not (runtime == "openai" and "apiKeyEnv" in config)
    for key, message in runtime_config_errors(
        runtime, config, has_secret=secret is not None or keeps
    ).items():
        errors.setdefault(key, message)
    return errors


def runtime_secret_after(
    *, runtime: str, config: Mapping[str, Any], given: str | None, stored: str, same_runtime: bool
) -> str:
    """The sealed secret an agent keeps after a change of its runtime: ``given`` (a new secret,
    sealed here), else the ``stored`` token while the runtime stays and still uses it, else
    none."""
    if not isinstance(runtime, str) or runtime not in SECRET_NAMES:
        return ""
    if given is not None:
        return seal(given.strip() if runtime == "openai" else given)
    if not same_runtime or (runtime == "openai" and "apiKeyEnv" in config):
        return ""
    return stored


def public_runtime(runtime: str, config: Mapping[str, Any], *, has_secret: bool) -> dict[str, Any]:
    """The runtime as the API shows it: its settings, and whether a secret is stored (never
    the secret)."""
    shown: dict[str, Any] = {"type": runtime, **config}
    if runtime in SHOWN_NAMES:
        shown[SHOWN_NAMES[runtime]] = has_secret
    return shown
