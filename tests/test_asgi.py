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
    _seen.update(thread=threading.current_thread(), callers=callers)
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
    assert _seen["thread"] is not threading.current_thread()  # not on the event loop
    callers = _seen["callers"]
    assert "RequestObservabilityMiddleware.__call__" in callers  # our middleware, on this thread
    assert "SyncToAsync.thread_handler" in callers
    assert not [name for name in callers if name.startswith("AsyncToSync")], callers


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_requests_one_after_another_run_on_a_kept_thread(settings):
    """asgiref starts a thread for every request's context (and another to join it); the
    handler gives each request's context a thread kept from an earlier one instead."""
    settings.ROOT_URLCONF = __name__
    threads = []
    for _ in range(3):
        _seen.clear()
        communicator = HttpCommunicator(
            application, "GET", "/where/", headers=[(b"host", b"localhost")]
        )
        assert (await communicator.get_response())["status"] == 200
        threads.append(_seen["thread"])

    assert all(thread is threads[0] for thread in threads), threads


def test_a_thread_with_work_left_on_it_is_not_kept():
    """A view still running when its request ended (the client went away) keeps its thread:
    the next request does not queue behind it."""
    from config import asgi_handler

    release = threading.Event()
    executor = asgi_handler._take()
    running = executor.submit(release.wait, 5)

    asgi_handler._give_back(executor)

    assert executor not in asgi_handler._idle
    release.set()
    running.result(timeout=5)
    kept = asgi_handler._take()
    asgi_handler._give_back(kept)
    assert kept in asgi_handler._idle  # an idle one is kept
