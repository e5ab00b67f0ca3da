"""The ASGI application: HTTP reaches Django; websockets pass the origin check first."""

from __future__ import annotations

import sys
import threading

import pytest
from channels.testing import HttpCommunicator
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

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


# --- at most REQUEST_MAX_BYTES of a body, counted as it arrives (config/body_limit.py) ---------

_bodies: list[int] = []


@csrf_exempt
def _count_the_body(request):
    from django.http import HttpResponse

    _bodies.append(len(request.body))
    return HttpResponse("read")


class _Chunks:
    """An ASGI client that sends a body in chunks, without a Content-Length (or with the one
    given), and records what came back and how much of the body the server asked for."""

    def __init__(self, path: str, chunks: list[bytes], length: int | None = None):
        from asgiref.testing import ApplicationCommunicator

        headers = [(b"host", b"localhost"), (b"content-type", b"application/octet-stream")]
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        scope = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "headers": headers,
            "client": ("127.0.0.1", 5000),
            "server": ("testserver", 80),
        }
        self.chunks = chunks
        self.communicator = ApplicationCommunicator(application, scope)

    async def response(self) -> tuple[int, bytes, int]:
        """(status, body, chunks the server took)."""
        for i, chunk in enumerate(self.chunks):
            more = i < len(self.chunks) - 1
            await self.communicator.send_input(
                {"type": "http.request", "body": chunk, "more_body": more}
            )
        start = await self.communicator.receive_output(timeout=5)
        body = b""
        while True:
            message = await self.communicator.receive_output(timeout=5)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await self.communicator.wait(timeout=5)
        return start["status"], body, len(self.chunks) - self.communicator.input_queue.qsize()


body_urlpatterns = [path("count/", _count_the_body), path("api/v1/count/", _count_the_body)]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_chunked_body_past_the_limit_is_refused_as_it_arrives_and_no_more_is_read(
    settings,
):
    settings.ROOT_URLCONF = __name__ + "_bodies"
    sys.modules[settings.ROOT_URLCONF] = type(sys)("bodies")
    sys.modules[settings.ROOT_URLCONF].urlpatterns = body_urlpatterns
    settings.REQUEST_MAX_BYTES = 10_000
    _bodies.clear()

    small = await _Chunks("/count/", [b"x" * 4000, b"x" * 4000]).response()
    big = await _Chunks("/count/", [b"x" * 4000] * 10).response()
    api = await _Chunks("/api/v1/count/", [b"x" * 6000] * 3).response()
    declared = await _Chunks("/count/", [b"x" * 10], length=50_000_000).response()

    assert small[:2] == (200, b"read")
    assert (big[0], big[1]) == (413, b"The request is larger than 10 KB.")
    assert big[2] == 3  # the third chunk went past 10,000 bytes: the seven after it unread
    assert api[0] == 413 and b'"payload_too_large"' in api[1]
    assert declared[:2] == (413, b"The request is larger than 10 KB.")
    assert declared[2] == 0  # refused on its Content-Length, before a byte was read
    assert _bodies == [8000]  # only the small one reached a view
