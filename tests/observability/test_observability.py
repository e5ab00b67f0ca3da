"""The operators' view: JSON logs with the ids and without the customer's words, /metrics for
the scraper only with the product's series, counts that add up across processes, one trace
per turn, and the alert rules' structure."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.urls import reverse
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from approvals.services import action_propose, approval_decide
from conversations.models import Conversation, DecisionEvent
from core.observability import tracing
from core.observability.logs import ContextFilter, JsonFormatter

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]
SECRET_WORDS = "my card number is 4242 and my mail is kim.secret@example.com"
TOKEN = "scrape-me-please"


def start(client) -> str:
    response = client.post(
        "/api/v1/conversations",
        {"agentId": "agent-sup", "channel": "web", "customer": {"id": "c-1", "name": "Kim"}},
        format="json",
    )
    assert response.status_code == 201, response.json()
    return response.json()["id"]


def say(client, conversation_id, text):
    response = client.post(
        f"/api/v1/conversations/{conversation_id}/messages",
        {"text": text},
        format="json",
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 201, response.json()
    assert response["X-Request-ID"] == "req-123"
    return response.json()


@pytest.fixture
def json_lines():
    """What the console handler of production writes, captured."""
    records: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record):
            records.append(self.format(record))

    handler = Capture(level=logging.DEBUG)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield records
    root.removeHandler(handler)
    root.setLevel(before)


def test_a_turns_logs_are_json_with_the_ids_and_without_the_customers_words(
    key_client, team, tenant, json_lines
):
    conv = start(key_client)
    say(key_client, conv, SECRET_WORDS)
    lines = [json.loads(line) for line in json_lines]
    assert lines, "the turn logged nothing"
    in_turn = [line for line in lines if line.get("conversation_id") == conv]
    assert in_turn, "no line carries the conversation id"
    assert {"turn step decide", "turn step agent_run", "turn step apply"} <= {
        line["message"].split(":")[0] for line in in_turn
    }
    assert all(line["request_id"] == "req-123" for line in in_turn)
    assert all(line["tenant_id"] == str(tenant.pk) for line in in_turn)
    text = "\n".join(json_lines)
    assert "4242" not in text.replace(conv, "") and "kim.secret" not in text


def test_an_email_in_an_exception_is_masked(json_lines):
    try:
        raise ValueError("duplicate key (email)=(kim.secret@example.com)")
    except ValueError:
        logging.getLogger("tests").exception("insert failed")
    line = json.loads(json_lines[-1])
    assert "kim.secret" not in json_lines[-1] and "<email>" in line["exception"]


def test_metrics_refuse_the_anonymous_and_a_wrong_token(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOW_IPS = ["10.0.0.0/8"]
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW_IPS = []
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 401


def _value(text: str, series: str) -> float:
    total = 0.0
    for line in text.splitlines():
        # a name matches itself only; a name with labels matches the lines it begins
        follows = line[len(series) : len(series) + 1]
        if line.startswith(series) and ("{" in series or follows in ("{", " ")):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_the_scraper_sees_the_series_after_a_turn_a_handoff_and_an_approval(
    key_client, team, tenant, online, client, settings
):
    settings.METRICS_TOKEN = TOKEN

    def scrape() -> str:
        response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert response.status_code == 200
        return response.content.decode()

    before = scrape()
    conv = start(key_client)
    say(key_client, conv, "hello, where is my parcel?")
    handoff_id = say(key_client, conv, "I want to speak to a human please")["handoff"]["id"]
    ada, _ = online
    people = APIClient()
    people.force_login(ada)
    assert people.post(f"/api/v1/handoffs/{handoff_id}/claim").status_code == 200
    priya = get_user_model().objects.get(username="priya")
    conversation = Conversation.objects.select_related("tenant", "current_agent").get(pk=conv)
    asked = action_propose(
        conversation=conversation,
        action="issue_refund",
        params={"orderId": "A-12345", "amount": 130},
        idempotency_key="r-1",
        requested_by_label="agent:agent-billing",
        agent_slug="agent-billing",
    )
    assert _value(scrape(), "backoffice_approvals_pending") >= 1
    approval_decide(approval=asked.approval, user=priya, verdict="deny", reason="too much")
    after = scrape()

    def grew(series: str) -> bool:
        return _value(after, series) > _value(before, series)

    assert grew('backoffice_turns_total{outcome="answered"}')
    assert grew('backoffice_turn_step_duration_seconds_count{step="decide"}')
    assert grew('backoffice_turn_step_duration_seconds_count{step="agent_run"}')
    assert grew('backoffice_turn_step_duration_seconds_count{step="apply"}')
    assert grew('backoffice_agent_call_duration_seconds_count{runtime="builtin"}')
    assert grew('backoffice_handoffs_total{event="offered"')
    assert grew('backoffice_handoffs_total{event="claimed"')
    assert grew('backoffice_approval_decision_seconds_count{outcome="denied"}')
    assert grew(
        'backoffice_http_requests_total{method="POST",route="/api/v1/conversations/<uuid:'
    ) or grew('backoffice_http_requests_total{method="POST",route="/api/v1/conversations/<')
    assert grew('backoffice_db_queries_total{kind="select"}')
    assert "backoffice_outbox_backlog" in after and "backoffice_outbox_oldest_age_seconds" in after
    assert "backoffice_handoffs_unclaimed" in after
    assert _value(after, "backoffice_approvals_pending") == 0
    # no series is labelled by tenant (a label *value* may name one: an admin page's route,
    # /admin/core/tenant/..., visited by an earlier test, is a bounded route, not a tenant)
    labels = {
        label
        for family in text_string_to_metric_families(after)
        if family.name.startswith("backoffice_")
        for sample in family.samples
        for label in sample.labels
    }
    assert labels and not [label for label in labels if "tenant" in label.lower()], labels


WRITER = textwrap.dedent(
    """
    import os, sys
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    django.setup()
    from core.observability import metrics
    for _ in range(int(sys.argv[1])):
        metrics.turn_done("answered")
    metrics.socket_opened()
    metrics.socket_closed(1000)
    """
)


def test_the_counts_of_several_processes_add_up(tmp_path):
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "DEBUG": "1"}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(n)], cwd=ROOT, env=env) for n in (3, 4)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    reader = textwrap.dedent(
        """
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        print(generate_latest(registry).decode())
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", reader],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert _value(out, 'backoffice_turns_total{outcome="answered"}') == 7
    assert _value(out, "backoffice_socket_connections_opened_total") == 2
    assert _value(out, 'backoffice_socket_connections_closed_total{code="1000"}') == 2


