"""``/metrics``: the Prometheus exposition, for the scraper only.

Allowed for a caller with ``Authorization: Bearer <METRICS_TOKEN>`` or from an address in
``METRICS_ALLOW_IPS`` (addresses or networks); 401 without credentials, 403 with wrong ones
or from another address. Nothing configured: refused to everyone. It is not a person's door
(no session, no role): the operators' scraper is its only caller."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from core.observability.metrics import exposition


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in settings.METRICS_ALLOW_IPS:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _refusal(request) -> HttpResponse | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if settings.METRICS_TOKEN and scheme.lower() == "bearer" and token:
        if hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode()):
            return None
        return HttpResponse("Forbidden: wrong metrics token.\n", status=403)
    if _address_allowed(request.META.get("REMOTE_ADDR", "")):
        return None
    response = HttpResponse("Unauthorized: a metrics token is needed.\n", status=401)
    response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_GET
def metrics_view(request):
    refused = _refusal(request)
    if refused is not None:
        return refused
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
