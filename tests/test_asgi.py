"""The ASGI application: HTTP reaches Django; websockets pass the origin check first."""

from __future__ import annotations

import sys
import threading

import pytest
from channels.testing import HttpCommunicator
from django.urls import path

from config.asgi import application
from tests.sockets import Socket


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_http_requests_reach_django():
    communicator = HttpCommunicator(
        application, "GET", "/accounts/login/", headers=[(b"host", b"localhost")]
    )

    response = await communicator.get_response()

    assert response["status"] == 200
    assert b"Sign in" in response["body"]


@pytest.mark.asyncio
async def test_a_websocket_from_a_foreign_origin_is_refused():
    communicator = Socket(application, "/ws/inbox/", headers=[(b"origin", b"https://evil.example")])

    connected, _ = await communicator.connect()

    assert connected is False


# --- one trip to a thread per request (config/asgi_handler.py) ---------------------------------

_seen: dict[str, object] = {}


def _where_the_view_runs(request):
    from django.http import HttpResponse

    frame, callers = sys._getframe(), []
    while frame is not None:
        callers.append(frame.f_code.co_qualname)
        frame = frame.f_back
    _seen.update(thread=threading.get_ident(), callers=callers)
    return HttpResponse("ok")


urlpatterns = [path("where/", _where_the_view_runs)]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_request_goes_to_a_thread_once_and_runs_its_middleware_and_view_there(settings):
    """Django builds its chain for async mode under ASGI, so with sync middleware a request
    went to a thread, back to the event loop to resolve the view, and to a thread again. Here
    the middleware and the view run in one call on the request's thread, as under WSGI."""
    settings.ROOT_URLCONF = __name__
    _seen.clear()
    communicator = HttpCommunicator(
        application, "GET", "/where/", headers=[(b"host", b"localhost")]
    )

    response = await communicator.get_response()

    assert response["status"] == 200
    assert _seen["thread"] != threading.get_ident()  # not on the event loop
    callers = _seen["callers"]
    assert "RequestObservabilityMiddleware.__call__" in callers  # our middleware, on this thread
    assert "SyncToAsync.thread_handler" in callers
    assert not [name for name in callers if name.startswith("AsyncToSync")], callers