@pytest.fixture(scope="module")
def spans():
    """The spans the module's tests record. The process has one tracer provider (it can be set
    only once): each setup of this fixture (pytest-django runs the transactional test apart,
    after other modules, so it is set up twice) adds its own processor to it and shuts it down
    afterwards. Module-scoped, so that the first setup installs the instrumentations outside any
    test's settings override (whose teardown would undo the middleware order tracing sets)."""
    exporter = InMemorySpanExporter()
    processor = SimpleSpanProcessor(exporter)
    tracing.tracing_configure(processor=processor, rate=1.0)
    yield exporter
    processor.shutdown()


@pytest.mark.django_db(transaction=True)
def test_one_turn_through_the_outbox_is_one_trace(
    key_client, team, settings, spans, eager_tasks, manager_client
):
    settings.TURN_DISPATCH = "outbox"
    conv = start(key_client)
    spans.clear()
    # no test transaction around it: the relay runs after the request's commit, as in
    # production, and the task (eager) runs at once
    say(key_client, conv, "hello, where is my parcel?")
    finished = spans.get_finished_spans()
    names = {span.name for span in finished}
    assert {"turn.decide", "turn.agent_run", "turn.apply"} <= names, names
    web = [s for s in finished if s.kind == trace.SpanKind.SERVER]
    task = [s for s in finished if "run_turn" in s.name]
    assert web and task, names
    trace_ids = {s.context.trace_id for s in finished if s.name.startswith(("turn.", "run/"))}
    assert trace_ids == {web[0].context.trace_id}
    decide = next(s for s in finished if s.name == "turn.decide")
    assert decide.attributes["turn.reply_status"] == "pending"
    apply = next(s for s in finished if s.name == "turn.apply")
    assert apply.attributes["turn.outcome"] == "answered"
    assert REGISTRY.get_sample_value(
        "backoffice_celery_tasks_total", {"task": "orchestration.run_turn", "outcome": "succeeded"}
    )
    # the decision events keep the trace id, and the admin's timeline links it
    trace_hex = format(web[0].context.trace_id, "032x")
    replied = DecisionEvent.objects.get(conversation_id=conv, type="agent.replied")
    assert replied.trace_id == trace_hex
    settings.TRACE_URL = "https://tempo.example.com/trace/"
    page = manager_client.get(reverse("admin:insight_timeline", args=[conv]))
    assert f'href="https://tempo.example.com/trace/{trace_hex}"' in page.content.decode()


def test_the_webhook_request_carries_traceparent(spans):
    with tracing.span("turn.agent_run"):
        headers = tracing.headers()
    assert headers["traceparent"].startswith("00-")


def test_the_alert_rules_are_prometheus_rule_groups():
    rules = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"]: rule for group in rules["groups"] for rule in group["rules"]}
    for name in (
        "HighErrorRate",
        "TurnLatencyP95High",
        "OutboxStale",
        "HandoffsUnclaimed",
        "WorkersDown",
    ):
        rule = alerts[name]
        assert rule["expr"] and rule["labels"]["severity"] and rule["annotations"]["summary"]
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "backoffice.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p.get("targets", []))
    for series in (
        "backoffice_http_requests_total",
        "backoffice_turn_step_duration_seconds",
        "backoffice_outbox_oldest_age_seconds",
        "backoffice_handoffs_unclaimed",
    ):
        assert series in exprs


def test_the_scraper_counts_the_files_stored_and_refused(
    key_client, team, client, settings, tmp_path
):
    settings.METRICS_TOKEN = TOKEN
    settings.MEDIA_ROOT = str(tmp_path)

    def scrape() -> str:
        return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").content.decode()

    before = scrape()
    conv = start(key_client)
    url = f"/api/v1/conversations/{conv}/files"
    png = b"\x89PNG\r\n\x1a\n" + bytes(24)
    stored = key_client.post(url, {"file": _upload("a.png", png)}, format="multipart")
    refused = key_client.post(url, {"file": _upload("a.exe", b"MZ\x90")}, format="multipart")
    after = scrape()

    assert (stored.status_code, refused.status_code) == (201, 400)
    series = 'backoffice_attachments_total{outcome="%s",sent_by="customer"}'
    assert _value(after, series % "stored") - _value(before, series % "stored") == 1
    assert _value(after, series % "refused") - _value(before, series % "refused") == 1
    grown = 'backoffice_attachment_bytes_total{sent_by="customer"}'
    assert _value(after, grown) - _value(before, grown) == len(png)


def _upload(name: str, content: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, content)
