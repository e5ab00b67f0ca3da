"""The HTTP door: a request id (an incoming ``X-Request-ID`` when it is a plain token, echoed
on the response), the ids bound for the logs, and the HTTP series by route pattern."""

from __future__ import annotations

import time

from core.observability import context, metrics

UNMATCHED = "<unmatched>"  # no route: 404s of any path share one label


class RequestObservabilityMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = context.request_id_from(request.headers.get("X-Request-ID"))
        request.request_id = rid
        start = time.perf_counter()
        # the tenant and conversation are bound where they are known (the API's tenant, the
        # turn); cleared here so that a thread's next request never inherits them
        with context.bound(request_id=rid, tenant_id="", conversation_id=""):
            response = self.get_response(request)
        response.headers["X-Request-ID"] = rid
        if not metrics.enabled():
            return response
        match = getattr(request, "resolver_match", None)
        route = (match.route or match.view_name or UNMATCHED) if match else UNMATCHED
        route = "/" + route.lstrip("^").rstrip("$") if not route.startswith("<") else route
        metrics.http_requests.labels(
            method=request.method, route=route, status=str(response.status_code)
        ).inc()
        metrics.http_latency.labels(method=request.method, route=route).observe(
            time.perf_counter() - start
        )
        return response
