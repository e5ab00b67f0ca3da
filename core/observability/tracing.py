"""OpenTelemetry traces: one trace per customer turn, across the web process, the outbox,
the turns worker and the agent's runtime call.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (then spans go over OTLP/HTTP, sampled at
``OTEL_TRACES_SAMPLER_ARG``, parent-based: a turn's spans are all kept or all dropped). The
instrumentations of the OpenTelemetry project trace Django, psycopg, Redis, Celery (whose
messages carry the W3C context to the worker) and httpx; the outbox keeps the context of the
request that wrote a row (``carrier``) so that a row relayed later by the sweep still joins
its trace; the runtimes send ``traceparent`` to webhooks and LLM APIs (``headers``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import (
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.util.types import Attributes

tracer = trace.get_tracer("backoffice")
_provider: TracerProvider | None = None


class _Sampling(Sampler):
    """The process's sampler: parent-based (a turn's spans are all kept or all dropped) at a
    ratio a later configuration may change. The provider, and with it its sampler, is set once
    per process, so the rate lives here rather than in a new provider."""

    def __init__(self, rate: float) -> None:
        self.rate(rate)

    def rate(self, rate: float) -> None:
        self._sampler = ParentBased(TraceIdRatioBased(rate))

    def should_sample(
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: trace.SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[trace.Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        return self._sampler.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return self._sampler.get_description()


def tracing_configure(
    exporter: SpanExporter | None = None,
    *,
    rate: float = 1.0,
    processor: SpanProcessor | None = None,
) -> TracerProvider:
    """Install the tracer provider and the instrumentations once per process; every call
    (the first included) sets the sampling rate and adds its processor or exporter.

    OpenTelemetry lets the global provider be set only once (a second ``set_tracer_provider``
    is ignored with a warning) and the instrumentations keep the tracers of the provider they
    were installed with, so a second provider would record nothing: later calls extend the one
    installed. A caller that is done with its processor shuts it down."""
    global _provider
    if _provider is None:
        provider = TracerProvider(
            sampler=_Sampling(rate),
            resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}),
        )
        trace.set_tracer_provider(provider)
        _provider = provider
        _instrument()
    elif isinstance(_provider.sampler, _Sampling):
        _provider.sampler.rate(rate)
    if processor is None and exporter is not None:
        processor = BatchSpanProcessor(exporter)
    if processor is not None:
        _provider.add_span_processor(processor)
    return _provider


def _instrument() -> None:
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
    if settings.OTEL_EXPORTER_OTLP_ENDPOINT and _provider is None:
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
