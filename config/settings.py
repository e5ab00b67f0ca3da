"""Project settings. The environment is read here, once (see config/env.py).

Nothing set: the embedded default (SQLite in WAL mode, in-memory channel layer, Celery tasks
run in process). DATABASE_URL switches to PostgreSQL through psycopg 3; REDIS_URL switches the
channel layer, the cache and the Celery broker to Redis.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from urllib.parse import urlsplit

import dj_database_url
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_float, env_int, env_list, env_str, names_read
from config.origins import url_origin
from config.ratelimit import parse_rate, parse_rate_overrides

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment, or set DEBUG=1 for development."
        )
    SECRET_KEY = "django-insecure-development-only-key-do-not-use-in-production"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=[])
if not ALLOWED_HOSTS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "ALLOWED_HOSTS is not set. Set it in the environment (comma-separated), "
            "or set DEBUG=1 for development."
        )
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

# --- The tenants' secret store (orchestration/secret_store.py) --------------------------------
# Secrets tenants give (runtime API keys, webhook signing secrets) are stored encrypted with
# Fernet keys from SECRETS_KEYS (comma-separated): the first encrypts, every one decrypts, so a
# new key goes first and the old one stays until `manage.py reseal_secrets` has re-encrypted
# every secret under the new key. Required without DEBUG, like SECRET_KEY; in development a key
# is derived from SECRET_KEY so `./run up` needs no setup.
SECRETS_KEYS = env_list("SECRETS_KEYS", default=[])
if not SECRETS_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRETS_KEYS is not set. Set it in the environment (one or more Fernet keys, "
            "comma-separated; make one with `python3 -c 'import base64, os; "
            "print(base64.urlsafe_b64encode(os.urandom(32)).decode())'`), "
            "or set DEBUG=1 for development."
        )
    SECRETS_KEYS = [
        base64.urlsafe_b64encode(
            hashlib.sha256(b"secret-store:" + SECRET_KEY.encode()).digest()
        ).decode()
    ]
for _position, _key in enumerate(SECRETS_KEYS, start=1):
    try:
        Fernet(_key)
    except (ValueError, TypeError):
        raise ImproperlyConfigured(
            f"SECRETS_KEYS: key {_position} is not a Fernet key (32 bytes in url-safe base64)"
        ) from None

# Where people reach the site: e-mails link to SITE_URL + path. Without DEBUG it defaults to
# https:// and the first of ALLOWED_HOSTS when that is a plain host name.
SITE_URL = env_str("SITE_URL").rstrip("/")
if not SITE_URL:
    _first = ALLOWED_HOSTS[0] if ALLOWED_HOSTS else ""
    if DEBUG:
        SITE_URL = "http://127.0.0.1:8000"
    elif _first and "*" not in _first and not _first.startswith("."):
        SITE_URL = f"https://{_first}"
    else:
        raise ImproperlyConfigured(
            "SITE_URL is not set and the first of ALLOWED_HOSTS is not a host name to use "
            "instead. Set SITE_URL, e.g. https://support.example.com."
        )
_site = urlsplit(SITE_URL)
if _site.scheme not in ("http", "https") or not _site.netloc or _site.query or _site.fragment:
    raise ImproperlyConfigured(
        f"SITE_URL must be an absolute http(s) URL such as https://support.example.com; "
        f"got {SITE_URL!r}"
    )

# --- HTTPS and security headers ---------------------------------------------------------------
# With DEBUG off the defaults are those of a site served over HTTPS (`check --deploy` is clean);
# the embedded default (DEBUG=1, plain http://127.0.0.1:8000) neither redirects nor marks
# cookies secure. Behind a TLS-terminating proxy (BEHIND_PROXY=1), the proxy's
# X-Forwarded-Proto and X-Forwarded-Host are trusted: it must set (not pass through) them.
BEHIND_PROXY = env_bool("BEHIND_PROXY", default=False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    USE_X_FORWARDED_HOST = True
# The health endpoints answer before this redirect (and before the host check), so a load
# balancer can probe them over plain HTTP (config/health.py).
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"  # no page of ours is ever framed (frame-ancestors 'none' below too)
# Scripts only from our own static files (page settings travel in json_script blocks, which
# are data, not code). Inline styles stay allowed: server-rendered bars and charts set widths
# in style attributes, and the admin and the API docs carry small <style> blocks. 'self' covers
# the pages' websockets (ws/wss to the same host) in current browsers.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "channels",
    "django_celery_beat",
    # the house, bottom to top: every import goes down (README, Layout)
    "core",
    "conversations",
    "agents",
    "handover",
    "approvals",
    "insight",
    "orchestration",
    "stacks",
    "tools",
]

MIDDLEWARE = [
    # first: probes get their answer before the HTTPS redirect and the allowed-hosts check
    "config.health.HealthCheckMiddleware",
    # the request id (X-Request-ID), the logs' ids, the HTTP metrics (core/observability)
    "core.observability.middleware.RequestObservabilityMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
    "config.security.RejectNulCharactersMiddleware",
    "config.security.RequestSizeLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.unavailable.DatabaseUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Under ASGI every request may run on another thread, so per-thread persistent connections
    # would pile up; a psycopg connection pool keeps connections open and shares them instead,
    # checking each one before handing it out. DB_POOL=0 falls back to per-request connections
    # (DB_CONN_MAX_AGE, with health checks) for setups behind an external pooler (PgBouncer).
    DB_POOL = env_bool("DB_POOL", default=True)
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=0 if DB_POOL else env_int("DB_CONN_MAX_AGE", 0),
            conn_health_checks=True,
        )
    }
    if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        raise ImproperlyConfigured("DATABASE_URL must point at PostgreSQL (postgres://...).")
    # Server-side binding: the parameters travel apart from the statement (no quoting in
    # Python), and psycopg prepares a statement once a connection has run it
    # DB_PREPARE_THRESHOLD times, so PostgreSQL stops parsing and planning the hot path's
    # statements over and over (bench/pipeline.py, issue 17). Django turns psycopg's
    # preparing off unless OPTIONS name a threshold. Both off behind a transaction-mode pooler
    # that cannot keep prepared statements (DB_POOL=0 with PgBouncer): DB_SERVER_SIDE_BINDING=0.
    server_side_binding = env_bool("DB_SERVER_SIDE_BINDING", default=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        server_side_binding=server_side_binding,
        prepare_threshold=env_int("DB_PREPARE_THRESHOLD", 5) if server_side_binding else None,
    )
    if DB_POOL:
        # Django checks each pooled connection before use because CONN_HEALTH_CHECKS is on.
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": env_int("DB_POOL_MIN_SIZE", 2),
            "max_size": env_int("DB_POOL_MAX_SIZE", 20),
            "timeout": env_int("DB_POOL_TIMEOUT", 10),
        }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH") or str(BASE_DIR / "db.sqlite3"),
            "OPTIONS": {
                # WAL lets readers work while one writer writes; IMMEDIATE takes the write lock
                # at BEGIN so two writers queue instead of failing with "database is locked".
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# HTTP requests of a process inside Django at once (config/admission.py); the rest wait their
# turn on the event loop. 0: unbounded (a thread per request, taking turns on the GIL).
HTTP_CONCURRENCY = env_int("HTTP_CONCURRENCY", 8)
# Threads per process for the websockets' database work (config/socket_threads.py); with the
# HTTP requests' threads they share the process's DB_POOL_MAX_SIZE connections. 0: channels'
# way, asgiref's one shared thread; the default on SQLite, which takes one writer at a time
# anyway (and whose in-memory test database refuses a second thread's).
SOCKET_DB_THREADS = env_int("SOCKET_DB_THREADS", 4 if DATABASE_URL else 0)

# --- Redis: channel layer, cache, Celery broker ---------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    from redis.asyncio.retry import Retry as AsyncRedisRetry
    from redis.backoff import ExponentialBackoff

    CHANNEL_LAYERS = {
        "default": {
            # channels_redis's, with a turn's events sent in one command (config/channel_layer.py)
            "BACKEND": "config.channel_layer.BatchingRedisChannelLayer",
            "CONFIG": {
                # channels_redis blocks on reads for 5 s while a worker is quiet; redis-py 8's
                # default 5 s socket timeout would then close idle sockets, and its default
                # pool of 100 connections is too small for many sockets leaving at once.
                # After Redis restarts, pooled connections are dead: a command retries on a
                # fresh one (twice, quickly) rather than failing the socket it serves.
                "hosts": [
                    {
                        "address": REDIS_URL,
                        "socket_timeout": None,
                        "socket_connect_timeout": 2,
                        "max_connections": env_int("CHANNELS_REDIS_MAX_CONNECTIONS", 1000),
                        "retry": AsyncRedisRetry(ExponentialBackoff(cap=0.5, base=0.05), 2),
                    }
                ],
                "prefix": env_str("CHANNELS_PREFIX", "asgi"),
                # channels_redis counts its capacity on one Redis queue per ASGI process, shared
                # by all of that process's sockets (django/channels_redis#97), and a group_send
                # to a full queue drops the event silently. Its default of 100 lost 18% of the
                # inbox events in bench/load.py (50 customers, 10 agents, 2 processes).
                "capacity": env_int("CHANNELS_CAPACITY", 10_000),
            },
        }
    }
    CACHES = {
        "default": {
            # a cache that is down is a cache miss, never an error (config/cache.py)
            "BACKEND": "config.cache.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env_str("CACHE_PREFIX", "backoffice"),
            "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 2},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# The broker is REDIS_URL's Redis unless CELERY_BROKER_URL names another one.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or REDIS_URL or "memory://"
if CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # a publish never waits long on a broker that is away (the outbox relays it later)
        "socket_connect_timeout": 2,
        "socket_timeout": 10,
        # a task whose worker died unacknowledged (SIGKILL, lost machine) is delivered again
        # after this long; it must exceed the longest task and the longest countdown
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "unacked_restore_interval": env_int("CELERY_UNACKED_RESTORE_INTERVAL", 10),
        "unacked_restore_throttle": 1,
    }
if CELERY_BROKER_URL.startswith("redis://"):
    # kombu's Redis transport keeping one client object per channel (config/broker.py)
    CELERY_BROKER_TRANSPORT = "config.broker:Transport"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_BROKER_CONNECTION_TIMEOUT = 3
# Several deployments may share one Redis: each then names its own queue (and CHANNELS_PREFIX).
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "celery")
# An AI turn's run (an agent's runtime calls: seconds of waiting on an LLM or a webhook) goes to
# a queue of its own, served by a threads-pool worker (Procfile: turns), so that it never waits
# behind, nor holds up, the other tasks.
# (A deployment that names its own CELERY_QUEUE gets "<CELERY_QUEUE>-turns", as the Procfile.)
CELERY_TURNS_QUEUE = env_str("CELERY_TURNS_QUEUE") or (
    f"{env_str('CELERY_QUEUE')}-turns" if env_str("CELERY_QUEUE") else "turns"
)
CELERY_TASK_ROUTES = {"orchestration.run_turn": {"queue": CELERY_TURNS_QUEUE}}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# /health/ready: every check gives up after this long (database, Redis, worker ping)
HEALTH_CHECK_TIMEOUT_MS = env_int("HEALTH_CHECK_TIMEOUT_MS", 2000)
CELERY_TIMEZONE = "UTC"

# --- Configuration generations (core/config_version.py) and the in-process runner ----------
# Each process checks the database for configuration or credentials changed elsewhere at most
# once every CONFIG_CHECK_SECONDS (one indexed query that finds no row when nothing changed).
CONFIG_CHECK_SECONDS = env_float("CONFIG_CHECK_SECONDS", 1.0)
# On the embedded default (no broker), IN_PROCESS_RUNNER=1 runs Celery tasks and the periodic
# sweeps on threads of the web process (config/runner.py), started by config/asgi.py; ./run up
# sets it. Off, tasks queued on the embedded default run inline in the request that queued them.
IN_PROCESS_RUNNER = env_bool("IN_PROCESS_RUNNER", default=False)
# bench/pipeline.py's server only: POST /api/v1/bench/floor, the stack's floor (core/bench_floor.py)
BENCH_FLOOR = env_bool("BENCH_FLOOR", default=False)
IN_PROCESS_RUNNER_THREADS = env_int("IN_PROCESS_RUNNER_THREADS", 16)

# --- Delivery that must not be lost (orchestration/outbox.py) ---------------------------------
OUTBOX_BROKER_BACKOFF = env_int("OUTBOX_BROKER_BACKOFF", 10)  # s without publishing after a failure
# s a relay holds the rows it claimed (or wrote) before another relay may take them again
OUTBOX_LEASE_SECONDS = env_int("OUTBOX_LEASE_SECONDS", 30)
# s between the marks of the rows a process relayed to the broker after its commits, written
# together in one UPDATE (core/outbox.py, _Marks); 0: each marked at once, in its request
OUTBOX_MARK_BATCH_SECONDS = env_float("OUTBOX_MARK_BATCH_SECONDS", 0.5)
CHANNEL_SEND_TIMEOUT = env_int("CHANNEL_SEND_TIMEOUT", 3)  # s for a channel-layer send
# an execution queued or running this long without news is sent to the workers again
EXECUTION_STALE_SECONDS = env_int("EXECUTION_STALE_SECONDS", 600)

# --- The turn (orchestration/turns.py) ------------------------------------------------------
# "outbox": an AI turn's run is a Celery task dispatched through the outbox (on the embedded
# default, the in-process runner runs it); "inline": it runs in the caller right after the
# decide transaction commits (the tests, scripts)
TURN_DISPATCH = env_str("TURN_DISPATCH", "outbox")
if TURN_DISPATCH not in ("outbox", "inline"):
    raise ImproperlyConfigured('TURN_DISPATCH must be "outbox" or "inline".')
# a turn's task: soft and hard time limits (s; the runtimes' own timeouts come first)
# Threads of a process in a turn's database phases (reading the turn, applying its outcome) at
# once; the other runs wait asleep instead of taking turns on the GIL with a thread that holds
# the conversation's lock (config/admission.py, section). 0: no bound.
TURN_DATABASE_THREADS = env_int("TURN_DATABASE_THREADS", 4)
TURN_SOFT_TIME_LIMIT = env_int("TURN_SOFT_TIME_LIMIT", 150)
TURN_TIME_LIMIT = env_int("TURN_TIME_LIMIT", 180)
# a turn pending this long is sent to the workers again, then (as long again) given up
TURN_STALE_SECONDS = env_int("TURN_STALE_SECONDS", 240)
# the runtimes' HTTP policy (agents/runtimes/http.py), when the operator sets it
AGENT_RUNTIME_HTTP = {
    key: value
    for key, value in (
        ("read_timeout", env_str("AGENT_HTTP_READ_TIMEOUT")),
        ("connect_timeout", env_str("AGENT_HTTP_CONNECT_TIMEOUT")),
        ("attempts", env_str("AGENT_HTTP_ATTEMPTS")),
    )
    if value
}

# --- Auth and pages -------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
# Database sessions that know their person, so "sign out everywhere" and a deactivation end
# them all at once (orchestration/sessions.py).
SESSION_ENGINE = "core.sessions"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_str("STATIC_ROOT") or str(BASE_DIR / "staticfiles")  # collectstatic
# Files sent in conversations (conversations/attachments.py): stored through Django's
# default storage (a folder here; STORAGES may name object storage), never served from a
# public URL: only by a signed link, valid ATTACHMENT_LINK_SECONDS.
MEDIA_ROOT = env_str("MEDIA_ROOT") or str(BASE_DIR / "media")
ATTACHMENT_MAX_BYTES = env_int("ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)
ATTACHMENT_LINK_SECONDS = env_int("ATTACHMENT_LINK_SECONDS", 7 * 24 * 3600)
# What one tenant's files may take in all, unless the operator sets the tenant's own limit
# (Tenant.files_limit_mb; conversations/file_quota.py).
TENANT_FILES_MAX_MB = env_int("TENANT_FILES_MAX_MB", 2048)
# No request body is larger (config/security.py, before CSRF parses a form): the largest door
# takes 25 MiB (a mail provider's post); each door has its own, smaller limit too.
REQUEST_MAX_BYTES = env_int("REQUEST_MAX_BYTES", 26 * 1024 * 1024)

EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "support-backoffice@localhost")

# --- Rate limits (config/ratelimit.py) ------------------------------------------------------
# Fixed windows counted in REDIS_URL's Redis (in process on the embedded default). A rate is
# "600/min", "10/m", "5/30s", "1000/hour" or "off". A Redis that is down or slower than the
# timeout lets requests pass (with a warning): the limits never take the API down.
API_RATE_LIMIT = env_str("API_RATE_LIMIT", "600/min")  # per API key, personal token or session
# per-tenant overrides of API_RATE_LIMIT: "acme=1200/min,globex=off"
API_RATE_LIMIT_TENANTS = parse_rate_overrides(
    env_str("API_RATE_LIMIT_TENANTS"), setting="API_RATE_LIMIT_TENANTS"
)
# sign-in (orchestration/login.py): failed attempts per (username, address) pair; every attempt
# per address; failed attempts per username from everywhere (over it: one try per address, and a
# correct password still signs in, so others' failures never lock the owner out)
LOGIN_RATE_LIMIT = env_str("LOGIN_RATE_LIMIT", "10/min")
LOGIN_IP_RATE_LIMIT = env_str("LOGIN_IP_RATE_LIMIT", "30/min")
LOGIN_USERNAME_RATE_LIMIT = env_str("LOGIN_USERNAME_RATE_LIMIT", "20/min")
# the public chat (handover/limits.py): starts per client address and per tenant; customer
# socket messages per conversation and per client address
CHAT_START_RATE_LIMIT = env_str("CHAT_START_RATE_LIMIT", "10/min")
CHAT_START_TENANT_RATE_LIMIT = env_str("CHAT_START_TENANT_RATE_LIMIT", "300/min")
CHAT_MESSAGE_RATE_LIMIT = env_str("CHAT_MESSAGE_RATE_LIMIT", "20/min")
CHAT_MESSAGE_IP_RATE_LIMIT = env_str("CHAT_MESSAGE_IP_RATE_LIMIT", "60/min")
INBOX_UPLOAD_RATE_LIMIT = env_str("INBOX_UPLOAD_RATE_LIMIT", "30/min")  # per signed-in person
# how long a web chat visitor's network address stays blocked (0: for good; conversations.blocks)
CHAT_ADDRESS_BLOCK_DAYS = env_int("CHAT_ADDRESS_BLOCK_DAYS", 30)
if not 0 <= CHAT_ADDRESS_BLOCK_DAYS <= 3650:
    raise ImproperlyConfigured("CHAT_ADDRESS_BLOCK_DAYS must be 0 (for good) to 3650 days")
# copies of their conversation customers have e-mailed, per client address
CHAT_TRANSCRIPT_RATE_LIMIT = env_str("CHAT_TRANSCRIPT_RATE_LIMIT", "5/hour")
# a signed-in chat visitor's conversations listed or opened, per client address
CHAT_IDENTITY_RATE_LIMIT = env_str("CHAT_IDENTITY_RATE_LIMIT", "60/min")
for _name in (
    "API_RATE_LIMIT",
    "LOGIN_RATE_LIMIT",
    "LOGIN_IP_RATE_LIMIT",
    "LOGIN_USERNAME_RATE_LIMIT",
    "CHAT_START_RATE_LIMIT",
    "CHAT_START_TENANT_RATE_LIMIT",
    "CHAT_MESSAGE_RATE_LIMIT",
    "CHAT_MESSAGE_IP_RATE_LIMIT",
    "INBOX_UPLOAD_RATE_LIMIT",
    "CHAT_TRANSCRIPT_RATE_LIMIT",
    "CHAT_IDENTITY_RATE_LIMIT",
):
    parse_rate(globals()[_name], setting=_name)
RATE_LIMIT_REDIS_TIMEOUT_MS = env_int("RATE_LIMIT_REDIS_TIMEOUT_MS", 250)
RATE_LIMIT_PREFIX = env_str("RATE_LIMIT_PREFIX", "ratelimit")

# --- API ------------------------------------------------------------------------------------
API_MAX_BODY_BYTES = env_int("API_MAX_BODY_BYTES", 1024 * 1024)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "core.api_auth.BearerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # every view: the permission matrix (orchestration/permissions.py), deny by default
    "DEFAULT_PERMISSION_CLASSES": ["core.api_auth.MatrixPermission"],
    "DEFAULT_THROTTLE_CLASSES": ["core.api_throttle.ApiRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["core.api_parsers.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "EXCEPTION_HANDLER": "core.api_errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# --- Agent runtimes -------------------------------------------------------------------------
# The webhook and OpenAI-compatible runtimes connect to public addresses only: not loopback,
# private, link-local (the cloud's metadata service) or other reserved ranges, which a tenant's
# manager could otherwise reach through a URL (agents/runtimes/addresses.py). Allowed by default
# only in development; turn it on for an LLM served on your own private network.
RUNTIME_ALLOW_PRIVATE_NETWORKS = env_bool("RUNTIME_ALLOW_PRIVATE_NETWORKS", default=DEBUG)
# The webhook runtime signs as the Standard Webhooks specification says (webhook-id,
# webhook-timestamp, webhook-signature). Deprecated: on, it also sends the headers of our old
# scheme (X-Timestamp, X-Signature: sha256=..., X-Delivery-Id); on for this release only.
WEBHOOK_LEGACY_SIGNATURE = env_bool("WEBHOOK_LEGACY_SIGNATURE", default=True)
# A tenant's webhook endpoint every attempt to which has failed for this long (and at least a
# whole delivery's attempts) is switched off by itself and its managers are mailed (Svix's and
# Stripe's rule; orchestration/webhooks.py). A manager switches it on again.
WEBHOOK_DISABLE_AFTER_HOURS = env_int("WEBHOOK_DISABLE_AFTER_HOURS", 120)

SPECTACULAR_SETTINGS = {
    "TITLE": "AI support back office API",
    "DESCRIPTION": "Tenant-scoped REST API: agents, rules, conversations, approvals, handoffs.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Served from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # one name for the priority bands, whichever field carries them (priorityBand, priority)
    "ENUM_NAME_OVERRIDES": {
        "PriorityBandEnum": "agents.orchestrator_settings.BANDS",
        "ErasureKindEnum": "conversations.models.ErasureKind",
    },
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "core.api_schema.document_errors",
    ],
}

# Logs: JSON lines in production, plain text in development (LOG_FORMAT=json|plain); each
# line carries the request, tenant, conversation and trace ids (core/observability/logs.py).
LOG_FORMAT = env_str("LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in ("json", "plain"):
    raise ImproperlyConfigured('LOG_FORMAT must be "json" or "plain".')
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"ids": {"()": "core.observability.logs.ContextFilter"}},
    "formatters": {
        "plain": {"()": "core.observability.logs.PlainFormatter"},
        "json": {"()": "core.observability.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["ids"]}
    },
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Operators' view (README: Production, observability). /metrics answers a caller with the
# bearer METRICS_TOKEN or from an address (or network) in METRICS_ALLOW_IPS, and nobody else.
METRICS_ENABLED = env_bool("METRICS_ENABLED", default=True)
# set: every process writes its series there and /metrics adds them up (prometheus_client
# reads it from the environment itself, at import; ./run prod sets it)
PROMETHEUS_MULTIPROC_DIR = env_str("PROMETHEUS_MULTIPROC_DIR")
METRICS_TOKEN = env_str("METRICS_TOKEN")
METRICS_ALLOW_IPS = env_list("METRICS_ALLOW_IPS", default=[])
# Traces go over OTLP/HTTP when an endpoint is set; the share of turns traced (0..1).
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT")
OTEL_SERVICE_NAME = env_str("OTEL_SERVICE_NAME", "backoffice")
# The admin's timeline links a decision's trace: this address with the trace id appended.
TRACE_URL = env_str("TRACE_URL")
try:
    OTEL_TRACES_SAMPLER_ARG = float(env_str("OTEL_TRACES_SAMPLER_ARG", "0.1"))
except ValueError as _exc:
    raise ImproperlyConfigured("OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1.") from _exc
if not 0 <= OTEL_TRACES_SAMPLER_ARG <= 1:
    raise ImproperlyConfigured("OTEL_TRACES_SAMPLER_ARG must be a number from 0 to 1.")

# --- Runtime keys the operator lends to tenants -----------------------------------------------
# Tenants store their own API keys (encrypted, see SECRETS_KEYS). An openai agent may instead
# name, as apiKeyEnv, a variable the operator lends in RUNTIME_KEY_ENVS, each as NAME@origin:
# the key is only ever sent to that origin (scheme, host, port; https when only a host is
# written), never to another baseUrl a tenant chooses. Those variables alone are read, here,
# into RUNTIME_KEYS_FROM_ENV; any other name is refused on save and at run time. Last in this
# file: a variable these settings read for the server itself (SECRET_KEY, DATABASE_URL...) can
# never be lent.
_SERVER_NAMES = names_read()
RUNTIME_KEY_ORIGINS: dict[str, list[str]] = {}
for _entry in env_list("RUNTIME_KEY_ENVS", default=["OPENAI_API_KEY@https://api.openai.com"]):
    _name, _, _where = _entry.partition("@")
    _name, _where = _name.strip(), _where.strip()
    _origin = url_origin(_where if "://" in _where else f"https://{_where}") if _where else None
    if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", _name) or _origin is None:
        raise ImproperlyConfigured(
            f"RUNTIME_KEY_ENVS: {_entry!r} must be NAME@origin, the variable and the only "
            "endpoint its key is sent to, e.g. OPENAI_API_KEY@https://api.openai.com"
        )
    if _name in _SERVER_NAMES or _name.startswith(("DJANGO_", "CELERY_")):
        raise ImproperlyConfigured(
            f"RUNTIME_KEY_ENVS names {_name}, a setting of the server itself; "
            "list only variables that hold keys for tenants' runtimes"
        )
    RUNTIME_KEY_ORIGINS.setdefault(_name, []).append(_origin)
RUNTIME_KEY_ENVS = list(RUNTIME_KEY_ORIGINS)
RUNTIME_KEYS_FROM_ENV = {name: env_str(name) for name in RUNTIME_KEY_ENVS}
