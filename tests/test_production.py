"""Production settings and health endpoints: the deploy checks pass in the production
environment, the security headers are on every page, HTTPS is enforced behind a proxy (but
not on the embedded default), and the health endpoints answer probes without ever hanging."""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.test import Client
from django.utils import timezone

from config.health import run_checks

ROOT = Path(__file__).resolve().parents[1]


def production_env(**extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key
        not in {"DEBUG", "SECRET_KEY", "SECRETS_KEYS", "ALLOWED_HOSTS", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        SECRETS_KEYS=Fernet.generate_key().decode(),
        ALLOWED_HOSTS="example.com",
        BEHIND_PROXY="1",
        CSRF_TRUSTED_ORIGINS="https://example.com",
        **extra,
    )
    return env


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_deploy_checks_find_nothing_in_the_production_environment():
    result = deploy_check(production_env())

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_the_deploy_checks_do_catch_a_development_setting():
    result = deploy_check(production_env(SECURE_SSL_REDIRECT="0"))

    assert result.returncode != 0
    assert "security.W008" in result.stdout + result.stderr


def test_without_a_secret_key_production_refuses_to_start():
    env = production_env()
    del env["SECRET_KEY"]

    result = deploy_check(env)

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_without_the_secret_store_keys_production_refuses_to_start():
    env = production_env()
    del env["SECRETS_KEYS"]

    result = deploy_check(env)

    assert result.returncode != 0
    assert "SECRETS_KEYS is not set" in result.stderr


@pytest.mark.django_db
def test_pages_carry_the_security_headers(client):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    policy = response["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.mark.django_db
def test_the_embedded_default_serves_plain_http_with_ordinary_cookies(client):
    # the test settings come from DEBUG=1, as for `./run up`
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert "Strict-Transport-Security" not in response
    assert not response.cookies["csrftoken"]["secure"]


@pytest.fixture
def behind_proxy(settings):
    """The settings production mode derives from BEHIND_PROXY=1 with DEBUG off."""
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.USE_X_FORWARDED_HOST = True
    settings.SECURE_SSL_REDIRECT = True
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = True
    settings.SECURE_HSTS_SECONDS = 31_536_000
    settings.ALLOWED_HOSTS = ["example.com"]
    return settings


@pytest.mark.django_db
def test_behind_the_proxy_plain_http_is_sent_to_https(behind_proxy):
    response = Client().get("/accounts/login/?next=/inbox/", HTTP_HOST="example.com")

    assert response.status_code == 301
    assert response["Location"] == "https://example.com/accounts/login/?next=/inbox/"


@pytest.mark.django_db
def test_behind_the_proxy_https_pages_get_hsts_and_secure_cookies(behind_proxy):
    response = Client().get(
        "/accounts/login/",
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_HOST="example.com",
        HTTP_HOST="10.0.0.7:8000",
    )

    assert response.status_code == 200
    assert response["Strict-Transport-Security"].startswith("max-age=31536000")
    assert response.cookies["csrftoken"]["secure"]


@pytest.mark.django_db
def test_a_load_balancer_probes_over_plain_http_by_address(behind_proxy):
    probe = Client()

    live = probe.get("/health/live", HTTP_HOST="10.0.0.7:8000")
    page = probe.get("/accounts/login/", HTTP_HOST="10.0.0.7:8000")

    assert live.status_code == 200
    assert live.json() == {"status": "ok"}
    assert page.status_code == 400  # everything else still checks the host


@pytest.fixture
def embedded_services(settings, eager_tasks):
    """The embedded default's services (no Redis, tasks in process), on either test run."""
    settings.REDIS_URL = ""
    return settings


@pytest.mark.django_db(transaction=True)
def test_ready_on_the_embedded_default_checks_the_database(client, embedded_services):
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "skipped"
    assert body["checks"]["workers"] == {
        "status": "ok",
        "mode": "in process",
        "ms": body["checks"]["workers"]["ms"],
    }
    assert all(isinstance(check["ms"], float) for check in body["checks"].values())


def test_health_endpoints_only_answer_reads(client):
    response = client.post("/health/ready")

    assert response.status_code == 405
    assert response["Allow"] == "GET, HEAD"


@pytest.fixture
def silent_redis():
    """A port that accepts connections and never answers (a hung Redis)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    listener.close()


@pytest.mark.django_db(transaction=True)
def test_a_hung_redis_makes_ready_fail_without_hanging(client, embedded_services, silent_redis):
    embedded_services.REDIS_URL = silent_redis
    embedded_services.HEALTH_CHECK_TIMEOUT_MS = 400

    response = client.get("/health/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "fail"
    assert body["checks"]["redis"]["status"] == "fail"
    # its own socket timeout (half the budget) gave up, not the overall deadline
    assert body["checks"]["redis"]["error"] == "TimeoutError"
    assert body["checks"]["database"]["status"] == "ok"
    assert "127.0.0.1" not in response.content.decode()


def test_a_check_that_never_returns_is_reported_as_timed_out():
    release = threading.Event()
    try:
        results = run_checks({"stuck": lambda: release.wait(30) and {}, "fine": dict}, 0.2)
    finally:
        release.set()

    assert results["stuck"]["status"] == "fail"
    assert results["stuck"]["error"] == "timed out"
    assert results["fine"]["status"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_ready_tells_the_outbox_backlog(client, embedded_services):
    from core.models import OutboxEvent
    from tests.factories import TenantFactory

    tenant = TenantFactory()
    OutboxEvent.objects.create(
        tenant=tenant,
        kind="task",
        payload={"task": "handover.build_pack", "args": [1]},
        available_at=timezone.now(),
    )
    OutboxEvent.objects.filter().update(created_at=timezone.now() - dt.timedelta(minutes=3))

    database = client.get("/health/ready").json()["checks"]["database"]

    assert database["outboxPending"] == 1
    assert database["outboxOldestSeconds"] >= 180
