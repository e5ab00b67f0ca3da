"""What each agent runtime needs in its configuration (SPEC 4.6), checked in one place."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

from agents.runtimes.addresses import saved_url_problem

ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
MIN_SECRET_LENGTH = 16

RUNTIME_KEYS = {
    "builtin": set(),
    "openai": {"baseUrl", "model", "apiKeyEnv", "inputCostPer1k", "outputCostPer1k"},
    "webhook": {"url", "secret"},
}


def _is_http_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def runtime_config_errors(runtime: str, config: Any) -> dict[str, str]:
    """Problems with ``config`` for ``runtime``, by key (empty when it is fine)."""
    if runtime not in RUNTIME_KEYS:
        return {"type": f"'{runtime}' is not one of builtin, openai, webhook"}
    if not isinstance(config, dict):
        return {"": "must be an object"}
    errors: dict[str, str] = {}
    for key in sorted(set(config) - RUNTIME_KEYS[runtime]):
        errors[key] = f"is not a setting of the {runtime} runtime"
    if runtime == "openai":
        if not _is_http_url(config.get("baseUrl")):
            errors["baseUrl"] = "must be an http(s) URL, e.g. https://api.openai.com/v1"
        elif problem := saved_url_problem(config["baseUrl"]):
            errors["baseUrl"] = problem
        if not isinstance(config.get("model"), str) or not config.get("model", "").strip():
            errors["model"] = "is required, e.g. gpt-4o-mini"
        env = config.get("apiKeyEnv")
        if not isinstance(env, str) or not ENV_NAME.match(env):
            errors["apiKeyEnv"] = (
                "must name the environment variable that holds the key, e.g. OPENAI_API_KEY"
            )
        for key in ("inputCostPer1k", "outputCostPer1k"):
            price = config.get(key)
            if price is not None and (
                isinstance(price, bool) or not isinstance(price, int | float) or price < 0
            ):
                errors[key] = "must be a number >= 0 (the price of 1,000 tokens)"
    elif runtime == "webhook":
        if not _is_http_url(config.get("url")):
            errors["url"] = "must be an http(s) URL"
        elif problem := saved_url_problem(config["url"]):
            errors["url"] = problem
        secret = config.get("secret")
        if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
            errors["secret"] = f"must be at least {MIN_SECRET_LENGTH} characters"
    return errors


def public_runtime(runtime: str, config: dict) -> dict[str, Any]:
    """The runtime as the API shows it: the webhook's signing secret is never read back."""
    shown: dict[str, Any] = {"type": runtime}
    for key, value in config.items():
        if key == "secret":
            shown["hasSecret"] = bool(value)
        else:
            shown[key] = value
    return shown
