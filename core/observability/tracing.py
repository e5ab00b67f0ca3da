"""OpenTelemetry traces: one trace per customer turn, across the web process, the outbox,
the turns worker and the agent's runtime call.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (then spans go over OTLP/HTTP, sampled at
``OTEL_TRACES_SAMPLER_ARG``, parent-based: a turn's spans are all kept or all dropped). The
instrumentations of the OpenTelemetry project trace Django, psycopg, Redis, Celery (whose
messages carry the W3C context to the worker) and httpx; the outbox keeps the context of the
request that wrote a row (``carrier``) so that a row relayed later by the sweep still joins
its trace; the runtimes send ``traceparent`` to webhooks and LLM APIs (``headers``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

tracer = trace.get_tracer("backoffice")
_installed = False


def tracing_configure(
    exporter: SpanExporter | None = None,
    *,
    rate: float = 1.0,
    processor: SpanProcessor | None = None,
) -> TracerProvider:
    """Install the tracer provider (once per process) and the instrumentations."""
    global _installed
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(rate)),
        resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}),
    )
    if processor is None and exporter is not None:
        processor = BatchSpanProcessor(exporter)
    if processor is not None:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    if not _installed:
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
        from opentelemetry.instrumentation.psycopg import PsycopgInstrumentor
        from opentelemetry.instrumentation.redis import RedisInstrumentor

        DjangoInstrumentor().instrument(is_sql_commentor_enabled=False)
        _health_before_tracing()
        PsycopgInstrumentor().instrument(skip_dep_check=True)
        RedisInstrumentor().instrument()
        CeleryInstrumentor().instrument()
        HTTPXClientInstrumentor().instrument()
        _installed = True
    return provider


def _health_before_tracing() -> None:
    """The instrumentation puts its middleware first, and it reads the request's host: a load
    balancer probing ``/health/live`` by address would get a 400 (DisallowedHost). Move it
    after the health check, which answers probes before anything reads the host."""
    health = "config.health.HealthCheckMiddleware"
    middleware = list(settings.MIDDLEWARE)
    traced = [m for m in middleware if m.startswith("opentelemetry.")]
    rest = [m for m in middleware if not m.startswith("opentelemetry.")]
    at = rest.index(health) + 1 if health in rest else 0
    settings.MIDDLEWARE = [*rest[:at], *traced, *rest[at:]]


def tracing_install() -> None:
    """At start-up: trace when an OTLP endpoint is configured."""
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT and not _installed:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        tracing_configure(OTLPSpanExporter(), rate=settings.OTEL_TRACES_SAMPLER_ARG)


def carrier() -> dict[str, str]:
    """The current trace context as W3C headers (empty when nothing is traced)."""
    headers: dict[str, str] = {}
    propagate.inject(headers)
    return headers


def headers() -> dict[str, str]:
    """Headers for an outgoing request (a webhook, an LLM API): ``traceparent``."""
    return carrier()


@contextmanager
def joined(headers: Mapping[str, str] | None) -> Iterator[None]:
    """Run the block in the trace context ``headers`` carry (an outbox row's), if any."""
    if not headers:
        yield
        return
    token = otel_context.attach(propagate.extract(dict(headers)))
    try:
        yield
    finally:
        otel_context.detach(token)


def trace_id() -> str:
    """The current trace's id (32 hex digits), or "" when nothing is traced."""
    span = trace.get_current_span().get_span_context()
    return format(span.trace_id, "032x") if span.is_valid and span.trace_flags.sampled else ""


class Step:
    def __init__(self, span: Any) -> None:
        self.span = span

    def decided(self, **attributes: Any) -> None:
        """The decision taken, as the span's attributes (ids and codes, never text)."""
        for key, value in attributes.items():
            if value is not None:
                self.span.set_attribute(f"turn.{key}", str(value))


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Step]:
    with tracer.start_as_current_span(name) as current:
        step = Step(current)
        step.decided(**attributes)
        yield step


def trace_carrier() -> dict[str, dict[str, str]]:
    """For an outbox row's payload: ``{"trace": {traceparent...}}``, or nothing untraced."""
    headers = carrier()
    return {"trace": headers} if headers else {}
